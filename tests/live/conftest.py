"""Fixtures and builders for the live market: the web fixtures (a seeded database, a
learner with a browser), quiet markets whose prices move only when a test says so, and
extra accounts on one market."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from channels.layers import get_channel_layer

from sandbox import engine
from sandbox.desk import services as desk_services
from sandbox.desk.models import (
    Fill,
    InsuranceFund,
    LedgerEntry,
    LiquidationRecord,
    Market,
    MarkPrice,
    PaperAccount,
    Position,
    Wallet,
)
from sandbox.live import services as live_services
from sandbox.live.models import MarkTick
from tests.web.conftest import Learner, learner, make_learner, other_learner, seeded

__all__ = ["Learner", "learner", "make_learner", "other_learner", "seeded"]


@pytest.fixture
async def empty_channel_layer() -> AsyncIterator[None]:
    """The in-memory channel layer emptied before and after a websocket test."""
    layer = get_channel_layer()
    await layer.flush()
    yield
    await layer.flush()


D = Decimal
BUY, SELL = engine.Side.BUY, engine.Side.SELL
ISOLATED, CROSS = engine.MarginMode.ISOLATED, engine.MarginMode.CROSS


def reload(market: Market) -> Market:
    return Market.objects.get(pk=market.pk)


def quiet(market: Market, **changes: Any) -> Market:
    """No diffusion and no drift: prices move only by a scheduled gap (or a given drift)."""
    fields = {"volatility": D(0), "drift": D(0), **changes}
    Market.objects.filter(pk=market.pk).update(**fields)
    return reload(market)


def schedule_gap(market: Market, symbol: str, percent: str) -> None:
    """What the clock control does: the next tick moves ``symbol`` by ``percent`` at once."""
    live_services.market_gap(market=reload(market), symbol=symbol, percent=D(percent))


def account_on(market: Market) -> PaperAccount:
    """A new paper account (starting balances, as any learner) trading on ``market``."""
    account = desk_services.account_create()
    own = account.market
    account.market = market
    account.save(update_fields=["market"])
    own.delete()
    return PaperAccount.objects.select_related("market").get(pk=account.pk)


def open_position(
    account: PaperAccount,
    symbol: str,
    side: engine.Side,
    qty: str,
    mode: engine.MarginMode = CROSS,
    leverage: str | None = None,
) -> engine.Outcome:
    if leverage is not None or mode is ISOLATED:
        desk_services.leverage_set(
            account=account, symbol=symbol, mode=mode, leverage=D(leverage or "100")
        )
    return desk_services.order_place(account=account, symbol=symbol, side=side, qty=D(qty))


def marks(market: Market) -> dict[str, Decimal]:
    return {
        row.instrument_id: row.price
        for row in MarkPrice.objects.filter(market_id=market.pk).order_by("instrument_id")
    }


def wallet(account: PaperAccount, currency: str = "USDT") -> Decimal:
    return Wallet.objects.get(account=account, currency=currency).balance


def ledger(account: PaperAccount, since: int = 0) -> list[tuple[str, str, Decimal, str]]:
    return list(
        LedgerEntry.objects.filter(account=account, id__gt=since)
        .order_by("id")
        .values_list("currency", "reason", "amount", "symbol")
    )


def last_ledger_id() -> int:
    entry = LedgerEntry.objects.order_by("-id").first()
    return entry.pk if entry else 0


@dataclass(frozen=True)
class Snapshot:
    """Everything a tick may write, to compare before and after."""

    sequence: int
    sim_seconds: Decimal
    pending_gaps: dict[str, str]
    marks: dict[str, Decimal]
    ticks: int
    wallets: list[tuple[int, str, Decimal]]
    positions: list[tuple[Any, ...]]
    ledger: int
    fills: int
    insurance: list[tuple[str, Decimal]]
    liquidations: int


def snapshot(market: Market) -> Snapshot:
    row = reload(market)
    accounts = PaperAccount.objects.filter(market=row)
    return Snapshot(
        sequence=row.sequence,
        sim_seconds=row.sim_seconds,
        pending_gaps=dict(row.pending_gaps),
        marks=marks(row),
        ticks=MarkTick.objects.filter(market=row).count(),
        wallets=list(
            Wallet.objects.filter(account__in=accounts)
            .order_by("account_id", "currency")
            .values_list("account_id", "currency", "balance")
        ),
        positions=list(
            Position.objects.filter(account__in=accounts)
            .order_by("account_id", "instrument_id")
            .values_list(
                "account_id",
                "instrument_id",
                "qty",
                "entry_value",
                "position_margin",
                "realised_pnl",
                "liquidation_key",
            )
        ),
        ledger=LedgerEntry.objects.filter(account__in=accounts).count(),
        fills=Fill.objects.filter(account__in=accounts).count(),
        insurance=list(
            InsuranceFund.objects.filter(market=row)
            .order_by("currency")
            .values_list("currency", "balance")
        ),
        liquidations=LiquidationRecord.objects.filter(account__in=accounts).count(),
    )
