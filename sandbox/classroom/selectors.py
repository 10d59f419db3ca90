"""What the class sees: each learner's figures, the leaderboard, the liquidation feed.

Every figure comes from the engine: each account's figures (``engine.account_figures``)
valued in the room's quote currency (``engine.valuation``: XBT at an XBT mark of the
room), so a learner's XBT balance and inverse positions count like the rest.

The ranking of a class is computed at most once per tick and change of the room, per
process (:func:`class_board`): every learner's panel, every snapshot of a desk connecting
and the teacher's board of that tick share it. The learners' panels re-rank the class on
every fifth tick only, so a desk connecting between two re-rankings shows the board its
classmates' panels show (at most four ticks old, never older than the latest trade or
teacher's action), and one more socket costs no ranking of the whole class.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from django.db.models import Count, QuerySet

from sandbox import engine
from sandbox.desk import board_version
from sandbox.desk.models import Fill, LiquidationRecord, Market
from sandbox.desk.selectors import engine_accounts, engine_market
from sandbox.engine import valuation as values

from .models import Room, RoomMember

RANKING_RULE = "Ranked by return; ties by fewer liquidations, then by name."


@dataclass(frozen=True)
class LearnerRow:
    """One learner's line of the board, in the room's quote currency ``currency``."""

    member: RoomMember
    equity: Decimal  # every margin balance, valued in the quote currency
    currency: str
    return_percent: Decimal | None  # against the starting balances at the same marks
    leverage_used: Decimal | None  # |value at mark| of all positions over the equity
    modes: str
    distance: Decimal | None  # the closest any position is to its liquidation price, in %
    liquidations: int
    trades: int
    positions: tuple[values.PositionSummary, ...] = ()
    balances: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))

    def rank_key(self) -> tuple[bool, Decimal, int, str]:
        """The leaderboard's order (:data:`RANKING_RULE`): best return first, then fewer
        liquidations, then the name; a return that cannot be figured comes last."""
        unknown = self.return_percent is None
        best = -(self.return_percent or Decimal(0))
        return (unknown, best, self.liquidations, self.member.display_name.casefold())


def main_currency(room: Room) -> str:
    """The room's quote currency: what its equity and returns are counted in."""
    return next(iter(room.starting_balances), "USDT")


def starting_balances(room: Room) -> dict[str, Decimal]:
    return {c: Decimal(amount) for c, amount in room.starting_balances.items()}


def room_valuation(room: Room, prices: engine.Market) -> values.Valuation:
    """How the room's currencies are valued in its quote currency at ``prices``."""
    currencies = set(room.starting_balances)
    currencies.update(inst.settle for inst in prices.instruments.values())
    return values.valuation(prices, main_currency(room), currencies)


def _per_account(rows: QuerySet[Any]) -> dict[int, int]:
    """How many rows each account has, in one grouped query."""
    grouped = rows.values("account_id").annotate(n=Count("id")).values_list("account_id", "n")
    return dict(grouped)


def learner_rows(room: Room, market: Market | None = None) -> list[LearnerRow]:
    """Every learner of the room, by name, read in bulk: one query per table whatever the
    size of the class (members, fills, liquidations, wallets, positions, settings, marks)."""
    return _learner_rows(room, market or room.market)[0]


def _learner_rows(room: Room, market: Market) -> tuple[list[LearnerRow], values.Valuation]:
    prices = engine_market(market)
    rates = room_valuation(room, prices)
    start = starting_balances(room)
    members = list(RoomMember.objects.filter(room=room).order_by("name_key", "pk"))
    ids = [member.account_id for member in members]
    trades = _per_account(Fill.objects.filter(account__market_id=market.pk, liquidation=False))
    liquidations = _per_account(LiquidationRecord.objects.filter(account__market_id=market.pk))
    states = engine_accounts(ids, market_id=market.pk)
    rows = []
    for member in members:
        figures = engine.account_figures(states[member.account_id], prices)
        value = values.account_value(figures, prices, rates, start)
        modes = sorted({p.margin_mode.value for p in value.positions})
        rows.append(
            LearnerRow(
                member=member,
                equity=value.equity,
                currency=value.quote,
                return_percent=value.return_percent,
                leverage_used=value.effective_leverage,
                modes=", ".join(modes) or "no position",
                distance=value.distance_to_liquidation,
                liquidations=liquidations.get(member.account_id, 0),
                trades=trades.get(member.account_id, 0),
                positions=value.positions,
                balances=value.margin_balances,
            )
        )
    return rows, rates


def leaderboard(rows: list[LearnerRow]) -> list[LearnerRow]:
    """Ranked by :data:`RANKING_RULE`."""
    return sorted(rows, key=LearnerRow.rank_key)


# ----------------------------------------------------------------- once per tick and room


@dataclass(frozen=True)
class ClassBoard:
    """A room's learners at one tick: their rows (by name), the leaderboard, each member's
    place, and how the currencies were valued. Shared by every panel, snapshot and board
    of the room at that tick: read-only."""

    room_id: int
    sequence: int
    version: str
    valuation: values.Valuation
    rows: tuple[LearnerRow, ...]
    ranking: tuple[LearnerRow, ...]
    places: Mapping[int, int]  # member pk → place on the leaderboard (from 1)


_boards: dict[int, ClassBoard] = {}
_lock = threading.Lock()


# The learners' panels (and the projector's leaderboard) re-rank the class on every fifth
# tick; a trade or a teacher's action re-ranks it at once (the change token).
BOARD_EVERY = 5


def class_board(room: Room, market: Market | None = None, *, every: int = 1) -> ClassBoard:
    """The room's board at the tick of ``market`` (the room's market row, as read by the
    caller): computed once per (room, tick, change token) in this process and reused.

    ``every``: the class is re-ranked on every ``every``-th tick (the learners' panels),
    so a board ranked since the latest of those ticks (at or before the caller's tick) is
    the one to show: a desk drawn between two re-rankings shows the ranking its
    classmates' panels show, and costs no ranking of the class. (1: the board of this
    very tick, as the teacher's board and the export show it.)

    The change token (:mod:`sandbox.desk.board_version`) is read before the figures, and
    a learner's trade or a teacher's action bumps it once committed: a board computed
    from older figures is never reused after the change."""
    market = market or room.market
    version = board_version.current(market.pk)
    with _lock:
        kept = _boards.get(room.pk)
    since = market.sequence - market.sequence % max(every, 1)  # the latest re-ranking tick
    if kept is not None and since <= kept.sequence <= market.sequence and kept.version == version:
        return kept
    rows, rates = _learner_rows(room, market)
    ranking = leaderboard(rows)
    board = ClassBoard(
        room_id=room.pk,
        sequence=market.sequence,
        version=version,
        valuation=rates,
        rows=tuple(rows),
        ranking=tuple(ranking),
        places=MappingProxyType({row.member.pk: n for n, row in enumerate(ranking, start=1)}),
    )
    with _lock:
        current = _boards.get(room.pk)
        if current is None or current.sequence <= board.sequence:
            _boards[room.pk] = board
    return board


def forget_boards() -> None:
    """Drop every kept board (tests; a process that must recompute)."""
    with _lock:
        _boards.clear()


# ------------------------------------------------------------------------- liquidations


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
