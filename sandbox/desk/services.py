"""Business actions on paper accounts.

Each action runs in one database transaction: the account row is locked, its state is
loaded into the engine, the engine function computes the outcome (or raises
``engine.Rejected``, in which case nothing is written), and the outcome is saved.
Locking the row serialises two quick submissions of the same order from two tabs: the
second one sees the balance the first one left.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from itertools import compress
from math import ceil, floor
from operator import attrgetter, ne
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from sandbox import engine
from sandbox.engine import display, terms

from . import board_version, broadcast
from .fields import stored_text
from .models import (
    Fill,
    Instrument,
    InsuranceFund,
    LedgerEntry,
    LiquidationRecord,
    ManualMark,
    MarginSettingRow,
    Market,
    MarkPrice,
    PaperAccount,
    Position,
    Wallet,
)
from .selectors import (
    KEY_COLUMNS,
    POSITION_COLUMNS,
    IndexKeys,
    engine_account,
    engine_market,
    id_chunks,
    stored_accounts,
)

Action = Callable[[engine.Account, engine.Market], engine.Outcome]
TRADING_CLOSED = (
    "Trading is closed in this room for now, and frozen: nothing can be traded or changed "
    "until your teacher opens it again. Nothing was changed."
)
REDUCE_ONLY = (
    "Trading is closed in this room for now, reduce-only: {reason}. Until your teacher "
    "opens it again you may only lower your risk: close or reduce a position, add margin, "
    "lower an isolated position's leverage, set or move its stops. Nothing was changed."
)
TWINS_OPEN_POSITIONS = "the twins would open two new positions"
TEACHER_SETS_PRICES = "In a classroom only the teacher moves the price."
TEACHER_RESETS = "In a classroom only the teacher resets the accounts."
OWN_MARKETS = (Market.Kind.PRACTICE, Market.Kind.TWINS)
TWINS_FROM_PRACTICE = (
    "Side by side opens only from your own practice market: in a classroom you trade on "
    "your teacher's market, under its rules (its leverage cap, and trading open or "
    "closed). Nothing was changed."
)


def instruments_seed() -> int:
    """Load the engine's built-in instruments into the database (idempotent)."""
    for order, inst in enumerate(engine.BUILT_IN_INSTRUMENTS.values()):
        Instrument.objects.update_or_create(
            symbol=inst.symbol,
            defaults={
                "kind": inst.kind.value,
                "settle": inst.settle,
                "maint_margin_rate": inst.maint_margin_rate,
                "max_leverage": inst.max_leverage,
                "taker_fee": inst.taker_fee,
                "qty_step": inst.qty_step,
                "funding_rate": inst.funding_rate,
                "tick_size": inst.tick_size,
                "display_order": order,
            },
        )
    return len(engine.BUILT_IN_INSTRUMENTS)


@transaction.atomic
def account_create(
    *,
    user: User | None = None,
    market: Market | None = None,
    parent: PaperAccount | None = None,
    label: str = "",
    balances: dict[str, Decimal] | None = None,
) -> PaperAccount:
    """A new paper account with the starting balances, on its own new practice market
    unless a market is given."""
    if market is None:
        market = Market.objects.create(name="Practice market")
        starting_marks: dict[str, Decimal] = settings.SANDBOX_STARTING_MARKS
        for instrument in Instrument.objects.all():
            if instrument.symbol in starting_marks:
                MarkPrice.objects.create(
                    market=market, instrument=instrument, price=starting_marks[instrument.symbol]
                )
    account = PaperAccount.objects.create(market=market, user=user, parent=parent, label=label)
    state = engine.Account()
    empty = engine.Market({})
    starting: dict[str, Decimal] = balances or settings.SANDBOX_STARTING_BALANCES
    for currency, amount in starting.items():
        outcome = engine.deposit(state, currency, amount)
        outcome_save(account, state, outcome, empty)
        state = outcome.account
    return account


KEY_SCALE = Decimal(10) ** 8
KEY_LIMIT = 9 * 10**18


def liquidation_key(price: Decimal | None, *, is_long: bool) -> int | None:
    """The integer index of a liquidation price, rounded outwards (see Position)."""
    return _key_up(price) if is_long else _key_down(price)


def _key_up(price: Decimal | None) -> int | None:
    """:func:`liquidation_key` of a long's price (rounded up)."""
    if price is None:
        return None
    key = ceil(price * KEY_SCALE)  # (Decimal's own, exact: to_integral_value's, as an int)
    return KEY_LIMIT if key > KEY_LIMIT else -KEY_LIMIT if key < -KEY_LIMIT else key


def _key_down(price: Decimal | None) -> int | None:
    """:func:`liquidation_key` of a short's price (rounded down)."""
    if price is None:
        return None
    key = floor(price * KEY_SCALE)
    return KEY_LIMIT if key > KEY_LIMIT else -KEY_LIMIT if key < -KEY_LIMIT else key


def index_keys(state: engine.Account, market: engine.Market) -> dict[str, dict[str, Any]]:
    """The index columns of each open position (see Position), by name: liquidation price,
    trigger prices and, for cross-linked accounts, the band of marks that cannot
    liquidate."""
    return {
        symbol: dict(zip(KEY_COLUMNS, row, strict=True))
        for symbol, row in _index(state, market).items()
    }


def _index(state: engine.Account, market: engine.Market) -> IndexKeys:
    """Each open position's index columns, in the order of ``KEY_COLUMNS``, from the
    engine's liquidation prices and margins left (``engine.liquidation_cushions``)."""
    cushions = engine.liquidation_cushions(state, market)
    keys: IndexKeys = {}
    groups: dict[str, list[str]] | None = None
    positions = state.positions
    instruments = market.instruments
    for symbol, (price, _) in cushions.items():
        held = positions[symbol]
        stop, target = held.stop_loss, held.take_profit
        # A long's liquidation price is rounded up, a short's down (outwards); a long's stop
        # fires on the way down and its target on the way up; a short's the other way round.
        # (No trigger, no key: told here, as most positions have none.)
        if held.qty > 0:
            keys[symbol] = (
                True,
                _key_up(price),
                None if stop is None else _key_up(stop),
                None if target is None else _key_down(target),
                None,
                None,
            )
        else:
            keys[symbol] = (
                False,
                _key_down(price),
                None if target is None else _key_up(target),
                None if stop is None else _key_down(stop),
                None,
                None,
            )
        if held.mode is _CROSS:
            if groups is None:
                groups = {}
            groups.setdefault(instruments[symbol].settle, []).append(symbol)
    if groups is None:
        return keys
    for linked in groups.values():
        if len(linked) < 2:
            continue
        # Every cross position keeps margin above maintenance while the total change of
        # unrealised PnL stays below the smallest cushion; share it out between symbols.
        cushion = min(cushions[symbol][1] for symbol in linked)
        share = max(cushion, Decimal(0)) / len(linked)
        for symbol in linked:
            low, high = _band(
                instruments[symbol], positions[symbol].qty, market.marks[symbol], share
            )
            keys[symbol] = (*keys[symbol][:4], _key_up(low) or 0, _key_down(high))
    return keys


def _band(
    inst: engine.Instrument, qty: Decimal, mark: Decimal, share: Decimal
) -> tuple[Decimal | None, Decimal | None]:
    """The marks around ``mark`` within which this position's PnL moves by less than
    ``share`` (None: no bound on that side)."""
    size = abs(qty)
    if inst.is_inverse:
        # PnL moves with 1/price: |qty| × |1/mark − 1/price| < share.
        inverse = 1 / mark
        low = 1 / (inverse + share / size)
        upper = inverse - share / size
        return low, (1 / upper if upper > 0 else None)
    step = share / size
    return (mark - step if mark > step else None), mark + step


# A position's stored figures (the columns after its account and instrument) and its index
# columns, as the tick reads them (one list of names for reading and writing).
POSITION_FIELDS = POSITION_COLUMNS[2:]
KEY_FIELDS = KEY_COLUMNS


@dataclass(frozen=True)
class Change:
    """One account's outcome to write (see :func:`outcomes_save`): the state it was
    computed from, and what is stored of the index (``keys``: each position's index
    columns; None when not read, and then every position's are written)."""

    account_id: int
    market_id: int
    before: engine.Account
    outcome: engine.Outcome
    cross_linked: bool
    keys: IndexKeys | None = None


def _column(position: engine.Position, name: str) -> Any:
    value = getattr(position, name)
    return value.value if name == "mode" else value


# A position's stored figures, in the order of POSITION_FIELDS.
_figures = attrgetter(*POSITION_FIELDS)
_REASONS = {reason: reason.value for reason in engine.LedgerReason}
_FIGURE_INDEXES = range(len(POSITION_FIELDS))
_KEY_INDEXES = range(len(KEY_FIELDS))
_LIQUIDATION = engine.LiquidationEvent
_CROSS = engine.MarginMode.CROSS
_ZERO = Decimal(0)


LEDGER_ROWS = 100  # ledger entries a statement inserts (7 values each: well within limits)
POSITION_ROWS = 100  # positions a statement updates on SQLite (see _positions_update)


def _values(width: int, rows: int) -> str:
    """A statement's list of ``rows`` rows of ``width`` values each."""
    row = "(" + ", ".join(["%s"] * width) + ")"
    return ", ".join([row] * rows)


def _in_parts(cursor: Any, rows: list[Any], every: int, statement: Callable[[int], str]) -> None:
    """Run ``statement(n)`` for each part of ``every`` rows (``n`` of them, the last part
    fewer), given the part's values row after row."""
    for start in range(0, len(rows), every):
        part = rows[start : start + every]
        cursor.execute(statement(len(part)), [value for row in part for value in row])


@functools.lru_cache(maxsize=4)
def _ledger_insert(rows: int) -> str:
    """The statement inserting ``rows`` ledger entries (seven values each)."""
    table = connection.ops.quote_name(LedgerEntry._meta.db_table)
    return (
        f"INSERT INTO {table} (account_id, currency, amount, balance_after, reason, symbol, "
        f"created_at) VALUES {_values(7, rows)}"
    )


@functools.lru_cache(maxsize=64)
def _positions_update(columns: tuple[str, ...], rows: int) -> str:
    """The SQLite statement setting ``columns`` of ``rows`` positions, each row's values
    given in the order of the columns, then its account and instrument (the one-row
    statement's parameters, row after row): an ``UPDATE … FROM`` a list of values, whose
    columns SQLite names column1, column2…"""
    table = connection.ops.quote_name(Position._meta.db_table)
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(name)} = v.column{n}" for n, name in enumerate(columns, 1))
    width = len(columns) + 2
    return (
        f"UPDATE {table} SET {assignments} FROM (VALUES {_values(width, rows)}) AS v "
        f"WHERE {table}.account_id = v.column{width - 1} "
        f"AND {table}.instrument_id = v.column{width}"
    )


class _Writes:
    """Everything a set of outcomes writes, gathered so each kind of row is written
    set-based (``bulk_create``, statements of many rows, or one ``executemany`` per set of
    changed columns), whatever the number of accounts."""

    def __init__(self) -> None:
        self.ledger: list[tuple[Any, ...]] = []  # (account, currency, amount, balance after...)
        self.fills: list[Fill] = []
        self.records: list[LiquidationRecord] = []
        self.new_wallets: list[Wallet] = []
        self.wallets: list[tuple[Any, ...]] = []
        self.gone: list[tuple[int, str]] = []
        self.new_positions: list[Position] = []
        self.positions: dict[tuple[str, ...], list[list[Any]]] = {}
        self.new_settings: list[MarginSettingRow] = []
        self.settings: list[tuple[Any, ...]] = []
        self.gone_settings: list[tuple[int, str]] = []
        self.insurance: dict[tuple[int, str], Decimal] = {}
        self.linked: dict[bool, list[int]] = {True: [], False: []}
        self.index: dict[int, tuple[IndexKeys, bool]] = {}  # as written: keys, cross-linked
        self.accounts: list[int] = []  # every account gathered

    def add(self, change: Change, market: engine.Market, sequence: int) -> None:
        pk, before, outcome = change.account_id, change.before, change.outcome
        after = outcome.account
        was_wallets = before.wallets
        if outcome.ledger:
            running: dict[str, Decimal] = {}
            ledger = self.ledger
            for entry in outcome.ledger:
                currency, amount = entry.currency, entry.amount
                balance = running.get(currency)
                if balance is None:
                    balance = was_wallets.get(currency, _ZERO)
                balance = running[currency] = balance + amount
                ledger.append(
                    (
                        pk,
                        currency,
                        stored_text(amount),
                        stored_text(balance),
                        _REASONS[entry.reason],
                        entry.symbol,
                    )
                )
        for currency, balance in after.wallets.items():
            was = was_wallets.get(currency)
            if was is None:
                self.new_wallets.append(Wallet(account_id=pk, currency=currency, balance=balance))
            elif was != balance:
                self.wallets.append((stored_text(balance), pk, currency))
        had, held = before.positions, after.positions
        for symbol in had:
            if symbol not in held:
                self.gone.append((pk, symbol))
        keys = _index(after, market) if held else {}
        stored_keys = change.keys
        for symbol, position in held.items():
            old = had.get(symbol)
            key = keys[symbol]
            if old is None or (old.qty > 0) != (position.qty > 0):
                if old is not None:
                    # The position flipped side: a new position with a new opening time.
                    self.gone.append((pk, symbol))
                self.new_positions.append(
                    Position(
                        account_id=pk,
                        market_id=change.market_id,
                        instrument_id=symbol,
                        **{name: _column(position, name) for name in POSITION_FIELDS},
                        **dict(zip(KEY_FIELDS, key, strict=True)),
                    )
                )
                continue
            changed: list[str] = []
            values: list[Any] = []
            if old is not position:
                earlier, now_held = _figures(old), _figures(position)
                if earlier != now_held:
                    # (The changed fields' indexes, told apart by compress and map.)
                    for index in compress(_FIGURE_INDEXES, map(ne, earlier, now_held)):
                        now = now_held[index]
                        name = POSITION_FIELDS[index]
                        changed.append(name)
                        values.append(now.value if name == "mode" else stored_text(now))
            stored = None if stored_keys is None else stored_keys.get(symbol)
            if stored is None:
                changed += KEY_FIELDS
                values += key
            elif stored != key:
                for index in compress(_KEY_INDEXES, map(ne, stored, key)):
                    changed.append(KEY_FIELDS[index])
                    values.append(key[index])
            if changed:
                values += (pk, symbol)
                self.positions.setdefault(tuple(changed), []).append(values)
        if before.settings != after.settings:
            for symbol in set(before.settings) - set(after.settings):
                self.gone_settings.append((pk, symbol))
            for symbol, setting in after.settings.items():
                if symbol not in before.settings:
                    self.new_settings.append(
                        MarginSettingRow(
                            account_id=pk,
                            instrument_id=symbol,
                            mode=setting.mode.value,
                            leverage=setting.leverage,
                        )
                    )
                elif before.settings[symbol] != setting:
                    row = (setting.mode.value, stored_text(setting.leverage), pk, symbol)
                    self.settings.append(row)
        if outcome.fills:
            self.fills += [
                Fill(
                    account_id=pk,
                    symbol=fill.symbol,
                    side=fill.side.value,
                    qty=fill.qty,
                    price=fill.price,
                    value=fill.value,
                    fee=fill.fee,
                    realised_pnl=fill.realised_pnl,
                    liquidation=fill.liquidation,
                    trigger=fill.trigger,
                )
                for fill in outcome.fills
            ]
        for currency, amount in outcome.insurance.items():
            fund = (change.market_id, currency)
            self.insurance[fund] = self.insurance.get(fund, Decimal(0)) + amount
        for event in outcome.events:
            if isinstance(event, _LIQUIDATION):
                self.records.append(
                    LiquidationRecord(
                        account_id=pk,
                        symbol=event.symbol,
                        settle=event.settle,
                        margin_mode=event.margin_mode.value,
                        qty=event.qty,
                        avg_entry_price=event.avg_entry_price,
                        funds=event.funds,
                        maintenance_margin=event.maintenance_margin,
                        liquidation_price=event.liquidation_price,
                        bankruptcy_price=event.bankruptcy_price,
                        mark_price=event.mark_price,
                        loss=event.loss,
                        insurance_fund_change=event.insurance_fund_change,
                        sequence=sequence,
                    )
                )
        self._linked(pk, keys, change.cross_linked)

    def _linked(self, pk: int, keys: IndexKeys, was: bool) -> None:
        """The account's cross-linked flag, written when its positions' bands say it
        changed."""
        linked = False
        for row in keys.values():
            if row[5] is not None or row[4]:  # (the bands)
                linked = True
                break
        self.index[pk] = (keys, linked)
        if linked != was:
            self.linked[linked].append(pk)

    def write(self) -> list[LiquidationRecord]:
        table = connection.ops.quote_name
        with connection.cursor() as cursor:
            if self.ledger:
                # The entries of thousands of accounts (a realisation or funding tick): a
                # statement inserting LEDGER_ROWS rows at once (SQLite took half the time it
                # took for the same rows one statement run each), the columns' stored values.
                now = connection.ops.adapt_datetimefield_value(timezone.now())
                entries = [(*entry, now) for entry in self.ledger]
                _in_parts(cursor, entries, LEDGER_ROWS, _ledger_insert)
            Wallet.objects.bulk_create(self.new_wallets)
            if self.wallets:
                cursor.executemany(
                    f"UPDATE {table(Wallet._meta.db_table)} SET balance = %s "
                    "WHERE account_id = %s AND currency = %s",
                    self.wallets,
                )
            position_table = table(Position._meta.db_table)
            if self.gone:
                cursor.executemany(
                    f"DELETE FROM {position_table} WHERE account_id = %s AND instrument_id = %s",
                    self.gone,
                )
            for columns, rows in self.positions.items():
                if connection.vendor == "sqlite" and len(rows) > 1:
                    # (SQLite: many rows a statement, from a list of values, took three
                    # quarters of the time of one statement run for each row.)
                    update = functools.partial(_positions_update, columns)
                    _in_parts(cursor, rows, POSITION_ROWS, update)
                    continue
                assignments = ", ".join(f"{table(name)} = %s" for name in columns)
                cursor.executemany(
                    f"UPDATE {position_table} SET {assignments} "
                    "WHERE account_id = %s AND instrument_id = %s",
                    rows,
                )
            Position.objects.bulk_create(self.new_positions)
            settings_table = table(MarginSettingRow._meta.db_table)
            if self.gone_settings:
                cursor.executemany(
                    f"DELETE FROM {settings_table} WHERE account_id = %s AND instrument_id = %s",
                    self.gone_settings,
                )
            if self.settings:
                cursor.executemany(
                    f"UPDATE {settings_table} SET mode = %s, leverage = %s "
                    "WHERE account_id = %s AND instrument_id = %s",
                    self.settings,
                )
        MarginSettingRow.objects.bulk_create(self.new_settings)
        Fill.objects.bulk_create(self.fills)
        for (market_id, currency), amount in sorted(self.insurance.items()):
            fund, _ = InsuranceFund.objects.select_for_update().get_or_create(
                market_id=market_id, currency=currency
            )
            fund.balance += amount
            fund.save(update_fields=["balance"])
        for flag, ids in self.linked.items():
            for chunk in id_chunks(ids):
                PaperAccount.objects.filter(pk__in=chunk).update(cross_linked=flag)
        return LiquidationRecord.objects.bulk_create(self.records)


@dataclass(frozen=True)
class Saved:
    """What :func:`outcomes_save` wrote: each account's new liquidation records, and each
    account's positions' index columns and cross-linked flag as they now stand."""

    records: dict[int, list[LiquidationRecord]]
    index: dict[int, tuple[IndexKeys, bool]]


Gathered = _Writes  # a set of outcomes gathered for writing (see outcomes_gather)


def outcomes_gather(
    changes: Iterable[Change], market: engine.Market, *, sequence: int = 0
) -> Gathered:
    """Everything many accounts' outcomes write, gathered (see :func:`outcomes_save`) but
    not written yet: a tick gathers its accounts in two processes (see live.shares). Holds
    no database object but new rows; it pickles."""
    writes = _Writes()
    for change in changes:
        writes.add(change, market, sequence)
        writes.accounts.append(change.account_id)
    return writes


def gathered_save(writes: Gathered, *, announce: bool = True) -> Saved:
    """Write what :func:`outcomes_gather` gathered, one statement per kind of row."""
    found: dict[int, list[LiquidationRecord]] = {}
    for record in writes.write():
        assert record.pk is not None  # (the database returns the new rows' ids)
        found.setdefault(record.account_id, []).append(record)
    if announce and writes.accounts:
        # (One statement run for each account: an order's own is a quick one.)
        table = connection.ops.quote_name(PaperAccount._meta.db_table)
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {table} SET version = version + 1 WHERE id = %s",
                [(pk,) for pk in sorted(set(writes.accounts))],
            )
    return Saved(found, writes.index)


def outcomes_save(
    changes: Iterable[Change], market: engine.Market, *, sequence: int = 0, announce: bool = True
) -> Saved:
    """Write many accounts' outcomes at once (a tick's): wallets, positions, settings,
    ledger, fills, insurance fund, liquidation records, the positions' index and the
    cross-linked flags, one statement per kind of row. Every wallet change is written
    with its ledger entries.

    The one writer of an account's wallets, positions and settings. ``announce`` moves each
    account's ``version`` on (see PaperAccount.version): every write but a tick's own,
    which its market's sequence tells (a ticker keeping the accounts in memory knows what
    its tick wrote)."""
    return gathered_save(outcomes_gather(changes, market, sequence=sequence), announce=announce)


def outcome_save(
    account: PaperAccount,
    before: engine.Account,
    outcome: engine.Outcome,
    market: engine.Market,
    *,
    sequence: int = 0,
) -> list[LiquidationRecord]:
    """Write one account's outcome (see :func:`outcomes_save`). Returns the new liquidation
    records."""
    change = Change(account.pk, account.market_id, before, outcome, account.cross_linked)
    return outcomes_save([change], market, sequence=sequence).records.get(account.pk, [])


def market_terms_check(
    market: Market,
    change: tuple[engine.Account, engine.Account] | None = None,
    *,
    opens: str = "",
) -> None:
    """The market's terms that every way of opening or changing a position goes through
    (orders, close, leverage, margin, stops, the side-by-side twins). A classroom closed
    to trading refuses everything when the teacher froze it; otherwise it is reduce-only
    (``Market.closed_reduce_only``): ``change``, the account before and after the action,
    is refused when the engine finds it adds risk (:func:`sandbox.engine.terms.risk_added`),
    and ``opens`` names an action that opens positions whatever the account holds (the
    twins). Without either, only the frozen room refuses (checked before the action runs).
    (The leverage cap is in the engine's view of the market itself, see ``engine_market``.)
    """
    if market.trading_open:
        return
    if not market.closed_reduce_only:
        raise engine.Rejected(TRADING_CLOSED)
    reason = opens or (terms.risk_added(*change) if change is not None else None)
    if reason:
        raise engine.Rejected(REDUCE_ONLY.format(reason=reason))


def _apply(account: PaperAccount, action: Action, *, when_closed: bool = False) -> engine.Outcome:
    """Lock the account, run an engine action on it and save the outcome.

    ``engine.Rejected`` propagates before anything is written. A classroom closed to
    trading refuses every action when frozen, and an action that adds risk when
    reduce-only (:func:`market_terms_check`), unless ``when_closed`` (a teacher's reset).
    """
    with transaction.atomic():
        locked = (
            PaperAccount.objects.select_related("market")
            .select_for_update(of=("self",))
            .get(pk=account.pk)
        )
        if not when_closed:
            market_terms_check(locked.market)
        before = engine_account(locked)
        market = engine_market(locked.market)
        outcome = action(before, market)
        if not when_closed:
            market_terms_check(locked.market, (before, outcome.account))
        outcome_save(locked, before, outcome, market, sequence=locked.market.sequence)
        if locked.market.kind == Market.Kind.ROOM:
            market_id = locked.market_id
            transaction.on_commit(lambda: room_changed(market_id))
        return outcome


def room_changed(market_id: int) -> None:
    """A classroom's figures changed between ticks (committed): its ranking is computed
    again (:mod:`.board_version`) and the teacher's board redraws."""
    board_version.bump(market_id)
    broadcast.board_changed(market_id)


def margin_label(mode: engine.MarginMode, leverage: Decimal) -> str:
    """A margin setting in words: "cross margin" or "isolated 10x"."""
    if mode is engine.MarginMode.CROSS:
        return "cross margin"
    return f"isolated {display.leverage(leverage)}"


def same_setting(first: engine.MarginSetting | None, second: engine.MarginSetting) -> bool:
    """Whether two settings are the slider's same stop (cross is one stop, whatever
    leverage its initial margin is figured at)."""
    if first is None or first.mode is not second.mode:
        return False
    return first.mode is engine.MarginMode.CROSS or first.leverage == second.leverage


def order_place(
    *,
    account: PaperAccount,
    symbol: str,
    side: engine.Side,
    qty: Decimal,
    setting: engine.MarginSetting | None = None,
) -> engine.Outcome:
    """A market order. ``setting``: the margin mode and leverage the ticket's slider shows.
    With no open position on ``symbol`` the order opens one under it (the setting is saved
    with the order, in one transaction); with a position open, the order keeps the
    position's own setting, and a different ``setting`` is refused (the learner applies it
    first, or moves the slider back), so an order never runs on a leverage it did not show."""

    def action(before: engine.Account, market: engine.Market) -> engine.Outcome:
        start = before
        position = before.positions.get(symbol)
        if setting is not None and position is not None:
            if not same_setting(engine.MarginSetting(position.mode, position.leverage), setting):
                raise engine.Rejected(
                    f"Your {symbol} position uses {margin_label(position.mode, position.leverage)}"
                    f", not {margin_label(setting.mode, setting.leverage)}: apply the new "
                    "leverage first, or move the slider back, then place the order."
                )
        elif setting is not None and not same_setting(before.settings.get(symbol), setting):
            chosen = engine.set_leverage(before, market, symbol, setting.mode, setting.leverage)
            start = chosen.account
        return engine.place_order(start, market, symbol, side, qty)

    return _apply(account, action)


def position_close(*, account: PaperAccount, symbol: str) -> engine.Outcome:
    return _apply(account, lambda a, m: engine.close_position(a, m, symbol))


def leverage_set(
    *, account: PaperAccount, symbol: str, mode: engine.MarginMode, leverage: Decimal
) -> engine.Outcome:
    return _apply(account, lambda a, m: engine.set_leverage(a, m, symbol, mode, leverage))


def triggers_set(
    *,
    account: PaperAccount,
    symbol: str,
    stop_loss: Decimal | None,
    take_profit: Decimal | None,
) -> engine.Outcome:
    return _apply(account, lambda a, m: engine.set_triggers(a, m, symbol, stop_loss, take_profit))


def margin_change(*, account: PaperAccount, symbol: str, amount: Decimal) -> engine.Outcome:
    return _apply(account, lambda a, m: engine.change_margin(a, m, symbol, amount))


def account_reset(
    *, account: PaperAccount, balances: dict[str, Decimal] | None = None, by_teacher: bool = False
) -> engine.Outcome:
    """Back to the starting balances; positions and settings go, the ledger records it."""
    if not by_teacher and account.market.kind not in OWN_MARKETS:
        raise engine.Rejected(TEACHER_RESETS)
    target: dict[str, Decimal] = balances or settings.SANDBOX_STARTING_BALANCES
    return _apply(account, lambda a, m: engine.reset_account(a, target), when_closed=True)


def mark_set(*, account: PaperAccount, symbol: str, price: Decimal) -> dict[int, engine.Outcome]:
    """A learner sets the mark of their own practice market by hand (see market_mark_set).

    In a classroom only the teacher moves the price.
    """
    if account.market.kind not in OWN_MARKETS:
        raise engine.Rejected(TEACHER_SETS_PRICES)
    return market_mark_set(market=account.market, symbol=symbol, price=price)


def market_mark_set(*, market: Market, symbol: str, price: Decimal) -> dict[int, engine.Outcome]:
    """Set a market's mark by hand at once and liquidate whatever it crosses, for every
    account. The price must be on the instrument's tick and within a hundredfold of the
    current mark (``engine.Market.with_hand_mark``), or nothing changes."""
    with transaction.atomic():
        market_row = Market.objects.select_for_update().get(pk=market.pk)
        moved = engine_market(market_row).with_hand_mark(symbol, price)
        MarkPrice.objects.update_or_create(
            market=market_row, instrument_id=symbol, defaults={"price": moved.marks[symbol]}
        )
        ManualMark.objects.create(  # for the chart, which draws it as a point
            market=market_row,
            symbol=symbol,
            sequence=market_row.sequence,
            price=moved.marks[symbol],
        )
        # Every account holding a position, locked, then read in one query per table and
        # written in one statement per kind of row, as a tick does (a classroom's hand-set
        # price reaches the whole class at once; an account without positions has nothing
        # the mark can change).
        flags = dict(
            PaperAccount.objects.select_for_update()
            .filter(market=market_row)
            .order_by()
            .values_list("pk", "cross_linked")
        )
        stored = stored_accounts(market_id=market_row.pk, keys=True)
        outcomes = {
            pk: engine.apply_mark(before, moved, symbol) for pk, before in stored.states.items()
        }
        outcomes_save(
            (
                Change(pk, market_row.pk, stored.states[pk], outcome, flags[pk], stored.keys[pk])
                for pk, outcome in outcomes.items()
            ),
            moved,
            sequence=market_row.sequence,
        )
        sequence = market_row.sequence
        # The accounts the new mark liquidated (or whose stop fired) hear of it in a message
        # of their own, as after a tick: their desks redraw whole, notices included.
        changed = sorted(pk for pk, outcome in outcomes.items() if outcome.events)
        transaction.on_commit(lambda: _mark_news(market_row.pk, sequence, changed))
        return outcomes


def _mark_news(market_id: int, sequence: int, changed: list[int]) -> None:
    broadcast.send(
        broadcast.market_group(market_id),
        # (The accounts it changed are drawn whole; the others see the new mark.)
        {
            "type": "market.tick",
            "sequence": sequence,
            "ledger": True,
            "changed": changed,
            "booked": changed,
        },
    )
    for account_id in changed:
        broadcast.send(
            broadcast.account_group(account_id), {"type": "account.changed", "sequence": sequence}
        )


def twins_check(source: Market) -> None:
    """Whether twins may open from ``source`` (see twins_open); ``engine.Rejected`` says
    why not."""
    market_terms_check(source, opens=TWINS_OPEN_POSITIONS)
    if source.kind != Market.Kind.PRACTICE:
        raise engine.Rejected(TWINS_FROM_PRACTICE)


@transaction.atomic
def twins_open(
    *,
    account: PaperAccount,
    symbol: str,
    side: engine.Side,
    qty: Decimal,
    leverage: Decimal,
) -> Market:
    """Open the same position twice, isolated at ``leverage`` and under cross margin, on a
    new market that starts from the learner's prices and moves both alike.

    Each twin is a fresh paper account with the starting balances. Refused as a whole if
    either order is. The twins' market is the learner's to move (its clock, its gaps,
    its mark), so it opens only from the learner's own practice market, never from a
    classroom's or a lesson's; it keeps the source's terms, and its orders go through
    them like any other.
    """
    source = account.market
    twins_check(source)
    market = Market.objects.create(
        name=f"Side by side: {symbol}",
        kind=Market.Kind.TWINS,
        volatility=source.volatility,
        drift=source.drift,
        jump_intensity=source.jump_intensity,
        jump_mean=source.jump_mean,
        jump_volatility=source.jump_volatility,
        speed=source.speed,
        stop_on_liquidation=True,
        fees_enabled=source.fees_enabled,
        funding_enabled=source.funding_enabled,
        max_leverage_cap=source.max_leverage_cap,
        symbols=source.symbols,
    )
    for mark in MarkPrice.objects.filter(market=source):
        MarkPrice.objects.create(market=market, instrument_id=mark.instrument_id, price=mark.price)
    choices = [
        (f"isolated {display.leverage(leverage)}", engine.MarginMode.ISOLATED, leverage),
        ("cross", engine.MarginMode.CROSS, None),
    ]
    for label, mode, chosen in choices:
        twin = account_create(market=market, parent=account, label=label)
        inst = engine_market(market).instrument(symbol)
        leverage_set(account=twin, symbol=symbol, mode=mode, leverage=chosen or inst.max_leverage)
        order_place(account=twin, symbol=symbol, side=side, qty=qty)
    return market
