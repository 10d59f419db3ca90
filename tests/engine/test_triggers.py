"""Stop-loss and take-profit: market orders the mark triggers, before liquidation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sandbox.engine import (
    MarginMode,
    Rejected,
    Side,
    TriggerEvent,
    TriggerKind,
    apply_mark,
    place_order,
    set_triggers,
    tick_account,
)

from .helpers import XBTUSDT, funded, market, opened

D = Decimal
MKT = market(XBTUSDT, XBTUSDT="20000")


def long_10x() -> object:
    # 1 XBT long at 20,000, isolated 10x: margin 2,000; maintenance 200 (1%);
    # bankruptcy 18,000, liquidation 18,200.
    return opened(funded(USDT="10000"), MKT, "XBTUSDT", Side.BUY, "1", MarginMode.ISOLATED, 10)


def short_10x() -> object:
    # 1 XBT short at 20,000, isolated 10x: bankruptcy 22,000, liquidation 21,800.
    return opened(funded(USDT="10000"), MKT, "XBTUSDT", Side.SELL, "1", MarginMode.ISOLATED, 10)


def test_a_stop_loss_closes_the_long_at_the_mark_before_liquidation() -> None:
    account = set_triggers(long_10x(), MKT, "XBTUSDT", D(19000), None).account
    assert account.positions["XBTUSDT"].stop_loss == D(19000)
    out = apply_mark(account, MKT.with_mark("XBTUSDT", D(19000)), "XBTUSDT")
    assert "XBTUSDT" not in out.account.positions
    (event,) = out.events
    assert isinstance(event, TriggerEvent)
    assert event.kind is TriggerKind.STOP_LOSS
    assert (event.trigger_price, event.mark_price, event.realised_pnl) == (
        D(19000),
        D(19000),
        D(-1000),
    )
    # 10,000 − 1,000: the stop saved 1,000 of the 2,000 the liquidation would have taken.
    assert out.account.wallets["USDT"] == D(9000)
    assert out.fills[-1].trigger == "stop_loss"


def test_a_gap_fills_the_stop_beyond_its_trigger() -> None:
    account = set_triggers(long_10x(), MKT, "XBTUSDT", D(19000), None).account
    out = apply_mark(account, MKT.with_mark("XBTUSDT", D(18500)), "XBTUSDT")
    (event,) = out.events
    assert isinstance(event, TriggerEvent)
    assert event.mark_price == D(18500)
    assert event.realised_pnl == D(-1500)


def test_a_take_profit_on_a_short_fills_when_the_mark_falls_to_it() -> None:
    account = set_triggers(short_10x(), MKT, "XBTUSDT", None, D(18000)).account
    untouched = apply_mark(account, MKT.with_mark("XBTUSDT", D(18001)), "XBTUSDT")
    assert untouched.events == ()
    out = apply_mark(account, MKT.with_mark("XBTUSDT", D(18000)), "XBTUSDT")
    (event,) = out.events
    assert isinstance(event, TriggerEvent)
    assert event.kind is TriggerKind.TAKE_PROFIT
    assert event.realised_pnl == D(2000)
    assert out.account.wallets["USDT"] == D(12000)


def test_a_tick_fires_triggers_too() -> None:
    account = set_triggers(short_10x(), MKT, "XBTUSDT", D(21000), None).account
    out = tick_account(account, MKT.with_mark("XBTUSDT", D(21500)), ["XBTUSDT"])
    (event,) = out.events
    assert isinstance(event, TriggerEvent)
    assert event.kind is TriggerKind.STOP_LOSS
    assert event.realised_pnl == D(-1500)


@pytest.mark.parametrize(
    ("build", "stop", "target", "message"),
    [
        (long_10x, D(20000), None, "A stop-loss on a long must be below the mark (20,000)"),
        (long_10x, None, D(19999), "A take-profit on a long must be above the mark (20,000)"),
        (short_10x, D(19999), None, "A stop-loss on a short must be above the mark (20,000)"),
        (short_10x, None, D(20001), "A take-profit on a short must be below the mark (20,000)"),
        (long_10x, D(0), None, "A stop-loss price must be above zero."),
        (long_10x, D("1.000000001"), None, "at most 8 decimal places"),
    ],
)
def test_triggers_that_would_fire_at_once_are_refused(
    build: object, stop: Decimal | None, target: Decimal | None, message: str
) -> None:
    account = build()  # type: ignore[operator]
    with pytest.raises(Rejected, match=message.replace("(", r"\(").replace(")", r"\)")):
        set_triggers(account, MKT, "XBTUSDT", stop, target)


def test_a_stop_beyond_the_liquidation_price_is_accepted_with_a_warning() -> None:
    out = set_triggers(long_10x(), MKT, "XBTUSDT", D(18100), None)
    assert out.account.positions["XBTUSDT"].stop_loss == D(18100)
    (warning,) = out.warnings
    assert "beyond the liquidation price (18,200)" in warning
    assert "Move it above 18,200." in warning
    # The liquidation engine indeed gets there first: the whole margin goes.
    crashed = apply_mark(out.account, MKT.with_mark("XBTUSDT", D(18150)), "XBTUSDT")
    assert [e.type for e in crashed.events] == ["liquidation"]
    assert crashed.account.wallets["USDT"] == D(8000)


def test_triggers_need_a_position_and_go_with_it() -> None:
    with pytest.raises(Rejected, match="You have no open XBTUSDT position"):
        set_triggers(funded(USDT="100"), MKT, "XBTUSDT", D(1), None)
    account = set_triggers(long_10x(), MKT, "XBTUSDT", D(19000), D(25000)).account
    # Adding to the position keeps the triggers; closing it and reopening does not.
    bigger = place_order(account, MKT, "XBTUSDT", Side.BUY, D(1)).account
    assert bigger.positions["XBTUSDT"].stop_loss == D(19000)
    flipped = place_order(bigger, MKT, "XBTUSDT", Side.SELL, D(3)).account
    assert flipped.positions["XBTUSDT"].stop_loss is None
    cleared = set_triggers(account, MKT, "XBTUSDT", None, None).account
    assert cleared.positions["XBTUSDT"].take_profit is None
