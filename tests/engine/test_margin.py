"""Rule 8: adding and removing margin on isolated positions, and its limits."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from sandbox.engine import (
    CROSS_MARGIN_IS_SHARED,
    Account,
    Instrument,
    MarginMode,
    Market,
    Rejected,
    Side,
    apply_mark,
    change_margin,
    margin_limits,
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

# The same contract with maintenance 0.5%, so that the 100x minimum is the binding one.
XBTUSD_LOW_MM = replace(XBTUSD, maint_margin_rate=D("0.005"))


def isolated_100_xbt(
    wallet: str = "100", inst: Instrument = XBTUSD, side: Side = Side.BUY
) -> tuple[Account, Market]:
    """10000 XBTUSD contracts at 100 (100 XBT of value), isolated 25x: margin 4."""
    mkt = market(inst, XBTUSD="100")
    return opened(funded(XBT=wallet), mkt, "XBTUSD", side, "10000", MarginMode.ISOLATED, 25), mkt


def test_adding_margin_to_an_isolated_inverse_long() -> None:
    account, mkt = isolated_100_xbt()
    outcome = change_margin(account, mkt, "XBTUSD", D("1"))
    assert (outcome.ledger, outcome.events, outcome.fills) == ((), (), ())
    assert outcome.account.wallet("XBT") == 100
    p = pos(outcome.account, mkt, "XBTUSD")
    assert p.position_margin == 5
    assert bal(outcome.account, mkt, "XBT").available_balance == 95
    # 100 − 10000/P = 1 − 5 → 10000/104 (down from 10000/103: away from the mark).
    assert p.liquidation_price == div(10000, 104)
    assert p.bankruptcy_price == div(10000, 105)
    # Effective leverage 100/5 = 20.
    assert p.effective_leverage == 20


def test_adding_margin_to_an_isolated_linear_short() -> None:
    # Short 0.1 XBTUSDT at 20000 isolated 10x: margin 200. Add 100: −0.1P + 2000 = 20 − 300
    # → 22800 (up from 21800: away from the mark); bankruptcy 23000.
    mkt = market(XBTUSDT, XBTUSDT="20000")
    account = opened(funded(USDT="1000"), mkt, "XBTUSDT", Side.SELL, "0.1", MarginMode.ISOLATED, 10)
    account = change_margin(account, mkt, "XBTUSDT", D("100")).account
    p = pos(account, mkt, "XBTUSDT")
    assert (p.position_margin, p.liquidation_price, p.bankruptcy_price) == (300, 22800, 23000)
    assert bal(account, mkt, "USDT").available_balance == 700


def test_removing_margin() -> None:
    account, mkt = isolated_100_xbt()
    account = change_margin(account, mkt, "XBTUSD", D("-1")).account
    p = pos(account, mkt, "XBTUSD")
    assert p.position_margin == 3
    assert bal(account, mkt, "XBT").available_balance == 97
    assert p.liquidation_price == div(10000, 102)


def test_added_margin_keeps_a_position_open() -> None:
    account, mkt = isolated_100_xbt()
    lower = mkt.with_mark("XBTUSD", D("97"))
    # Without: 4 − 3.0928 = 0.907 ≤ 1, liquidated at 97.
    assert apply_mark(account, lower, "XBTUSD").account.positions == {}
    # With 1 more: 5 − 3.0928 = 1.907 > 1, still open.
    rescued = change_margin(account, mkt, "XBTUSD", D("1")).account
    assert "XBTUSD" in apply_mark(rescued, lower, "XBTUSD").account.positions


def test_margin_limits_at_the_maximum_leverage() -> None:
    # Maintenance 0.5: the 100x minimum, 100/100 = 1, is above 0.5 + 1e-8.
    account, mkt = isolated_100_xbt(inst=XBTUSD_LOW_MM)
    limits = margin_limits(account, mkt, "XBTUSD")
    assert limits.position_margin == 4
    assert limits.minimum_margin == 1
    assert limits.max_add == 96
    assert limits.max_remove == 3
    # With maintenance 1 the clear-of-liquidation bound, 1.00000001, wins.
    account, mkt = isolated_100_xbt()
    limits = margin_limits(account, mkt, "XBTUSD")
    assert limits.minimum_margin == D("1.00000001")
    assert limits.max_remove == D("2.99999999")


def test_remove_below_the_max_leverage_minimum_is_refused() -> None:
    account, mkt = isolated_100_xbt(inst=XBTUSD_LOW_MM)
    assert_rejected(
        lambda: change_margin(account, mkt, "XBTUSD", D("-3.00000001")),
        account,
        mkt,
        "You can remove at most 3 XBT: the position must keep at least 1 XBT",
        "100x",
    )
    kept = change_margin(account, mkt, "XBTUSD", D("-3")).account
    p = pos(kept, mkt, "XBTUSD")
    assert p.position_margin == 1
    assert p.effective_leverage == 100


def test_remove_into_liquidation_is_refused() -> None:
    account, mkt = isolated_100_xbt()
    lower = mkt.with_mark("XBTUSD", D("97.5"))
    # PnL 100 − 10000/97.5 = −2.56410256410...; the margin must stay above 1 + 2.5641...,
    # so at least 3.56410257: at most 4 − 3.56410257 = 0.43589743 can go.
    limits = margin_limits(account, lower, "XBTUSD")
    assert limits.minimum_margin == D("3.56410257")
    assert limits.max_remove == D("0.43589743")
    assert_rejected(
        lambda: change_margin(account, lower, "XBTUSD", D("-0.43589744")),
        account,
        lower,
        "You can remove at most 0.43589743 XBT",
    )
    outcome = change_margin(account, lower, "XBTUSD", D("-0.43589743"))
    assert outcome.events == ()
    p = pos(outcome.account, lower, "XBTUSD")
    assert p.position_margin == D("3.56410257")
    assert not p.at_or_through_liquidation


def test_add_beyond_available_is_refused_with_the_shortfall() -> None:
    # 10 XBT: margin 4, available 6.
    account, mkt = isolated_100_xbt(wallet="10")
    assert_rejected(
        lambda: change_margin(account, mkt, "XBTUSD", D("7")),
        account,
        mkt,
        "You can add at most 6 XBT, your available balance; 7 XBT needs 1 XBT more.",
    )
    outcome = change_margin(account, mkt, "XBTUSD", D("6"))
    assert bal(outcome.account, mkt, "XBT").available_internal == 0
    assert outcome.account.positions["XBTUSD"].position_margin == 10


def test_cross_margin_is_shared() -> None:
    mkt = market(XBTUSD, XBTUSD="100")
    account = opened(funded(XBT="100"), mkt, "XBTUSD", Side.BUY, "10000", MarginMode.CROSS, 25)
    for amount in (D("1"), D("-1"), D("0")):
        error = assert_rejected(
            lambda amount=amount: change_margin(account, mkt, "XBTUSD", amount),
            account,
            mkt,
        )
        assert error.message == CROSS_MARGIN_IS_SHARED
    with pytest.raises(Rejected) as info:
        margin_limits(account, mkt, "XBTUSD")
    assert info.value.message == CROSS_MARGIN_IS_SHARED


def test_zero_too_precise_and_no_position_are_refused() -> None:
    account, mkt = isolated_100_xbt()
    assert_rejected(
        lambda: change_margin(account, mkt, "XBTUSD", D("0")),
        account,
        mkt,
        "Enter an amount to add, or a negative amount to remove.",
    )
    for amount in (D("0.000000001"), D("-0.123456789")):
        assert_rejected(
            lambda amount=amount: change_margin(account, mkt, "XBTUSD", amount),
            account,
            mkt,
            "Amounts can have at most 8 decimal places.",
        )
    empty = funded(XBT="100")
    assert_rejected(
        lambda: change_margin(empty, mkt, "XBTUSD", D("1")),
        empty,
        mkt,
        "You have no open XBTUSD position",
    )
    with pytest.raises(Rejected, match="no open XBTUSD position"):
        margin_limits(empty, mkt, "XBTUSD")


def test_margin_change_on_a_short_inverse() -> None:
    account, mkt = isolated_100_xbt(side=Side.SELL)
    # Short: −100 + 10000/P = 1 − 4 → 10000/97; with 6: 1 − 6 → 10000/95 (up, away).
    assert pos(account, mkt, "XBTUSD").liquidation_price == div(10000, 97)
    account = change_margin(account, mkt, "XBTUSD", D("2")).account
    assert pos(account, mkt, "XBTUSD").liquidation_price == div(10000, 95)


def test_removing_margin_needs_no_available_balance() -> None:
    # Isolated 0.01 XBTUSDT at 20000, 10x (margin 20) with 100 added: 120. Beside it a
    # cross 2x long of 1 ETHUSDT at 1000 (initial margin 500). ETH falls to 500: available
    # = 1000 − 500 − 500 − 120 = −120, yet the cross position is far from liquidation.
    mkt = market(XBTUSDT, ETHUSDT, XBTUSDT="20000", ETHUSDT="1000")
    account = opened(funded(USDT="1000"), mkt, "XBTUSDT", Side.BUY, "0.01", MarginMode.ISOLATED, 10)
    account = change_margin(account, mkt, "XBTUSDT", D("100")).account
    account = opened(account, mkt, "ETHUSDT", Side.BUY, "1", MarginMode.CROSS, 2)
    mkt = mkt.with_mark("ETHUSDT", D("500"))
    account = apply_mark(account, mkt, "ETHUSDT").account
    assert bal(account, mkt, "USDT").available_internal == -120
    assert pos(account, mkt, "ETHUSDT").liquidation_price == 130
    # Removing 20 of the added margin only raises the available balance: allowed.
    outcome = change_margin(account, mkt, "XBTUSDT", D("-20"))
    assert (outcome.ledger, outcome.events, outcome.fills) == ((), (), ())
    after = outcome.account
    assert after.wallet("USDT") == 1000
    assert bal(after, mkt, "USDT").available_internal == -100
    xbt, eth = pos(after, mkt, "XBTUSDT"), pos(after, mkt, "ETHUSDT")
    # 0.01P − 200 = 2 − 100 → 10200; bankruptcy 0.01P − 200 = −100 → 10000.
    assert (xbt.position_margin, xbt.liquidation_price, xbt.bankruptcy_price) == (100, 10200, 10000)
    # The cross funds grow by the 20: P − 1000 = 10 − 900 → 110, bankruptcy 100.
    assert (eth.liquidation_price, eth.bankruptcy_price) == (110, 100)
    # Adding still needs available balance, and there is none.
    assert_rejected(
        lambda: change_margin(after, mkt, "XBTUSDT", D("20")),
        after,
        mkt,
        "You can add at most 0 USDT",
    )
    # And a removal is still limited by the maximum leverage: 200 / 100 = 2 must stay.
    assert_rejected(
        lambda: change_margin(after, mkt, "XBTUSDT", D("-98.5")),
        after,
        mkt,
        "You can remove at most",
    )
    assert change_margin(after, mkt, "XBTUSDT", D("-97.99999999")).account.positions[
        "XBTUSDT"
    ].position_margin == D("2.00000001")
