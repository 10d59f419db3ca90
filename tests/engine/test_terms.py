"""Reduce-only: which changes of an account add risk (sandbox.engine.terms)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from sandbox.engine import (
    BUILT_IN_INSTRUMENTS,
    Account,
    MarginMode,
    Market,
    Position,
    Side,
    change_margin,
    close_position,
    place_order,
    set_leverage,
    set_triggers,
)
from sandbox.engine.terms import reduces, risk_added

D = Decimal
ISOLATED, CROSS = MarginMode.ISOLATED, MarginMode.CROSS
MARKET = Market(
    {s: BUILT_IN_INSTRUMENTS[s] for s in ("XBTUSDT", "ETHUSDT")},
    {"XBTUSDT": D(60000), "ETHUSDT": D(3000)},
)


def long_10x() -> Account:
    """1 XBTUSDT long at 60,000, isolated 10x: margin 6,000 of a 20,000 USDT wallet."""
    position = Position("XBTUSDT", D(1), D(60000), D(60000), ISOLATED, D(10), D(6000))
    return Account(wallets={"USDT": D(20000)}, positions={"XBTUSDT": position})


@pytest.mark.parametrize(
    ("side", "qty", "expected"),
    [
        (Side.SELL, D("0.4"), True),
        (Side.SELL, D(1), True),
        (Side.SELL, D("1.001"), False),
        (Side.BUY, D("0.1"), False),
        (Side.SELL, D(0), False),
    ],
)
def test_an_order_reduces_when_opposite_and_no_larger(
    side: Side, qty: Decimal, expected: bool
) -> None:
    assert reduces(long_10x().positions["XBTUSDT"], side, qty) is expected
    assert reduces(None, side, qty) is False


def test_lowering_risk_adds_none() -> None:
    held = long_10x()
    allowed = [
        place_order(held, MARKET, "XBTUSDT", Side.SELL, D("0.4")).account,
        close_position(held, MARKET, "XBTUSDT").account,
        change_margin(held, MARKET, "XBTUSDT", D(500)).account,
        set_leverage(held, MARKET, "XBTUSDT", ISOLATED, D(5)).account,
        set_triggers(held, MARKET, "XBTUSDT", D(55000), D(70000)).account,
        set_leverage(held, MARKET, "ETHUSDT", ISOLATED, D(50)).account,  # no position
    ]
    for after in allowed:
        assert risk_added(held, after) is None
    stopped = allowed[4]
    assert risk_added(stopped, set_triggers(stopped, MARKET, "XBTUSDT", None, None).account) is None


def test_a_reduction_keeps_at_least_its_share_of_the_margin() -> None:
    """0.3 of 1 sold: 1,800 released (rounded down), 4,200 kept for 0.7."""
    after = place_order(long_10x(), MARKET, "XBTUSDT", Side.SELL, D("0.3")).account
    assert after.positions["XBTUSDT"].position_margin == D(4200)
    assert risk_added(long_10x(), after) is None


def test_what_adds_risk_is_named() -> None:
    held = long_10x()
    cases = {
        "this would add to your XBTUSDT position": place_order(
            held, MARKET, "XBTUSDT", Side.BUY, D("0.1")
        ),
        "this would open a new ETHUSDT position": place_order(
            held, MARKET, "ETHUSDT", Side.BUY, D(1)
        ),
        "this would close your XBTUSDT position and open one on the other side (an order no "
        "larger than the position only reduces it)": place_order(
            held, MARKET, "XBTUSDT", Side.SELL, D(2)
        ),
        "this would switch your XBTUSDT position to cross margin": set_leverage(
            held, MARKET, "XBTUSDT", CROSS, D(100)
        ),
        "this would raise the leverage of your XBTUSDT position": set_leverage(
            held, MARKET, "XBTUSDT", ISOLATED, D(20)
        ),
        "this would take margin from your XBTUSDT position": change_margin(
            held, MARKET, "XBTUSDT", D(-1000)
        ),
    }
    for reason, outcome in cases.items():
        assert risk_added(held, outcome.account) == reason


def test_lowering_leverage_after_margin_was_added_by_hand_takes_margin() -> None:
    """Rule 7 resets an isolated position's margin to value / leverage: from 10x with
    4,000 added by hand (10,000 in all) to 8x is 7,500, less than it had."""
    held = change_margin(long_10x(), MARKET, "XBTUSDT", D(4000)).account
    lower = set_leverage(held, MARKET, "XBTUSDT", ISOLATED, D(8)).account
    assert lower.positions["XBTUSDT"].position_margin == D(7500)
    assert risk_added(held, lower) == "this would take margin from your XBTUSDT position"


def test_a_cross_position_may_not_raise_its_leverage() -> None:
    cross = Position("XBTUSDT", D(1), D(60000), D(60000), CROSS, D(50), D(0))
    held = Account(wallets={"USDT": D(10000)}, positions={"XBTUSDT": cross})
    higher = replace(held, positions={"XBTUSDT": replace(cross, leverage=D(100))})
    lower = replace(held, positions={"XBTUSDT": replace(cross, leverage=D(25))})
    assert risk_added(held, higher) == "this would raise the leverage of your XBTUSDT position"
    assert risk_added(held, lower) is None
