"""Rules 5 and 6: market orders at the mark, reductions, flips, the taker fee, refusals."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from sandbox.engine import (
    BUILT_IN_INSTRUMENTS,
    Fill,
    LedgerReason,
    MarginMode,
    Rejected,
    Side,
    account_figures,
    close_position,
    place_order,
    set_leverage,
)

from .helpers import (
    ETHUSDT,
    XBTUSD,
    XBTUSDT,
    assert_rejected,
    bal,
    funded,
    market,
    opened,
    pos,
    q8,
)

D = Decimal


# ---------------------------------------------------------------------- opening


def test_opening_order_fills_at_the_mark() -> None:
    mkt = market(ETHUSDT, ETHUSDT="1000")
    outcome = place_order(funded(USDT="10000"), mkt, "ETHUSDT", Side.BUY, D("20"))
    assert outcome.fills == (
        Fill("ETHUSDT", Side.BUY, D("20"), D("1000"), D("20000"), D("0"), D("0")),
    )
    assert outcome.events == ()
    assert [e.reason for e in outcome.ledger] == []  # no fee, nothing realised
    position = outcome.account.positions["ETHUSDT"]
    assert position.qty == 20
    # Never configured: cross at the instrument's maximum, 50x: initial 400.
    assert (position.mode, position.leverage) == (MarginMode.CROSS, D("50"))
    assert bal(outcome.account, mkt, "USDT").available_balance == 9600


def test_adding_to_a_linear_long_averages_cost_and_entry() -> None:
    # Long 20 at 1000, then 10 more at 900: cost 20000 + 9000 = 29000 for 30.
    mkt = market(ETHUSDT, ETHUSDT="1000")
    account = opened(funded(USDT="10000"), mkt, "ETHUSDT", Side.BUY, "20", MarginMode.CROSS, 50)
    lower = mkt.with_mark("ETHUSDT", D("900"))
    account = place_order(account, lower, "ETHUSDT", Side.BUY, D("10")).account
    p = pos(account, lower, "ETHUSDT")
    assert p.qty == 30
    assert q8(p.avg_cost_price) == D("966.66666667")
    assert q8(p.avg_entry_price) == D("966.66666667")
    # Initial 29000/50 = 580, maintenance 290; PnL 27000 − 29000 = −2000.
    assert (p.initial_margin, p.maintenance_margin, p.unrealised_pnl) == (580, 290, -2000)
    # Available 10000 − 580 − 2000 = 7420; funds 10000:
    # 30P − 29000 = 290 − 10000 → 643; 30P − 29000 = −10000 → 633.33...
    assert bal(account, lower, "USDT").available_balance == 7420
    assert p.liquidation_price == 643
    assert q8(p.bankruptcy_price) == D("633.33333333")


def test_inverse_average_entry_is_the_harmonic_mean() -> None:
    # 1 XBT; XBTUSD cross 100x: 1000 at 50000, then 3000 at 50035.
    # Value 1000/50000 + 3000/50035 = 0.0799580294...; avg 4000 / that = 50026.2454...
    mkt = market(XBTUSD, XBTUSD="50000")
    account = opened(funded(XBT="1"), mkt, "XBTUSD", Side.BUY, "1000", MarginMode.CROSS, 100)
    higher = mkt.with_mark("XBTUSD", D("50035"))
    account = place_order(account, higher, "XBTUSD", Side.BUY, D("3000")).account
    p = pos(account, higher, "XBTUSD")
    assert p.qty == 4000
    assert p.avg_entry_price.quantize(D("0.0001")) == D("50026.2454")
    assert p.avg_cost_price.quantize(D("0.0001")) == D("50026.2454")
    assert q8(p.value_at_cost) == D("0.07995803")
    # The arithmetic mean would be 50026.25: the engine must not use it.
    assert p.avg_entry_price < D("50026.25")


def test_inverse_short_average_entry_is_harmonic_too() -> None:
    mkt = market(XBTUSD, XBTUSD="50000")
    account = opened(funded(XBT="1"), mkt, "XBTUSD", Side.SELL, "1000", MarginMode.ISOLATED, 20)
    higher = mkt.with_mark("XBTUSD", D("50035"))
    account = place_order(account, higher, "XBTUSD", Side.SELL, D("3000")).account
    p = pos(account, higher, "XBTUSD")
    assert p.qty == -4000
    assert p.avg_entry_price.quantize(D("0.0001")) == D("50026.2454")
    # Isolated margin: 0.02/20 = 0.001 plus money_up(0.05995802937.../20) = 0.00299791.
    assert p.position_margin == D("0.00399791")


# --------------------------------------------------------------------- reducing


def test_reducing_a_long_realises_its_share_of_pnl_and_keeps_prices() -> None:
    mkt = market(ETHUSDT, ETHUSDT="1000")
    account = opened(funded(USDT="10000"), mkt, "ETHUSDT", Side.BUY, "20", MarginMode.CROSS, 50)
    higher = mkt.with_mark("ETHUSDT", D("1100"))
    outcome = place_order(account, higher, "ETHUSDT", Side.SELL, D("5"))
    # 5 of 20 closed: a quarter of the 2000 PnL, 500, goes to the wallet.
    assert [(e.reason, e.amount) for e in outcome.ledger] == [(LedgerReason.TRADE_PNL, 500)]
    assert outcome.fills[0].realised_pnl == 500
    assert outcome.account.wallet("USDT") == 10500
    p = pos(outcome.account, higher, "ETHUSDT")
    assert p.qty == 15
    assert (p.avg_cost_price, p.avg_entry_price) == (1000, 1000)
    # Initial 15000/50 = 300; available 10500 − 300 = 10200 (the other 1500 is unrealised).
    assert p.initial_margin == 300
    assert p.unrealised_pnl == 1500
    assert bal(outcome.account, higher, "USDT").available_balance == 10200
    # Funds 10500: 15P − 15000 = 150 − 10500 → 310.
    assert p.liquidation_price == 310


def test_reducing_a_short_at_a_loss() -> None:
    mkt = market(ETHUSDT, ETHUSDT="1000")
    account = opened(funded(USDT="10000"), mkt, "ETHUSDT", Side.SELL, "20", MarginMode.CROSS, 50)
    higher = mkt.with_mark("ETHUSDT", D("1050"))
    outcome = place_order(account, higher, "ETHUSDT", Side.BUY, D("10"))
    # PnL −20 × 50 = −1000; half is realised: −500.
    assert outcome.account.wallet("USDT") == 9500
    p = pos(outcome.account, higher, "ETHUSDT")
    assert p.qty == -10
    assert p.avg_entry_price == 1000
    assert p.unrealised_pnl == -500
    # Available 9500 − 200 − 500 = 8800.
    assert bal(outcome.account, higher, "USDT").available_balance == 8800


def test_reducing_an_isolated_position_releases_the_same_share_of_margin() -> None:
    mkt = market(XBTUSDT, XBTUSDT="20000")
    account = opened(funded(USDT="1000"), mkt, "XBTUSDT", Side.BUY, "0.1", MarginMode.ISOLATED, 10)
    higher = mkt.with_mark("XBTUSDT", D("20500"))
    outcome = place_order(account, higher, "XBTUSDT", Side.SELL, D("0.04"))
    # 40% closed: PnL 0.04 × 500 = 20 realised; margin 200 → 120.
    assert outcome.account.wallet("USDT") == 1020
    p = pos(outcome.account, higher, "XBTUSDT")
    assert p.qty == D("0.06")
    assert p.position_margin == 120
    assert bal(outcome.account, higher, "USDT").available_balance == 900
    # 0.06P − 1200 = 12 − 120 → 18200, as before the reduction.
    assert p.liquidation_price == 18200
    assert p.avg_cost_price == 20000


def test_reducing_an_inverse_isolated_position() -> None:
    mkt = market(XBTUSD, XBTUSD="100")
    account = opened(funded(XBT="100"), mkt, "XBTUSD", Side.BUY, "10000", MarginMode.ISOLATED, 25)
    higher = mkt.with_mark("XBTUSD", D("125"))
    outcome = place_order(account, higher, "XBTUSD", Side.SELL, D("2500"))
    # PnL 100 − 80 = 20; a quarter, 5, realised; margin 4 → 3.
    assert outcome.account.wallet("XBT") == 105
    p = pos(outcome.account, higher, "XBTUSD")
    assert (p.qty, p.position_margin, p.avg_entry_price) == (7500, 3, 100)
    # 7500 / (75 − (0.75 − 3)) = 7500/77.25 = 97.087...: unchanged.
    assert q8(p.liquidation_price) == D("97.08737864")


def test_a_reduction_is_never_refused_for_lack_of_balance() -> None:
    # 1000 USDT, long 20 ETHUSDT at 1000 50x cross; at 965 available is −100 (shown 0).
    mkt = market(ETHUSDT, ETHUSDT="1000")
    account = opened(funded(USDT="1000"), mkt, "ETHUSDT", Side.BUY, "20", MarginMode.CROSS, 50)
    lower = mkt.with_mark("ETHUSDT", D("965"))
    assert bal(account, lower, "USDT").available_internal == -100
    # Adding 0.01 is refused: initial margin 20009.65/50 = 400.193; available would be
    # 1000 − 400.193 − 700 = −100.193.
    assert_rejected(
        lambda: place_order(account, lower, "ETHUSDT", Side.BUY, D("0.01")),
        account,
        lower,
        "Not enough available balance",
        "100.193 USDT",
    )
    # Selling half is accepted: −350 realised, wallet 650, available 650 − 200 − 350 = 100.
    outcome = place_order(account, lower, "ETHUSDT", Side.SELL, D("10"))
    assert outcome.account.wallet("USDT") == 650
    assert bal(outcome.account, lower, "USDT").available_balance == 100
    closed = close_position(account, lower, "ETHUSDT")
    assert closed.account.positions == {}
    assert closed.account.wallet("USDT") == 300


def test_close_position_long_and_short() -> None:
    mkt = market(XBTUSD, XBTUSD="100")
    for side, pnl in ((Side.BUY, D("20")), (Side.SELL, D("-20"))):
        account = opened(funded(XBT="100"), mkt, "XBTUSD", side, "10000", MarginMode.CROSS, 10)
        outcome = close_position(account, mkt.with_mark("XBTUSD", D("125")), "XBTUSD")
        assert "XBTUSD" not in outcome.account.positions
        assert outcome.account.wallet("XBT") == 100 + pnl
        fill = outcome.fills[0]
        assert fill.side is (Side.SELL if side is Side.BUY else Side.BUY)
        assert (fill.qty, fill.price, fill.realised_pnl) == (10000, 125, pnl)
        # The settings stay for the next position.
        assert outcome.account.settings["XBTUSD"].leverage == 10


# ------------------------------------------------------------------------ flips


def test_order_past_zero_flips_keeping_mode_and_leverage_isolated_linear() -> None:
    mkt = market(ETHUSDT, ETHUSDT="1000")
    account = opened(funded(USDT="10000"), mkt, "ETHUSDT", Side.BUY, "20", MarginMode.ISOLATED, 10)
    higher = mkt.with_mark("ETHUSDT", D("1100"))
    outcome = place_order(account, higher, "ETHUSDT", Side.SELL, D("30"))
    # 20 closed: +2000 realised. 10 opened short at 1100, isolated 10x: margin 1100.
    assert outcome.account.wallet("USDT") == 12000
    p = pos(outcome.account, higher, "ETHUSDT")
    assert p.qty == -10
    assert (p.margin_mode, p.leverage) == (MarginMode.ISOLATED, 10)
    assert (p.avg_cost_price, p.avg_entry_price) == (1100, 1100)
    assert p.position_margin == 1100
    assert bal(outcome.account, higher, "USDT").available_balance == 10900
    assert len(outcome.fills) == 1
    assert (outcome.fills[0].qty, outcome.fills[0].realised_pnl) == (30, 2000)


def test_order_past_zero_flips_keeping_mode_and_leverage_cross_inverse() -> None:
    mkt = market(XBTUSD, XBTUSD="50000")
    account = opened(funded(XBT="1"), mkt, "XBTUSD", Side.BUY, "1000", MarginMode.CROSS, 20)
    outcome = place_order(account, mkt, "XBTUSD", Side.SELL, D("3000"))
    p = pos(outcome.account, mkt, "XBTUSD")
    assert p.qty == -2000
    assert (p.margin_mode, p.leverage) == (MarginMode.CROSS, 20)
    assert p.avg_entry_price == 50000
    # 2000/50000 = 0.04 XBT at 20x: initial 0.002; available 1 − 0.002.
    assert p.initial_margin == D("0.002")
    assert bal(outcome.account, mkt, "XBT").available_balance == D("0.998")


def test_a_flip_that_cannot_be_afforded_is_refused_whole() -> None:
    # 500 USDT, long 20 ETHUSDT at 1000 50x cross; selling 60 would open a short of 40
    # needing 800 of initial margin: available 500 − 800 = −300.
    mkt = market(ETHUSDT, ETHUSDT="1000")
    account = opened(funded(USDT="500"), mkt, "ETHUSDT", Side.BUY, "20", MarginMode.CROSS, 50)
    assert_rejected(
        lambda: place_order(account, mkt, "ETHUSDT", Side.SELL, D("60")),
        account,
        mkt,
        "needs 300 USDT more",
    )


# ---------------------------------------------------------------------- taker fee


def test_taker_fee_on_opening_and_closing_linear() -> None:
    # Built-in XBTUSDT: fee 0.0005, maximum 100x. Buy 0.01 at 20000: value 200, fee 0.1.
    mkt = market(BUILT_IN_INSTRUMENTS["XBTUSDT"], XBTUSDT="20000")
    opening = place_order(funded(USDT="1000"), mkt, "XBTUSDT", Side.BUY, D("0.01"))
    assert [(e.reason, e.amount) for e in opening.ledger] == [(LedgerReason.TAKER_FEE, D("-0.1"))]
    assert opening.fills[0].fee == D("0.1")
    assert opening.account.wallet("USDT") == D("999.9")
    # Initial margin 200/100 = 2: available 999.9 − 2 = 997.9.
    assert bal(opening.account, mkt, "USDT").available_balance == D("997.9")
    # Close at 21000: value 210, fee 0.105; PnL +10.
    higher = mkt.with_mark("XBTUSDT", D("21000"))
    closing = close_position(opening.account, higher, "XBTUSDT")
    assert [(e.reason, e.amount) for e in closing.ledger] == [
        (LedgerReason.TRADE_PNL, D("10")),
        (LedgerReason.TAKER_FEE, D("-0.105")),
    ]
    assert closing.account.wallet("USDT") == D("1009.795")


def test_taker_fee_on_a_short_and_on_inverse_rounded_up() -> None:
    mkt = market(BUILT_IN_INSTRUMENTS["XBTUSD"], BUILT_IN_INSTRUMENTS["XBTUSDT"])
    mkt = mkt.with_mark("XBTUSD", D("50000")).with_mark("XBTUSDT", D("20000"))
    short = place_order(funded(USDT="1000"), mkt, "XBTUSDT", Side.SELL, D("0.01"))
    assert short.fills[0].fee == D("0.1")
    # 1000 contracts at 50000: value 0.02 XBT, fee 0.00001.
    inverse = place_order(funded(XBT="1"), mkt, "XBTUSD", Side.BUY, D("1000"))
    assert inverse.fills[0].fee == D("0.00001")
    # 1 contract at 30000: 0.0005/30000 = 1.67e-8, rounded up to 0.00000002.
    lower = mkt.with_mark("XBTUSD", D("30000"))
    tiny = place_order(funded(XBT="1"), lower, "XBTUSD", Side.SELL, D("1"))
    assert tiny.fills[0].fee == D("0.00000002")
    assert tiny.account.wallet("XBT") == D("0.99999998")


def test_taker_fee_is_part_of_the_balance_check() -> None:
    # 0.001 XBTUSDT at 20000 under 100x: initial 0.2, fee 0.01.
    mkt = market(BUILT_IN_INSTRUMENTS["XBTUSDT"], XBTUSDT="20000")
    short = funded(USDT="0.2")
    assert_rejected(
        lambda: place_order(short, mkt, "XBTUSDT", Side.BUY, D("0.001")),
        short,
        mkt,
        "Not enough available balance",
        "needs 0.01 USDT more",
    )
    outcome = place_order(funded(USDT="0.21"), mkt, "XBTUSDT", Side.BUY, D("0.001"))
    assert bal(outcome.account, mkt, "USDT").available_balance == 0


# ---------------------------------------------------------------------- refusals


def test_quantity_zero_negative_or_off_step_is_refused() -> None:
    mkt = market(XBTUSDT, XBTUSD, XBTUSDT="20000", XBTUSD="100")
    account = funded(USDT="100000", XBT="100")
    for qty in (D("0"), D("-1"), D("-0.001")):
        assert_rejected(
            lambda qty=qty: place_order(account, mkt, "XBTUSDT", Side.BUY, qty),
            account,
            mkt,
            "Enter a quantity above zero.",
        )
    assert_rejected(
        lambda: place_order(account, mkt, "XBTUSDT", Side.BUY, D("0.0005")),
        account,
        mkt,
        "XBTUSDT trades in steps of 0.001 XBT",
        "0.0005 is not a whole number of steps",
    )
    assert_rejected(
        lambda: place_order(account, mkt, "XBTUSD", Side.SELL, D("1.5")),
        account,
        mkt,
        "XBTUSD trades in steps of 1 USD",
    )
    # A whole number of steps written with extra zeros is fine.
    assert place_order(account, mkt, "XBTUSDT", Side.BUY, D("0.00100")).fills[0].qty == D("0.001")


def test_order_without_a_mark_or_instrument_is_refused() -> None:
    mkt = market(XBTUSDT, ETHUSDT, ETHUSDT="1000")
    account = funded(USDT="100000")
    assert_rejected(
        lambda: place_order(account, mkt, "XBTUSDT", Side.BUY, D("1")),
        account,
        mkt,
        "XBTUSDT has no mark price yet",
    )
    assert_rejected(
        lambda: place_order(account, mkt, "FOO", Side.BUY, D("1")),
        account,
        mkt,
        "no instrument called 'FOO'",
    )


def test_insufficient_balance_names_the_amount() -> None:
    mkt = market(XBTUSDT, XBTUSD, XBTUSDT="20000", XBTUSD="100")
    account = funded(USDT="100", XBT="1")
    # Never configured: 100x, initial 200 for 1 XBTUSDT: 100 short.
    assert_rejected(
        lambda: place_order(account, mkt, "XBTUSDT", Side.BUY, D("1")),
        account,
        mkt,
        "Not enough available balance: this order needs 100 USDT more than you have available.",
    )
    # 10000 XBTUSD at 100 = 100 XBT at 25x isolated: margin 4, 3 XBT short.
    isolated = set_leverage(account, mkt, "XBTUSD", MarginMode.ISOLATED, D(25)).account
    assert_rejected(
        lambda: place_order(isolated, mkt, "XBTUSD", Side.SELL, D("10000")),
        isolated,
        mkt,
        "needs 3 XBT more",
    )


def test_order_landing_at_its_own_liquidation_price_is_refused() -> None:
    # XBTUSDT maintenance 1%, 100x: initial margin = maintenance margin. With exactly the
    # initial margin in the wallet the position would open at its liquidation price.
    mkt = market(XBTUSDT, XBTUSDT="20000")
    cross = funded(USDT="200")
    assert_rejected(
        lambda: place_order(cross, mkt, "XBTUSDT", Side.BUY, D("1")),
        cross,
        mkt,
        "would leave your XBTUSDT position at or beyond its liquidation price (20,000)",
    )
    isolated = set_leverage(
        funded(USDT="1000"), mkt, "XBTUSDT", MarginMode.ISOLATED, D(100)
    ).account
    assert_rejected(
        lambda: place_order(isolated, mkt, "XBTUSDT", Side.SELL, D("1")),
        isolated,
        mkt,
        "at or beyond its liquidation price",
    )
    # At 50x the same order is fine.
    fine = opened(funded(USDT="1000"), mkt, "XBTUSDT", Side.SELL, "1", MarginMode.ISOLATED, 50)
    assert pos(fine, mkt, "XBTUSDT").position_margin == 400


def test_order_that_would_push_another_cross_position_to_liquidation_is_refused() -> None:
    # 200 USDT: long 0.005 XBTUSDT at 20000 (value 100) at 100x cross: initial = maintenance
    # = 1; available 199. Buying 9.95 ETHUSDT at 1000 at 50x takes the last 199, which
    # leaves XBTUSDT with margin 0 + 1 = 1, at its maintenance margin.
    mkt = market(XBTUSDT, ETHUSDT, XBTUSDT="20000", ETHUSDT="1000")
    account = opened(funded(USDT="200"), mkt, "XBTUSDT", Side.BUY, "0.005", MarginMode.CROSS, 100)
    account = set_leverage(account, mkt, "ETHUSDT", MarginMode.CROSS, D(50)).account
    assert bal(account, mkt, "USDT").available_balance == 199
    assert_rejected(
        lambda: place_order(account, mkt, "ETHUSDT", Side.BUY, D("9.95")),
        account,
        mkt,
        "would leave your XBTUSDT position at or beyond its liquidation price",
    )
    # One step less is accepted.
    outcome = place_order(account, mkt, "ETHUSDT", Side.BUY, D("9.94"))
    assert set(outcome.account.positions) == {"XBTUSDT", "ETHUSDT"}


def test_opening_to_exactly_zero_available_is_accepted() -> None:
    mkt = market(ETHUSDT, ETHUSDT="1000")
    account = opened(funded(USDT="400"), mkt, "ETHUSDT", Side.BUY, "20", MarginMode.CROSS, 50)
    assert bal(account, mkt, "USDT").available_internal == 0
    assert account_figures(account, mkt).positions["ETHUSDT"].margin_left == 400


def test_close_with_no_position_or_no_mark_is_refused() -> None:
    mkt = market(XBTUSDT, XBTUSDT="20000")
    account = funded(USDT="1000")
    assert_rejected(
        lambda: close_position(account, mkt, "XBTUSDT"),
        account,
        mkt,
        "You have no open XBTUSDT position to close.",
    )
    holding = opened(account, mkt, "XBTUSDT", Side.BUY, "0.01", MarginMode.CROSS, 10)
    unmarked = replace(mkt, marks={})
    with pytest.raises(Rejected, match="no mark price"):
        close_position(holding, unmarked, "XBTUSDT")
    assert holding.positions["XBTUSDT"].qty == D("0.01")
