"""Side by side: one position opened twice, isolated and cross, on the same price path.

The twins are two paper accounts of the learner on one market of their own; the page and
its websocket show both, next to each other, until one of them is liquidated (the market
then stops, so the moment can be studied).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from channels.db import database_sync_to_async
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from sandbox import engine
from sandbox.desk import services as desk_services
from sandbox.desk.accounts import get_account_for_request, twins_for_scope
from sandbox.desk.answers import HtmxHttpRequest, desk_instrument, desk_response
from sandbox.desk.broadcast import market_group
from sandbox.desk.forms import OrderForm, parse_whole
from sandbox.desk.models import LiquidationRecord, Market, PaperAccount
from sandbox.desk.screen import Event, Notice
from sandbox.desk.selectors import account_state, engine_market

from . import services
from .chart import build_chart
from .consumers import NOT_FOUND, FragmentConsumer
from .render import GAP_CHOICES
from .selectors import chart_marks


@dataclass
class Twin:
    account: PaperAccount
    label: str
    balance: engine.BalanceFigures | None
    position: engine.PositionFigures | None
    liquidation: LiquidationRecord | None
    prefix: str = ""  # the ids of its sections on the page, told apart from the other twin's

    # Drawn by the desk's own balances and positions sections.
    @property
    def balances(self) -> list[engine.BalanceFigures]:
        return [self.balance] if self.balance else []

    @property
    def positions(self) -> list[engine.PositionFigures]:
        return [self.position] if self.position else []


def twins_context(owner: PaperAccount, market: Market) -> dict[str, Any]:
    market.refresh_from_db()
    accounts = list(owner.twins.filter(market=market).order_by("pk"))
    if len(accounts) != 2:
        raise Http404("No such side-by-side comparison.")
    symbol = ""
    twins: list[Twin] = []
    for account in accounts:
        state = account_state(account)
        record = LiquidationRecord.objects.filter(account=account).first()
        symbol = symbol or (record.symbol if record else next(iter(state.figures.positions), ""))
        position = state.figures.positions.get(symbol) if symbol else None
        settle = state.market.instrument(symbol).settle if symbol else ""
        twins.append(
            Twin(
                account,
                account.label,
                state.figures.balances.get(settle),
                position,
                record,
                prefix=f"twin-{len(twins) + 1}-",
            )
        )
    rows, manual = chart_marks(market, symbol)
    lines = [
        (
            f"liquidation {'isolated' if i == 0 else 'cross'}",
            f"{t.label} liquidation",
            t.position.liquidation_price if t.position else None,
        )
        for i, t in enumerate(twins)
    ]
    markers = [
        (t.liquidation.sequence, t.liquidation.mark_price, f"{t.label} liquidated")
        for t in twins
        if t.liquidation is not None
    ]
    return {
        "owner": owner,
        "market": market,
        "symbol": symbol,
        "instrument": {"symbol": symbol},
        "twins": twins,
        "chart": build_chart(
            rows, [(k.split()[0], label, p) for k, label, p in lines], markers, manual=manual
        ),
        "control_account": twins[0].account,
        "speeds": services.SPEEDS,
        "gaps": GAP_CHOICES,
        "decided": any(t.liquidation is not None for t in twins),
    }


@require_POST
def twins_open(request: HtmxHttpRequest, account_id: int, symbol: str) -> HttpResponse:
    account = get_account_for_request(request, account_id)
    instrument = desk_instrument(account, symbol)  # one the account's market trades, or 404
    form = OrderForm(request.POST, instrument=instrument)
    try:
        desk_services.twins_check(account.market)
    except engine.Rejected as refusal:
        notice = Notice(Event.TWINS, f"The twins were not opened: {refusal.message}", False)
        return desk_response(request, account, instrument, notice, forms={"order_form": form})
    # The market's own maximum (a classroom may cap it below the instrument's).
    most = int(engine_market(account.market).instrument(symbol).max_leverage)
    leverage = parse_whole(request.POST.get("twin_leverage", ""), most=most)
    if leverage is None or not 1 <= leverage <= most:
        notice = Notice(
            Event.TWINS, f"Choose the isolated twin's leverage, from 1x to {most}x.", False
        )
        return desk_response(request, account, instrument, notice, forms={"order_form": form})
    if not form.is_valid():
        notice = Notice(Event.TWINS, "The twins were not opened: correct the fields below.", False)
        return desk_response(request, account, instrument, notice, forms={"order_form": form})
    try:
        market = desk_services.twins_open(
            account=account,
            symbol=symbol,
            side=form.cleaned_side(),
            qty=form.cleaned_data["qty"],
            leverage=Decimal(leverage),
        )
    except engine.Rejected as refusal:
        notice = Notice(Event.TWINS, f"The twins were not opened: {refusal.message}", False)
        return desk_response(request, account, instrument, notice, forms={"order_form": form})
    url = f"/desk/{account.pk}/twins/{market.pk}/"
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_GET
def twins_page(request: HttpRequest, account_id: int, market_id: int) -> HttpResponse:
    owner = get_account_for_request(request, account_id)
    market = get_object_or_404(Market, pk=market_id, kind=Market.Kind.TWINS)
    return render(request, "live/twins.html", twins_context(owner, market))


def _render(account_id: int, market_id: int) -> str:
    owner = PaperAccount.objects.get(pk=account_id)
    market = Market.objects.get(pk=market_id)
    context = twins_context(owner, market)
    context["oob"] = True
    return render_to_string("live/twins.html#twins", context)


class TwinsConsumer(FragmentConsumer):
    """Pushes both twins on every tick of their market."""

    async def connect(self) -> None:
        route = self.scope["url_route"]["kwargs"]
        self.account_id = int(route["account_id"])
        self.market_id = int(route["market_id"])
        twins = await database_sync_to_async(twins_for_scope)(
            self.scope, self.account_id, self.market_id
        )
        if len(twins) != 2:
            await self.close(code=NOT_FOUND)
            return
        await self.join(market_group(self.market_id), owner=f"account:{self.account_id}")
        await database_sync_to_async(services.market_watched)(market_id=self.market_id)
        await self.push()

    async def snapshot(self) -> None:
        await self.push()

    async def push(self) -> None:
        await self.draw_and_send(lambda: _render(self.account_id, self.market_id))

    async def market_tick(self, event: dict[str, Any]) -> None:
        await database_sync_to_async(services.market_watched)(market_id=self.market_id)
        await self.push()
