"""A tick's engine work, done the quick way, equals the step-by-step way exactly.

``tick_account`` works on one scratch copy of the account (not one per step), and a
liquidation check asks :func:`~sandbox.engine.figures.none_due` first, computing the
figures only when a position may be due. Both must leave every Decimal as the slow way
does: the same account, events, ledger, fills and insurance, on random accounts whose
positions sit anywhere from safe to past their bankruptcy price.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import fields, replace
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.engine import (
    Account,
    FundingEvent,
    Instrument,
    LedgerEntry,
    LedgerReason,
    MarginMode,
    Market,
    Outcome,
    Position,
    ProfitRealisedEvent,
    Rejected,
    account_figures,
    combine,
    pay_funding,
    realise_profit,
    tick_account,
    tick_accounts,
)
from sandbox.engine import figures as figures_module
from sandbox.engine import operations as ops
from sandbox.engine.figures import liquidation_cushions, none_due
from sandbox.engine.money import engine_context, money_up

from .helpers import ALL, XBTUSD, XBTUSDT

D = Decimal
INSTRUMENTS = {inst.symbol: inst for inst in ALL}
ENTRY = {"XBTUSDT": D(60000), "ETHUSDT": D(3000), "XBTUSD": D(60000)}
LEVERAGES = (D(1), D(2), D(3), D(7), D(10), D(25), D(50), D("33.3"))

QUICK = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def positions(draw: st.DrawFn, symbol: str) -> Position:
    inst = INSTRUMENTS[symbol]
    steps = draw(st.integers(1, 400)) * draw(st.sampled_from((1, 1, 10, 1000)))
    qty = inst.qty_step * steps * draw(st.sampled_from((1, -1)))
    entry = ENTRY[symbol] * D(draw(st.integers(700, 1300))) / 1000
    with decimal.localcontext(engine_context()):
        cost = inst.value(qty, entry)
        # Realisation moves the value at entry away from the value at cost.
        entry_value = cost + (cost * D(draw(st.integers(-50, 50))) / 1000)
        mode = draw(st.sampled_from((MarginMode.CROSS, MarginMode.ISOLATED)))
        leverage = min(draw(st.sampled_from(LEVERAGES)), inst.max_leverage)
        margin = D(0)
        if mode is MarginMode.ISOLATED:
            extra = D(draw(st.integers(-900, 900))) / 1000
            margin = max(money_up(abs(cost) / leverage * (1 + extra)), D(0))
    stop = take = None
    if draw(st.booleans()):
        stop = ENTRY[symbol] * D(draw(st.integers(800, 1000))) / 1000
    if draw(st.booleans()):
        take = ENTRY[symbol] * D(draw(st.integers(1000, 1200))) / 1000
    if qty < 0:
        stop, take = take, stop
    return Position(
        symbol=symbol,
        qty=qty,
        cost_value=cost,
        entry_value=entry_value,
        mode=mode,
        leverage=leverage,
        position_margin=margin,
        realised_pnl=D(draw(st.integers(-500, 500))),
        stop_loss=stop,
        take_profit=take,
    )


@st.composite
def accounts(draw: st.DrawFn) -> Account:
    symbols = draw(st.lists(st.sampled_from(sorted(INSTRUMENTS)), unique=True, max_size=3))
    held = {symbol: draw(positions(symbol)) for symbol in symbols}
    wallets = {
        "USDT": D(draw(st.integers(0, 20000))) + D(draw(st.integers(0, 99))) / 100,
        "XBT": D(draw(st.integers(0, 200_000_000))).scaleb(-8),
    }
    return Account(wallets=wallets, positions=held)


@st.composite
def markets(draw: st.DrawFn) -> Market:
    # Mostly near the entries, sometimes far through them (a gap).
    factor = st.one_of(st.integers(980, 1020), st.integers(500, 1500))
    marks = {symbol: price * D(draw(factor)) / 1000 for symbol, price in sorted(ENTRY.items())}
    for symbol in list(marks):
        tick = INSTRUMENTS[symbol].tick_size
        marks[symbol] = (marks[symbol] / tick).to_integral_value() * tick
    return Market(INSTRUMENTS, marks)


@contextmanager
def slow_way() -> Iterator[None]:
    """Every liquidation check computes the whole figures (the check without its quick
    answer), as before ``none_due``."""
    with mock.patch.object(ops, "margins_if_none_due", lambda *args: None):
        yield


def stepwise(
    account: Account,
    market: Market,
    moved: list[str],
    realise: bool,
    rates: Mapping[str, Decimal],
) -> Outcome:
    """A tick as separate actions, combined: the marks' triggers and liquidations, then
    ``realise_profit``, then ``pay_funding`` for each symbol still held."""
    with decimal.localcontext(engine_context()):
        work = ops._Work(account, market)
        work.fire_triggers()
        work.liquidate(moved=moved)
        steps = [work.outcome()]
    if realise:
        steps.append(realise_profit(steps[-1].account, market))
    for symbol, rate in sorted(rates.items()):
        if symbol in steps[-1].account.positions:
            steps.append(pay_funding(steps[-1].account, market, symbol, rate))
    return combine(steps)


def outcome_of(call: Any) -> Outcome | str:
    try:
        result: Outcome = call()
    except (Rejected, decimal.DecimalException) as error:
        return refusal(error)
    return result


def refusal(error: Exception) -> str:
    if isinstance(error, Rejected):
        return f"rejected: {error.message}"
    return f"beyond: {type(error).__name__}"


@QUICK
@given(accounts(), markets())
def test_none_due_is_the_figures_own_verdict(account: Account, market: Market) -> None:
    figures = account_figures(account, market)
    expected = not any(p.at_or_through_liquidation for p in figures.positions.values())
    with decimal.localcontext(engine_context()):
        assert none_due(account.wallets, account.positions, market) is expected


@QUICK
@given(accounts(), markets())
def test_the_cushions_are_the_figures_own(account: Account, market: Market) -> None:
    """The index's inputs, computed the quick way, are the figures' own: each position's
    liquidation price, and its margin left above maintenance (at the engine's digits)."""
    expected = outcome_of(lambda: account_figures(account, market))
    quick = outcome_of(lambda: liquidation_cushions(account, market))
    if isinstance(expected, str):
        assert quick == expected  # (refused the same way)
        return
    with decimal.localcontext(engine_context()):
        assert quick == {
            symbol: (p.liquidation_price, p.margin_left - p.maintenance_margin)
            for symbol, p in expected.positions.items()
        }


def test_the_cushions_of_a_hand_worked_cross_pair() -> None:
    # Wallet 10,000 USDT; a 1 XBT long at 60,000 10x and a 10 ETH short at 3,000 5x, both
    # cross, marked at 61,000 and 3,100. Initial margins 6,000 and 6,000; PnL +1,000 and
    # -1,000; available 10,000 - 6,000 - 6,000 - 1,000 = -3,000. XBT: funds -3,000 + 6,000 =
    # 3,000, maintenance 600 (1% in these tests): margin left 3,000 + 1,000 - 600 = 3,400,
    # liquidation where the PnL is 600 - 3,000: 57,600. ETH: funds -3,000 + 6,000 + 1,000 =
    # 4,000, maintenance 300 (1%): margin left 4,000 - 1,000 - 300 = 2,700; liquidation where
    # the PnL is 300 - 4,000: (-30,000 - 3,700) / -10 = 3,370.
    xbt = Position("XBTUSDT", D(1), D(60000), D(60000), MarginMode.CROSS, D(10))
    eth = Position("ETHUSDT", D(-10), D(-30000), D(-30000), MarginMode.CROSS, D(5))
    account = Account(wallets={"USDT": D(10000)}, positions={"XBTUSDT": xbt, "ETHUSDT": eth})
    view = Market(INSTRUMENTS, {"XBTUSDT": D(61000), "ETHUSDT": D(3100)})
    assert liquidation_cushions(account, view) == {
        "XBTUSDT": (D(57600), D(3400)),
        "ETHUSDT": (D(3370), D(2700)),
    }


def test_the_cushions_leave_a_position_they_cannot_figure_to_the_figures() -> None:
    # As the quick check: no mark, or a division by zero, is the figures' to say.
    broken = Position("XBTUSD", D(10), D("0.0002"), D(0), MarginMode.CROSS, D(10))
    account = Account(wallets={"XBT": D(1)}, positions={"XBTUSD": broken})
    view = Market({"XBTUSD": XBTUSD}, {"XBTUSD": D(50000)})
    assert outcome_of(lambda: liquidation_cushions(account, view)) == "beyond: DivisionByZero"
    no_mark = outcome_of(lambda: liquidation_cushions(account, Market({"XBTUSD": XBTUSD})))
    assert no_mark.startswith("rejected: XBTUSD has no mark price")  # type: ignore[union-attr]
    assert liquidation_cushions(Account(wallets={"XBT": D(1)}), view) == {}


@QUICK
@given(
    accounts(),
    markets(),
    st.booleans(),
    st.booleans(),
    # Usual rates (to 0.3%), and large ones (to 20%) that liquidate whoever pays them.
    st.one_of(
        st.integers(-3000, 3000).map(lambda n: D(n).scaleb(-6)),
        st.integers(-200, 200).map(lambda n: D(n).scaleb(-3)),
    ),
    st.lists(st.sampled_from(sorted(INSTRUMENTS)), unique=True),
)
def test_a_tick_the_quick_way_equals_its_steps_the_slow_way(
    account: Account,
    market: Market,
    realise: bool,
    funding: bool,
    rate: Decimal,
    moved: list[str],
) -> None:
    rates = dict.fromkeys(INSTRUMENTS, rate) if funding else {}
    quick = outcome_of(
        lambda: tick_account(account, market, moved, realise=realise, funding_rates=rates)
    )
    with slow_way():
        slow = outcome_of(lambda: stepwise(account, market, moved, realise, rates))
        slow_single = outcome_of(
            lambda: tick_account(account, market, moved, realise=realise, funding_rates=rates)
        )
    assert quick == slow == slow_single


@QUICK
@given(
    accounts(),
    markets(),
    st.booleans(),
    st.booleans(),
    st.integers(-3000, 3000).map(lambda n: D(n).scaleb(-6)),
    st.lists(st.sampled_from(sorted(INSTRUMENTS)), unique=True),
)
def test_a_tick_the_marks_did_not_reach_starts_at_the_realisation(
    account: Account,
    market: Market,
    realise: bool,
    funding: bool,
    rate: Decimal,
    moved: list[str],
) -> None:
    """``reached=False`` (the index found none of the account's stops, targets or
    liquidation prices reached) skips the marks' two steps: the same outcome whenever they
    would have changed nothing, and only then."""
    rates = dict.fromkeys(INSTRUMENTS, rate) if funding else {}

    def marks_steps() -> Outcome:
        with decimal.localcontext(engine_context()):
            work = ops._Work(account, market)
            work.fire_triggers()
            work.liquidate(moved=moved)
            return work.outcome()

    first = outcome_of(marks_steps)
    unreached = not isinstance(first, str) and not first.events and first.account == account
    full = outcome_of(
        lambda: tick_account(account, market, moved, realise=realise, funding_rates=rates)
    )
    quick = outcome_of(
        lambda: tick_account(
            account, market, moved, realise=realise, funding_rates=rates, reached=False
        )
    )
    if unreached:
        assert quick == full
    elif not isinstance(first, str):
        assert quick != full  # (a trigger or a liquidation the quick way would miss)


def batch_of(call: Any) -> list[tuple[int, Outcome | str]]:
    """What a batch yields, account by account, until it yields no more or refuses one (the
    refusal then ends the list, as :func:`outcome_of` writes it)."""
    found: list[tuple[int, Outcome | str]] = []
    batch = call()
    while True:
        try:
            account_id, outcome = next(batch)
        except StopIteration:
            return found
        except (Rejected, decimal.DecimalException) as error:
            found.append((-1, refusal(error)))
            return found
        found.append((account_id, outcome))


@QUICK
@given(
    st.lists(accounts(), max_size=6),
    markets(),
    st.booleans(),
    st.booleans(),
    st.one_of(
        st.integers(-3000, 3000).map(lambda n: D(n).scaleb(-6)),
        st.integers(-200, 200).map(lambda n: D(n).scaleb(-3)),
    ),
    st.lists(st.sampled_from(sorted(INSTRUMENTS)), unique=True),
    st.sets(st.integers(0, 5)),
)
def test_a_batch_gives_each_account_what_tick_account_gives(
    states: list[Account],
    market: Market,
    realise: bool,
    funding: bool,
    rate: Decimal,
    moved: list[str],
    reached: set[int],
) -> None:
    """``tick_accounts`` yields, in order, each account's very outcome of
    ``tick_account`` (reached or not), and stops where ``tick_account`` refuses one."""
    rates = dict.fromkeys(INSTRUMENTS, rate) if funding else {}
    expected: list[tuple[int, Outcome | str]] = []
    for account_id, account in enumerate(states):
        one = outcome_of(
            lambda account=account, account_id=account_id: tick_account(
                account,
                market,
                moved,
                realise=realise,
                funding_rates=rates,
                reached=account_id in reached,
            )
        )
        expected.append((account_id if isinstance(one, Outcome) else -1, one))
        if not isinstance(one, Outcome):
            break
    batch = batch_of(
        lambda: tick_accounts(
            dict(enumerate(states)),
            market,
            moved,
            realise=realise,
            funding_rates=rates,
            reached=reached,
        )
    )
    assert batch == expected


@QUICK
@given(st.lists(accounts(), min_size=1, max_size=6), markets(), st.booleans(), st.booleans())
def test_the_index_after_a_batch_reads_the_margins_its_last_check_computed(
    states: list[Account], market: Market, realise: bool, funding: bool
) -> None:
    """The margins a batch keeps for the outcome it just yielded give the very cushions
    computed afresh (from an equal account, which nothing was kept for)."""
    rates = dict.fromkeys(INSTRUMENTS, D("0.0001")) if funding else {}
    batch = tick_accounts(
        dict(enumerate(states)), market, list(INSTRUMENTS), realise=realise, funding_rates=rates
    )
    try:
        for _, outcome in batch:
            after = outcome.account
            kept = outcome_of(lambda after=after: liquidation_cushions(after, market))
            copy = Account(wallets=after.wallets, positions=after.positions)
            assert kept == outcome_of(lambda copy=copy: liquidation_cushions(copy, market))
    except (Rejected, decimal.DecimalException):
        pass  # (refused: see the test above)


def test_a_batch_keeps_the_cushions_of_a_realised_account_only_for_it() -> None:
    # A 1 XBT cross long from 60,000, marked at 61,000: 1,000 realised, then checked; the
    # check's cushions are kept for the outcome, and only for it, and handed over once.
    long = Position("XBTUSDT", D(1), D(60000), D(60000), MarginMode.CROSS, D(10))
    account = Account(wallets={"USDT": D(10000)}, positions={"XBTUSDT": long})
    view = Market(INSTRUMENTS, {"XBTUSDT": D(61000)})
    [(_, outcome)] = list(tick_accounts({7: account}, view, [], realise=True))
    assert outcome.ledger[0].amount == D(1000)
    kept = figures_module._kept.last
    assert kept is not None and kept[0] is outcome.account and kept[1] is view
    # Available 11,000 - 6,000: funds 5,000 + 6,000 = 11,000; no PnL left; maintenance 600:
    # liquidation where the PnL is 600 - 11,000 (61,000 - 10,400), cushion 10,400.
    expected = {"XBTUSDT": (D(50600), D(10400))}
    assert kept[2] == expected
    assert liquidation_cushions(outcome.account, view) is kept[2]  # (the kept ones)
    assert figures_module._kept.last is None
    assert liquidation_cushions(outcome.account, view) == expected  # (computed afresh)
    other = Market(INSTRUMENTS, {"XBTUSDT": D(62000)})  # (another market: computed afresh)
    list(tick_accounts({7: account}, view, [], realise=True))
    assert liquidation_cushions(outcome.account, other) == {"XBTUSDT": (D(50600), D(11400))}


def test_a_batch_keeps_no_cushions_when_its_last_step_was_not_checked() -> None:
    # A 1 XBT cross short receiving funding: the payment cannot make a position due, so
    # nothing checked the account as it ends, and nothing is kept.
    short = Position("XBTUSDT", D(-1), D(-60000), D(-60000), MarginMode.CROSS, D(10))
    account = Account(wallets={"USDT": D(10000)}, positions={"XBTUSDT": short})
    view = Market(INSTRUMENTS, {"XBTUSDT": D(60000)})
    rates = {"XBTUSDT": D("0.0001")}
    [(_, outcome)] = list(tick_accounts({7: account}, view, [], funding_rates=rates))
    assert outcome.ledger[0].amount == D(6)
    assert figures_module._kept.last is None


def test_a_batch_computes_in_the_engine_context_and_leaves_the_caller_in_its_own() -> None:
    long = Position("XBTUSDT", D(3), D(180000), D(180000), MarginMode.CROSS, D(7))
    account = Account(wallets={"USDT": D(100000)}, positions={"XBTUSDT": long})
    view = Market(INSTRUMENTS, {"XBTUSDT": D("60000.01")})
    rates = {"XBTUSDT": D("0.000123")}
    expected = tick_account(account, view, [], realise=True, funding_rates=rates)
    with decimal.localcontext(decimal.Context(prec=6, rounding=decimal.ROUND_DOWN)) as mine:
        seen = []
        for _, outcome in tick_accounts(
            {1: account, 2: account}, view, [], funding_rates=rates, realise=True
        ):
            seen.append(outcome)
            assert decimal.getcontext() is mine
        assert decimal.getcontext() is mine
    assert seen == [expected, expected]


def test_a_batch_checks_every_rate_once_before_the_first_account() -> None:
    with pytest.raises(TypeError, match="rate must be a Decimal, not float"):
        next(tick_accounts({1: Account()}, Market(INSTRUMENTS), [], funding_rates={"X": 0.1}))  # type: ignore[dict-item]


def test_the_quick_check_sees_a_position_exactly_at_its_maintenance_margin() -> None:
    # Isolated long of 1 XBT at 60,000, 10x: margin 6,000, maintenance 1% = 600. At a mark
    # of 54,600 its PnL is -5,400: margin left 600, exactly the maintenance margin (due).
    inst: Instrument = XBTUSDT
    long = Position("XBTUSDT", D(1), D(60000), D(60000), MarginMode.ISOLATED, D(10), D(6000))
    account = Account(wallets={"USDT": D(0)}, positions={"XBTUSDT": long})
    with decimal.localcontext(engine_context()):
        at = Market({inst.symbol: inst}, {"XBTUSDT": D(54600)})
        above = Market({inst.symbol: inst}, {"XBTUSDT": D("54600.5")})
        assert none_due(account.wallets, account.positions, at) is False
        assert none_due(account.wallets, account.positions, above) is True
    assert account_figures(account, at).positions["XBTUSDT"].at_or_through_liquidation
    assert not account_figures(account, above).positions["XBTUSDT"].at_or_through_liquidation


def test_the_quick_check_leaves_a_position_it_cannot_figure_to_the_figures() -> None:
    # An inverse position whose value at entry is zero (a realisation beyond the engine's
    # digits): its avg entry price divides by zero, so the check does not vouch for it and
    # the figures raise, refusing the action.
    broken = Position("XBTUSD", D(10), D("0.0002"), D(0), MarginMode.CROSS, D(10))
    account = Account(wallets={"XBT": D(1)}, positions={"XBTUSD": broken})
    view = Market({"XBTUSD": XBTUSD}, {"XBTUSD": D(50000)})
    with decimal.localcontext(engine_context()):
        assert none_due(account.wallets, account.positions, view) is False
    assert outcome_of(lambda: realise_profit(account, view)) == "beyond: DivisionByZero"
    no_mark = Account(wallets={"XBT": D(1)}, positions={"XBTUSD": broken})
    with decimal.localcontext(engine_context()):
        assert none_due(no_mark.wallets, no_mark.positions, Market({"XBTUSD": XBTUSD})) is False


def test_booking_a_position_keeps_every_field_it_does_not_change() -> None:
    # ``_booked`` builds a Position field by field: a new field would be dropped there.
    position = Position(
        "XBTUSDT",
        D(2),
        D(120000),
        D(119000),
        MarginMode.ISOLATED,
        D(10),
        D(12000),
        D(5),
        D(50000),
        D(70000),
    )
    booked = ops._booked(position, entry_value=D(1), position_margin=D(2), realised_pnl=D(3))
    assert [f.name for f in fields(Position)] == [
        "symbol",
        "qty",
        "cost_value",
        "entry_value",
        "mode",
        "leverage",
        "position_margin",
        "realised_pnl",
        "stop_loss",
        "take_profit",
    ]
    assert booked == replace(position, entry_value=D(1), position_margin=D(2), realised_pnl=D(3))


def test_the_records_a_tick_makes_by_the_thousand_are_built_whole() -> None:
    # ``_ledger_entry``, ``_funding_event``, ``_profit_event`` and ``_Work.outcome`` set
    # each slot by name: a new field would be left unset there.
    entry = ops._ledger_entry("USDT", D("1.5"), LedgerReason.FUNDING, "XBTUSDT")
    assert [f.name for f in fields(LedgerEntry)] == ["currency", "amount", "reason", "symbol"]
    assert entry == LedgerEntry("USDT", D("1.5"), LedgerReason.FUNDING, "XBTUSDT")
    funding = ops._funding_event("XBTUSDT", "USDT", D("0.0001"), D("-2"))
    assert [f.name for f in fields(FundingEvent)] == ["symbol", "settle", "rate", "amount", "type"]
    assert funding == FundingEvent("XBTUSDT", "USDT", D("0.0001"), D("-2"))
    profit = ops._profit_event("XBTUSDT", "USDT", D(3))
    assert [f.name for f in fields(ProfitRealisedEvent)] == ["symbol", "settle", "amount", "type"]
    assert profit == ProfitRealisedEvent("XBTUSDT", "USDT", D(3))
    assert [f.name for f in fields(Outcome)] == [
        "account",
        "events",
        "ledger",
        "fills",
        "insurance",
        "warnings",
    ]
    long = Position("XBTUSDT", D(1), D(60000), D(60000), MarginMode.CROSS, D(10))
    account = Account(wallets={"USDT": D(10000)}, positions={"XBTUSDT": long})
    with decimal.localcontext(engine_context()):
        work = ops._Work(account, Market(INSTRUMENTS, {"XBTUSDT": D(61000)}))
        work.realise_profit()
        work.insurance["USDT"] = D(1)
        work.warnings.append("a warning")
        outcome = work.outcome()
    assert outcome == Outcome(
        account=Account(
            wallets={"USDT": D(11000)},
            positions={"XBTUSDT": replace(long, entry_value=D(61000), realised_pnl=D(1000))},
        ),
        events=(ProfitRealisedEvent("XBTUSDT", "USDT", D(1000)),),
        ledger=(LedgerEntry("USDT", D(1000), LedgerReason.PROFIT_REALISATION, "XBTUSDT"),),
        insurance={"USDT": D(1)},
        warnings=("a warning",),
    )
    with pytest.raises(TypeError):
        outcome.insurance["USDT"] = D(2)  # type: ignore[index]


def test_position_figures_are_built_in_the_order_of_their_fields() -> None:
    # ``_position_figures`` passes its figures by position: a long of 1 XBT at 60,000 and
    # 10x cross, marked at 61,000, in an account with a wallet of 10,000.
    long = Position("XBTUSDT", D(1), D(60000), D(60000), MarginMode.CROSS, D(10))
    account = Account(wallets={"USDT": D(10000)}, positions={"XBTUSDT": long})
    view = Market({"XBTUSDT": XBTUSDT}, {"XBTUSDT": D(61000)})
    mine = account_figures(account, view).positions["XBTUSDT"]
    # Available: 10,000 - 6,000 initial margin (no loss) = 4,000; funds 4,000 + 6,000.
    assert (mine.symbol, mine.settle, mine.qty, mine.margin_mode, mine.leverage) == (
        "XBTUSDT",
        "USDT",
        D(1),
        MarginMode.CROSS,
        D(10),
    )
    assert (mine.avg_cost_price, mine.avg_entry_price, mine.mark_price) == (
        D(60000),
        D(60000),
        D(61000),
    )
    assert (mine.value_at_cost, mine.unrealised_pnl, mine.initial_margin) == (
        D(60000),
        D(1000),
        D(6000),
    )
    assert (mine.maintenance_margin, mine.position_margin, mine.funds) == (
        D(600),
        D(6000),
        D(10000),
    )
    # Liquidation where the loss is 10,000 - 600: 50,600; bankruptcy at 50,000.
    assert (mine.liquidation_price, mine.bankruptcy_price) == (D(50600), D(50000))
    assert (mine.realised_pnl, mine.stop_loss, mine.take_profit) == (D(0), None, None)


def test_an_account_owning_its_dicts_is_checked_as_the_constructor_checks() -> None:
    # ``Account.owning`` (a read's rows, an action's finished scratch copy) takes the dicts
    # as they are, with the constructor's check of every wallet.
    long = Position("XBTUSDT", D(1), D(60000), D(60000), MarginMode.CROSS, D(10))
    wallets, held = {"USDT": D("10000.5")}, {"XBTUSDT": long}
    owned = Account.owning(wallets, held, {})
    assert owned == Account(wallets=wallets, positions=held)
    assert (owned.wallet("USDT"), owned.wallet("XBT"), dict(owned.positions)) == (
        D("10000.5"),
        D(0),
        held,
    )
    with pytest.raises(TypeError, match="wallet USDT must be a Decimal, not float"):
        Account.owning({"USDT": 10000.5}, {}, {})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="wallet XBT must be a finite number"):
        Account.owning({"XBT": D("NaN")}, {}, {})
    with pytest.raises(TypeError):
        owned.positions["ETHUSDT"] = long  # type: ignore[index]
