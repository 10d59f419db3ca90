"""Read queries: turn rows into the engine's immutable state, and fetch history."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, TypeVar

from django.db import connection, models
from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from sandbox import engine

from .models import (
    Fill,
    Instrument,
    LedgerEntry,
    MarginSettingRow,
    Market,
    MarkPrice,
    PaperAccount,
    Position,
    Wallet,
)

_instruments: list[Instrument] | None = None


def instruments() -> list[Instrument]:
    """Every instrument. They are set up once (``seed_sandbox``) and read on every request,
    so the process keeps them, and forgets them when one is saved or deleted."""
    global _instruments
    if _instruments is None:
        _instruments = list(Instrument.objects.all())
    return list(_instruments)


@receiver([post_save, post_delete], sender=Instrument)
def _instruments_changed(**kwargs: object) -> None:
    global _instruments
    _instruments = None


def market_instruments(market: Market) -> list[Instrument]:
    """The instruments traded on a market (a classroom may offer only some)."""
    rows = instruments()
    if market.symbols:
        rows = [row for row in rows if row.symbol in market.symbols]
    return rows


#: A market kind whose contracts trade under terms of its own: given a market, its
#: instruments as the engine sees them, by symbol (a lesson's market trades under the
#: lesson's terms). Registered by the apps built on the desk when Django starts.
MarketTerms = Callable[[Market], Mapping[str, engine.Instrument]]
_terms: dict[str, MarketTerms] = {}


def register_terms(kind: str, terms: MarketTerms) -> None:
    _terms[kind] = terms


def engine_market(market: Market) -> engine.Market:
    """The engine's view of a market, with the market's own terms applied: no taker fee
    when fees are off, and leverage capped where a teacher capped it."""
    marks = {
        symbol: Decimal(price)
        for symbol, price in _rows(MarkPrice, {"market_id": market.pk}, ("instrument_id", "price"))
    }
    own = _terms[market.kind](market) if market.kind in _terms else {}
    table = {}
    for row in market_instruments(market):
        inst = own.get(row.symbol) or row.to_engine()
        if not market.fees_enabled:
            inst = replace(inst, taker_fee=Decimal(0))
        if market.max_leverage_cap is not None:
            inst = replace(inst, max_leverage=min(inst.max_leverage, market.max_leverage_cap))
        table[row.symbol] = inst
    return engine.Market(table, {s: p for s, p in marks.items() if s in table})


POSITION_COLUMNS = (
    "account_id",
    "instrument_id",
    "qty",
    "cost_value",
    "entry_value",
    "mode",
    "leverage",
    "position_margin",
    "realised_pnl",
    "stop_loss",
    "take_profit",
)
# A position's index columns (see Position), as ``desk.services.index_keys`` computes them.
KEY_COLUMNS = (
    "is_long",
    "liquidation_key",
    "trigger_below_key",
    "trigger_above_key",
    "band_low_key",
    "band_high_key",
)
# The most ids one query names (SQLite allows 32,766 parameters in a statement).
ID_CHUNK = 5000

IndexKeys = dict[str, tuple[Any, ...]]  # symbol → index columns, in KEY_COLUMNS' order


@dataclass(frozen=True)
class StoredAccounts:
    """Accounts as the engine sees them, and each position's index columns as stored (what
    a tick compares its new ones to)."""

    states: dict[int, engine.Account]
    keys: dict[int, IndexKeys]


def id_chunks(ids: list[int]) -> list[list[int]]:
    """``ids`` in lists short enough for one query's parameters."""
    return [ids[start : start + ID_CHUNK] for start in range(0, len(ids), ID_CHUNK)]


def stored_accounts(
    account_ids: list[int] | None = None,
    *,
    market_id: int | None = None,
    keys: bool = False,
) -> StoredAccounts:
    """Many accounts in one query per table (more only past ``ID_CHUNK`` ids): the given
    ones, or with ``account_ids=None`` every account of ``market_id`` that holds a
    position. With ``market_id`` the rows are selected by market (use it when most of the
    market's accounts are wanted), not by a long list of ids. With ``keys``, the
    positions' index columns too. Rows are read as tuples: no model instances. ``keys``
    are each position's stored index columns in the order of ``KEY_COLUMNS``."""
    batches: list[dict[str, Any]]
    if market_id is not None:
        batches = [{"account__market_id": market_id}]
        position_batches: list[dict[str, Any]] = [{"market_id": market_id}]
    else:
        assert account_ids is not None
        batches = [{"account_id__in": chunk} for chunk in id_chunks(account_ids)]
        position_batches = batches
    columns = POSITION_COLUMNS + KEY_COLUMNS if keys else POSITION_COLUMNS
    given = account_ids is not None
    positions: dict[int, dict[str, engine.Position]] = {pk: {} for pk in account_ids or ()}
    stored: dict[int, IndexKeys] = {pk: {} for pk in account_ids or ()}
    modes = {mode.value: mode for mode in engine.MarginMode}
    number = Decimal
    for chosen in position_batches:
        # (Row by row, as the database gives them: no list of tens of thousands of rows.)
        for row in _rows(Position, chosen, columns):
            account_id, symbol, qty, cost, entry, mode, leverage, margin, realised = row[:9]
            held = positions.get(account_id)
            if held is None:
                if given:
                    continue
                held = positions[account_id] = {}
                stored[account_id] = {}
            # (Positional, in the order of Position's fields: a tick reads thousands.)
            held[symbol] = engine.Position(
                symbol,
                number(qty),
                number(cost),
                number(entry),
                modes[mode],
                number(leverage),
                number(margin),
                number(realised),
                None if row[9] is None else number(row[9]),
                None if row[10] is None else number(row[10]),
            )
            if keys:
                stored[account_id][symbol] = (bool(row[11]), *row[12:])
    if account_ids is None:
        account_ids = sorted(positions)
    wallets: dict[int, dict[str, Decimal]] = {pk: {} for pk in account_ids}
    settings: dict[int, dict[str, engine.MarginSetting]] = {pk: {} for pk in account_ids}
    for chosen in batches:
        for account_id, currency, balance in _rows(
            Wallet, chosen, ("account_id", "currency", "balance")
        ):
            if account_id in wallets:
                wallets[account_id][currency] = number(balance)
        for account_id, symbol, mode, leverage in _rows(
            MarginSettingRow, chosen, ("account_id", "instrument_id", "mode", "leverage")
        ):
            if account_id in settings:
                settings[account_id][symbol] = engine.MarginSetting(modes[mode], number(leverage))
    return StoredAccounts(
        states={
            pk: engine.Account.owning(wallets[pk], positions[pk], settings[pk])
            for pk in account_ids
        },
        keys=stored,
    )


def _rows(
    model: type[Position] | type[Wallet] | type[MarginSettingRow] | type[MarkPrice],
    chosen: dict[str, Any],
    columns: tuple[str, ...],
) -> Iterator[tuple[Any, ...]]:
    """The columns' values as the database gives them: an exact figure as its stored text
    (the caller reads it as a Decimal), without Django's converters for each value (a tick
    reads tens of thousands). The statement is the queryset's own; for one column given
    one value or a few (a desk's own account, a market), built once (see ``_statement``)."""
    compiled = None
    if len(chosen) == 1:
        ((column, value),) = chosen.items()
        count = len(value) if isinstance(value, list) else None
        if count is None or 0 < count <= _FEW:
            compiled = _statement(model, columns, column, count)
        elif count is not None and count > _FEW:
            compiled = _expanded(model, columns, column, count)
    if compiled is not None:
        sql, places = compiled
        values = value if isinstance(value, list) else [value]
        params: Any = [values[place] for place in places]
    else:
        rows = model.objects.filter(**chosen).order_by().values_list(*columns)
        sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(_BATCH):
            yield from batch


_BATCH = 2000  # rows fetched at a time
_FEW = 16  # the most values of a column whose statement is kept (see ``_statement``)
_SENTINEL = -(10**15)  # below any id: stands for a value while a statement is built


@functools.lru_cache(maxsize=128)
def _statement(
    model: type[Position] | type[Wallet] | type[MarginSettingRow] | type[MarkPrice],
    columns: tuple[str, ...],
    column: str,
    count: int | None,
) -> tuple[str, list[int]] | None:
    """``_rows``' statement for rows whose ``column`` is one value (``count`` None) or one
    of ``count`` values, built once: Django takes longer to build a query than SQLite to
    run it (a third of a slider preview's time was building its four reads). The SQL, and
    for each of its parameters the place of the value it takes; None when the statement's
    parameters are not just the values (it is then built each time)."""
    values = [_SENTINEL - n for n in range(count or 1)]
    chosen = {column: values if count is not None else values[0]}
    rows = model.objects.filter(**chosen).order_by().values_list(*columns)
    sql, params = rows.query.sql_with_params()
    if sorted(params) != sorted(values):
        return None
    return sql, [values.index(param) for param in params]


def _expanded(
    model: type[Position] | type[Wallet] | type[MarginSettingRow] | type[MarkPrice],
    columns: tuple[str, ...],
    column: str,
    count: int,
) -> tuple[str, list[int]] | None:
    """``_rows``' statement for rows whose ``column`` is one of ``count`` values, more than
    ``_FEW`` (a tick's thousands of accounts): the kept statement for one value, its one
    ``IN (%s)`` given a placeholder for each value. Django takes longer to build a list of
    thousands of ids (each made ready by the field) than SQLite to read their rows. None
    when the kept statement is not of that shape (then it is built each time)."""
    one = _statement(model, columns, column, 1)
    marker = "IN (%s)"
    if one is None or one[1] != [0] or one[0].count(marker) != 1:
        return None
    return one[0].replace(marker, f"IN ({', '.join(['%s'] * count)})"), list(range(count))


def engine_accounts(
    account_ids: list[int], *, market_id: int | None = None
) -> dict[int, engine.Account]:
    """Many accounts as the engine sees them, in three queries (a tick's candidates, or
    every desk a server process shows). Rows are read as tuples: no model instances.

    With ``market_id`` (the accounts are on that market, and most of its accounts are
    wanted) the rows are selected by market, not by a long list of ids."""
    return stored_accounts(account_ids, market_id=market_id).states


def engine_account(account: PaperAccount) -> engine.Account:
    return engine_accounts([account.pk])[account.pk]


@dataclass(frozen=True)
class AccountState:
    """An account as the engine sees it, with the market it trades in."""

    account: engine.Account
    market: engine.Market
    figures: engine.AccountFigures


def account_state(account: PaperAccount) -> AccountState:
    state = engine_account(account)
    market = engine_market(account.market)
    return AccountState(state, market, engine.account_figures(state, market))


RECENT = 10  # the desk shows this many fills and ledger entries; the history page all


def recent_fills(account: PaperAccount, limit: int | None = RECENT) -> QuerySet[Fill] | list[Fill]:
    """The account's fills, newest first: all (``limit`` None, a queryset), or the latest
    ``limit`` (a list, read by a statement built once: the desk shows them after every
    action, and building the query cost more than reading it)."""
    if limit is None:
        return Fill.objects.filter(account=account)
    return _latest(Fill, account.pk, limit)


def recent_ledger(
    account: PaperAccount, limit: int | None = RECENT
) -> QuerySet[LedgerEntry] | list[LedgerEntry]:
    """The account's ledger entries, newest first, as :func:`recent_fills` reads fills."""
    if limit is None:
        return LedgerEntry.objects.filter(account=account)
    return _latest(LedgerEntry, account.pk, limit)


_Latest = TypeVar("_Latest", Fill, LedgerEntry)


def _latest(model: type[_Latest], account_id: int, limit: int) -> list[_Latest]:
    return [made[0] for made in read_models(_latest_statement(model, limit), account_id, (model,))]


@functools.lru_cache(maxsize=8)
def _latest_statement(model: type[Fill] | type[LedgerEntry], limit: int) -> str:
    """The SQL of ``model.objects.filter(account_id=...)[:limit]`` (in the model's own
    order), built once."""
    rows = model.objects.filter(account_id=_SENTINEL)[:limit]
    return kept_sql(rows, _SENTINEL, (model,), f"a {model.__name__}'s rows")


def kept_sql(
    rows: QuerySet[Any], value: object, kinds: tuple[type[models.Model], ...], what: str
) -> str:
    """The SQL of ``rows``, a query Django builds once to be run again with other values
    (building it costs more than running it): checked, as it is built, to take ``value``
    (a stand-in) as its one parameter and to select the fields of ``kinds`` in their
    order (see :func:`read_models`). ``what`` names the query if it no longer does."""
    sql, params = rows.query.sql_with_params()
    if list(params) != [value] or selected(rows) != columns_of(kinds)[0]:
        raise RuntimeError(f"Django's query of {what} has changed its shape.")
    return sql


def read_models(sql: str, value: Any, kinds: tuple[type[models.Model], ...]) -> list[list[Any]]:
    """The rows of a statement from :func:`kept_sql`, run with ``value``: each row's model
    instances (see :func:`models_of`)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, [value])
        rows = cursor.fetchall()
    return list(models_of(kinds, rows))


def selected(rows: QuerySet[Any]) -> list[tuple[Any, str]]:
    """The model and attribute name of each column Django's query selects, in order."""
    select = rows.query.get_compiler(connection.alias).get_select()[0]
    return [(column.target.model, column.target.attname) for column, *_ in select]


Converters = list[tuple[int, Any, list[Any]]]


@functools.cache
def columns_of(
    kinds: tuple[type[models.Model], ...],
) -> tuple[list[tuple[Any, str]], list[list[str]], Converters]:
    """The columns Django's query of each model in ``kinds`` selects one after the other
    (each model's concrete fields, in order, as with ``select_related``): (model,
    attribute name) for each, each model's attribute names, and for each column that has
    any, the converters Django applies to the value the database gives (a date's text, a
    flag's integer, a JSON document)."""
    fields = [field for kind in kinds for field in kind._meta.concrete_fields]
    converters = []
    for place, field in enumerate(fields):
        column = field.get_col(field.model._meta.db_table)
        chain = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if chain:
            converters.append((place, column, chain))
    names = [[field.attname for field in kind._meta.concrete_fields] for kind in kinds]
    return [(field.model, field.attname) for field in fields], names, converters


def models_of(
    kinds: tuple[type[models.Model], ...], rows: list[tuple[Any, ...]]
) -> Iterator[list[Any]]:
    """For each row of a statement selecting ``columns_of(kinds)``, its model instances,
    made as Django's query makes them (its converters, then ``from_db``)."""
    _, names, converters = columns_of(kinds)
    for row in rows:
        values = list(row)
        for place, column, chain in converters:
            for converter in chain:
                values[place] = converter(values[place], column, connection)
        made, start = [], 0
        for kind, attnames in zip(kinds, names, strict=True):
            end = start + len(attnames)
            made.append(kind.from_db(connection.alias, attnames, values[start:end]))
            start = end
        yield made


def recent_by_account(
    model: type[Fill] | type[LedgerEntry], account_ids: list[int], limit: int = RECENT
) -> dict[int, list[Any]]:
    """The latest ``limit`` fills (or ledger entries) of each account, in one query."""
    place = Window(RowNumber(), partition_by=[F("account_id")], order_by=F("id").desc())
    rows = model.objects.filter(account_id__in=account_ids).annotate(place=place)
    found: dict[int, list[Any]] = {pk: [] for pk in account_ids}
    for row in rows.filter(place__lte=limit):
        found[row.account_id].append(row)
    return found


def ledger_totals(
    account: PaperAccount, ledger: list[LedgerEntry]
) -> list[tuple[str, Decimal, Decimal]]:
    """(currency, sum of the ledger's entries, wallet balance) for each wallet: the two
    are equal, since every change of a wallet is an entry."""
    return [
        (
            w.currency,
            sum((e.amount for e in ledger if e.currency == w.currency), Decimal(0)),
            w.balance,
        )
        for w in Wallet.objects.filter(account=account).order_by("currency")
    ]
