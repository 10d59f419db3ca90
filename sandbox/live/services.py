"""The live market: ticks, leases and the practice-market controls.

A tick runs in one database transaction: new marks → the engine's liquidations →
profit realisation and funding when due → state saved (with the tick's sequence number)
→ pushed to the browsers after commit. The market row is locked for the tick and its
``sequence`` moves by exactly one, so a tick is applied once or not at all, and a server
that restarts goes on from the saved sequence.

A tick's work follows the positions it reaches, not the positions held: the accounts are
found through the positions' index (one range scan per condition, see ``candidates_query``),
a realisation tick computes only the accounts with profit to realise, and the outcomes
are written set-based (``desk.services.outcomes_save``: one statement per kind of row).

Only the holder of a market's lease ticks it. A ticker renews its leases while it runs;
when it dies, its leases expire and another ticker takes the markets over. The tick itself
checks the lease again inside its transaction, so two tickers never tick the same market.
"""

from __future__ import annotations

import functools
import gc
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from sandbox import engine
from sandbox.desk import broadcast
from sandbox.desk.broadcast import market_group
from sandbox.desk.models import Market, MarkPrice, PaperAccount, Position
from sandbox.desk.selectors import engine_market, id_chunks
from sandbox.desk.services import (
    KEY_SCALE,
    Change,
    Gathered,
    Saved,
    gathered_save,
    outcomes_gather,
)
from sandbox.engine.pricepath import PriceProcess, gap_price, next_price, round_to_tick

from . import kept as keeping
from . import shares
from .models import MarkTick

log = logging.getLogger(__name__)

REALISATION_SECONDS = Decimal(600)  # profit realisation every 10 simulated minutes
FUNDING_SECONDS = Decimal(8 * 3600)  # funding every 8 simulated hours
SPEEDS = (1, 10, 60, 600)
MAX_SPEED = 600


@dataclass
class TickResult:
    market_id: int
    sequence: int
    marks: dict[str, Decimal]
    liquidated: dict[int, list[int]] = field(default_factory=dict)  # account → record ids
    triggered: list[int] = field(default_factory=list)  # accounts whose stop or target fired
    realised: bool = False
    funded: bool = False
    accounts_touched: int = 0  # accounts the engine computed on this tick
    accounts_read: int = 0  # accounts read from the database (not kept since the last tick)
    shared: bool = False  # a share of the accounts computed by the tick helper (see .shares)
    booked: list[int] = field(default_factory=list)  # accounts whose ledger the tick wrote


def _crossed(period: Decimal, before: Decimal, after: Decimal) -> bool:
    return int(after // period) > int(before // period)


# The conditions under which a new mark reaches a position, each a range of one index
# (see Position.Meta.indexes): the band of a cross-linked account left, a long's or a
# short's liquidation price reached, a trigger reached from below or from above.
def _reached(market_id: int, symbol: str, price: Decimal) -> list[QuerySet[Position, int]]:
    low, high = _key(price, ROUND_FLOOR), _key(price, ROUND_CEILING)
    mine = Position.objects.filter(market_id=market_id, instrument_id=symbol).order_by()
    # (The side as ``is_long__in``: Django writes ``is_long=True`` as the bare column,
    # and SQLite then searches the liquidation index by market and instrument only.)
    return [
        mine.filter(condition).values_list("account_id", flat=True)
        for condition in (
            Q(band_low_key__gte=low),
            Q(band_high_key__lte=high),
            Q(is_long__in=[True], liquidation_key__gte=low),
            Q(is_long__in=[False], liquidation_key__lte=high),
            Q(trigger_below_key__gte=low),
            Q(trigger_above_key__lte=high),
        )
    ]


def candidates_query(market_id: int, marks: dict[str, Decimal]) -> QuerySet[Position, int]:
    """The accounts a new set of marks may have pushed through a liquidation price, or
    whose stop-loss or take-profit they reached: one query, a UNION of index range scans
    (one per condition and symbol), so its cost follows the positions reached, not the
    positions held."""
    parts = [part for symbol, price in marks.items() for part in _reached(market_id, symbol, price)]
    if not parts:
        return Position.objects.none().values_list("account_id", flat=True)
    return parts[0].union(*parts[1:])


def _candidates(market: Market, marks: dict[str, Decimal]) -> list[int]:
    """Accounts a new set of marks may have pushed through a liquidation price, or whose
    stop-loss or take-profit they reached.

    A position keeps its liquidation price until its own size or margin, or its account,
    changes; only positions whose indexed price the mark reached are looked at, and the
    cross positions of an account whose cross positions share funds once a mark leaves
    the band within which none of them can reach liquidation.
    """
    sql, slots = _candidates_sql(tuple(marks))
    keys = {
        slot: _key(marks[slot.symbol], slot.rounding) if slot.symbol else market.pk
        for slot in set(slots)
        if isinstance(slot, _Slot)
    }
    params: list[Any] = [keys[slot] if isinstance(slot, _Slot) else slot for slot in slots]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted({row[0] for row in cursor.fetchall()})


def _key(price: Decimal, rounding: str) -> int:
    return int((price * KEY_SCALE).to_integral_value(rounding=rounding))


@dataclass(frozen=True)
class _Slot:
    """A parameter of the candidates' SQL that changes from tick to tick: the market
    (``symbol`` empty), or a mark's index key rounded down or up."""

    symbol: str = ""
    rounding: str = ""


_MARKET = -(10**15)  # sentinels, never a market's id or a mark's key


@functools.lru_cache(maxsize=64)
def _candidates_sql(symbols: tuple[str, ...]) -> tuple[str, list[object]]:
    """``candidates_query``'s SQL for a market quoting ``symbols``, built and compiled
    once: Django takes ~5 ms to build its two dozen parts, which every tick of every
    market paid (most of a practice market's tick). Built with sentinel values for what
    changes, whose places in the parameters become :class:`_Slot`."""
    slots: dict[int, _Slot] = {_MARKET: _Slot()}
    marks: dict[str, Decimal] = {}
    for n, symbol in enumerate(symbols):
        low = _MARKET + 2 * n + 1  # a mark between two sentinel keys: its floor and ceiling
        slots[low], slots[low + 1] = _Slot(symbol, ROUND_FLOOR), _Slot(symbol, ROUND_CEILING)
        marks[symbol] = (Decimal(low) + Decimal("0.5")) / KEY_SCALE
    sql, params = candidates_query(_MARKET, marks).query.sql_with_params()
    return sql, [slots.get(p, p) if type(p) is int else p for p in params]


def _listed(rows: QuerySet[PaperAccount, tuple[Any, ...]]) -> list[tuple[int, bool, int]]:
    """The accounts' (id, cross-linked, version), read through the cursor: Django's own
    conversion of each row took 75 ms of a tick over 50,000 accounts."""
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(pk, bool(linked), version) for pk, linked, version in cursor.fetchall()]


def market_tick(*, market_id: int, owner: str | None = None) -> TickResult | None:
    """Apply the next tick of a market. None if it is paused or the lease is not ``owner``'s.

    ``owner=None`` ticks without a lease (a teacher's or a test's single step).

    A realisation or funding tick, or one reaching :data:`PAUSE_REACH` accounts or more,
    runs with the process's cyclic garbage collector paused (:class:`CollectorPause`): it
    makes an engine account and outcome for every account it computes, and each full
    collection in the middle of it walked them all (6 full collections, 0.5 s of a 3.2 s
    realisation tick at 100,000 positions). The tick's objects hold no reference cycles;
    they are freed as it returns, before the collector runs again. A small tick leaves it
    running (a ticker of many markets would otherwise keep it off most of the time).
    """
    with CollectorPause() as pause:
        return _market_tick(market_id, owner, pause)


PAUSE_REACH = 1000  # accounts a plain tick must reach to pause the collector

_pauses = 0
_pauses_lock = threading.Lock()
_resume = False


class CollectorPause:
    """The cyclic garbage collector paused from :meth:`start` to the end of the ``with``
    block, in whichever thread: enabled again when the last pause in the process ends, if
    it was enabled when the first began (overlapping pauses never leave it off)."""

    def __init__(self) -> None:
        self.started = False

    def __enter__(self) -> CollectorPause:
        return self

    def start(self) -> None:
        global _pauses, _resume
        if self.started:
            return
        with _pauses_lock:
            if _pauses == 0:
                _resume = gc.isenabled()
                gc.disable()
            _pauses += 1
        self.started = True

    def __exit__(self, *error: object) -> None:
        global _pauses
        if not self.started:
            return
        self.started = False
        with _pauses_lock:
            _pauses -= 1
            if _pauses == 0 and _resume:
                gc.enable()


def _market_tick(market_id: int, owner: str | None, pause: CollectorPause) -> TickResult | None:
    with transaction.atomic():
        market = Market.objects.select_for_update().get(pk=market_id)
        now = timezone.now()
        if owner is not None and (
            market.lease_owner != owner or market.lease_until is None or market.lease_until < now
        ):
            return None
        if owner is not None and not market.running:
            return None
        sequence = market.sequence + 1
        seconds = market.tick_seconds * market.speed
        current = engine_market(market)
        process = PriceProcess(
            volatility=market.volatility,
            drift=market.drift,
            jump_intensity=market.jump_intensity,
            jump_mean=market.jump_mean,
            jump_volatility=market.jump_volatility,
        )
        script, remaining = _next_moves(market.pending_gaps or {})
        marks: dict[str, Decimal] = {}
        for symbol, price in current.marks.items():
            inst = current.instruments[symbol]
            if symbol in script:
                move = script[symbol]
                if move.startswith("="):
                    marks[symbol] = round_to_tick(Decimal(move[1:]), inst.tick_size)
                else:
                    marks[symbol] = gap_price(price, Decimal(move), inst.tick_size)
            else:
                marks[symbol] = next_price(
                    process,
                    seed=market.seed,
                    symbol=symbol,
                    tick=sequence,
                    price=price,
                    seconds=seconds,
                    tick_size=inst.tick_size,
                )
        for symbol, price in marks.items():
            MarkPrice.objects.filter(market=market, instrument_id=symbol).update(price=price)
        sim_after = market.sim_seconds + seconds
        MarkTick.objects.bulk_create(
            MarkTick(market=market, sequence=sequence, symbol=s, price=p, sim_seconds=sim_after)
            for s, p in marks.items()
        )
        moved = engine.Market(current.instruments, marks)
        realise = _crossed(REALISATION_SECONDS, market.sim_seconds, sim_after)
        funding = market.funding_enabled and _crossed(
            FUNDING_SECONDS, market.sim_seconds, sim_after
        )
        rates = {s: current.instruments[s].funding_rate for s in marks} if funding else {}
        result = TickResult(market.pk, sequence, marks, realised=realise, funded=funding)
        reached = _candidates(market, marks)
        if realise or funding or len(reached) >= PAUSE_REACH:
            pause.start()  # (many accounts to compute: see market_tick)
        # The accounts the tick may change, locked before they are read (a PostgreSQL order
        # locks its own account's row, and waits): those the marks reached; on a realisation
        # or funding tick every account of the market, of which it computes those holding a
        # position (funding), or those with profit to realise (realisation). Each is the one
        # kept in memory since the last tick, unless written since (see .kept).
        started = time.perf_counter()
        kept = keeping.take(market.pk, market.sequence)
        rows = PaperAccount.objects.select_for_update().order_by()
        columns = ("pk", "cross_linked", "version")
        work = Work(market.pk, moved, tuple(marks), realise, funding, rates, set(reached), sequence)
        listed: list[tuple[int, bool, int]] = []
        helper = None
        if realise or funding:
            listed = _listed(rows.filter(market=market).values_list(*columns))
            helper = shares.helper_for(len(listed))
        else:
            for chunk in id_chunks(reached):
                listed += rows.filter(pk__in=chunk).values_list(*columns)
        # A large market's ledger tick is shared with a helper process (see .shares): it
        # computes its share of the accounts while this one computes and writes its own.
        split = shares.split_of(market.pk, funding=funding)
        mine, theirs = split.rows(listed) if helper is not None else (listed, [])
        if helper is not None and not helper.ask(work, theirs):
            helper, mine, theirs = None, listed, []
        parts: list[Share] = []
        saved: list[Saved] = []

        def ours(rows: list[tuple[int, bool, int]], *, whole: bool) -> None:
            """Compute and write these accounts here, keeping what was written."""
            part = work.compute(kept, rows, whole=whole)
            parts.append(part)
            saved.append(gathered_save(part.writes, announce=False))
            kept.wrote(part.written, saved[-1].index)

        try:
            ours(mine, whole=realise or funding)
        except BaseException:
            if helper is not None:
                helper.abandon()  # (its answer would be for a tick that never was)
            raise
        if helper is not None:
            # The helper's share, written as it comes (a part at a time, while it computes
            # the rest); if it fails on the way, what it has not sent is computed here.
            answered: set[int] = set()
            result.shared = True
            answers = helper.answers()
            try:
                for answer in answers:
                    saved.append(gathered_save(answer.writes, announce=False))
                    answered.update(answer.writes.accounts)
                    parts.append(answer)
            finally:
                answers.close()  # (a tick failing here stops the helper: see answers)
            if not helper.failed:
                finished = time.perf_counter()
                split.after(helper.waited, finished - helper.done_at, finished - started)
            else:
                ours([row for row in theirs if row[0] not in answered], whole=False)
        for part in parts:
            result.accounts_touched += part.touched
            result.accounts_read += part.read
            result.booked += part.booked
            result.triggered += part.triggered
        result.booked.sort()
        result.triggered.sort()
        result.liquidated = {
            pk: [r.pk for r in records] for done in saved for pk, records in done.records.items()
        }
        # (A ledger tick redraws every desk whole; a liquidated account hears of it as such.)
        result.triggered = [pk for pk in result.triggered if pk not in result.liquidated]
        market.sequence = sequence
        market.sim_seconds = sim_after
        market.pending_gaps = remaining
        if result.liquidated and market.stop_on_liquidation:
            market.running = False
        market.save(update_fields=["sequence", "sim_seconds", "pending_gaps", "running"])
        if len(listed) >= keeping.keep_from() if realise or funding else kept.known:
            # (A plain tick keeps what was kept: it lists only the accounts it reached.)
            transaction.on_commit(lambda: keeping.keep(market_id, kept, sequence))
        if helper is not None:
            transaction.on_commit(lambda: helper.committed(market_id, sequence))
        else:  # (a helper keeping some of the market's accounts hears what was written)
            wrote = sorted(pk for part in parts for pk in part.written)
            transaction.on_commit(lambda: shares.advanced(market_id, sequence, wrote))
        transaction.on_commit(lambda: broadcast_tick(result))
    return result


def _next_moves(queued: dict[str, object]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """This tick's scripted move per symbol, and what stays queued for the next ticks."""
    now: dict[str, str] = {}
    later: dict[str, list[str]] = {}
    for symbol, moves in queued.items():
        items = [str(m) for m in moves] if isinstance(moves, list) else [str(moves)]
        if items:
            now[str(symbol)] = items[0]
        if items[1:]:
            later[str(symbol)] = items[1:]
    return now, later


@dataclass(frozen=True)
class Share:
    """What a tick computed for some of its accounts: the writes gathered, and what the
    tick's result says of them. ``written``: each written account's new state (for the
    process that keeps them; empty once sent to another)."""

    writes: Gathered
    touched: int
    read: int
    booked: list[int]
    triggered: list[int]
    written: dict[int, engine.Account]


@dataclass(frozen=True)
class Work:
    """What a tick computes for each account, the same in any process: the new marks
    (``moved``, and which symbols moved), whether profit is realised and funding paid (at
    which rates), the accounts the marks reached (``rebased``) and the tick's sequence."""

    market_id: int
    moved: engine.Market
    symbols: tuple[str, ...]
    realise: bool
    funding: bool
    rates: dict[str, Decimal]
    rebased: set[int]
    sequence: int

    def compute(
        self, kept: keeping.MarketAccounts, rows: list[tuple[int, bool, int]], *, whole: bool
    ) -> Share:
        """The outcomes of the accounts of ``rows`` (id, cross-linked, version), as kept or
        read again (see MarketAccounts.current), gathered for writing: on a realisation or
        funding tick those holding a position (funding) or with profit to realise; on any
        other tick all (the marks reached them). ``kept`` is told nothing of the writes."""
        (share,) = self.computed(kept, rows, whole=whole, every=0)
        return share

    def computed(
        self,
        kept: keeping.MarketAccounts,
        rows: list[tuple[int, bool, int]],
        *,
        whole: bool,
        every: int,
    ) -> Iterator[Share]:
        """:meth:`compute`, in shares of ``every`` accounts computed (all in one with 0),
        each given as soon as it is computed (a helper process sends each to the ticker,
        which writes it while the rest is computed)."""
        read_before = kept.read
        listed = kept.current(rows, self.market_id, whole=whole)
        read = kept.read - read_before
        ledger = self.realise or self.funding
        moved, rebased = self.moved, self.rebased

        def due(account_id: int, positions: Mapping[str, engine.Position]) -> bool:
            if not positions:
                return False
            if self.funding or account_id in rebased:
                return True
            if all(p.mode is not engine.MarginMode.CROSS for p in positions.values()):
                return False  # (only a cross position's profit is realised)
            return engine.realisable(positions, moved)

        chosen = [pk for pk, held in listed.items() if not ledger or due(pk, held.state.positions)]
        touched = 0
        booked: list[int] = []
        triggered: list[int] = []
        written: dict[int, engine.Account] = {}

        def changes(accounts: list[int]) -> Iterator[Change]:
            """Each account's outcome, computed as it is gathered (one at a time: a tick
            over 100,000 positions keeps no list of outcomes)."""
            nonlocal touched
            # An account the marks reached none of (the index did not find it), here for
            # its funding or chosen for its profit to realise (``due``), starts at its
            # realisation: no stop, target or liquidation price was reached.
            states = {account_id: listed[account_id].state for account_id in accounts}
            for account_id, outcome in engine.tick_accounts(
                states,
                moved,
                self.symbols,
                realise=self.realise,
                funding_rates=self.rates,
                reached=rebased,
            ):
                held = listed[account_id]
                before = held.state
                touched += 1
                if outcome.events and not ledger:
                    triggered.append(account_id)
                unchanged = outcome.account == before and not outcome.events
                if not unchanged:
                    booked.append(account_id)
                if unchanged and account_id not in rebased:
                    continue  # nothing to write, and its index still holds
                # (A reached account the tick left as it was has its index rebased on the
                # new marks: a cross-linked account's bands move with them.)
                written[account_id] = outcome.account
                yield Change(account_id, self.market_id, before, outcome, held.linked, held.keys)

        size = every or max(len(chosen), 1)
        for start in range(0, max(len(chosen), 1), size):
            writes = outcomes_gather(
                changes(chosen[start : start + size]), moved, sequence=self.sequence
            )
            yield Share(writes, touched, read, booked, triggered, written)
            touched, read, booked, triggered, written = 0, 0, [], [], {}


def broadcast_tick(result: TickResult) -> None:
    """Tell the browsers: every learner on the market redraws their own figures.

    After the tick's commit; a push that fails is logged (by ``broadcast.send``), and the
    ticker goes on.
    """
    broadcast.send(
        market_group(result.market_id),
        {
            "type": "market.tick",
            "sequence": result.sequence,
            # Realisation and funding write ledger entries for everyone with a position.
            "ledger": result.realised or result.funded,
            # Whose: only their desks redraw their balances, positions and history.
            "booked": sorted(result.booked),
            # Their desks are sent whole sections (each process's feed draws them all in
            # one pass): one message for the market, however many it liquidated.
            "changed": sorted([*result.liquidated, *result.triggered]),
        },
    )


# ------------------------------------------------------------------------------ leases


def lease_seconds() -> int:
    return int(getattr(settings, "SANDBOX_LEASE_SECONDS", 5))


def leases_claim(owner: str) -> list[tuple[int, Decimal]]:
    """Take or renew the leases of the markets that should tick; return (id, tick seconds).

    A practice or side-by-side market ticks only while its learner is watching it;
    classroom and lesson markets tick whenever they run.
    """
    now = timezone.now()
    watching = now - timedelta(seconds=int(getattr(settings, "SANDBOX_WATCH_SECONDS", 30)))
    watched_only = [Market.Kind.PRACTICE, Market.Kind.TWINS]
    due = Market.objects.filter(running=True).filter(
        ~Q(kind__in=watched_only) | Q(last_watched__gte=watching)
    )
    due.filter(Q(lease_owner=owner) | Q(lease_until__isnull=True) | Q(lease_until__lt=now)).update(
        lease_owner=owner, lease_until=now + timedelta(seconds=lease_seconds())
    )
    return list(
        Market.objects.filter(lease_owner=owner, lease_until__gte=now, running=True)
        .filter(~Q(kind__in=watched_only) | Q(last_watched__gte=watching))
        .values_list("pk", "tick_seconds")
    )


def leases_release(owner: str) -> None:
    Market.objects.filter(lease_owner=owner).update(lease_owner="", lease_until=None)


def market_watched(*, market_id: int) -> None:
    """A learner has this market open: a practice market keeps ticking while watched."""
    Market.objects.filter(pk=market_id).update(last_watched=timezone.now())


# ---------------------------------------------------------------------------- controls


class ControlError(ValueError):
    """A control the market cannot take; the message says why."""


def market_run(*, market: Market, running: bool) -> None:
    Market.objects.filter(pk=market.pk).update(running=running)


def market_speed(*, market: Market, speed: int) -> None:
    if not 1 <= speed <= MAX_SPEED:
        raise ControlError(f"The speed must be from 1x to {MAX_SPEED}x.")
    Market.objects.filter(pk=market.pk).update(speed=speed)


# A gap in one tick: a teacher's room (and a test's script) may fall 90% or rise 900%; a
# learner's own practice market offers the desk's list, at most 20% either way.
GAP_LOWEST, GAP_HIGHEST = Decimal(-90), Decimal(900)
LEARNER_GAP_LIMIT = Decimal(20)


def market_gap(*, market: Market, symbol: str, percent: Decimal) -> None:
    """Schedule a gap: the next tick moves ``symbol`` by ``percent`` at once."""
    if not GAP_LOWEST <= percent <= GAP_HIGHEST or percent == 0:
        raise ControlError("A gap must be a move from -90% to +900%, other than 0.")
    market_script(market=market, symbol=symbol, moves=[format(percent, "f")])


def learner_gap(*, market: Market, symbol: str, percent: Decimal) -> None:
    """A learner's gap on their own practice market: at most ±20%, as the desk offers."""
    if not -LEARNER_GAP_LIMIT <= percent <= LEARNER_GAP_LIMIT or percent == 0:
        raise ControlError(
            "A gap on your practice market must be a move from -20% to +20%, other than 0."
        )
    market_gap(market=market, symbol=symbol, percent=percent)


def market_script(*, market: Market, symbol: str, moves: list[str]) -> None:
    """Queue scripted moves for the next ticks of ``symbol``, one a tick, replacing any
    queued before: percentages ("-2.5") or prices ("=61000")."""
    with transaction.atomic():
        locked = Market.objects.select_for_update().get(pk=market.pk)
        if not MarkPrice.objects.filter(market=locked, instrument_id=symbol).exists():
            raise ControlError(f"{symbol} has no price on this market.")
        queued = dict(locked.pending_gaps or {})
        queued[symbol] = list(moves)
        locked.pending_gaps = queued
        locked.save(update_fields=["pending_gaps"])
