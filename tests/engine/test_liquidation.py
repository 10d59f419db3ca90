"""Rule 11: liquidation at the bankruptcy price, what the trader loses, the insurance fund."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from sandbox.engine import (
    Account,
    Fill,
    LedgerEntry,
    LedgerReason,
    LiquidationEvent,
    MarginMode,
    Market,
    Side,
    account_figures,
    apply_mark,
    change_margin,
    pay_funding,
    realise_profit,
)

from .helpers import (
    ETHUSDT,
    XBTUSD,
    XBTUSDT,
    assert_rejected,
    bal,
    div,
    funded,
    market,
    opened,
    pos,
)

D = Decimal


def isolated_100_xbt() -> tuple[Account, Market]:
    mkt = market(XBTUSD, XBTUSD="100")
    return opened(funded(XBT="100"), mkt, "XBTUSD", Side.BUY, "10000", MarginMode.ISOLATED, 25), mkt


def test_isolated_100_xbt_gaps_through_bankruptcy() -> None:
    account, mkt = isolated_100_xbt()
    # 97.5: margin left 4 − 2.564 = 1.436 > 1: nothing happens.
    mkt = mkt.with_mark("XBTUSD", D("97.5"))
    outcome = apply_mark(account, mkt, "XBTUSD")
    assert (outcome.events, outcome.ledger, outcome.fills) == ((), (), ())
    account = outcome.account
    # 94: taken over. The trader loses exactly the 4 XBT of margin.
    mkt = mkt.with_mark("XBTUSD", D("94"))
    outcome = apply_mark(account, mkt, "XBTUSD")
    assert outcome.account.positions == {}
    assert outcome.account.wallet("XBT") == 96
    assert outcome.ledger == (LedgerEntry("XBT", D("-4"), LedgerReason.LIQUIDATION, "XBTUSD"),)
    # Insurance: PnL from bankruptcy (10000/104, where the PnL is −4) to the mark 94:
    # (100 − 10000/94) + 4 = −2.382978723..., rounded down to −2.38297873.
    (event,) = outcome.events
    assert event == LiquidationEvent(
        symbol="XBTUSD",
        settle="XBT",
        margin_mode=MarginMode.ISOLATED,
        qty=D("10000"),
        avg_entry_price=D("100"),
        funds=D("4"),
        maintenance_margin=D("1"),
        liquidation_price=div(10000, 103),
        bankruptcy_price=div(10000, 104),
        mark_price=D("94"),
        loss=D("-4"),
        insurance_fund_change=D("-2.38297873"),
    )
    assert dict(outcome.insurance) == {"XBT": D("-2.38297873")}
    (fill,) = outcome.fills
    assert fill == Fill(
        "XBTUSD", Side.SELL, D("10000"), div(10000, 104), D("104"), D("0"), D("-4"), True
    )
    assert bal(outcome.account, mkt, "XBT").available_balance == 96


def test_isolated_taken_over_between_liquidation_and_bankruptcy_feeds_the_fund() -> None:
    account, mkt = isolated_100_xbt()
    mkt = mkt.with_mark("XBTUSD", D("97"))
    outcome = apply_mark(account, mkt, "XBTUSD")
    # PnL 100 − 10000/97 = −3.0927835...; the fund gets −3.0927835 + 4 = 0.90721649...
    (event,) = outcome.events
    assert event.loss == -4
    assert event.insurance_fund_change == D("0.90721649")
    assert outcome.account.wallet("XBT") == 96


def test_isolated_linear_short_liquidation_and_gap() -> None:
    # Short 0.1 XBTUSDT at 20000 isolated 10x: margin 200, liquidation 21800, bankruptcy 22000.
    mkt = market(XBTUSDT, XBTUSDT="20000")
    account = opened(funded(USDT="1000"), mkt, "XBTUSDT", Side.SELL, "0.1", MarginMode.ISOLATED, 10)
    assert apply_mark(account, mkt.with_mark("XBTUSDT", D("21799")), "XBTUSDT").events == ()
    at = apply_mark(account, mkt.with_mark("XBTUSDT", D("21800")), "XBTUSDT")
    (event,) = at.events
    # Margin left 200 − 180 = 20 = maintenance: taken over. Fund: −180 + 200 = 20.
    assert (event.loss, event.insurance_fund_change) == (-200, 20)
    assert at.fills[0].side is Side.BUY
    assert at.fills[0].price == 22000
    assert at.account.wallet("USDT") == 800
    gap = apply_mark(account, mkt.with_mark("XBTUSDT", D("23000")), "XBTUSDT")
    (event,) = gap.events
    # PnL −300; the trader still loses only 200; the fund takes −100.
    assert (event.loss, event.insurance_fund_change) == (-200, -100)
    assert gap.account.wallet("USDT") == 800


def test_isolated_liquidation_loses_exactly_the_margin_including_added_margin() -> None:
    account, mkt = isolated_100_xbt()
    account = change_margin(account, mkt, "XBTUSD", D("1")).account
    mkt = mkt.with_mark("XBTUSD", D("94"))
    outcome = apply_mark(account, mkt, "XBTUSD")
    (event,) = outcome.events
    assert event.loss == -5
    # (100 − 106.38297872...) + 5 = −1.382978723..., rounded down.
    assert event.insurance_fund_change == D("-1.38297873")
    assert outcome.account.wallet("XBT") == 95


def test_isolated_liquidation_leaves_cross_positions_alone() -> None:
    # 10000 USDT: ETHUSDT cross (liquidation 520) and XBTUSDT isolated (liquidation 18200).
    mkt = market(ETHUSDT, XBTUSDT, ETHUSDT="1000", XBTUSDT="20000")
    account = opened(funded(USDT="10000"), mkt, "ETHUSDT", Side.BUY, "20", MarginMode.CROSS, 50)
    account = opened(account, mkt, "XBTUSDT", Side.BUY, "0.1", MarginMode.ISOLATED, 10)
    mkt = mkt.with_mark("XBTUSDT", D("18000"))
    outcome = apply_mark(account, mkt, "XBTUSDT")
    assert [e.symbol for e in outcome.events] == ["XBTUSDT"]
    assert outcome.account.wallet("USDT") == 9800
    assert bal(outcome.account, mkt, "USDT").available_balance == 9400
    assert pos(outcome.account, mkt, "ETHUSDT").liquidation_price == 520


def test_isolated_positions_due_together_are_all_taken_over() -> None:
    mkt = market(ETHUSDT, XBTUSDT, ETHUSDT="1000", XBTUSDT="20000")
    account = opened(funded(USDT="10000"), mkt, "ETHUSDT", Side.BUY, "20", MarginMode.ISOLATED, 10)
    account = opened(account, mkt, "XBTUSDT", Side.BUY, "0.1", MarginMode.ISOLATED, 10)
    both = mkt.with_mark("ETHUSDT", D("800")).with_mark("XBTUSDT", D("17000"))
    outcome = apply_mark(account, both, "XBTUSDT")
    assert sorted((e.symbol, e.loss) for e in outcome.events) == [
        ("ETHUSDT", D("-2000")),
        ("XBTUSDT", D("-200")),
    ]
    assert outcome.account.positions == {}
    assert outcome.account.wallet("USDT") == 7800


def test_cross_liquidation_takes_the_funds_behind_it() -> None:
    mkt = market(ETHUSDT, ETHUSDT="1000")
    account = opened(funded(USDT="10000"), mkt, "ETHUSDT", Side.BUY, "20", MarginMode.CROSS, 50)
    assert apply_mark(account, mkt.with_mark("ETHUSDT", D("510.01")), "ETHUSDT").events == ()
    outcome = apply_mark(account, mkt.with_mark("ETHUSDT", D("510")), "ETHUSDT")
    (event,) = outcome.events
    # Funds 10000 (the wallet); PnL at 510 is −9800: the fund gets 200.
    assert (event.margin_mode, event.funds, event.loss) == (MarginMode.CROSS, 10000, -10000)
    assert event.insurance_fund_change == 200
    assert (event.liquidation_price, event.bankruptcy_price) == (510, 500)
    assert outcome.fills[0].price == 500
    assert outcome.account.wallet("USDT") == 0
    gap = apply_mark(account, mkt.with_mark("ETHUSDT", D("450")), "ETHUSDT")
    (event,) = gap.events
    # Gap to 450: PnL −11000; the trader loses 10000; the fund −1000.
    assert (event.loss, event.insurance_fund_change) == (-10000, -1000)


def bryan_after_the_eth_rally() -> tuple[Account, Market]:
    """Bryan's account after realisation at 22000/900 and ETHUSDT's rally to 1300."""
    mkt = market(XBTUSDT, ETHUSDT, XBTUSDT="20000", ETHUSDT="1000")
    account = opened(funded(USDT="5000"), mkt, "XBTUSDT", Side.BUY, "1", MarginMode.CROSS, 50)
    account = opened(account, mkt, "ETHUSDT", Side.SELL, "20", MarginMode.CROSS, 50)
    mkt = mkt.with_mark("ETHUSDT", D("900")).with_mark("XBTUSDT", D("22000"))
    account = realise_profit(account, mkt).account
    mkt = mkt.with_mark("ETHUSDT", D("1300"))
    outcome = apply_mark(account, mkt, "ETHUSDT")
    assert outcome.events == ()
    return outcome.account, mkt


def test_bryan_cross_positions_are_liquidated_in_order() -> None:
    account, mkt = bryan_after_the_eth_rally()
    # XBTUSDT to 21600: available 9000 − 800 − 8000 − 400 = −200; XBT funds
    # −200 + 400 + 400 = 600, margin left 600 − 400 = 200 = maintenance: taken over.
    mkt = mkt.with_mark("XBTUSDT", D("21600"))
    outcome = apply_mark(account, mkt, "XBTUSDT")
    (event,) = outcome.events
    assert event.symbol == "XBTUSDT"
    assert (event.liquidation_price, event.bankruptcy_price, event.mark_price) == (
        21600,
        21400,
        21600,
    )
    assert (event.funds, event.loss, event.insurance_fund_change) == (600, -600, 200)
    assert outcome.fills[0] == Fill(
        "XBTUSDT", Side.SELL, D("1"), D("21400"), D("21400"), D("0"), D("-600"), True
    )
    account = outcome.account
    assert account.wallet("USDT") == 8400
    f = account_figures(account, mkt)
    assert f.balances["USDT"].available_balance == 0
    eth = f.positions["ETHUSDT"]
    assert (eth.initial_margin, eth.maintenance_margin) == (400, 200)
    assert (eth.avg_cost_price, eth.avg_entry_price) == (1000, 900)
    # ETH funds 0 + 400 + 8000 = 8400: −20P + 18000 = 200 − 8400 → 1310; −8400 → 1320.
    assert (eth.liquidation_price, eth.bankruptcy_price) == (1310, 1320)
    # ETHUSDT to 1310: taken over too; the wallet is empty.
    mkt = mkt.with_mark("ETHUSDT", D("1310"))
    outcome = apply_mark(account, mkt, "ETHUSDT")
    (event,) = outcome.events
    assert event.symbol == "ETHUSDT"
    assert (event.liquidation_price, event.bankruptcy_price) == (1310, 1320)
    assert (event.loss, event.insurance_fund_change) == (-8400, 200)
    assert outcome.account.positions == {}
    assert outcome.account.wallet("USDT") == 0


def test_cross_position_whose_mark_moved_goes_first() -> None:
    account, mkt = bryan_after_the_eth_rally()
    # XBTUSDT gaps to 21000: available 9000 − 800 − 8000 − 1000 = −800. Both are through:
    # XBT margin left −800 + 400 = −400, ETH −800 + 400 = −400. XBTUSDT, whose mark moved,
    # goes first and loses its funds of 600; after that ETH has available 0 and margin left
    # 400 > 200, so it stays.
    mkt = mkt.with_mark("XBTUSDT", D("21000"))
    outcome = apply_mark(account, mkt, "XBTUSDT")
    assert [e.symbol for e in outcome.events] == ["XBTUSDT"]
    (event,) = outcome.events
    # The gap: PnL −1000 against funds 600: the fund takes −400.
    assert (event.loss, event.insurance_fund_change) == (-600, -400)
    assert set(outcome.account.positions) == {"ETHUSDT"}
    assert pos(outcome.account, mkt, "ETHUSDT").liquidation_price == 1310


def test_a_mark_move_can_liquidate_another_cross_position_first() -> None:
    # 3000 USDT: long 1 XBTUSDT at 20000 at 10x (initial 2000) and short 20 ETHUSDT at 1000
    # at 50x (initial 400): available 600. XBT falls to 18900 (−1100): available −500.
    # ETH margin left −500 + 400 = −100 ≤ 200: through; XBT −500 + 2000 = 1500: not.
    mkt = market(XBTUSDT, ETHUSDT, XBTUSDT="20000", ETHUSDT="1000")
    account = opened(funded(USDT="3000"), mkt, "XBTUSDT", Side.BUY, "1", MarginMode.CROSS, 10)
    account = opened(account, mkt, "ETHUSDT", Side.SELL, "20", MarginMode.CROSS, 50)
    mkt = mkt.with_mark("XBTUSDT", D("18900"))
    outcome = apply_mark(account, mkt, "XBTUSDT")
    assert [e.symbol for e in outcome.events] == ["ETHUSDT"]
    assert set(outcome.account.positions) == {"XBTUSDT"}
    assert not pos(outcome.account, mkt, "XBTUSDT").at_or_through_liquidation


def test_cross_liquidation_after_funding_does_not_leave_the_trader_in_debt() -> None:
    # 1000 USDT, long 1 XBTUSDT at 20000 at 50x cross. A funding rate of 10% costs 2000,
    # more than the wallet: the position is then taken over. Rule 11: the trader loses the
    # funds behind the position and the fund receives the PnL from the bankruptcy price to
    # the mark. A liquidated, flat account must not be left owing money.
    mkt = market(XBTUSDT, XBTUSDT="20000")
    account = opened(funded(USDT="1000"), mkt, "XBTUSDT", Side.BUY, "1", MarginMode.CROSS, 50)
    outcome = pay_funding(account, mkt, "XBTUSDT", D("0.1"))
    liquidations = [e for e in outcome.events if isinstance(e, LiquidationEvent)]
    assert [e.symbol for e in liquidations] == ["XBTUSDT"]
    assert outcome.account.positions == {}
    (event,) = liquidations
    assert event.bankruptcy_price is not None
    pnl_bankruptcy_to_mark = event.qty * (event.mark_price - event.bankruptcy_price)
    assert event.insurance_fund_change == pnl_bankruptcy_to_mark
    assert outcome.account.wallet("USDT") >= 0


def test_apply_mark_with_nothing_due_or_an_unknown_symbol() -> None:
    account, mkt = isolated_100_xbt()
    outcome = apply_mark(account, mkt, "XBTUSD")
    assert (outcome.events, outcome.ledger, outcome.fills) == ((), (), ())
    assert outcome.account.positions == account.positions
    assert_rejected(lambda: apply_mark(account, mkt, "NOPE"), account, mkt, "no instrument")


def test_a_mark_price_must_be_above_zero() -> None:
    account, mkt = isolated_100_xbt()
    for price in (D("0"), D("-1")):
        assert_rejected(
            lambda price=price: mkt.with_mark("XBTUSD", price),
            account,
            mkt,
            "A mark price must be above zero",
        )
    # The market itself is unchanged.
    assert mkt.marks["XBTUSD"] == 100


def test_outcomes_and_accounts_cannot_be_changed_afterwards() -> None:
    # "Every type here is immutable" (account.py): an outcome handed to a caller must not be
    # editable, or a preview could change what a later step sees.
    account, mkt = isolated_100_xbt()
    outcome = apply_mark(account, mkt.with_mark("XBTUSD", D("94")), "XBTUSD")
    with pytest.raises(TypeError):
        outcome.account.wallets["XBT"] = D("1000")  # type: ignore[index]
    with pytest.raises(TypeError):
        account.positions["XBTUSD"] = account.positions["XBTUSD"]  # type: ignore[index]
    with pytest.raises(TypeError):
        account.settings["XBTUSD"] = account.settings["XBTUSD"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        outcome.account = account  # type: ignore[misc]
    assert isinstance(outcome.events, tuple)
    assert isinstance(outcome.ledger, tuple)
    assert isinstance(outcome.fills, tuple)
    with pytest.raises(TypeError):
        outcome.insurance["XBT"] = D("0")  # type: ignore[index]
