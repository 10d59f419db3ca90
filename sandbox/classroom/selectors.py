"""What the class sees: each learner's figures, the leaderboard, the liquidation feed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q

from sandbox import engine
from sandbox.desk.models import LiquidationRecord
from sandbox.desk.selectors import engine_accounts, engine_market

from .models import Room, RoomMember

LIQUIDATION_PENALTY = Decimal(10)  # percentage points off the score for each liquidation


@dataclass(frozen=True)
class LearnerRow:
    member: RoomMember
    equity: Decimal  # margin balance in the room's main currency
    currency: str
    return_percent: Decimal
    leverage_used: Decimal | None  # |value at mark| of all positions over the margin balance
    modes: str
    distance: Decimal | None  # the closest any position is to its liquidation price, in %
    liquidations: int
    trades: int

    @property
    def score(self) -> Decimal:
        return self.return_percent - LIQUIDATION_PENALTY * self.liquidations


def main_currency(room: Room) -> str:
    return next(iter(room.starting_balances), "USDT")


def learner_rows(room: Room) -> list[LearnerRow]:
    market = engine_market(room.market)
    currency = main_currency(room)
    start = Decimal(room.starting_balances.get(currency, "0"))
    members = list(
        RoomMember.objects.filter(room=room)
        .select_related("account")
        .annotate(
            liquidation_count=Count("account__liquidations", distinct=True),
            trade_count=Count(
                "account__fills", filter=Q(account__fills__liquidation=False), distinct=True
            ),
        )
    )
    states = engine_accounts([member.account_id for member in members])
    rows = []
    for member in members:
        figures = engine.account_figures(states[member.account_id], market)
        balance = figures.balances.get(currency)
        equity = balance.margin_balance if balance else Decimal(0)
        exposure = sum(
            (
                abs(market.instrument(p.symbol).value(p.qty, p.mark_price))
                for p in figures.positions.values()
                if p.settle == currency
            ),
            Decimal(0),
        )
        distances = [
            p.distance_to_liquidation
            for p in figures.positions.values()
            if p.distance_to_liquidation is not None
        ]
        modes = sorted({p.margin_mode.value for p in figures.positions.values()})
        rows.append(
            LearnerRow(
                member=member,
                equity=equity,
                currency=currency,
                return_percent=(equity - start) / start * 100 if start else Decimal(0),
                leverage_used=exposure / equity if exposure and equity > 0 else None,
                modes=", ".join(modes) or "no position",
                distance=min(distances) if distances else None,
                liquidations=member.liquidation_count,
                trades=member.trade_count,
            )
        )
    return rows


def leaderboard(rows: list[LearnerRow]) -> list[LearnerRow]:
    """Ranked by return, with each liquidation counting against it."""
    return sorted(rows, key=lambda row: (-row.score, row.member.display_name.casefold()))


@dataclass(frozen=True)
class FeedItem:
    symbol: str
    count: int
    liquidation_price: Decimal | None
    mark_price: Decimal
    sequence: int


def liquidation_feed(room: Room, limit: int = 10) -> list[FeedItem]:
    """Liquidations grouped as they happened (same tick, symbol and mark): '3 learners
    liquidated at 1,310'. The liquidation price is given when they all shared it."""
    records = LiquidationRecord.objects.filter(account__member__room=room).order_by(
        "-sequence", "symbol"
    )
    groups: dict[tuple[int, str, Decimal], list[LiquidationRecord]] = {}
    for record in records:
        groups.setdefault((record.sequence, record.symbol, record.mark_price), []).append(record)
    items = []
    for (sequence, symbol, mark), members in groups.items():
        prices = {member.liquidation_price for member in members}
        shared = prices.pop() if len(prices) == 1 else None
        items.append(FeedItem(symbol, len(members), shared, mark, sequence))
    return sorted(items, key=lambda item: -item.sequence)[:limit]


def liquidations_by_level(room: Room) -> list[tuple[str, Decimal, int]]:
    """How many learners were liquidated at each mark level, per symbol."""
    records = LiquidationRecord.objects.filter(account__member__room=room)
    counts: Counter[tuple[str, Decimal]] = Counter(
        (record.symbol, record.mark_price) for record in records
    )
    return sorted(((s, p, n) for (s, p), n in counts.items()), key=lambda item: (item[0], -item[1]))
