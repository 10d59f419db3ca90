"""Property tests: random sequences of steps on a market with linear and inverse contracts.

After every step, accepted or refused, the invariants of the rules must hold:

* a refused step changes nothing;
* every wallet change is the sum of its ledger entries, which split into deposits,
  realised PnL (trade_pnl + profit_realisation + liquidation), fees and funding, and agree
  with the fills and events that report them;
* no position is left at or through its liquidation price; a long's liquidation price is
  above its bankruptcy price and a short's below;
* an isolated liquidation loses exactly the position margin; the insurance fund gets the
  PnL from the bankruptcy price to the mark;
* adding margin moves the liquidation price away from the mark;
* a position's own realisation never moves its prices, and in an account with several
  cross positions realisation never moves any price towards the mark.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from sandbox.engine import (
    Account,
    AccountFigures,
    ContractKind,
    FundingEvent,
    Instrument,
    LedgerReason,
    LiquidationEvent,
    MarginMode,
    Market,
    Outcome,
    PositionFigures,
    ProfitRealisedEvent,
    Rejected,
    Side,
    account_figures,
    apply_mark,
    change_margin,
    close_position,
    deposit,
    pay_funding,
    place_order,
    realise_profit,
    set_leverage,
)
from sandbox.engine.money import MINOR_UNIT, engine_context, money_nearest

from .helpers import snapshot

D = Decimal

LIN = Instrument(
    symbol="LIN",
    kind=ContractKind.LINEAR,
    settle="USDT",
    maint_margin_rate=D("0.01"),
    max_leverage=D("50"),
    taker_fee=D("0.0005"),
    qty_step=D("0.01"),
)
LIN2 = Instrument(
    symbol="LIN2",
    kind=ContractKind.LINEAR,
    settle="USDT",
    maint_margin_rate=D("0.02"),
    max_leverage=D("25"),
    taker_fee=D("0.0005"),
    qty_step=D("0.1"),
)
INV = Instrument(
    symbol="INV",
    kind=ContractKind.INVERSE,
    settle="XBT",
    maint_margin_rate=D("0.005"),
    max_leverage=D("100"),
    taker_fee=D("0.00075"),
    qty_step=D("1"),
)
START = {"LIN": D("20000"), "LIN2": D("1000"), "INV": D("50000")}
TICK = {"LIN": D("0.5"), "LIN2": D("0.01"), "INV": D("0.5")}
# An order is qty_step × k; these scale k so that orders are sizeable against the wallets.
ORDER_UNIT = {"LIN": D("0.01"), "LIN2": D("0.1"), "INV": D("25")}
MONEY = {"USDT": D("1"), "XBT": D("0.00001")}
TOLERANCE = D("1e-20")

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ---------------------------------------------------------------------- strategies


def steps(symbols: tuple[str, ...]) -> st.SearchStrategy[tuple[Any, ...]]:
    symbol = st.sampled_from(symbols)
    currency = st.sampled_from(("USDT", "XBT"))
    # Mostly small moves, some large ones, and now and then a price of zero (refused).
    factor = st.one_of(
        st.integers(960, 1040),
        st.integers(900, 1100),
        st.integers(700, 1300),
        st.integers(400, 1600),
        st.integers(0, 30).map(lambda n: 1000 if n else 0),
    ).map(lambda n: D(n) / 1000)
    leverage = st.sampled_from(
        [D(1), D(2), D(3), D(5), D(10), D("12.5"), D(20), D(25), D(50), D(100), D("0.5"), D(150)]
    )
    mode = st.sampled_from((MarginMode.CROSS, MarginMode.ISOLATED))
    side = st.sampled_from((Side.BUY, Side.SELL))
    size = st.one_of(st.integers(1, 50), st.integers(0, 2000))
    off_step = st.integers(0, 19).map(lambda n: n == 19)
    amount = st.integers(-3000, 3000)
    rate = st.integers(-10000, 10000).map(lambda n: D(n).scaleb(-6))
    mark = st.tuples(st.just("mark"), symbol, factor)
    order = st.tuples(st.just("order"), symbol, side, size, off_step)
    realise = st.tuples(st.just("realise"))
    return st.one_of(
        mark,
        mark,
        mark,
        mark,
        order,
        order,
        realise,
        realise,
        st.tuples(st.just("deposit"), currency, st.integers(0, 20000)),
        st.tuples(st.just("leverage"), symbol, mode, leverage),
        st.tuples(st.just("close"), symbol),
        st.tuples(st.just("margin"), symbol, amount),
        st.tuples(st.just("funding"), symbol, rate),
    )


def openings(
    symbols: tuple[str, ...], modes: tuple[MarginMode, ...] = tuple(MarginMode)
) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    """A leverage choice and an opening order for each symbol, so walks start exposed."""
    per_symbol = [
        st.tuples(
            st.tuples(
                st.just("leverage"),
                st.just(symbol),
                st.sampled_from(modes),
                st.sampled_from([D(2), D(5), D(10), D(20), D(25), D(50), D(100)]),
            ),
            st.tuples(
                st.just("order"),
                st.just(symbol),
                st.sampled_from((Side.BUY, Side.SELL)),
                st.integers(1, 2000),
                st.just(False),
            ),
        )
        for symbol in symbols
    ]
    return st.tuples(*per_symbol).map(lambda pairs: [step for pair in pairs for step in pair])


def walks(symbols: tuple[str, ...]) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    rest = st.lists(steps(symbols), min_size=10, max_size=50)
    return st.tuples(openings(symbols), rest).map(lambda parts: parts[0] + parts[1])


def cross_walks(symbols: tuple[str, ...]) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    """Cross positions on every symbol, marks moving, and frequent realisation."""
    symbol = st.sampled_from(symbols)
    factor = st.integers(800, 1250).map(lambda n: D(n) / 1000)
    mark = st.tuples(st.just("mark"), symbol, factor)
    step = st.one_of(
        mark,
        mark,
        st.tuples(st.just("realise")),
        st.tuples(
            st.just("order"),
            symbol,
            st.sampled_from((Side.BUY, Side.SELL)),
            st.integers(1, 500),
            st.just(False),
        ),
        st.tuples(st.just("funding"), symbol, st.integers(-500, 500).map(lambda n: D(n) / 10**5)),
    )
    rest = st.lists(step, min_size=10, max_size=40)
    start = openings(symbols, (MarginMode.CROSS,))
    return st.tuples(start, rest).map(lambda parts: parts[0] + parts[1])


def market_of(symbols: tuple[str, ...]) -> Market:
    instruments = {"LIN": LIN, "LIN2": LIN2, "INV": INV}
    return Market({s: instruments[s] for s in symbols}, {s: START[s] for s in symbols})


def start_account() -> Account:
    account = deposit(Account(), "USDT", D("10000")).account
    return deposit(account, "XBT", D("1")).account


# ------------------------------------------------------------------------ applying


def apply(account: Account, mkt: Market, step: tuple[Any, ...]) -> tuple[Market, Outcome]:
    """Run one step through the engine; Rejected propagates."""
    kind = step[0]
    if kind == "deposit":
        _, currency, units = step
        return mkt, deposit(account, currency, units * MONEY[currency])
    if kind == "mark":
        _, symbol, factor = step
        price = (mkt.marks[symbol] * factor / TICK[symbol]).quantize(D(1), ROUND_HALF_UP)
        moved = mkt.with_mark(symbol, price * TICK[symbol])
        return moved, apply_mark(account, moved, symbol)
    if kind == "leverage":
        _, symbol, mode, leverage = step
        return mkt, set_leverage(account, mkt, symbol, mode, leverage)
    if kind == "order":
        _, symbol, side, size, off_step = step
        qty = size * ORDER_UNIT[symbol]
        if off_step:
            qty += mkt.instrument(symbol).qty_step / 2
        return mkt, place_order(account, mkt, symbol, side, qty)
    if kind == "close":
        return mkt, close_position(account, mkt, step[1])
    if kind == "margin":
        _, symbol, units = step
        unit = D("1") if mkt.instrument(symbol).settle == "USDT" else D("0.00001")
        return mkt, change_margin(account, mkt, symbol, units * unit)
    if kind == "realise":
        return mkt, realise_profit(account, mkt)
    if kind == "funding":
        _, symbol, rate = step
        return mkt, pay_funding(account, mkt, symbol, rate)
    raise AssertionError(kind)


# -------------------------------------------------------------------------- checks


def same_price(before: Decimal | None, after: Decimal | None) -> bool:
    if before is None or after is None:
        return before is after
    return abs(after - before) <= abs(before) * TOLERANCE


def towards_mark(before: Decimal | None, after: Decimal | None, long: bool) -> bool:
    """Did a liquidation or bankruptcy price move towards the mark (beyond rounding)?"""
    if after is None:
        return False  # gone: no price can reach it any more
    if before is None:
        return True
    slack = abs(before) * TOLERANCE
    return after > before + slack if long else after < before - slack


def pnl_between(inst: Instrument, qty: Decimal, start: Decimal, end: Decimal) -> Decimal:
    """PnL of ``qty`` from the price ``start`` to the price ``end``."""
    with decimal.localcontext(engine_context()):
        if inst.is_inverse:
            return qty * (1 / start - 1 / end)
        return qty * (end - start)


def check_refused(account: Account, mkt: Market, before: AccountFigures, state: Any) -> None:
    assert snapshot(account) == state
    assert account_figures(account, mkt) == before


def check_position_invariants(figures: AccountFigures) -> None:
    for p in figures.positions.values():
        assert p.qty != 0
        assert not p.at_or_through_liquidation, p
        if p.liquidation_price is not None and p.bankruptcy_price is not None:
            if p.is_long:
                assert p.liquidation_price > p.bankruptcy_price, p
            else:
                assert p.liquidation_price < p.bankruptcy_price, p


def check_ledger(step: tuple[Any, ...], account: Account, outcome: Outcome, mkt: Market) -> None:
    after = outcome.account
    by_reason: dict[LedgerReason, Decimal] = {}
    for entry in outcome.ledger:
        assert entry.amount == entry.amount.quantize(MINOR_UNIT), entry
        assert entry.amount != 0, entry
        assert entry.reason is not LedgerReason.RESET
        by_reason[entry.reason] = by_reason.get(entry.reason, D(0)) + entry.amount
    for currency in set(account.wallets) | set(after.wallets):
        change = after.wallet(currency) - account.wallet(currency)
        assert after.wallet(currency) == after.wallet(currency).quantize(MINOR_UNIT)
        entries = [e for e in outcome.ledger if e.currency == currency]
        assert change == sum((e.amount for e in entries), D(0))

        def total(reason: LedgerReason, entries: list[Any] = entries) -> Decimal:
            return sum((e.amount for e in entries if e.reason is reason), D(0))

        deposits = total(LedgerReason.DEPOSIT)
        realised = (
            total(LedgerReason.TRADE_PNL)
            + total(LedgerReason.PROFIT_REALISATION)
            + total(LedgerReason.LIQUIDATION)
        )
        fees = -total(LedgerReason.TAKER_FEE)
        funding = total(LedgerReason.FUNDING)
        assert change == deposits + realised - fees + funding
        assert fees >= 0
    # The same movements as the fills and events report them.
    get = by_reason.get
    fills, events = outcome.fills, outcome.events
    assert sum((f.fee for f in fills), D(0)) == -get(LedgerReason.TAKER_FEE, D(0))
    trade = sum((f.realised_pnl for f in fills if not f.liquidation), D(0))
    assert trade == get(LedgerReason.TRADE_PNL, D(0))
    taken = sum((f.realised_pnl for f in fills if f.liquidation), D(0))
    assert taken == get(LedgerReason.LIQUIDATION, D(0))
    losses = sum((e.loss for e in events if isinstance(e, LiquidationEvent)), D(0))
    assert losses == get(LedgerReason.LIQUIDATION, D(0))
    funded = sum((e.amount for e in events if isinstance(e, FundingEvent)), D(0))
    assert funded == get(LedgerReason.FUNDING, D(0))
    profit = sum((e.amount for e in events if isinstance(e, ProfitRealisedEvent)), D(0))
    assert profit == get(LedgerReason.PROFIT_REALISATION, D(0))
    if step[0] == "deposit":
        assert get(LedgerReason.DEPOSIT, D(0)) == step[2] * MONEY[step[1]]
    else:
        assert LedgerReason.DEPOSIT not in by_reason
    for currency, change in outcome.insurance.items():
        events_change = sum(
            (
                e.insurance_fund_change
                for e in events
                if isinstance(e, LiquidationEvent) and e.settle == currency
            ),
            D(0),
        )
        assert change == events_change


def check_liquidations(account: Account, mkt: Market, step: tuple[Any, ...], out: Outcome) -> None:
    for event in out.events:
        if not isinstance(event, LiquidationEvent):
            continue
        assert event.symbol not in out.account.positions
        # The trader loses exactly the funds behind the position. Negative funds (the
        # account owed more than it held) come back from the insurance fund, never more.
        assert event.loss == -money_nearest(event.funds)
        if event.funds >= 0:
            assert event.loss <= 0
        # Negative funds: the account is brought back to zero. The insurance fund pays
        # for it, unless the position's own profit at the mark covers it, the rest of
        # which then goes to the fund: either way trader + fund = the position's PnL.
        if event.margin_mode is MarginMode.ISOLATED:
            # Exactly the position margin, never more.
            assert event.loss == -event.funds
            if step[0] == "mark":
                assert event.funds == account.positions[event.symbol].position_margin
        if event.funds >= 0 and event.bankruptcy_price is not None:
            inst = mkt.instrument(event.symbol)
            expected = pnl_between(inst, event.qty, event.bankruptcy_price, event.mark_price)
            assert abs(event.insurance_fund_change - expected) <= MINOR_UNIT, event


def check_margin_added(
    step: tuple[Any, ...], before: AccountFigures, after: AccountFigures
) -> None:
    if step[0] != "margin" or step[2] <= 0:
        return
    symbol = step[1]
    old, new = before.positions[symbol], after.positions[symbol]
    assert not towards_mark(old.liquidation_price, new.liquidation_price, old.is_long)
    if old.liquidation_price is not None and new.liquidation_price is not None:
        if old.is_long:
            assert new.liquidation_price < old.liquidation_price
        else:
            assert new.liquidation_price > old.liquidation_price


def check_realisation(before: AccountFigures, after: AccountFigures, own_only: bool) -> None:
    for symbol, old in before.positions.items():
        new: PositionFigures = after.positions[symbol]  # realisation never liquidates
        if own_only:
            assert same_price(old.liquidation_price, new.liquidation_price), (old, new)
            assert same_price(old.bankruptcy_price, new.bankruptcy_price), (old, new)
        else:
            assert not towards_mark(old.liquidation_price, new.liquidation_price, old.is_long)
            assert not towards_mark(old.bankruptcy_price, new.bankruptcy_price, old.is_long)


def check_no_shortfall(step: tuple[Any, ...], account: Account, mkt: Market, out: Outcome) -> None:
    """Accepted actions that take balance (opening, leverage, margin) leave it ≥ 0."""
    symbol = step[1] if len(step) > 1 and step[0] != "deposit" else None
    if symbol is None or step[0] not in ("order", "leverage", "margin"):
        return
    if step[0] == "order":
        held = account.positions.get(symbol)
        delta = step[3] * ORDER_UNIT[symbol] * (1 if step[2] is Side.BUY else -1)
        opens = held is None or (held.qty > 0) == (delta > 0) or abs(delta) > abs(held.qty)
        if not opens:
            return
    elif step[0] == "leverage" and symbol not in account.positions:
        return
    settle = mkt.instrument(symbol).settle
    assert account_figures(out.account, mkt).balances[settle].available_internal >= 0


def note(what: str) -> None:
    """Count what a walk reached (shown by ``pytest --hypothesis-show-statistics``)."""
    if currently_in_test_context():
        hypothesis_event(what)


def walk(
    symbols: tuple[str, ...],
    sequence: list[tuple[Any, ...]],
    on_realise: Callable[[AccountFigures, AccountFigures], None],
) -> None:
    account, mkt = start_account(), market_of(symbols)
    for step in sequence:
        state = snapshot(account)
        before = account_figures(account, mkt)
        try:
            new_mkt, outcome = apply(account, mkt, step)
        except Rejected as refusal:
            assert refusal.message
            check_refused(account, mkt, before, state)
            note(f"refused {step[0]}")
            continue
        note(f"accepted {step[0]}")
        for happened in outcome.events:
            note(f"{happened.type} {getattr(happened, 'margin_mode', '')}".strip())
        assert snapshot(account) == state  # the input account is never changed
        after = account_figures(outcome.account, new_mkt)
        check_ledger(step, account, outcome, new_mkt)
        check_position_invariants(after)
        check_liquidations(account, new_mkt, step, outcome)
        check_margin_added(step, before, after)
        check_no_shortfall(step, account, new_mkt, outcome)
        if step[0] == "realise":
            on_realise(before, after)
        account, mkt = outcome.account, new_mkt


# -------------------------------------------------------------------------- tests


@PROPERTY_SETTINGS
@given(walks(("LIN", "INV")))
def test_invariants_with_one_position_per_settle_currency(sequence: list[tuple[Any, ...]]) -> None:
    # One instrument per settle currency, so each cross position is alone with its wallet:
    # its own realisation must leave both of its prices exactly where they were.
    walk(("LIN", "INV"), sequence, lambda b, a: check_realisation(b, a, own_only=True))


@PROPERTY_SETTINGS
@given(walks(("LIN", "LIN2", "INV")))
def test_invariants_with_several_cross_positions(sequence: list[tuple[Any, ...]]) -> None:
    # Two USDT instruments: realised profit is shared, so prices may move, but only away
    # from the mark.
    walk(("LIN", "LIN2", "INV"), sequence, lambda b, a: check_realisation(b, a, own_only=False))


@PROPERTY_SETTINGS
@given(cross_walks(("LIN", "INV")))
def test_own_realisation_never_moves_prices(sequence: list[tuple[Any, ...]]) -> None:
    walk(("LIN", "INV"), sequence, lambda b, a: check_realisation(b, a, own_only=True))


@PROPERTY_SETTINGS
@given(cross_walks(("LIN", "LIN2", "INV")))
def test_shared_realisation_never_moves_prices_towards_the_mark(
    sequence: list[tuple[Any, ...]],
) -> None:
    walk(("LIN", "LIN2", "INV"), sequence, lambda b, a: check_realisation(b, a, own_only=False))


def test_the_strategies_reach_the_interesting_states() -> None:
    """A fixed walk that opens, realises, adds margin and liquidates, through ``walk``."""
    sequence: list[tuple[Any, ...]] = [
        ("leverage", "LIN", MarginMode.CROSS, D(50)),
        ("order", "LIN", Side.BUY, 50, False),
        ("leverage", "LIN2", MarginMode.CROSS, D(25)),
        ("order", "LIN2", Side.SELL, 200, False),
        ("mark", "LIN", D("1.02")),
        ("realise",),
        ("leverage", "INV", MarginMode.ISOLATED, D(50)),
        ("order", "INV", Side.BUY, 2000, False),
        ("margin", "INV", 100),
        ("funding", "INV", D("0.001")),
        ("mark", "INV", D("0.9")),
        ("mark", "LIN2", D("1.5")),
    ]
    realisations: list[tuple[AccountFigures, AccountFigures]] = []

    def record(before: AccountFigures, after: AccountFigures) -> None:
        check_realisation(before, after, own_only=False)
        realisations.append((before, after))

    walk(("LIN", "LIN2", "INV"), sequence, record)
    ((before, after),) = realisations
    # LIN realised its profit; LIN2's prices moved away from its mark (up, it is short).
    assert after.positions["LIN"].avg_entry_price == D("20400")
    assert after.positions["LIN2"].liquidation_price > before.positions["LIN2"].liquidation_price
