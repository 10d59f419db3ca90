"""What a trader sees: balances and position figures, derived from an account and marks.

Nothing here is stored; every figure is recomputed from the account's positions,
wallets and the mark prices. The rules, in the order they build on each other:

1. **Initial margin** = |value at avg cost| / leverage. **Maintenance margin** =
   |value at avg cost| × the instrument's maintenance margin rate.
2. **Available balance** (per settle currency) = wallet − the initial margins of cross
   positions + their unrealised losses (negative PnL only; unrealised profit is not
   available until realised) − the margins set aside for isolated positions. It can be
   negative internally; it is shown floored at zero.
3. **Funds behind a position**: for a cross position, the available balance plus its own
   initial margin plus its own unrealised loss, added back because its prices are
   measured from its avg entry price; for an isolated position, its position margin and
   nothing else.
4. **Bankruptcy price**: where the loss from the avg entry price equals the funds.
   **Liquidation price**: where it equals the funds less the maintenance margin. Below the
   entry for a long, above it for a short; inverse contracts are solved in 1/price. None
   when no positive finite price gets there.

A position is *at or through* its liquidation price when its unrealised PnL plus its
funds is no more than its maintenance margin. The engine tests that inequality rather
than comparing prices, so the test is exact for linear contracts and also covers a
position whose liquidation price does not exist because it is past it at every price.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from .account import Account, MarginMode, Position
from .instruments import Instrument
from .market import Market
from .money import ZERO, exact


@dataclass(frozen=True, slots=True)
class PositionFigures:
    symbol: str
    settle: str
    qty: Decimal
    margin_mode: MarginMode
    leverage: Decimal
    avg_cost_price: Decimal
    avg_entry_price: Decimal
    mark_price: Decimal
    value_at_cost: Decimal  # absolute
    unrealised_pnl: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    position_margin: Decimal
    funds: Decimal
    liquidation_price: Decimal | None
    bankruptcy_price: Decimal | None
    realised_pnl: Decimal = ZERO
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None

    @property
    def is_long(self) -> bool:
        return self.qty > 0

    @property
    def margin_left(self) -> Decimal:
        """Funds plus unrealised PnL: what would be left if the position closed at the mark."""
        return self.funds + self.unrealised_pnl

    @property
    def at_or_through_liquidation(self) -> bool:
        return self.margin_left <= self.maintenance_margin

    @property
    def effective_leverage(self) -> Decimal | None:
        """|value at cost| over the margin behind it (position margin when isolated)."""
        margin = self.position_margin if self.margin_mode is MarginMode.ISOLATED else self.funds
        return self.value_at_cost / margin if margin > 0 else None

    @property
    def distance_to_liquidation(self) -> Decimal | None:
        """How far the mark may move against the position before liquidation, in percent."""
        if self.liquidation_price is None:
            return None
        move = self.mark_price - self.liquidation_price
        if not self.is_long:
            move = -move
        return move / self.mark_price * 100


@dataclass(frozen=True, slots=True)
class BalanceFigures:
    currency: str
    wallet_balance: Decimal
    unrealised_pnl: Decimal
    available_internal: Decimal  # may be negative; see rule 2

    @property
    def margin_balance(self) -> Decimal:
        return self.wallet_balance + self.unrealised_pnl

    @property
    def available_balance(self) -> Decimal:
        return max(self.available_internal, ZERO)


@dataclass(frozen=True, slots=True)
class AccountFigures:
    balances: Mapping[str, BalanceFigures]
    positions: Mapping[str, PositionFigures]


def initial_margin(position: Position) -> Decimal:
    return abs(position.cost_value) / position.leverage


def maintenance_margin(position: Position, instrument: Instrument) -> Decimal:
    return abs(position.cost_value) * instrument.maint_margin_rate


def currencies_of(account: Account, market: Market) -> list[str]:
    found = set(account.wallets)
    found.update(market.instrument(symbol).settle for symbol in account.positions)
    return sorted(found)


class _Last(threading.local):
    """The last figures computed in this thread, with what they were computed from."""

    account: Account | None = None
    market: Market | None = None
    figures: AccountFigures | None = None


_last = _Last()


def account_figures(account: Account, market: Market) -> AccountFigures:
    """Every figure of an account at a market's marks. The same account (equal) on the
    same market (the very object: a market is immutable) gives the figures computed last
    in this thread again: an action's last liquidation check, when it computed the figures
    (see :func:`none_due`), and the index written after it look at the same account."""
    if market is _last.market and _last.figures is not None and account == _last.account:
        return _last.figures
    figures = _account_figures(account, market)
    _last.account, _last.market, _last.figures = account, market, figures
    return figures


@exact
def _account_figures(account: Account, market: Market) -> AccountFigures:
    balances: dict[str, BalanceFigures] = {}
    positions: dict[str, PositionFigures] = {}
    for currency in currencies_of(account, market):
        held = [
            (position, market.instrument(position.symbol))
            for position in account.positions.values()
            if market.instrument(position.symbol).settle == currency
        ]
        pnl = {p.symbol: inst.pnl(p.qty, p.entry_value, market.mark(p.symbol)) for p, inst in held}
        available = account.wallet(currency)
        for position, _ in held:
            if position.mode is MarginMode.CROSS:
                available += -initial_margin(position) + min(pnl[position.symbol], ZERO)
            else:
                available -= position.position_margin
        balances[currency] = BalanceFigures(
            currency=currency,
            wallet_balance=account.wallet(currency),
            unrealised_pnl=sum(pnl.values(), ZERO),
            available_internal=available,
        )
        for position, inst in held:
            positions[position.symbol] = _position_figures(
                position, inst, market.mark(position.symbol), pnl[position.symbol], available
            )
    return AccountFigures(balances=balances, positions=positions)


_CROSS = MarginMode.CROSS  # (an enum member's look-up is slow, and _margins runs by the thousand)

# Each position of an account with its unrealised PnL, funds and maintenance margin (see
# _margins).
Margins = list[tuple[Position, Decimal, Decimal, Decimal]]


def none_due(
    wallets: Mapping[str, Decimal], positions: Mapping[str, Position], market: Market
) -> bool:
    """Whether no position of these wallets and positions is at or through its
    liquidation price: :attr:`PositionFigures.at_or_through_liquidation` of every position
    of :func:`account_figures`, without the rest of the figures (no prices, no objects).

    The same arithmetic in the same order as ``_account_figures`` and ``_position_figures``
    (see :func:`_margins`), so every Decimal compared is the very one the figures would
    hold: a tick checks each of its thousands of accounts four times, and only an account
    found due is computed whole. False as well when a position cannot be figured (see
    :func:`_margins`). Runs in the caller's context: an engine action's
    (:func:`~.money.exact`). (Overflow is out of reach: the context's exponents run to
    ±999,999, far beyond any figure the desk or a scenario file can reach.)
    """
    return margins_if_none_due(wallets, positions, market) is not None


def margins_if_none_due(
    wallets: Mapping[str, Decimal], positions: Mapping[str, Position], market: Market
) -> Margins | None:
    """:func:`none_due`'s check, with what it computed: each position's margins (see
    :func:`_margins`) when no position is due, else None."""
    if not positions:
        return []
    rows = _margins(wallets, positions, market)
    if rows is None:
        return None
    # (A loop, not all(): thousands of checks a tick.)
    for _, pnl, funds, mm in rows:
        if funds + pnl <= mm:
            return None
    return rows


Cushions = dict[str, tuple[Decimal | None, Decimal]]


class _Kept(threading.local):
    """The cushions of the account a tick's batch yielded last, worked out from the
    margins its last liquidation check computed (:func:`keep_cushions`), with that very
    account and market."""

    last: tuple[Account, Market, Cushions] | None = None


_kept = _Kept()


def keep_cushions(account: Account, market: Market, margins: Margins | None) -> None:
    """Work out the cushions of ``account`` at ``market`` from ``margins`` (what
    :func:`_margins` gives for them; None: not known, nothing kept) and keep them for
    :func:`liquidation_cushions` asked next about the very same account and market, in
    this thread: a tick's outcome, whose index is written next, was checked last with the
    very Decimals the index reads. Runs in the caller's context: an engine action's."""
    _kept.last = None if margins is None else (account, market, _cushions(margins, market))


def liquidation_cushions(account: Account, market: Market) -> Cushions:
    """Each position's liquidation price and its margin left above maintenance
    (:attr:`PositionFigures.liquidation_price`, and ``margin_left - maintenance_margin`` at
    the engine's digits) from the very Decimals :func:`account_figures` holds, without the
    rest of its figures: what the positions' index is written from after each of a tick's
    thousands of accounts (kept from the tick's last check of this very account, when it
    had them: :func:`keep_cushions`).
    Computed by :func:`account_figures` itself (which says why) when a position cannot be
    figured the quick way."""
    kept = _kept.last
    if kept is not None and kept[0] is account and kept[1] is market:
        _kept.last = None  # (handed over)
        return kept[2]
    return _computed_cushions(account, market)


@exact
def _computed_cushions(account: Account, market: Market) -> Cushions:
    rows = _margins(account.wallets, account.positions, market) if account.positions else []
    if rows is None:
        figures = account_figures(account, market)
        return {
            symbol: (p.liquidation_price, p.margin_left - p.maintenance_margin)
            for symbol, p in figures.positions.items()
        }
    return _cushions(rows, market)


def _cushions(rows: Margins, market: Market) -> Cushions:
    instruments = market.instruments
    return {
        position.symbol: (
            instruments[position.symbol].price_at_pnl(
                position.qty, position.entry_value, mm - funds
            ),
            funds + pnl - mm,
        )
        for position, pnl, funds, mm in rows
    }


def _margins(
    wallets: Mapping[str, Decimal], positions: Mapping[str, Position], market: Market
) -> Margins | None:
    """(position, unrealised PnL, funds behind it, maintenance margin) of each position, in
    their order: the arithmetic of ``_account_figures`` and ``_position_figures`` written
    out, in the same order (each currency's available balance summed over its positions in
    their order), so each Decimal is the one the figures hold.

    None when a position cannot be figured (no instrument or mark), or when the figures'
    own divisions would fail (a zero quantity, leverage or inverse value: the engine's
    context traps a division by zero, and the action that left such a position is
    refused): :func:`account_figures` then says why.
    """
    table = _constants(market)
    held: list[tuple[Position, str, Decimal, Decimal, Decimal]] = []
    available: dict[str, Decimal] = {}
    cross = _CROSS
    for position in positions.values():
        row = table.get(position.symbol)
        if row is None:
            return None
        inverse, settle, rate, mark = row
        qty = position.qty
        if mark is None or not qty or not position.leverage:
            return None
        # (Instrument.pnl, written out.)
        if inverse:
            if not (position.cost_value and position.entry_value):
                return None  # (its avg prices divide by them)
            pnl = position.entry_value - qty / mark
        else:
            pnl = qty * mark - position.entry_value
        balance = available.get(settle)
        if balance is None:
            balance = wallets.get(settle, ZERO)
        if position.mode is cross:
            im = abs(position.cost_value) / position.leverage
            # (min(pnl, ZERO), written out: the very Decimal min() returns, pnl when equal)
            balance += -im + (pnl if pnl <= ZERO else ZERO)
        else:
            im = ZERO  # (not used: an isolated position's funds are its margin)
            balance -= position.position_margin
        available[settle] = balance
        held.append((position, settle, rate, pnl, im))
    rows: Margins = []
    for position, settle, rate, pnl, im in held:
        mm = abs(position.cost_value) * rate
        if position.mode is cross:
            loss = -pnl  # (max(-pnl, ZERO), written out: -pnl when equal)
            funds = available[settle] + im + (loss if loss >= ZERO else ZERO)
        else:
            funds = position.position_margin
        rows.append((position, pnl, funds, mm))
    return rows


# Per symbol of the market checked last (the market itself kept, so never another's):
# inverse?, settle currency, maintenance margin rate, mark (None: no mark).
_Constants = dict[str, tuple[bool, str, Decimal, Decimal | None]]
_constants_of: tuple[Market | None, _Constants] = (None, {})


def _constants(market: Market) -> _Constants:
    """Each instrument's constants at the market's marks, worked out once per market (a
    tick's market serves thousands of accounts; a market is immutable)."""
    global _constants_of
    cached, table = _constants_of
    if cached is market:
        return table
    table = {
        symbol: (inst.is_inverse, inst.settle, inst.maint_margin_rate, market.marks.get(symbol))
        for symbol, inst in market.instruments.items()
    }
    _constants_of = (market, table)
    return table


def _position_figures(
    position: Position,
    inst: Instrument,
    mark: Decimal,
    pnl: Decimal,
    available: Decimal,
) -> PositionFigures:
    qty, entry = position.qty, position.entry_value
    im = initial_margin(position)
    mm = maintenance_margin(position, inst)
    own_loss = max(-pnl, ZERO)
    if position.mode is MarginMode.CROSS:
        funds = available + im + own_loss
        shown_margin = im + own_loss
    else:
        funds = position.position_margin
        shown_margin = position.position_margin
    # (Positional, in the order of PositionFigures' fields: thousands are built a tick.)
    return PositionFigures(
        position.symbol,  # symbol
        inst.settle,  # settle
        qty,  # qty
        position.mode,  # margin_mode
        position.leverage,  # leverage
        inst.avg_price(qty, position.cost_value),  # avg_cost_price
        inst.avg_price(qty, entry),  # avg_entry_price
        mark,  # mark_price
        abs(position.cost_value),  # value_at_cost
        pnl,  # unrealised_pnl
        im,  # initial_margin
        mm,  # maintenance_margin
        shown_margin,  # position_margin
        funds,  # funds
        inst.price_at_pnl(qty, entry, mm - funds),  # liquidation_price
        inst.price_at_pnl(qty, entry, -funds),  # bankruptcy_price
        position.realised_pnl,  # realised_pnl
        position.stop_loss,  # stop_loss
        position.take_profit,  # take_profit
    )
