"""How a desk answers an action: one shape for every form → service → notice.

An action is a plain form post. Without htmx it redirects back to the desk (or shows the
page again with the errors); with htmx it answers with the sections its event redraws
(:data:`sandbox.desk.screen.REDRAWS`), the one that sent it first. Any app's action
views use :func:`act` (or :func:`desk_response` for an answer they built themselves).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django_htmx.http import trigger_client_event
from django_htmx.middleware import HtmxDetails

from sandbox import engine
from sandbox.engine.previews import preview_leverage, preview_order

from . import selectors
from .forms import LeverageForm, OrderForm
from .models import Instrument, PaperAccount
from .screen import DeskScreen, Event, Notice, answer_parts, desk_screen, liquidation_parts
from .services import margin_label, same_setting
from .templatetags import figures


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def desk_instrument(account: PaperAccount, symbol: str) -> Instrument:
    """The instrument, if the account's market trades it (a classroom may offer only some)."""
    for row in selectors.market_instruments(account.market):
        if row.symbol == symbol:
            return row
    raise Http404("This market does not trade that instrument.")


def trigger_text(event: engine.TriggerEvent) -> str:
    name = "stop-loss" if event.kind is engine.TriggerKind.STOP_LOSS else "take-profit"
    return (
        f"Your {name} at {figures.price(event.trigger_price, event.symbol)} fired: the "
        f"{event.symbol} position was closed at the mark, "
        f"{figures.price(event.mark_price, event.symbol)}, realising "
        f"{figures.amount(event.realised_pnl, event.settle)} {event.settle}."
    )


def liquidation_text(event: engine.LiquidationEvent) -> str:
    return f"Your {event.symbol} position was liquidated: the mark reached its liquidation price."


def outcome_notice(event: Event, text: str, outcome: engine.Outcome) -> Notice:
    """The notice of an action the engine carried out: its sentence, then the stops that
    fired and the engine's warnings; liquidations are listed with their breakdown."""
    liquidations = [e for e in outcome.events if isinstance(e, engine.LiquidationEvent)]
    fired = [trigger_text(e) for e in outcome.events if isinstance(e, engine.TriggerEvent)]
    text = " ".join([text, *fired, *outcome.warnings])
    return Notice(event, text, True, liquidations, state=outcome.account)


def answer_screen(
    account: PaperAccount,
    instrument: Instrument,
    *,
    page: bool,
    notice: Notice | None = None,
) -> DeskScreen:
    """The desk an answer (or the page) draws, as the action left it."""
    state = notice.state if notice is not None else None
    screen = desk_screen(account, instrument.symbol, state=state, page=page)
    screen.notice = notice
    return screen


def add_previews(request: HttpRequest, context: dict[str, Any]) -> None:
    """The ticket's one preview, from the query string (the htmx preview requests and the
    no-JavaScript Preview button send the same fields).

    The rule that keeps the slider and the preview in step: with no open position, the
    slider's stop (``stop``) is the setting the next order opens at, and the order preview
    uses it. With a position open, an order keeps the position's own setting; a slider
    moved off it previews the change instead (``leverage_change``, ``leverage_preview``),
    to be applied with its button, and no order figures are shown until then.
    """
    instrument: Instrument = context["instrument"]
    state: selectors.AccountState = context["state"]
    position = context.get("position")
    chosen: engine.MarginSetting | None = None
    if "stop" in request.GET:
        lev_form = LeverageForm(
            request.GET,
            instrument=instrument,
            max_leverage=state.market.instrument(instrument.symbol).max_leverage,
        )
        context["leverage_form"] = lev_form
        if lev_form.is_valid():
            chosen = engine.MarginSetting(*lev_form.margin_choice())
    if chosen is not None and position is not None:
        current = engine.MarginSetting(position.margin_mode, position.leverage)
        if not same_setting(current, chosen):
            context["leverage_change"] = margin_label(chosen.mode, chosen.leverage)
            context["leverage_now"] = margin_label(current.mode, current.leverage)
            context["leverage_preview"] = preview_leverage(
                state.account, state.market, instrument.symbol, chosen.mode, chosen.leverage
            )
            return
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
                chosen if position is None else None,
            )


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
            messages.error(request, liquidation_text(event))
        return redirect("desk", account_id=account.pk, symbol=instrument.symbol)
    screen = answer_screen(account, instrument, page=not request.htmx, notice=notice)
    context = screen.context(**(forms or {}))
    add_previews(request, context)
    if not request.htmx:
        return render(request, "desk/desk.html", context, status=400)
    context["parts"] = answer_parts(notice.event, ok=notice.ok)
    if notice.liquidations:
        context["parts"] += liquidation_parts()
    response = render(request, "desk/sections.html", context)
    if notice.ok:
        trigger_client_event(response, "desk-changed", {})
    return response


class Refused(Exception):
    """An action refused with a sentence (an app's own refusals can be listed instead)."""


@dataclass
class Done:
    """What an action did: its sentence, the engine's outcome if it ran the engine, and
    the event when it differs from the action's usual one."""

    text: str
    outcome: engine.Outcome | None = None
    event: Event | None = None


def refusal_text(refusal: Exception) -> str:
    message = getattr(refusal, "message", None)
    return message if isinstance(message, str) else str(refusal)


def act(
    request: HtmxHttpRequest,
    account: PaperAccount,
    instrument: Instrument,
    event: Event,
    run: Callable[[], Done],
    *,
    form: forms.Form | None = None,
    form_name: str = "",
    invalid: str | Callable[[Any], str] = "Nothing was changed: correct the fields below.",
    refusals: tuple[type[Exception], ...] = (engine.Rejected, Refused),
    also: dict[str, forms.Form] | None = None,
) -> HttpResponse:
    """Check ``form`` (refused with ``invalid`` if it is not valid), carry out ``run`` (a
    refusal of ``refusals`` answers with its sentence and changes nothing) and answer with
    the notice of what it did, in the sections ``event`` redraws. ``also``: more forms
    the refused answer shows as sent (the ticket's slider, beside the order's fields)."""
    kept = {form_name: form} if form is not None and form_name else None
    if also:  # other fields of the same form, shown again as sent when refused
        kept = {**(kept or {}), **also}
    if form is not None and not form.is_valid():
        text = invalid(form) if callable(invalid) else invalid
        notice = Notice(event, text, False)
        return desk_response(request, account, instrument, notice, forms=kept)
    try:
        done = run()
    except refusals as refusal:
        notice = Notice(event, refusal_text(refusal), False)
        return desk_response(request, account, instrument, notice, forms=kept)
    happened = done.event or event
    if done.outcome is not None:
        notice = outcome_notice(happened, done.text, done.outcome)
    else:
        notice = Notice(happened, done.text)
    return desk_response(request, account, instrument, notice)
