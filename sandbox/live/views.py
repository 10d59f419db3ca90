"""Controls of a learner's own practice market, and dismissing liquidation notices."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from sandbox.desk.accounts import get_account_for_request
from sandbox.desk.answers import Done, HtmxHttpRequest, act, desk_instrument
from sandbox.desk.forms import parse_whole
from sandbox.desk.models import Instrument, LiquidationRecord, Market
from sandbox.desk.screen import Event
from sandbox.engine import display
from sandbox.engine.money import parse_decimal

from . import services
from .selectors import open_liquidations


def _gap_percent(text: str) -> Decimal:
    """A gap size as typed: a plain percentage with at most two decimals (and a short
    text: a longer one is refused, not cut)."""
    percent = parse_decimal(text) if len(text) <= 12 else None
    try:
        if percent is not None and percent == percent.quantize(Decimal("0.01")):
            return percent
    except InvalidOperation:
        pass
    raise services.ControlError("Choose the size of the gap from the list.")


def _control(request: HttpRequest, market: Market, symbol: str) -> str:
    """Carry out one clock action; the sentence says what it did."""
    action = request.POST.get("action", "")
    if market.kind not in (Market.Kind.PRACTICE, Market.Kind.TWINS):
        raise services.ControlError("Only your own practice market can be controlled here.")
    if action == "pause":
        services.market_run(market=market, running=False)
        return "The market is stopped. Prices hold until you go on."
    if action == "go":
        services.market_run(market=market, running=True)
        return "The market is moving again."
    if action == "speed":
        speed = parse_whole(request.POST.get("speed", ""), most=services.MAX_SPEED)
        if speed is None:
            raise services.ControlError("Choose a speed from the list.")
        services.market_speed(market=market, speed=speed)
        return f"The market now runs at {speed}x."
    if action == "gap":
        percent = _gap_percent(request.POST.get("percent", ""))
        services.learner_gap(market=market, symbol=symbol, percent=percent)
        return (
            f"On the next tick {symbol} jumps {display.percent(percent, 8)} at once, with no "
            "prices between."
        )
    raise services.ControlError("Choose stop, go on, a speed or a gap.")


@require_POST
def clock(request: HtmxHttpRequest, account_id: int, symbol: str) -> HttpResponse:
    """Stop, go on, change speed or schedule a gap on the learner's own practice market."""
    account = get_account_for_request(request, account_id)
    instrument = desk_instrument(account, symbol)  # one the account's market trades, or 404
    back = _back_to(request)
    if back:  # the side-by-side page: its own messages
        try:
            messages.success(request, _control(request, account.market, symbol))
        except services.ControlError as problem:
            messages.error(request, str(problem))
        return redirect(back)
    return act(
        request,
        account,
        instrument,
        Event.CLOCK,
        lambda: Done(_control(request, account.market, symbol)),
        refusals=(services.ControlError,),
    )


def _back_to(request: HttpRequest) -> str:
    """A page of this site's desk to return to (the side-by-side view), if given."""
    target = request.POST.get("next", "")
    if target.startswith("/desk/") and url_has_allowed_host_and_scheme(target, None):
        return target
    return ""


@require_POST
def liquidation_dismiss(request: HtmxHttpRequest, account_id: int, record_id: int) -> HttpResponse:
    """Dismiss a liquidation notice (the record stays: the history and the chart show it).
    With htmx the answer is the notices left; a plain post returns to the desk."""
    account = get_account_for_request(request, account_id)
    record = get_object_or_404(LiquidationRecord, pk=record_id, account=account)
    record.acknowledged = True
    record.save(update_fields=["acknowledged"])
    symbol = request.POST.get("symbol") or record.symbol
    instrument = Instrument.objects.filter(symbol=symbol).first()
    if instrument is None:
        instrument = Instrument.objects.get(symbol=record.symbol)
    if request.htmx:
        context = {
            "account": account,
            "instrument": instrument,
            "liquidations": open_liquidations([account.pk]).get(account.pk, []),
        }
        return render(request, "live/live.html#liquidations", context)
    return redirect("desk", account_id=account.pk, symbol=instrument.symbol)
