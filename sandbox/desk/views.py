"""The trading desk. Views parse input, call a service (or an engine preview) and render
templates; no margin arithmetic happens here.

Every action is a plain form post that redirects back to the desk. With htmx, the same
post answers with the fragments it changed: the section that sent it, plus the others
swapped out of band.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget, trigger_client_event
from django_htmx.middleware import HtmxDetails

from sandbox import engine
from sandbox.engine.previews import preview_leverage, preview_margin, preview_order
from sandbox.live.render import live_context

from . import selectors, services
from .accounts import claim_browser_account, current_account, get_account_for_request, remember
from .forms import LeverageForm, MarginForm, MarkForm, OrderForm, TriggerForm
from .models import Instrument, PaperAccount
from .templatetags.figures import figure

SECTIONS = ("market", "leverage", "ticket", "triggers", "balances", "positions", "history")
# The ticket keeps what the learner typed unless the action came from it; its preview
# refreshes itself on the "desk-changed" event instead.
KEEP_TYPED = {"ticket", "triggers"}
# What an action leaves unchanged is not sent again.
UNCHANGED = {
    "ticket": {"market"},
    "positions": {"market"},
    "triggers": {"market", "leverage"},
}


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


@dataclass
class Notice:
    """The result of an action, shown in the section that sent it."""

    section: str
    text: str
    ok: bool = True
    liquidations: list[engine.LiquidationEvent] = field(default_factory=list)
    # The account as the action left it, so the answer need not read it again.
    state: engine.Account | None = None
    # Sections the action is known to have left as they were (not sent again).
    unchanged: frozenset[str] = frozenset()


def home(request: HttpRequest) -> HttpResponse:
    account = current_account(request)
    response = redirect("desk", account_id=account.pk, symbol=settings.SANDBOX_DEFAULT_SYMBOL)
    if not request.user.is_authenticated:
        remember(response, account)
    return response


def _instrument(account: PaperAccount, symbol: str) -> Instrument:
    """The instrument, if the account's market trades it (a classroom may offer only some)."""
    for row in selectors.market_instruments(account.market):
        if row.symbol == symbol:
            return row
    raise Http404("This market does not trade that instrument.")


desk_instrument = _instrument  # the same rule for the live market's and the twins' views


def _desk_context(
    request: HttpRequest,
    account: PaperAccount,
    instrument: Instrument,
    *,
    with_board: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """``with_board``: rank the classroom for the room panel (a whole page shows it; the
    fragments an action answers with do not)."""
    notice = extra.get("notice")
    after = notice.state if isinstance(notice, Notice) else None
    context = live_context(account, instrument.symbol, with_board=with_board, state=after)
    state = context["state"]
    symbol = instrument.symbol
    inst = state.market.instrument(symbol)
    position = context["position"]
    setting = state.account.settings.get(symbol) or engine.default_setting(inst)
    if position is not None:
        setting = engine.MarginSetting(position.margin_mode, position.leverage)
    stop = 0 if setting.mode is engine.MarginMode.CROSS else int(setting.leverage)
    context.update(
        {
            "setting": setting,
            "stop": stop,
            "max_stop": int(inst.max_leverage),
            "order_form": OrderForm(instrument=instrument, initial={"side": "buy"}),
            "leverage_form": LeverageForm(
                instrument=instrument, max_leverage=inst.max_leverage, initial={"stop": stop}
            ),
            "mark_form": MarkForm(),
            "margin_form": MarginForm(),
            "trigger_form": TriggerForm(
                initial={
                    "stop_loss": position and state.account.positions[symbol].stop_loss,
                    "take_profit": position and state.account.positions[symbol].take_profit,
                }
            ),
            "fills": selectors.recent_fills(account),
            "ledger": selectors.recent_ledger(account),
            "sections": SECTIONS,
        }
    )
    if position is not None and position.margin_mode is engine.MarginMode.ISOLATED:
        context["margin_limits"] = engine.margin_limits(state.account, state.market, symbol)
    context.update(extra)
    _add_previews(request, context, state)
    return context


def _add_previews(request: HttpRequest, context: dict[str, Any], state: Any) -> None:
    """Order and leverage previews from the query string (the no-JavaScript path)."""
    instrument: Instrument = context["instrument"]
    if "qty" in request.GET and "order_preview" not in context:
        form = OrderForm(request.GET, instrument=instrument)
        context["order_form"] = form
        if form.is_valid():
            context["order_preview"] = preview_order(
                state.account,
                state.market,
                instrument.symbol,
                form.cleaned_side(),
                form.cleaned_data["qty"],
            )
    if "stop" in request.GET and "leverage_preview" not in context:
        lev_form = LeverageForm(
            request.GET,
            instrument=instrument,
            max_leverage=state.market.instrument(instrument.symbol).max_leverage,
        )
        context["leverage_form"] = lev_form
        if lev_form.is_valid():
            context["leverage_preview"] = _leverage_preview(request, context, state, lev_form)


def _leverage_preview(
    request: HttpRequest, context: dict[str, Any], state: Any, form: LeverageForm
) -> Any:
    """The position under the chosen stop; with no position, the order being prepared."""
    instrument: Instrument = context["instrument"]
    mode, leverage = form.margin_choice()
    if context["position"] is not None:
        return preview_leverage(state.account, state.market, instrument.symbol, mode, leverage)
    order = OrderForm(request.GET, instrument=instrument)
    if order.is_valid():
        return preview_order(
            state.account,
            state.market,
            instrument.symbol,
            order.cleaned_side(),
            order.cleaned_data["qty"],
            engine.MarginSetting(mode, leverage),
        )
    return None


@require_GET
def history(request: HttpRequest, account_id: int) -> HttpResponse:
    """Every fill and ledger entry of the account, and what its ledger adds up to."""
    account = get_account_for_request(request, account_id)
    ledger = list(selectors.recent_ledger(account, limit=None))
    context = {
        "account": account,
        "symbol": settings.SANDBOX_DEFAULT_SYMBOL,
        "fills": selectors.recent_fills(account, limit=None),
        "ledger": ledger,
        "totals": selectors.ledger_totals(account, ledger),
    }
    return render(request, "desk/history.html", context)


@require_GET
def desk(request: HtmxHttpRequest, account_id: int, symbol: str) -> HttpResponse:
    account = get_account_for_request(request, account_id)
    context = _desk_context(request, account, _instrument(account, symbol))
    return render(request, "desk/desk.html", context)


def _preview_context(
    request: HttpRequest, account: PaperAccount, instrument: Instrument
) -> dict[str, Any]:
    """Just what the previews need (they answer every keystroke and slider step): the
    account and its market, not the chart, history and alerts of the whole desk."""
    state = selectors.account_state(account)
    inst = state.market.instrument(instrument.symbol)
    context: dict[str, Any] = {
        "account": account,
        "instrument": instrument,
        "inst": inst,
        "position": state.figures.positions.get(instrument.symbol),
        "order_form": OrderForm(instrument=instrument),
    }
    _add_previews(request, context, state)
    return context


@require_GET
def order_preview(request: HtmxHttpRequest, account_id: int, symbol: str) -> HttpResponse:
    account = get_account_for_request(request, account_id)
    context = _preview_context(request, account, _instrument(account, symbol))
    return render(request, "desk/desk.html#order_preview", context)


@require_GET
def leverage_preview(request: HtmxHttpRequest, account_id: int, symbol: str) -> HttpResponse:
    account = get_account_for_request(request, account_id)
    context = _preview_context(request, account, _instrument(account, symbol))
    return render(request, "desk/desk.html#leverage_preview", context)


def desk_response(
    request: HtmxHttpRequest,
    account: PaperAccount,
    instrument: Instrument,
    notice: Notice,
    *,
    forms: dict[str, Any] | None = None,
) -> HttpResponse:
    """Answer an action: fragments for htmx, a redirect (or the page with errors) otherwise."""
    if notice.ok and not request.htmx:
        (messages.success if not notice.liquidations else messages.warning)(request, notice.text)
        for event in notice.liquidations:
            messages.error(request, _liquidation_text(event))
        return redirect("desk", account_id=account.pk, symbol=instrument.symbol)
    context = _desk_context(
        request, account, instrument, with_board=not request.htmx, notice=notice, **(forms or {})
    )
    if not request.htmx:
        return render(request, "desk/desk.html", context, status=400)
    main = notice.section
    skip = KEEP_TYPED | UNCHANGED.get(main, set()) | notice.unchanged
    context["parts"] = [(f"desk/desk.html#{main}", False)] + [
        (f"desk/desk.html#{name}", True) for name in SECTIONS if name != main and name not in skip
    ]
    if not notice.ok:
        # A refused action changes nothing: only its own section is answered.
        context["parts"] = context["parts"][:1]
    response = render(request, "desk/sections.html", context)
    if notice.ok:
        trigger_client_event(response, "desk-changed", {})
    return response


def _trigger_text(event: engine.TriggerEvent) -> str:
    name = "stop-loss" if event.kind is engine.TriggerKind.STOP_LOSS else "take-profit"
    return (
        f"Your {name} at {figure(event.trigger_price)} fired: the {event.symbol} position was "
        f"closed at the mark, {figure(event.mark_price)}, realising "
        f"{figure(event.realised_pnl)} {event.settle}."
    )


def _liquidation_text(event: engine.LiquidationEvent) -> str:
    return f"Your {event.symbol} position was liquidated: the mark reached its liquidation price."


def _outcome_notice(section: str, text: str, outcome: engine.Outcome) -> Notice:
    liquidations = [e for e in outcome.events if isinstance(e, engine.LiquidationEvent)]
    fired = [_trigger_text(e) for e in outcome.events if isinstance(e, engine.TriggerEvent)]
    text = " ".join([text, *fired, *outcome.warnings])
    return Notice(section, text, True, liquidations, state=outcome.account)


@require_POST
def order_submit(request: HtmxHttpRequest, account_id: int, symbol: str) -> HttpResponse:
    account = get_account_for_request(request, account_id)
    instrument = _instrument(account, symbol)
    form = OrderForm(request.POST, instrument=instrument)
    if not form.is_valid():
        notice = Notice("ticket", "The order was not placed: correct the fields below.", False)
        return desk_response(request, account, instrument, notice, forms={"order_form": form})
    side, qty = form.cleaned_side(), form.cleaned_data["qty"]
    try:
        outcome = services.order_place(account=account, symbol=symbol, side=side, qty=qty)
    except engine.Rejected as refusal:
        notice = Notice("ticket", refusal.message, False)
        return desk_response(request, account, instrument, notice, forms={"order_form": form})
    fill = outcome.fills[0]
    verb = "Bought" if side is engine.Side.BUY else "Sold"
    text = f"{verb} {figure(qty)} {symbol} at {figure(fill.price)}."
    notice = _outcome_notice("ticket", text, outcome)
    if _position_kept(outcome, symbol, side, qty):
        # Added to or reduced an open position: the slider's mode and leverage stand.
        notice.unchanged = frozenset({"leverage"})
    return desk_response(request, account, instrument, notice)


def _position_kept(outcome: engine.Outcome, symbol: str, side: engine.Side, qty: Decimal) -> bool:
    """Whether the order left a position open on the side it was on before."""
    after = outcome.account.positions.get(symbol)
    if after is None or outcome.events:
        return False
    before = after.qty - (qty if side is engine.Side.BUY else -qty)
    return before != 0 and (before > 0) == (after.qty > 0)


@require_POST
def position_close(request: HtmxHttpRequest, account_id: int, symbol: str) -> HttpResponse:
    account = get_account_for_request(request, account_id)
    instrument = _instrument(account, symbol)
    try:
        outcome = services.position_close(account=account, symbol=symbol)
    except engine.Rejected as refusal:
        return desk_response(
            request, account, instrument, Notice("positions", refusal.message, False)
        )
    realised = sum((f.realised_pnl for f in outcome.fills), start=Decimal(0))
    text = f"Closed your {symbol} position; realised {figure(realised)} {instrument.settle}."
    return desk_response(request, account, instrument, _outcome_notice("positions", text, outcome))


@require_POST
def triggers_set(request: HtmxHttpRequest, account_id: int, symbol: str) -> HttpResponse:
    """Set or clear the stop-loss and take-profit of the position."""
    account = get_account_for_request(request, account_id)
    instrument = _instrument(account, symbol)
    form = TriggerForm(request.POST)
    if not form.is_valid():
        notice = Notice("triggers", "Nothing was changed: correct the prices below.", False)
        return desk_response(request, account, instrument, notice, forms={"trigger_form": form})
    stop, target = form.cleaned_data["stop_loss"], form.cleaned_data["take_profit"]
    try:
        outcome = services.triggers_set(
            account=account, symbol=symbol, stop_loss=stop, take_profit=target
        )
    except engine.Rejected as refusal:
        notice = Notice("triggers", refusal.message, False)
        return desk_response(request, account, instrument, notice, forms={"trigger_form": form})
    parts = [
        f"stop-loss {figure(stop)}" if stop is not None else "no stop-loss",
        f"take-profit {figure(target)}" if target is not None else "no take-profit",
    ]
    text = f"{symbol}: {' and '.join(parts)}."
    return desk_response(request, account, instrument, _outcome_notice("triggers", text, outcome))


@require_POST
def leverage_apply(request: HtmxHttpRequest, account_id: int, symbol: str) -> HttpResponse:
    account = get_account_for_request(request, account_id)
    instrument = _instrument(account, symbol)
    maximum = selectors.account_state(account).market.instrument(symbol).max_leverage
    form = LeverageForm(request.POST, instrument=instrument, max_leverage=maximum)
    if not form.is_valid():
        notice = Notice(
            "leverage", "The leverage was not changed: " + str(form.errors["stop"][0]), False
        )
        return desk_response(request, account, instrument, notice, forms={"leverage_form": form})
    mode, leverage = form.margin_choice()
    try:
        outcome = services.leverage_set(
            account=account, symbol=symbol, mode=mode, leverage=leverage
        )
    except engine.Rejected as refusal:
        notice = Notice("leverage", refusal.message, False)
        return desk_response(request, account, instrument, notice, forms={"leverage_form": form})
    label = "cross margin" if mode is engine.MarginMode.CROSS else f"isolated {leverage}x"
    text = f"{symbol} now uses {label}."
    return desk_response(request, account, instrument, _outcome_notice("leverage", text, outcome))


@require_POST
def mark_set(request: HtmxHttpRequest, account_id: int, symbol: str) -> HttpResponse:
    account = get_account_for_request(request, account_id)
    instrument = _instrument(account, symbol)
    form = MarkForm(request.POST)
    if not form.is_valid():
        notice = Notice(
            "market", "The mark price was not changed: " + str(form.errors["price"][0]), False
        )
        return desk_response(request, account, instrument, notice, forms={"mark_form": form})
    try:
        outcomes = services.mark_set(
            account=account, symbol=symbol, price=form.cleaned_data["price"]
        )
    except engine.Rejected as refusal:
        return desk_response(request, account, instrument, Notice("market", refusal.message, False))
    mine = outcomes.get(account.pk) or engine.Outcome(engine.Account())
    text = f"{symbol} mark price set to {figure(form.cleaned_data['price'])}."
    return desk_response(request, account, instrument, _outcome_notice("market", text, mine))


@require_POST
def account_reset(request: HtmxHttpRequest, account_id: int) -> HttpResponse:
    account = get_account_for_request(request, account_id)
    try:
        services.account_reset(account=account)
    except engine.Rejected as refusal:
        messages.error(request, refusal.message)
    else:
        messages.success(request, "Your paper account is back to its starting balances.")
    symbol = request.POST.get("symbol") or settings.SANDBOX_DEFAULT_SYMBOL
    if not Instrument.objects.filter(symbol=symbol).exists():
        symbol = settings.SANDBOX_DEFAULT_SYMBOL
    url = reverse("desk", kwargs={"account_id": account.pk, "symbol": symbol})
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _margin_context(
    request: HttpRequest, account: PaperAccount, instrument: Instrument, form: MarginForm
) -> dict[str, Any]:
    context = _desk_context(request, account, instrument, margin_form=form)
    if form.is_bound and form.is_valid():
        state = context["state"]  # already loaded for the desk's own figures
        context["margin_preview"] = preview_margin(
            state.account, state.market, instrument.symbol, form.signed_amount()
        )
    return context


@require_http_methods(["GET", "POST"])
def margin(request: HtmxHttpRequest, account_id: int, symbol: str) -> HttpResponse:
    """Add or remove isolated margin: the dialog's form, its preview, and the change."""
    account = get_account_for_request(request, account_id)
    instrument = _instrument(account, symbol)
    if request.method == "GET":
        form: MarginForm = MarginForm(request.GET if "amount" in request.GET else None)
        context = _margin_context(request, account, instrument, form)
        template = "desk/margin.html"
        if request.htmx:
            wants_preview = request.htmx.target == "margin-preview"
            template = "desk/desk.html#" + ("margin_preview" if wants_preview else "margin_form")
        return render(request, template, context)
    form = MarginForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            outcome = services.margin_change(
                account=account, symbol=symbol, amount=form.signed_amount()
            )
        except engine.Rejected as refusal:
            error = refusal.message
        else:
            verb = "Added" if form.signed_amount() > 0 else "Removed"
            amount = figure(abs(form.signed_amount()))
            text = f"{verb} {amount} {instrument.settle} of margin on {symbol}."
            response = desk_response(
                request, account, instrument, _outcome_notice("positions", text, outcome)
            )
            if request.htmx:
                # The form lives in the dialog; the result belongs in the positions table.
                retarget(response, "#positions")
                reswap(response, "outerHTML")
                trigger_client_event(response, "margin-changed", {})
            return response
    context = _margin_context(request, account, instrument, form)
    context["margin_error"] = error or "The margin was not changed: correct the fields below."
    template = "desk/desk.html#margin_form" if request.htmx else "desk/margin.html"
    return render(request, template, context, status=200 if request.htmx else 400)


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Sign up to keep this browser's paper account."""
    form: UserCreationForm[User] = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        claim_browser_account(request)
        messages.success(request, "Signed up: your paper account is now kept under your name.")
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form})


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A missing or forged CSRF token: say so plainly; nothing was changed."""
    return render(request, "403_csrf.html", status=403)
