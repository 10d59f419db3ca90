"""Actions on an account. Each returns an :class:`~.account.Outcome` or raises
:class:`~.errors.Rejected`, in which case nothing has changed.

The rules (1–4, the figures, are in :mod:`.figures`):

5. **Orders** are market orders filled at the current mark. An order that opens or adds
   to a position needs the available balance to stay at or above zero afterwards, taker
   fee included, and must not leave any position of that settle currency at or through
   its liquidation price; otherwise it is rejected. An order that reduces a position
   realises the PnL of the closed part, measured from the avg entry price, into the
   wallet, and releases the same share of its margin; avg cost and avg entry prices stay.
   A reduction is never refused for lack of balance: a trader can always close. An order
   larger than the position closes it and opens the rest on the other side, with the same
   margin mode and leverage.
6. **Taker fee** = |value of the fill| × the instrument's taker fee rate, paid from the
   wallet on every fill, rounded up to the minor unit.
7. **Leverage and mode**: leverage runs from 1x to the instrument's maximum. On an open
   position, a new leverage under isolated margin sets the position margin to
   |value at cost| / leverage (margin added by hand is dropped); switching from cross to
   isolated does the same; switching to cross releases the position margin. Refused when
   the available balance would go below zero or a position would be at or through its
   liquidation price. With no position, the choice is kept for the next one. A symbol
   never configured trades under cross margin at the instrument's maximum leverage, as an
   exchange account starts.
8. **Adding margin** is for isolated positions only. Adding needs that much available
   balance; removing may go down to |value at cost| / maximum leverage, and never so far
   that the position would be at or through its liquidation price. Removing needs no
   available balance: it is allowed even while a cross loss holds the balance below zero.
9. **Profit realisation**: every cross position with unrealised profit moves it into the
   wallet and its avg entry price moves to the mark. Isolated positions realise only when
   reduced or closed. A position's own realisation never moves its liquidation or
   bankruptcy price: the wallet grows by exactly what the new entry price takes away. (The
   realised profit does become available to the account's *other* cross positions, whose
   prices then move away from their marks; that sharing is what the Bryan example shows.)
10. **Funding** at rate r: a long pays |value at mark| × r and a short receives it when
    r > 0, the other way round when r < 0. Cross positions pay from the wallet; isolated
    positions pay from the wallet and from their position margin, so their liquidation
    price moves. An isolated position never pays more than its position margin.
11. **Liquidation**: after every mark change, funding, order or margin change, a position
    at or through its liquidation price is taken over and closed at its bankruptcy price.
    The trader loses the funds behind it (for an isolated position, exactly its position
    margin, never more). The insurance fund receives the position's PnL from the
    bankruptcy price to the mark: positive when the mark is still better than bankruptcy,
    negative when the price gapped through it. Funds behind a cross position can be
    negative (the account owes more than it holds, after a gap or a large funding
    payment); then the insurance fund pays the difference and the account ends at zero
    available balance, never in debt. Isolated positions are independent and are
    all taken over at once; cross positions are taken over one at a time (the position
    whose mark moved first, then the one furthest past its maintenance margin), and the
    figures are recomputed after each, because one cross liquidation changes the funds
    behind the others.

Every wallet change is a :class:`~.account.LedgerEntry` with its reason, rounded once to
the minor unit in the exchange's favour, so the ledger always adds up to the wallet.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Collection, Container, Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from types import MappingProxyType
from typing import TypeVar

from . import display
from .account import (
    Account,
    Event,
    Fill,
    FundingEvent,
    LedgerEntry,
    LedgerReason,
    LiquidationEvent,
    MarginMode,
    MarginSetting,
    Outcome,
    Position,
    ProfitRealisedEvent,
    Side,
    TriggerEvent,
    TriggerKind,
)
from .errors import Rejected
from .figures import (
    AccountFigures,
    Margins,
    PositionFigures,
    account_figures,
    keep_cushions,
    margins_if_none_due,
)
from .instruments import Instrument
from .market import Market
from .money import (
    MINOR_UNIT,
    MONEY_PLACES,
    ZERO,
    decimal_places,
    engine_context,
    exact,
    is_multiple,
    money_down,
    money_nearest,
    money_up,
    require_decimal,
)

K = TypeVar("K")
V = TypeVar("V")

CROSS_MARGIN_IS_SHARED = (
    "Margin can only be added to or removed from an isolated position. A cross position "
    "already draws on your whole available balance; switch it to isolated first."
)


def describe_margin(mode: MarginMode, leverage: Decimal) -> str:
    return f"{mode.value} margin at {display.leverage(leverage)}"


def taker_fee(instrument: Instrument, fill_value: Decimal) -> Decimal:
    """Rule 6: |value of the fill| × the taker fee rate, rounded up to the minor unit."""
    return money_up(abs(fill_value) * instrument.taker_fee)


def default_setting(instrument: Instrument) -> MarginSetting:
    return MarginSetting(MarginMode.CROSS, instrument.max_leverage)


def _booked(
    position: Position, *, entry_value: Decimal, position_margin: Decimal, realised_pnl: Decimal
) -> Position:
    """``position`` with new money figures: ``dataclasses.replace`` without its look at the
    fields, and without Position's check of its figures: a tick books thousands of
    positions, each from the figures of a checked one and Decimals the engine computed, in
    its context, which traps whatever would not be a finite number (a test checks the
    fields set here are all of Position's)."""
    booked: Position = _new(Position)
    _set_symbol(booked, position.symbol)
    _set_qty(booked, position.qty)
    _set_cost_value(booked, position.cost_value)
    _set_entry_value(booked, entry_value)
    _set_mode(booked, position.mode)
    _set_leverage(booked, position.leverage)
    _set_position_margin(booked, position_margin)
    _set_realised_pnl(booked, realised_pnl)
    _set_stop_loss(booked, position.stop_loss)
    _set_take_profit(booked, position.take_profit)
    return booked


def _ledger_entry(currency: str, amount: Decimal, reason: LedgerReason, symbol: str) -> LedgerEntry:
    """``LedgerEntry(currency, amount, reason, symbol)``, built as :func:`_booked` builds
    a position (a tick makes tens of thousands of entries and events)."""
    entry: LedgerEntry = _new(LedgerEntry)
    _set_entry_currency(entry, currency)
    _set_entry_amount(entry, amount)
    _set_entry_reason(entry, reason)
    _set_entry_symbol(entry, symbol)
    return entry


def _funding_event(symbol: str, settle: str, rate: Decimal, amount: Decimal) -> FundingEvent:
    """``FundingEvent(symbol, settle, rate, amount)`` (see :func:`_ledger_entry`)."""
    event: FundingEvent = _new(FundingEvent)
    _set_funding_symbol(event, symbol)
    _set_funding_settle(event, settle)
    _set_funding_rate(event, rate)
    _set_funding_amount(event, amount)
    _set_funding_type(event, _FUNDING_TYPE)
    return event


def _profit_event(symbol: str, settle: str, amount: Decimal) -> ProfitRealisedEvent:
    """``ProfitRealisedEvent(symbol, settle, amount)`` (see :func:`_ledger_entry`)."""
    event: ProfitRealisedEvent = _new(ProfitRealisedEvent)
    _set_profit_symbol(event, symbol)
    _set_profit_settle(event, settle)
    _set_profit_amount(event, amount)
    _set_profit_type(event, _PROFIT_TYPE)
    return event


# (The slots of the engine's immutable records, set as their frozen constructors set them,
# without a look at the fields or a __post_init__, for what a tick makes by the thousand;
# a test checks each builder sets every field.)
_new = object.__new__


def _slot_setter(cls: type, name: str) -> Callable[[object, object], None]:
    setter: Callable[[object, object], None] = vars(cls)[name].__set__
    return setter


_set_entry_currency = _slot_setter(LedgerEntry, "currency")
_set_entry_amount = _slot_setter(LedgerEntry, "amount")
_set_entry_reason = _slot_setter(LedgerEntry, "reason")
_set_entry_symbol = _slot_setter(LedgerEntry, "symbol")
_set_funding_symbol = _slot_setter(FundingEvent, "symbol")
_set_funding_settle = _slot_setter(FundingEvent, "settle")
_set_funding_rate = _slot_setter(FundingEvent, "rate")
_set_funding_amount = _slot_setter(FundingEvent, "amount")
_set_funding_type = _slot_setter(FundingEvent, "type")
_FUNDING_TYPE = FundingEvent.__dataclass_fields__["type"].default
_set_profit_symbol = _slot_setter(ProfitRealisedEvent, "symbol")
_set_profit_settle = _slot_setter(ProfitRealisedEvent, "settle")
_set_profit_amount = _slot_setter(ProfitRealisedEvent, "amount")
_set_profit_type = _slot_setter(ProfitRealisedEvent, "type")
_PROFIT_TYPE = ProfitRealisedEvent.__dataclass_fields__["type"].default
_set_outcome_account = _slot_setter(Outcome, "account")
_set_outcome_events = _slot_setter(Outcome, "events")
_set_outcome_ledger = _slot_setter(Outcome, "ledger")
_set_outcome_fills = _slot_setter(Outcome, "fills")
_set_outcome_insurance = _slot_setter(Outcome, "insurance")
_set_outcome_warnings = _slot_setter(Outcome, "warnings")


_set_symbol = _slot_setter(Position, "symbol")
_set_qty = _slot_setter(Position, "qty")
_set_cost_value = _slot_setter(Position, "cost_value")
_set_entry_value = _slot_setter(Position, "entry_value")
_set_mode = _slot_setter(Position, "mode")
_set_leverage = _slot_setter(Position, "leverage")
_set_position_margin = _slot_setter(Position, "position_margin")
_set_realised_pnl = _slot_setter(Position, "realised_pnl")
_set_stop_loss = _slot_setter(Position, "stop_loss")
_set_take_profit = _slot_setter(Position, "take_profit")
_CROSS, _ISOLATED = MarginMode.CROSS, MarginMode.ISOLATED
_PROFIT_REALISATION, _FUNDING = LedgerReason.PROFIT_REALISATION, LedgerReason.FUNDING
_Priced = dict[str, tuple[Instrument, Decimal]]
_priced_of: tuple[Market | None, _Priced] = (None, {})


def _priced(market: Market, symbol: str) -> tuple[Instrument, Decimal]:
    """The instrument of ``symbol`` and its mark (``Market.instrument`` and ``Market.mark``,
    which refuse a symbol missing either), looked up once per market: a tick's market
    serves thousands of accounts, and a market is immutable."""
    global _priced_of
    cached, table = _priced_of
    if cached is not market:
        marks = market.marks
        table = {s: (i, marks[s]) for s, i in market.instruments.items() if s in marks}
        _priced_of = (market, table)
    row = table.get(symbol)
    if row is None:
        return market.instrument(symbol), market.mark(symbol)
    return row


def _copied(mapping: Mapping[K, V]) -> dict[K, V]:
    """A dict with ``mapping``'s items. An account's mappings are read-only views of dicts,
    and a view's own copy is several times quicker than ``dict()`` through the view."""
    if type(mapping) is MappingProxyType:
        copied = mapping.copy()
        if type(copied) is dict:
            return copied
    return dict(mapping)


class _Work:
    """A scratch copy of an account that an action changes before it is accepted."""

    def __init__(self, account: Account, market: Market) -> None:
        self.market = market
        self.wallets = _copied(account.wallets)
        self.positions = _copied(account.positions)
        self.settings = _copied(account.settings)
        self.events: list[Event] = []
        self.ledger: list[LedgerEntry] = []
        self.fills: list[Fill] = []
        self.insurance: dict[str, Decimal] = {}
        self.warnings: list[str] = []
        # The margins of the account as it stands, when the last liquidation check found no
        # position due and :meth:`tick` changed nothing since (None: not known). Read only
        # after a tick (see tick_accounts): other actions leave it as their checks set it.
        self.checked: Margins | None = None

    def account(self) -> Account:
        return Account(wallets=self.wallets, positions=self.positions, settings=self.settings)

    def outcome(self) -> Outcome:
        """What the action produced: its last step (the work hands its dicts over)."""
        outcome: Outcome = _new(Outcome)
        _set_outcome_account(outcome, Account.owning(self.wallets, self.positions, self.settings))
        _set_outcome_events(outcome, tuple(self.events))
        _set_outcome_ledger(outcome, tuple(self.ledger))
        _set_outcome_fills(outcome, tuple(self.fills))
        _set_outcome_insurance(outcome, MappingProxyType(self.insurance))
        _set_outcome_warnings(outcome, tuple(self.warnings))
        return outcome

    def figures(self) -> AccountFigures:
        return account_figures(self.account(), self.market)

    def setting(self, instrument: Instrument) -> MarginSetting:
        return self.settings.get(instrument.symbol) or default_setting(instrument)

    def move(self, currency: str, amount: Decimal, reason: LedgerReason, symbol: str = "") -> None:
        """Change a wallet by an amount already rounded to the minor unit."""
        self.wallets.setdefault(currency, ZERO)
        if amount == 0:
            return
        self.wallets[currency] += amount
        self.ledger.append(_ledger_entry(currency, amount, reason, symbol))

    def fill(self, inst: Instrument, delta: Decimal, mark: Decimal) -> bool:
        """Execute a signed quantity at the mark. Returns True if exposure was opened."""
        symbol = inst.symbol
        position = self.positions.get(symbol)
        fill_value = abs(inst.value(delta, mark))
        fee = taker_fee(inst, fill_value)
        realised = ZERO
        opening = delta
        setting = self.setting(inst)
        if position is not None:
            setting = MarginSetting(position.mode, position.leverage)
        if position is not None and (position.qty > 0) != (delta > 0):
            closing = min(abs(delta), abs(position.qty))
            fraction = closing / abs(position.qty)
            realised = money_down(inst.pnl(position.qty, position.entry_value, mark) * fraction)
            remaining = position.qty - closing if position.qty > 0 else position.qty + closing
            if remaining == 0:
                del self.positions[symbol]
            else:
                keep = remaining / position.qty
                released = money_down(position.position_margin * fraction)
                self.positions[symbol] = replace(
                    position,
                    qty=remaining,
                    cost_value=position.cost_value * keep,
                    entry_value=position.entry_value * keep,
                    position_margin=position.position_margin - released,
                )
            opening = delta + closing if delta < 0 else delta - closing
            self.move(inst.settle, realised, LedgerReason.TRADE_PNL, symbol)
        if opening != 0:
            value = inst.value(opening, mark)
            margin = (
                money_up(abs(value) / setting.leverage)
                if setting.mode is MarginMode.ISOLATED
                else ZERO
            )
            existing = self.positions.get(symbol)
            if existing is None:
                self.positions[symbol] = Position(
                    symbol, opening, value, value, setting.mode, setting.leverage, margin
                )
            else:
                self.positions[symbol] = replace(
                    existing,
                    qty=existing.qty + opening,
                    cost_value=existing.cost_value + value,
                    entry_value=existing.entry_value + value,
                    position_margin=existing.position_margin + margin,
                )
        self.move(inst.settle, -fee, LedgerReason.TAKER_FEE, symbol)
        after = self.positions.get(symbol)
        if after is not None:
            # A position that carries on keeps its realised PnL; a new or flipped one starts
            # from this fill's fee.
            carries_on = position is not None and (position.qty > 0) == (after.qty > 0)
            earlier = position.realised_pnl + realised if carries_on and position else ZERO
            self.positions[symbol] = replace(after, realised_pnl=earlier - fee)
        side = Side.BUY if delta > 0 else Side.SELL
        self.fills.append(Fill(symbol, side, abs(delta), mark, fill_value, fee, realised))
        return opening != 0

    def require_safe(self, currency: str, action: str, *, spends: bool = True) -> None:
        """Refuse unless the available balance is ≥ 0 and no position is at liquidation.

        ``spends=False`` is for an action that can only raise the available balance
        (removing isolated margin): it needs no available balance, so only the
        liquidation check applies, even when a cross loss holds the balance below zero.
        """
        figures = self.figures()
        balance = figures.balances.get(currency)
        if spends and balance is not None and balance.available_internal < 0:
            short = display.limit(money_up(-balance.available_internal), currency, most=False)
            raise Rejected(
                f"Not enough available balance: {action} needs {short} {currency} more "
                f"than you have available."
            )
        for position in figures.positions.values():
            if position.settle == currency and position.at_or_through_liquidation:
                tick = self.market.instrument(position.symbol).tick_size
                where = (
                    f" ({display.price(position.liquidation_price, tick)})"
                    if position.liquidation_price is not None
                    else ""
                )
                raise Rejected(
                    f"{action[0].upper()}{action[1:]} would leave your {position.symbol} "
                    f"position at or beyond its liquidation price{where}, so it would be "
                    f"liquidated at once."
                )

    def take_over(self, figures: PositionFigures) -> None:
        """Liquidate one position: close it at its bankruptcy price (rule 11)."""
        position = self.positions.pop(figures.symbol)
        inst = self.market.instrument(figures.symbol)
        # Isolated: the position margin. Cross: exactly the funds behind it. Those are
        # negative only when the account already owes more than it has (a gap, or funding
        # larger than the funds): closing at the bankruptcy price then brings the available
        # balance back to zero and the insurance fund pays, so no account is left in debt.
        isolated = position.mode is MarginMode.ISOLATED
        # Cross funds come out of divisions (initial margins) with tails far below the
        # minor unit; rounding them to the nearest unit (not down) means an account left
        # with nothing else ends at exactly zero, not one unit in debt.
        lost = position.position_margin if isolated else money_nearest(figures.funds)
        change = -lost
        insurance = money_down(figures.unrealised_pnl - change)
        self.move(inst.settle, change, LedgerReason.LIQUIDATION, figures.symbol)
        self.insurance[inst.settle] = self.insurance.get(inst.settle, ZERO) + insurance
        price = figures.bankruptcy_price or figures.mark_price
        side = Side.SELL if position.qty > 0 else Side.BUY
        qty = abs(position.qty)
        self.fills.append(
            Fill(
                figures.symbol,
                side,
                qty,
                price,
                abs(inst.value(qty, price)),
                ZERO,
                change,
                liquidation=True,
            )
        )
        self.events.append(
            LiquidationEvent(
                symbol=figures.symbol,
                settle=inst.settle,
                margin_mode=position.mode,
                qty=position.qty,
                avg_entry_price=figures.avg_entry_price,
                funds=figures.funds,
                maintenance_margin=figures.maintenance_margin,
                liquidation_price=figures.liquidation_price,
                bankruptcy_price=figures.bankruptcy_price,
                mark_price=figures.mark_price,
                loss=change,
                insurance_fund_change=insurance,
            )
        )

    def fire_triggers(self) -> None:
        """Close every position whose stop-loss or take-profit the mark has reached.

        A trigger is a market order: it fills at the mark, which after a gap is beyond the
        trigger price. Triggers run before liquidations, so a stop above the liquidation
        price closes the position before the liquidation engine would.
        """
        for symbol in sorted(self.positions):
            position = self.positions[symbol]
            if position.stop_loss is None and position.take_profit is None:
                continue
            mark = self.market.marks.get(symbol)
            if mark is None:
                continue
            long = position.qty > 0
            stop, target = position.stop_loss, position.take_profit
            hit_stop = stop is not None and (mark <= stop if long else mark >= stop)
            hit_target = target is not None and (mark >= target if long else mark <= target)
            if not (hit_stop or hit_target):
                continue
            kind = TriggerKind.STOP_LOSS if hit_stop else TriggerKind.TAKE_PROFIT
            price = stop if hit_stop else target
            assert price is not None
            inst = self.market.instrument(symbol)
            self.fill(inst, -position.qty, mark)
            fill = replace(self.fills[-1], trigger=kind.value)
            self.fills[-1] = fill
            self.events.append(
                TriggerEvent(
                    symbol,
                    inst.settle,
                    kind,
                    price,
                    mark,
                    position.qty,
                    fill.realised_pnl,
                    fill.fee,
                )
            )

    def realise_profit(self) -> None:
        """Rule 9: every cross position in profit moves it into the wallet."""
        positions = self.positions
        for symbol in sorted(positions):
            position = positions[symbol]
            if position.mode is not _CROSS:
                continue  # (nothing to realise: see _realisable)
            amount = _realisable(position, self.market)
            if amount <= 0:
                continue
            inst = self.market.instrument(symbol)
            self.move(inst.settle, amount, _PROFIT_REALISATION, symbol)
            self.positions[symbol] = _booked(
                position,
                entry_value=position.entry_value + amount * inst.pnl_direction(),
                position_margin=position.position_margin,
                realised_pnl=position.realised_pnl + amount,
            )
            self.events.append(_profit_event(symbol, inst.settle, amount))

    def pay_funding(self, symbol: str, rate: Decimal) -> Decimal | None:
        """Rule 10: the funding payment of ``symbol``'s position: the wallet's change, or
        None if there is no position. ``rate`` is checked by the caller (require_decimal)."""
        position = self.positions.get(symbol)
        if position is None:
            self.market.instrument(symbol)  # (an unknown symbol is refused all the same)
            return None
        inst, mark = _priced(self.market, symbol)
        value = abs(inst.value(position.qty, mark))
        change = money_down(-value * rate if position.qty > 0 else value * rate)
        margin = position.position_margin
        if position.mode is _ISOLATED:
            change = max(change, -margin)
            margin += change
        self.positions[symbol] = _booked(
            position,
            entry_value=position.entry_value,
            position_margin=margin,
            realised_pnl=position.realised_pnl + change,
        )
        self.move(inst.settle, change, _FUNDING, symbol)
        self.events.append(_funding_event(symbol, inst.settle, rate, change))
        return change

    def received_safely(self, symbol: str, change: Decimal) -> bool:
        """Whether a funding payment of ``change`` to ``symbol``'s position, made while no
        position was at or through its liquidation price, leaves none there for sure, with
        no need to check: it was received (not paid), and either the position is cross
        (only the wallet grew: each available balance, each cross position's funds and
        margin left is a sum of the same terms rounded step by step, and a rounded sum never
        falls when a term grows) or no cross position settles in its currency (its own
        margin grew as much as the wallet, and no other figure reads that wallet)."""
        if change < 0:
            return False
        position = self.positions[symbol]
        if position.mode is _CROSS:
            return True
        settle = self.market.instrument(symbol).settle
        return all(
            other.mode is not _CROSS or self.market.instrument(other.symbol).settle != settle
            for other in self.positions.values()
        )

    def tick(
        self,
        moved: Collection[str],
        realise: bool,
        funding: list[tuple[str, Decimal]],
        *,
        reached: bool,
    ) -> None:
        """A market tick's steps on this account (see :func:`tick_account`); ``funding``:
        the rates by symbol, in order, checked (:func:`_funding`)."""
        # (Each liquidation check leaves ``checked`` as it found the account.)
        if reached:
            self.fire_triggers()
            self.liquidate(moved=moved)
        if realise:
            done = len(self.events)
            self.realise_profit()
            if len(self.events) > done:  # (nothing realised: the check above still holds)
                self.liquidate(trigger=None)
        for symbol, rate in funding:
            if symbol not in self.positions:
                continue
            change = self.pay_funding(symbol, rate)
            self.checked = None  # (checked again below, or not known)
            # (Each step starts with no position due: the marks' and the realisation's
            # checks above, and this one after each payment, unless the payment cannot have
            # made one.)
            if change is not None and not self.received_safely(symbol, change):
                self.liquidate(trigger=symbol)

    def liquidate(self, trigger: str | None = None, moved: Collection[str] = ()) -> None:
        """Take over every position at or through its liquidation price (rule 11).

        ``trigger`` (or several ``moved`` symbols, on a market tick) names the marks that
        moved: among cross positions, theirs go first.
        """
        while True:
            checked = margins_if_none_due(self.wallets, self.positions, self.market)
            if checked is not None:
                self.checked = checked
                return  # (the usual case, told without computing the figures)
            due = [p for p in self.figures().positions.values() if p.at_or_through_liquidation]
            if not due:
                self.checked = None
                return
            isolated = [p for p in due if p.margin_mode is MarginMode.ISOLATED]
            if isolated:
                for position in isolated:
                    self.take_over(position)
                continue
            first = {trigger, *moved} - {None}
            self.take_over(
                min(
                    due,
                    key=lambda p: (
                        p.symbol not in first,
                        p.margin_left - p.maintenance_margin,
                        p.symbol,
                    ),
                )
            )


def _order_qty(inst: Instrument, qty: object) -> Decimal:
    qty = require_decimal(qty, "qty")
    if qty <= 0:
        raise Rejected("Enter a quantity above zero.")
    if not is_multiple(qty, inst.qty_step):
        raise Rejected(
            f"{inst.symbol} trades in steps of {display.qty(inst.qty_step)} "
            f"{inst.qty_unit}; {display.qty(qty)} is not a whole number of steps."
        )
    return qty


def _leverage(inst: Instrument, leverage: object) -> Decimal:
    leverage = require_decimal(leverage, "leverage")
    if not 1 <= leverage <= inst.max_leverage:
        raise Rejected(
            f"Leverage on {inst.symbol} must be from 1x to "
            f"{display.leverage(inst.max_leverage)}; {display.leverage(leverage)} is outside that."
        )
    return leverage


def _money_amount(amount: object, name: str) -> Decimal:
    amount = require_decimal(amount, name)
    if decimal_places(amount) > MONEY_PLACES:
        raise Rejected(f"Amounts can have at most {MONEY_PLACES} decimal places.")
    return amount


@exact
def deposit(account: Account, currency: str, amount: Decimal) -> Outcome:
    """Credit a wallet. The amount must be above zero."""
    amount = _money_amount(amount, "amount")
    if not currency or not isinstance(currency, str):
        raise Rejected("Name the currency to deposit.")
    if amount <= 0:
        raise Rejected("A deposit must be above zero.")
    work = _Work(account, Market({}))
    work.move(currency, amount, LedgerReason.DEPOSIT)
    return work.outcome()


@exact
def reset_account(account: Account, balances: Mapping[str, Decimal]) -> Outcome:
    """Set a paper account back to its starting balances: positions and settings go.

    The wallet change of each currency is one ledger entry with the reason ``reset``, so
    the ledger still adds up to the wallet afterwards.
    """
    work = _Work(account, Market({}))
    work.positions.clear()
    work.settings.clear()
    for currency in sorted(set(balances) | set(work.wallets)):
        target = _money_amount(balances.get(currency, ZERO), "balance")
        work.move(currency, target - work.wallets.get(currency, ZERO), LedgerReason.RESET)
    return work.outcome()


@exact
def apply_mark(account: Account, market: Market, symbol: str) -> Outcome:
    """After the mark of ``symbol`` changed: fire the stops and targets it reached, then
    liquidate whatever it pushed through."""
    market.instrument(symbol)
    work = _Work(account, market)
    work.fire_triggers()
    work.liquidate(trigger=symbol)
    return work.outcome()


@exact
def place_order(account: Account, market: Market, symbol: str, side: Side, qty: Decimal) -> Outcome:
    """A market order filled at the mark (rules 5 and 6)."""
    inst = market.instrument(symbol)
    side = Side(side)
    qty = _order_qty(inst, qty)
    mark = market.mark(symbol)
    work = _Work(account, market)
    if work.fill(inst, qty if side is Side.BUY else -qty, mark):
        work.require_safe(inst.settle, "this order")
    work.liquidate(trigger=symbol)
    return work.outcome()


@exact
def close_position(account: Account, market: Market, symbol: str) -> Outcome:
    """A market order for the whole position, in the opposite direction."""
    inst = market.instrument(symbol)
    position = account.positions.get(symbol)
    if position is None:
        raise Rejected(f"You have no open {symbol} position to close.")
    mark = market.mark(symbol)
    work = _Work(account, market)
    work.fill(inst, -position.qty, mark)
    work.liquidate(trigger=symbol)
    return work.outcome()


@exact
def set_leverage(
    account: Account, market: Market, symbol: str, mode: MarginMode, leverage: Decimal
) -> Outcome:
    """Choose margin mode and leverage for a symbol (rule 7)."""
    inst = market.instrument(symbol)
    mode = MarginMode(mode)
    leverage = _leverage(inst, leverage)
    work = _Work(account, market)
    work.settings[symbol] = MarginSetting(mode, leverage)
    position = work.positions.get(symbol)
    if position is not None:
        margin = (
            money_up(abs(position.cost_value) / leverage) if mode is MarginMode.ISOLATED else ZERO
        )
        work.positions[symbol] = replace(
            position, mode=mode, leverage=leverage, position_margin=margin
        )
        work.require_safe(inst.settle, f"switching {symbol} to {describe_margin(mode, leverage)}")
    work.liquidate(trigger=symbol)
    return work.outcome()


@dataclass(frozen=True, slots=True)
class MarginLimits:
    """How far an isolated position's margin can move (rule 8)."""

    position_margin: Decimal
    minimum_margin: Decimal  # the lowest margin allowed: max leverage, and clear of liquidation
    max_add: Decimal
    max_remove: Decimal


@exact
def margin_limits(account: Account, market: Market, symbol: str) -> MarginLimits:
    position = account.positions.get(symbol)
    if position is None:
        raise Rejected(f"You have no open {symbol} position to add margin to.")
    if position.mode is MarginMode.CROSS:
        raise Rejected(CROSS_MARGIN_IS_SHARED)
    inst = market.instrument(symbol)
    figures = account_figures(account, market)
    mine = figures.positions[symbol]
    at_max_leverage = money_up(abs(position.cost_value) / inst.max_leverage)
    # Margin plus PnL must stay strictly above the maintenance margin.
    clear_of_liquidation = money_down(mine.maintenance_margin - mine.unrealised_pnl) + MINOR_UNIT
    minimum = max(at_max_leverage, clear_of_liquidation)
    available = figures.balances[inst.settle].available_internal
    return MarginLimits(
        position_margin=position.position_margin,
        minimum_margin=minimum,
        max_add=max(money_down(available), ZERO),
        max_remove=max(position.position_margin - minimum, ZERO),
    )


@exact
def change_margin(account: Account, market: Market, symbol: str, amount: Decimal) -> Outcome:
    """Add (positive) or remove (negative) margin on an isolated position (rule 8)."""
    amount = _money_amount(amount, "amount")
    limits = margin_limits(account, market, symbol)
    inst = market.instrument(symbol)
    unit = inst.settle
    if amount == 0:
        raise Rejected("Enter an amount to add, or a negative amount to remove.")
    most_add = display.limit(limits.max_add, unit, most=True)
    most_remove = display.limit(limits.max_remove, unit, most=True)
    least_kept = display.limit(limits.minimum_margin, unit, most=False)
    if amount > limits.max_add:
        raise Rejected(
            f"You can add at most {most_add} {unit}, your available balance; "
            f"{display.number(amount)} {unit} needs "
            f"{display.limit(amount - limits.max_add, unit, most=False)} {unit} more."
        )
    if -amount > limits.max_remove:
        raise Rejected(
            f"You can remove at most {most_remove} {unit}: the position must keep at least "
            f"{least_kept} {unit} (its margin at {display.leverage(inst.max_leverage)}, and "
            "enough to stay clear of liquidation)."
        )
    work = _Work(account, market)
    position = work.positions[symbol]
    work.positions[symbol] = replace(position, position_margin=position.position_margin + amount)
    # Removing margin gives it back to the available balance: rule 8 limits it only by the
    # maximum leverage and the liquidation price, so a balance a cross loss holds below
    # zero does not stop it.
    work.require_safe(unit, "this margin change", spends=amount > 0)
    work.liquidate(trigger=symbol)
    return work.outcome()


def _realisable(position: Position, market: Market) -> Decimal:
    """What profit realisation takes from a position (rule 9): a cross position's profit at
    the mark, rounded down to the minor unit; nothing (zero or less) from any other."""
    if position.mode is not _CROSS:
        return ZERO
    inst, mark = _priced(market, position.symbol)
    return money_down(inst.pnl(position.qty, position.entry_value, mark))


@exact
def realisable(positions: Mapping[str, Position], market: Market) -> bool:
    """Whether profit realisation would take anything from an account holding these
    positions at these marks (if not, ``realise_profit`` changes nothing but what the
    marks themselves liquidate)."""
    return any(_realisable(position, market) > 0 for position in positions.values())


@exact
def realise_profit(account: Account, market: Market) -> Outcome:
    """Periodic profit realisation of every cross position in profit (rule 9)."""
    work = _Work(account, market)
    work.realise_profit()
    work.liquidate(trigger=None)
    return work.outcome()


@exact
def pay_funding(account: Account, market: Market, symbol: str, rate: Decimal) -> Outcome:
    """A funding payment at the current mark (rule 10). No position: nothing happens."""
    rate = require_decimal(rate, "rate")
    work = _Work(account, market)
    if work.pay_funding(symbol, rate) is not None:
        work.liquidate(trigger=symbol)
    return work.outcome()


@exact
def tick_account(
    account: Account,
    market: Market,
    moved: Collection[str],
    *,
    realise: bool = False,
    funding_rates: Mapping[str, Decimal] | None = None,
    reached: bool = True,
) -> Outcome:
    """One market tick for one account, in the order an exchange runs it.

    New marks (already in ``market``) → stop-loss and take-profit orders they reached →
    liquidations → profit realisation, if due → funding at each given rate, if due (each
    followed by its own liquidation pass). The same as those steps' outcomes combined
    (``realise_profit``, then ``pay_funding`` for each symbol still held), worked on one
    scratch copy of the account.

    ``reached=False`` says the new marks reached none of the account's stops, targets or
    liquidation prices (a tick knows it from the positions' index, which it searched): the
    tick then starts at the realisation, as the first two steps would have changed nothing.

    Every funding rate is checked (``require_decimal``) before the first step, whether or
    not the account holds its symbol. Many accounts at once: :func:`tick_accounts`.
    """
    work = _Work(account, market)
    work.tick(moved, realise, _funding(funding_rates), reached=reached)
    return work.outcome()


def tick_accounts(
    states: Mapping[int, Account],
    market: Market,
    moved: Collection[str],
    *,
    realise: bool = False,
    funding_rates: Mapping[str, Decimal] | None = None,
    reached: Container[int] = (),
) -> Iterator[tuple[int, Outcome]]:
    """:func:`tick_account` for each of many accounts of one market (a tick's), as
    (account id, outcome) in the order of ``states``, computed one at a time as they are
    taken: each the very outcome ``tick_account(state, market, moved, realise=realise,
    funding_rates=funding_rates, reached=account_id in reached)`` gives.

    What every account shares is worked out once (the rates, checked and in order; the
    engine's decimal context), and the engine's context is the current one only while an
    account is computed: the caller's own arithmetic between two outcomes runs in its own.
    """
    funding = _funding(funding_rates)
    context = engine_context()
    for account_id, account in states.items():
        caller = decimal.getcontext()
        decimal.setcontext(context)
        try:
            work = _Work(account, market)
            work.tick(moved, realise, funding, reached=account_id in reached)
            outcome = work.outcome()
            # (The index written next reads the cushions of the last check, if it had them.)
            keep_cushions(outcome.account, market, work.checked)
        finally:
            decimal.setcontext(caller)
        yield account_id, outcome


def _funding(rates: Mapping[str, Decimal] | None) -> list[tuple[str, Decimal]]:
    """A tick's funding rates by symbol, in the order they are paid, each checked."""
    return [
        (symbol, require_decimal(rate, "rate")) for symbol, rate in sorted((rates or {}).items())
    ]


def combine(outcomes: Collection[Outcome]) -> Outcome:
    """Several outcomes applied one after another, as one."""
    items = list(outcomes)
    insurance: dict[str, Decimal] = {}
    for item in items:
        for currency, change in item.insurance.items():
            insurance[currency] = insurance.get(currency, ZERO) + change
    return Outcome(
        account=items[-1].account,
        events=tuple(e for item in items for e in item.events),
        ledger=tuple(e for item in items for e in item.ledger),
        fills=tuple(f for item in items for f in item.fills),
        insurance=insurance,
    )


@exact
def set_triggers(
    account: Account,
    market: Market,
    symbol: str,
    stop_loss: Decimal | None,
    take_profit: Decimal | None,
) -> Outcome:
    """Set (or, with None, clear) the stop-loss and take-profit of an open position.

    Refused when a trigger would fire at once (a long's stop at or above the mark, its
    target at or below it; the other way round for a short). Accepted with a warning when
    the stop sits at or beyond the liquidation price: the liquidation engine would take the
    position over first, so the stop could never fill.
    """
    tick = market.instrument(symbol).tick_size
    position = account.positions.get(symbol)
    if position is None:
        raise Rejected(
            f"You have no open {symbol} position: a stop-loss or take-profit closes one."
        )
    mark = market.mark(symbol)
    long = position.qty > 0
    for name, price in (("stop-loss", stop_loss), ("take-profit", take_profit)):
        if price is None:
            continue
        price = require_decimal(price, name)
        if price <= 0:
            raise Rejected(f"A {name} price must be above zero.")
        if decimal_places(price) > MONEY_PLACES:
            raise Rejected(f"A {name} price can have at most {MONEY_PLACES} decimal places.")
        below = name == "stop-loss" if long else name == "take-profit"
        if below and price >= mark:
            raise Rejected(
                f"A {name} on a {'long' if long else 'short'} must be below the mark "
                f"({display.price(mark, tick)}): at {display.price(price, tick)} it would close "
                "the position at once."
            )
        if not below and price <= mark:
            raise Rejected(
                f"A {name} on a {'long' if long else 'short'} must be above the mark "
                f"({display.price(mark, tick)}): at {display.price(price, tick)} it would close "
                "the position at once."
            )
    work = _Work(account, market)
    work.positions[symbol] = replace(position, stop_loss=stop_loss, take_profit=take_profit)
    liquidation = account_figures(account, market).positions[symbol].liquidation_price
    if stop_loss is not None and liquidation is not None:
        beyond = stop_loss <= liquidation if long else stop_loss >= liquidation
        if beyond:
            work.warnings.append(
                f"Your stop-loss at {display.price(stop_loss, tick)} is at or beyond the "
                f"liquidation price ({display.price(liquidation, tick)}): the liquidation engine "
                f"takes the position over first, so this stop would never fill. Move it "
                f"{'above' if long else 'below'} {display.price(liquidation, tick)}."
            )
    return work.outcome()
