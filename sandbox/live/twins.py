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
from django.contrib import messages
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
from sandbox.desk.models import (
    Fill,
    LiquidationRecord,
    MarginSettingRow,
    Market,
    PaperAccount,
)
from sandbox.desk.screen import Event, Notice
from sandbox.desk.selectors import account_state, engine_market
from sandbox.engine.twins import compare_twins

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

    @property
    def liquidation_price(self) -> Decimal | None:
        """Where it is liquidated: its open position's price, or where it was."""
        if self.position is not None:
            return self.position.liquidation_price
        return self.liquidation.liquidation_price if self.liquidation else None


def _twins(owner: PaperAccount, market: Market) -> list[PaperAccount]:
    """The isolated twin, then the cross one (the order ``twins_open`` creates them in)."""
    accounts = list(owner.twins.filter(market=market).order_by("pk"))
    if len(accounts) != 2:
        raise Http404("No such side-by-side comparison.")
    return accounts


def twins_context(owner: PaperAccount, market: Market) -> dict[str, Any]:
    market.refresh_from_db()
    symbol = ""
    twins: list[Twin] = []
    for account in _twins(owner, market):
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
    isolated, cross = twins
    comparison = (
        compare_twins(isolated.balance, cross.balance, isolated.position, cross.position)
        if isolated.balance is not None and cross.balance is not None
        else None
    )
    rows, manual = chart_marks(market, symbol)
    # Both liquidation prices on the chart, its scale reaching both (a liquidated twin's
    # where it was), so the learner sees how much further away the cross one is.
    lines = [("liquidation", f"{t.label} liquidation", t.liquidation_price) for t in twins]
    markers = [
        (t.liquidation.sequence, t.liquidation.mark_price, f"{t.label} liquidated")
        for t in twins
        if t.liquidation is not None
    ]
    liquidated = [t for t in twins if t.liquidation is not None]
    still_open = [t for t in twins if t.position is not None]
    return {
        "owner": owner,
        "market": market,
        "symbol": symbol,
        "instrument": {"symbol": symbol},
        "twins": twins,
        "isolated": isolated,
        "cross": cross,
        "comparison": comparison,
        "realisation_minutes": int(services.REALISATION_SECONDS) // 60,
        "chart": build_chart(
            rows,
            lines,
            markers,
            manual=manual,
            include=[p for *_, p in lines if p is not None],
        ),
        "control_account": isolated.account,
        "speeds": services.SPEEDS,
        "gaps": GAP_CHOICES,
        "decided": bool(liquidated),
        "liquidated": liquidated,
        "still_open": still_open,
    }


def clock_state(context: dict[str, Any]) -> tuple[bool, bool, int]:
    """What the clock's controls depend on: when it changes, a push redraws them."""
    return (context["market"].running, context["decided"], len(context["still_open"]))


@dataclass(frozen=True)
class TwinsOrder:
    """The order the twins were opened with, to open them again."""

    symbol: str
    side: engine.Side
    qty: Decimal
    leverage: Decimal


def twins_order(owner: PaperAccount, market: Market) -> TwinsOrder:
    """Read back from the twins' first fill and the isolated twin's leverage."""
    isolated, cross = _twins(owner, market)
    fill = Fill.objects.filter(account=cross, liquidation=False).order_by("pk").first()
    if fill is None:
        raise Http404("No such side-by-side comparison.")
    setting = MarginSettingRow.objects.filter(account=isolated, instrument_id=fill.symbol).first()
    if setting is None:
        raise Http404("No such side-by-side comparison.")
    return TwinsOrder(fill.symbol, engine.Side(fill.side), fill.qty, setting.leverage)


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


@require_POST
def twins_again(request: HttpRequest, account_id: int, market_id: int) -> HttpResponse:
    """Open the same twins afresh (the same order, from the learner's desk's prices now),
    once this comparison is decided. A plain form post: the answer is the new page, or
    this one with the reason it could not."""
    owner = get_account_for_request(request, account_id)
    market = get_object_or_404(Market, pk=market_id, kind=Market.Kind.TWINS)
    order = twins_order(owner, market)
    here = f"/desk/{owner.pk}/twins/{market.pk}/"
    try:
        again = desk_services.twins_open(
            account=owner,
            symbol=order.symbol,
            side=order.side,
            qty=order.qty,
            leverage=order.leverage,
        )
    except engine.Rejected as refusal:
        messages.error(request, f"The twins were not opened again: {refusal.message}")
        return redirect(here)
    messages.success(
        request, "The same twins, opened again from your desk's prices: the market is moving."
    )
    return redirect(f"/desk/{owner.pk}/twins/{again.pk}/")


def _render(consumer: TwinsConsumer) -> str:
    owner = PaperAccount.objects.get(pk=consumer.account_id)
    market = Market.objects.get(pk=consumer.market_id)
    context = twins_context(owner, market)
    context["oob"] = True
    page = render_to_string("live/twins.html#twins", context)
    # The clock's controls only when what they offer changed (a liquidation stopped the
    # market, say), so a choice being made in them is not redrawn away on every tick.
    state = clock_state(context)
    if state != consumer.clock:
        consumer.clock = state
        page += render_to_string("live/twins.html#clock", context)
    return page


class TwinsConsumer(FragmentConsumer):
    """Pushes both twins on every tick of their market."""

    clock: tuple[bool, bool, int] | None = None  # the clock's state the page shows

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
        self.clock = None  # a snapshot redraws everything
        await self.push()

    async def push(self) -> None:
        await self.draw_and_send(lambda: _render(self))

    async def market_tick(self, event: dict[str, Any]) -> None:
        await database_sync_to_async(services.market_watched)(market_id=self.market_id)
        await self.push()
