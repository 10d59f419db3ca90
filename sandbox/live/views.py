"""Controls of a learner's own practice market, and dismissing liquidation notices."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from sandbox.desk.accounts import get_account_for_request
from sandbox.desk.forms import parse_whole
from sandbox.desk.models import Instrument, LiquidationRecord, Market
from sandbox.desk.templatetags.figures import figure
from sandbox.desk.views import HtmxHttpRequest, Notice, desk_instrument, desk_response
from sandbox.engine.money import parse_decimal

from . import services


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


@require_POST
def clock(request: HtmxHttpRequest, account_id: int, symbol: str) -> HttpResponse:
    """Stop, go on, change speed or schedule a gap on the learner's own practice market."""
    account = get_account_for_request(request, account_id)
    instrument = desk_instrument(account, symbol)  # one the account's market trades, or 404
    market = account.market
    action = request.POST.get("action", "")
    try:
        if market.kind not in (Market.Kind.PRACTICE, Market.Kind.TWINS):
            raise services.ControlError("Only your own practice market can be controlled here.")
        if action == "pause":
            services.market_run(market=market, running=False)
            text = "The market is stopped. Prices hold until you go on."
        elif action == "go":
            services.market_run(market=market, running=True)
            text = "The market is moving again."
        elif action == "speed":
            speed = parse_whole(request.POST.get("speed", ""), most=services.MAX_SPEED)
            if speed is None:
                raise services.ControlError("Choose a speed from the list.")
            services.market_speed(market=market, speed=speed)
            text = f"The market now runs at {speed}x."
        elif action == "gap":
            percent = _gap_percent(request.POST.get("percent", ""))
            services.learner_gap(market=market, symbol=symbol, percent=percent)
            text = (
                f"On the next tick {symbol} jumps {figure(percent)}% at once, "
                f"with no prices between."
            )
        else:
            raise services.ControlError("Choose stop, go on, a speed or a gap.")
    except services.ControlError as problem:
        if _back_to(request):
            messages.error(request, str(problem))
            return redirect(_back_to(request))
        return desk_response(request, account, instrument, Notice("market", str(problem), False))
    if _back_to(request):
        messages.success(request, text)
        return redirect(_back_to(request))
    return desk_response(request, account, instrument, Notice("market", text))


def _back_to(request: HttpRequest) -> str:
    """A page of this site's desk to return to (the side-by-side view), if given."""
    target = request.POST.get("next", "")
    if target.startswith("/desk/") and url_has_allowed_host_and_scheme(target, None):
        return target
    return ""


@require_POST
def liquidation_dismiss(request: HttpRequest, account_id: int, record_id: int) -> HttpResponse:
    account = get_account_for_request(request, account_id)
    record = get_object_or_404(LiquidationRecord, pk=record_id, account=account)
    record.acknowledged = True
    record.save(update_fields=["acknowledged"])
    symbol = request.POST.get("symbol") or record.symbol
    if not Instrument.objects.filter(symbol=symbol).exists():
        symbol = record.symbol
    return redirect("desk", account_id=account.pk, symbol=symbol)
