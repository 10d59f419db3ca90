"""The trading desk. Views parse input, call a service (or an engine preview) and render
templates; no margin arithmetic happens here.

What the desk shows is described in :mod:`sandbox.desk.screen`; every action answers
through :func:`sandbox.desk.answers.act`: a plain form post redirects back to the desk,
and with htmx the same post answers with the sections its event redraws.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget, trigger_client_event

from sandbox import engine
from sandbox.engine import display
from sandbox.engine.previews import preview_margin

from . import selectors, services
from .accounts import claim_browser_account, current_account, get_account_for_request, remember
from .answers import (
    Done,
    HtmxHttpRequest,
    act,
    add_previews,
    answer_screen,
    desk_instrument,
    desk_response,
    outcome_notice,
)
from .forms import LeverageForm, MarginForm, MarkForm, OrderForm, TriggerForm
from .models import Instrument, LiquidationRecord, PaperAccount
from .screen import Event

HISTORY_LIQUIDATIONS = 100  # the newest, on the history page


def home(request: HttpRequest) -> HttpResponse:
    account = current_account(request)
    response = redirect("desk", account_id=account.pk, symbol=settings.SANDBOX_DEFAULT_SYMBOL)
    if not request.user.is_authenticated:
        remember(response, account)
    return response


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
        # Each liquidation with its breakdown, dismissed or not (the notices link here).
        "liquidations": LiquidationRecord.objects.filter(account=account)[:HISTORY_LIQUIDATIONS],
    }
    return render(request, "desk/history.html", context)


@require_GET
def desk(request: HtmxHttpRequest, account_id: int, symbol: str) -> HttpResponse:
    account = get_account_for_request(request, account_id)
    screen = answer_screen(account, desk_instrument(account, symbol), page=True)
    context = screen.context()
    add_previews(request, context)
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
        "state": state,
        "position": state.figures.positions.get(instrument.symbol),
    }
    add_previews(request, context)
    if "order_form" not in context:  # (the preview's own, when it sent a quantity)
        context["order_form"] = OrderForm(instrument=instrument)
    return context


@require_GET
def order_preview(request: HtmxHttpRequest, account_id: int, symbol: str) -> HttpResponse:
    account = get_account_for_request(request, account_id)
    context = _preview_context(request, account, desk_instrument(account, symbol))
    return render(request, "desk/desk.html#order_preview", context)


@require_GET
def leverage_preview(request: HtmxHttpRequest, account_id: int, symbol: str) -> HttpResponse:
    account = get_account_for_request(request, account_id)
    # The ticket has one preview: the slider's own requests get the order preview too.
    context = _preview_context(request, account, desk_instrument(account, symbol))
    return render(request, "desk/desk.html#order_preview", context)


@require_POST
def order_submit(request: HtmxHttpRequest, account_id: int, symbol: str) -> HttpResponse:
    account = get_account_for_request(request, account_id)
    instrument = desk_instrument(account, symbol)
    form = OrderForm(request.POST, instrument=instrument)
    # The ticket's slider: the setting the order opens a position at (a post without it,
    # from an older page or a script, uses the symbol's current setting).
    slider = None
    if "stop" in request.POST:
        maximum = selectors.account_state(account).market.instrument(symbol).max_leverage
        slider = LeverageForm(request.POST, instrument=instrument, max_leverage=maximum)

    def run() -> Done:
        side, qty = form.cleaned_side(), form.cleaned_data["qty"]
        setting = None
        if slider is not None:
            if not slider.is_valid():
                raise engine.Rejected("The order was not placed: " + str(slider.errors["stop"][0]))
            setting = engine.MarginSetting(*slider.margin_choice())
        outcome = services.order_place(
            account=account, symbol=symbol, side=side, qty=qty, setting=setting
        )
        verb = "Bought" if side is engine.Side.BUY else "Sold"
        text = (
            f"{verb} {display.qty(qty, instrument.qty_step)} {symbol} at "
            f"{display.price(outcome.fills[0].price, instrument.tick_size)}."
        )
        # Added to or reduced an open position: the slider's mode and leverage stand.
        kept = _position_kept(outcome, symbol, side, qty)
        return Done(text, outcome, Event.ORDER_KEPT if kept else None)

    return act(
        request,
        account,
        instrument,
        Event.ORDER,
        run,
        form=form,
        form_name="order_form",
        invalid="The order was not placed: correct the fields below.",
        also={"leverage_form": slider} if slider is not None else None,
    )


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
    instrument = desk_instrument(account, symbol)

    def run() -> Done:
        outcome = services.position_close(account=account, symbol=symbol)
        realised = sum((f.realised_pnl for f in outcome.fills), start=Decimal(0))
        settle = instrument.settle
        text = (
            f"Closed your {symbol} position; realised {display.money(realised, settle)} {settle}."
        )
        return Done(text, outcome)

    return act(request, account, instrument, Event.CLOSE, run)


@require_POST
def triggers_set(request: HtmxHttpRequest, account_id: int, symbol: str) -> HttpResponse:
    """Set or clear the stop-loss and take-profit of the position."""
    account = get_account_for_request(request, account_id)
    instrument = desk_instrument(account, symbol)
    form = TriggerForm(request.POST)

    def run() -> Done:
        stop, target = form.cleaned_data["stop_loss"], form.cleaned_data["take_profit"]
        outcome = services.triggers_set(
            account=account, symbol=symbol, stop_loss=stop, take_profit=target
        )
        parts = [
            f"stop-loss {display.price(stop, instrument.tick_size)}"
            if stop is not None
            else "no stop-loss",
            f"take-profit {display.price(target, instrument.tick_size)}"
            if target is not None
            else "no take-profit",
        ]
        return Done(f"{symbol}: {' and '.join(parts)}.", outcome)

    return act(
        request,
        account,
        instrument,
        Event.TRIGGERS,
        run,
        form=form,
        form_name="trigger_form",
        invalid="Nothing was changed: correct the prices below.",
    )


@require_POST
def leverage_apply(request: HtmxHttpRequest, account_id: int, symbol: str) -> HttpResponse:
    account = get_account_for_request(request, account_id)
    instrument = desk_instrument(account, symbol)
    maximum = selectors.account_state(account).market.instrument(symbol).max_leverage
    form = LeverageForm(request.POST, instrument=instrument, max_leverage=maximum)

    def run() -> Done:
        mode, leverage = form.margin_choice()
        outcome = services.leverage_set(
            account=account, symbol=symbol, mode=mode, leverage=leverage
        )
        cross = mode is engine.MarginMode.CROSS
        label = "cross margin" if cross else f"isolated {display.leverage(leverage)}"
        return Done(f"{symbol} now uses {label}.", outcome)

    return act(
        request,
        account,
        instrument,
        Event.LEVERAGE,
        run,
        form=form,
        form_name="leverage_form",
        invalid=lambda bad: "The leverage was not changed: " + str(bad.errors["stop"][0]),
    )


@require_POST
def mark_set(request: HtmxHttpRequest, account_id: int, symbol: str) -> HttpResponse:
    account = get_account_for_request(request, account_id)
    instrument = desk_instrument(account, symbol)
    form = MarkForm(request.POST)

    def run() -> Done:
        price = form.cleaned_data["price"]
        outcomes = services.mark_set(account=account, symbol=symbol, price=price)
        mine = outcomes.get(account.pk) or engine.Outcome(engine.Account())
        text = f"{symbol} mark price set to {display.price(price, instrument.tick_size)}."
        return Done(text, mine)

    return act(
        request,
        account,
        instrument,
        Event.MARK_SET,
        run,
        form=form,
        form_name="mark_form",
        invalid=lambda bad: "The mark price was not changed: " + str(bad.errors["price"][0]),
    )


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
    context = answer_screen(account, instrument, page=True).context(margin_form=form)
    add_previews(request, context)
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
    instrument = desk_instrument(account, symbol)
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
            amount = display.magnitude(form.signed_amount(), instrument.settle)
            text = f"{verb} {amount} {instrument.settle} of margin on {symbol}."
            notice = outcome_notice(Event.MARGIN, text, outcome)
            response = desk_response(request, account, instrument, notice)
            if request.htmx:
                # The form lives in the dialog; the result belongs in the positions table.
                retarget(response, "#positions")
                reswap(response, "outerHTML")
                # Once the positions are redrawn: the dialog closes, and the focus goes
                # back to the row's "Margin…" control (desk.js).
                trigger_client_event(response, "margin-changed", {}, after="settle")
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
