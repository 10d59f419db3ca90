"""Rules 1–4: initial and maintenance margin, available balance, funds, liquidation and
bankruptcy prices. Every figure is worked out by hand in the comments."""

from __future__ import annotations

from decimal import Decimal

from sandbox.engine import Account, MarginMode, Market, Side, account_figures

from .helpers import ETHUSDT, XBTUSD, XBTUSDT, bal, div, funded, market, opened, pos, q8

D = Decimal


def karen() -> tuple[Account, Market]:
    """10000 USDT, long 20 ETHUSDT at 1000 at 50x cross (the first profit example)."""
    mkt = market(ETHUSDT, ETHUSDT="1000")
    account = opened(funded(USDT="10000"), mkt, "ETHUSDT", Side.BUY, "20", MarginMode.CROSS, 50)
    return account, mkt


# ---------------------------------------------------------------- rule 1: margins


def test_linear_long_cross_margins_and_prices() -> None:
    account, mkt = karen()
    p = pos(account, mkt, "ETHUSDT")
    # Value at cost 20 × 1000 = 20000; initial 20000/50 = 400; maintenance 1% = 200.
    assert p.value_at_cost == 20000
    assert p.initial_margin == 400
    assert p.maintenance_margin == 200
    assert p.avg_cost_price == 1000
    assert p.avg_entry_price == 1000
    assert p.unrealised_pnl == 0
    # Cross: position margin shown = initial margin + own unrealised loss = 400.
    assert p.position_margin == 400
    assert p.margin_mode is MarginMode.CROSS
    assert p.leverage == 50
    # Funds = available 9600 + own initial 400 + own loss 0 = 10000.
    assert p.funds == 10000
    # Bankruptcy: 20P − 20000 = −10000 → 500. Liquidation: 20P − 20000 = 200 − 10000 → 510.
    assert p.bankruptcy_price == 500
    assert p.liquidation_price == 510
    b = bal(account, mkt, "USDT")
    assert b.wallet_balance == 10000
    assert b.available_balance == 9600
    assert b.available_internal == 9600
    assert b.unrealised_pnl == 0
    assert b.margin_balance == 10000


def test_initial_margin_uses_the_cost_not_the_mark_and_fractional_leverage() -> None:
    mkt = market(ETHUSDT, ETHUSDT="1000")
    account = opened(funded(USDT="10000"), mkt, "ETHUSDT", Side.BUY, "20", MarginMode.CROSS, "12.5")
    # 20000 / 12.5 = 1600; maintenance 200.
    moved = mkt.with_mark("ETHUSDT", D("1234.5"))
    p = pos(account, moved, "ETHUSDT")
    assert p.initial_margin == 1600
    assert p.maintenance_margin == 200
    assert p.value_at_cost == 20000


# --------------------------------------------------------- rule 2: available balance


def test_cross_unrealised_loss_reduces_available_but_profit_does_not_add() -> None:
    account, mkt = karen()
    # Mark 950: PnL 20 × (950 − 1000) = −1000; available 10000 − 400 − 1000 = 8600.
    lower = mkt.with_mark("ETHUSDT", D("950"))
    b = bal(account, lower, "USDT")
    assert b.unrealised_pnl == -1000
    assert b.available_balance == 8600
    assert b.margin_balance == 9000
    p = pos(account, lower, "ETHUSDT")
    # Cross position margin shown = 400 + 1000 of loss drawn from the wallet.
    assert p.position_margin == 1400
    # Funds = 8600 + 400 + 1000 = 10000, so its own prices do not move with its own loss.
    assert p.funds == 10000
    assert (p.liquidation_price, p.bankruptcy_price) == (510, 500)
    # Mark 1100: PnL +2000 is not available until realised.
    higher = mkt.with_mark("ETHUSDT", D("1100"))
    b = bal(account, higher, "USDT")
    assert b.unrealised_pnl == 2000
    assert b.available_balance == 9600
    assert b.margin_balance == 12000
    assert pos(account, higher, "ETHUSDT").position_margin == 400


def test_available_is_floored_at_zero_but_negative_internally() -> None:
    # 1000 USDT, long 20 ETHUSDT at 1000, 50x cross: funds 1000,
    # liquidation (20000 + 200 − 1000)/20 = 960, bankruptcy (20000 − 1000)/20 = 950.
    mkt = market(ETHUSDT, ETHUSDT="1000")
    account = opened(funded(USDT="1000"), mkt, "ETHUSDT", Side.BUY, "20", MarginMode.CROSS, 50)
    assert (pos(account, mkt, "ETHUSDT").liquidation_price) == 960
    # Mark 965: PnL −700; available 1000 − 400 − 700 = −100, shown as 0.
    moved = mkt.with_mark("ETHUSDT", D("965"))
    b = bal(account, moved, "USDT")
    assert b.available_internal == -100
    assert b.available_balance == 0
    assert b.margin_balance == 300
    p = pos(account, moved, "ETHUSDT")
    # Margin left 1000 − 700 = 300 > maintenance 200: still open.
    assert p.funds == 1000
    assert p.margin_left == 300
    assert not p.at_or_through_liquidation
    assert (p.liquidation_price, p.bankruptcy_price) == (960, 950)


def test_isolated_margin_is_set_aside_and_its_loss_does_not_touch_available() -> None:
    # 100 XBT; 10000 XBTUSD contracts at 100 (value 100 XBT) isolated 25x: margin 4.
    mkt = market(XBTUSD, XBTUSD="100")
    account = opened(funded(XBT="100"), mkt, "XBTUSD", Side.BUY, "10000", MarginMode.ISOLATED, 25)
    b = bal(account, mkt, "XBT")
    assert b.available_balance == 96
    p = pos(account, mkt, "XBTUSD")
    assert p.position_margin == 4
    assert p.initial_margin == 4
    assert p.maintenance_margin == 1
    assert p.funds == 4
    assert p.effective_leverage == 25
    # At 97.5 the PnL is 100 − 10000/97.5 = −2.56410256...; available stays 96.
    moved = mkt.with_mark("XBTUSD", D("97.5"))
    b = bal(account, moved, "XBT")
    assert q8(b.unrealised_pnl) == D("-2.56410256")
    assert b.available_balance == 96
    assert q8(b.margin_balance) == D("97.43589744")
    p = pos(account, moved, "XBTUSD")
    assert p.position_margin == 4
    assert p.funds == 4


def test_mixed_account_cross_funds_exclude_isolated_margin() -> None:
    # 10000 USDT: ETHUSDT long 20 at 1000 cross 50x (initial 400) and XBTUSDT long 0.1 at
    # 20000 isolated 10x (margin 200). Available 10000 − 400 − 200 = 9400.
    mkt = market(ETHUSDT, XBTUSDT, ETHUSDT="1000", XBTUSDT="20000")
    account = opened(funded(USDT="10000"), mkt, "ETHUSDT", Side.BUY, "20", MarginMode.CROSS, 50)
    account = opened(account, mkt, "XBTUSDT", Side.BUY, "0.1", MarginMode.ISOLATED, 10)
    assert bal(account, mkt, "USDT").available_balance == 9400
    eth = pos(account, mkt, "ETHUSDT")
    # ETH funds 9400 + 400 = 9800: liquidation (20000 + 200 − 9800)/20 = 520, bankruptcy 510.
    assert eth.funds == 9800
    assert (eth.liquidation_price, eth.bankruptcy_price) == (520, 510)
    xbt = pos(account, mkt, "XBTUSDT")
    # Isolated: 0.1P − 2000 = 20 − 200 → 18200; bankruptcy 0.1P − 2000 = −200 → 18000.
    assert (xbt.liquidation_price, xbt.bankruptcy_price) == (18200, 18000)
    # An isolated loss changes nothing for the cross position.
    moved = mkt.with_mark("XBTUSDT", D("18500"))
    assert bal(account, moved, "USDT").available_balance == 9400
    assert pos(account, moved, "ETHUSDT").liquidation_price == 520


def test_currencies_are_independent() -> None:
    mkt = market(ETHUSDT, XBTUSD, ETHUSDT="1000", XBTUSD="100")
    account = opened(
        funded(USDT="10000", XBT="100"), mkt, "ETHUSDT", Side.BUY, "20", MarginMode.CROSS, 50
    )
    account = opened(account, mkt, "XBTUSD", Side.BUY, "10000", MarginMode.CROSS, 25)
    moved = mkt.with_mark("XBTUSD", D("80"))
    f = account_figures(account, moved)
    # XBT: PnL 100 − 125 = −25; available 100 − 4 − 25 = 71. USDT untouched: 9600.
    assert f.balances["XBT"].available_balance == 71
    assert f.balances["USDT"].available_balance == 9600
    assert f.positions["ETHUSDT"].liquidation_price == 510
    assert set(f.balances) == {"USDT", "XBT"}


# ------------------------------------------------------------ rule 3: funds, shared


def test_another_cross_positions_loss_moves_this_ones_prices_but_its_own_does_not() -> None:
    # Bryan: 5000 USDT, long 1 XBTUSDT at 20000 and short 20 ETHUSDT at 1000, both 50x cross.
    mkt = market(XBTUSDT, ETHUSDT, XBTUSDT="20000", ETHUSDT="1000")
    account = opened(funded(USDT="5000"), mkt, "XBTUSDT", Side.BUY, "1", MarginMode.CROSS, 50)
    account = opened(account, mkt, "ETHUSDT", Side.SELL, "20", MarginMode.CROSS, 50)
    f = account_figures(account, mkt)
    # Available 5000 − 400 − 400 = 4200; each has funds 4200 + 400 = 4600.
    assert f.balances["USDT"].available_balance == 4200
    xbt, eth = f.positions["XBTUSDT"], f.positions["ETHUSDT"]
    # XBT: P − 20000 = 200 − 4600 → 15600; bankruptcy P − 20000 = −4600 → 15400.
    assert (xbt.liquidation_price, xbt.bankruptcy_price) == (15600, 15400)
    # ETH short: −20P + 20000 = 200 − 4600 → 1220; −20P + 20000 = −4600 → 1230.
    assert (eth.liquidation_price, eth.bankruptcy_price) == (1220, 1230)
    # ETH rises to 1100: ETH loses 2000, available 2200.
    moved = mkt.with_mark("ETHUSDT", D("1100"))
    f = account_figures(account, moved)
    assert f.balances["USDT"].available_balance == 2200
    # XBT funds 2200 + 400 = 2600: P − 20000 = 200 − 2600 → 17600; bankruptcy 17400.
    xbt, eth = f.positions["XBTUSDT"], f.positions["ETHUSDT"]
    assert xbt.funds == 2600
    assert (xbt.liquidation_price, xbt.bankruptcy_price) == (17600, 17400)
    # ETH funds 2200 + 400 + 2000 = 4600: unchanged 1220/1230.
    assert eth.funds == 4600
    assert eth.position_margin == 2400
    assert (eth.liquidation_price, eth.bankruptcy_price) == (1220, 1230)


# ------------------------------------------------- rule 4: prices, four combinations


def test_linear_short_cross_prices() -> None:
    # 5000 USDT, short 20 ETHUSDT at 1000, 50x cross: funds 5000.
    # −20P + 20000 = 200 − 5000 → 1240; −20P + 20000 = −5000 → 1250.
    mkt = market(ETHUSDT, ETHUSDT="1000")
    account = opened(funded(USDT="5000"), mkt, "ETHUSDT", Side.SELL, "20", MarginMode.CROSS, 50)
    p = pos(account, mkt, "ETHUSDT")
    assert p.qty == -20
    assert not p.is_long
    assert (p.liquidation_price, p.bankruptcy_price) == (1240, 1250)
    assert bal(account, mkt, "USDT").available_balance == 4600
    # A loss at 1100 (−2000) leaves them where they are.
    p = pos(account, mkt.with_mark("ETHUSDT", D("1100")), "ETHUSDT")
    assert p.unrealised_pnl == -2000
    assert (p.liquidation_price, p.bankruptcy_price) == (1240, 1250)


def test_linear_long_and_short_isolated_prices() -> None:
    # 1000 USDT; 0.1 XBTUSDT at 20000 isolated 10x: margin 200, maintenance 20.
    mkt = market(XBTUSDT, XBTUSDT="20000")
    long = opened(funded(USDT="1000"), mkt, "XBTUSDT", Side.BUY, "0.1", MarginMode.ISOLATED, 10)
    p = pos(long, mkt, "XBTUSDT")
    assert (p.position_margin, p.maintenance_margin) == (200, 20)
    # 0.1P − 2000 = 20 − 200 → 18200; 0.1P − 2000 = −200 → 18000.
    assert (p.liquidation_price, p.bankruptcy_price) == (18200, 18000)
    assert bal(long, mkt, "USDT").available_balance == 800
    short = opened(funded(USDT="1000"), mkt, "XBTUSDT", Side.SELL, "0.1", MarginMode.ISOLATED, 10)
    p = pos(short, mkt, "XBTUSDT")
    # −0.1P + 2000 = 20 − 200 → 21800; −0.1P + 2000 = −200 → 22000.
    assert (p.liquidation_price, p.bankruptcy_price) == (21800, 22000)


def test_inverse_long_isolated_prices_the_100_xbt_example() -> None:
    mkt = market(XBTUSD, XBTUSD="100")
    account = opened(funded(XBT="100"), mkt, "XBTUSD", Side.BUY, "10000", MarginMode.ISOLATED, 25)
    p = pos(account, mkt, "XBTUSD")
    # 100 − 10000/P = 1 − 4 → P = 10000/103 = 97.087...; 100 − 10000/P = −4 → 10000/104.
    assert p.liquidation_price == div(10000, 103)
    assert p.bankruptcy_price == div(10000, 104)
    assert q8(p.liquidation_price) == D("97.08737864")
    assert q8(p.bankruptcy_price) == D("96.15384615")
    # Distance to liquidation: (100 − 97.087...)/100 = 2.9126...%.
    assert q8(p.distance_to_liquidation) == D("2.91262136")


def test_inverse_short_isolated_prices() -> None:
    mkt = market(XBTUSD, XBTUSD="100")
    account = opened(funded(XBT="100"), mkt, "XBTUSD", Side.SELL, "10000", MarginMode.ISOLATED, 25)
    p = pos(account, mkt, "XBTUSD")
    # −100 + 10000/P = 1 − 4 → P = 10000/97; −100 + 10000/P = −4 → 10000/96.
    assert p.liquidation_price == div(10000, 97)
    assert p.bankruptcy_price == div(10000, 96)
    assert q8(p.distance_to_liquidation) == D("3.09278351")


def test_inverse_cross_long_and_short_prices() -> None:
    mkt = market(XBTUSD, XBTUSD="100")
    long = opened(funded(XBT="100"), mkt, "XBTUSD", Side.BUY, "10000", MarginMode.CROSS, 25)
    p = pos(long, mkt, "XBTUSD")
    # Funds 96 + 4 = 100: 100 − 10000/P = 1 − 100 → 10000/199; bankruptcy 10000/200 = 50.
    assert p.funds == 100
    assert p.liquidation_price == div(10000, 199)
    assert p.bankruptcy_price == 50
    short = opened(funded(XBT="100"), mkt, "XBTUSD", Side.SELL, "10000", MarginMode.CROSS, 25)
    p = pos(short, mkt, "XBTUSD")
    # −100 + 10000/P = 1 − 100 → 10000/P = 1 → P = 10000. An inverse short loses at most its
    # entry value (100 XBT), which the 100 XBT of funds covers: no bankruptcy price.
    assert p.liquidation_price == 10000
    assert p.bankruptcy_price is None


def test_liquidation_price_null_for_a_fully_funded_one_x_long() -> None:
    # 10000 USDT, long 0.1 XBTUSDT at 20000 (value 2000) at 1x cross: funds 10000.
    # 0.1P − 2000 = 20 − 10000 has no positive solution; nor has bankruptcy.
    mkt = market(XBTUSDT, XBTUSDT="20000")
    account = opened(funded(USDT="10000"), mkt, "XBTUSDT", Side.BUY, "0.1", MarginMode.CROSS, 1)
    p = pos(account, mkt, "XBTUSDT")
    assert p.liquidation_price is None
    assert p.bankruptcy_price is None
    assert p.distance_to_liquidation is None
    # It cannot be liquidated at any positive price.
    assert not pos(
        account, mkt.with_mark("XBTUSDT", D("0.01")), "XBTUSDT"
    ).at_or_through_liquidation
    # Isolated at 1x the margin is exactly the value: bankruptcy at 0 (no price), but the
    # maintenance margin still has a price: 0.1P − 2000 = 20 − 2000 → P = 200.
    isolated = opened(funded(USDT="10000"), mkt, "XBTUSDT", Side.BUY, "0.1", MarginMode.ISOLATED, 1)
    p = pos(isolated, mkt, "XBTUSDT")
    assert p.bankruptcy_price is None
    assert p.liquidation_price == 200


def test_liquidation_price_is_above_bankruptcy_for_long_and_below_for_short() -> None:
    mkt = market(XBTUSD, XBTUSDT, XBTUSD="100", XBTUSDT="20000")
    account = funded(XBT="100", USDT="100000")
    for symbol, qty in (("XBTUSD", "100000"), ("XBTUSDT", "10")):
        for side in (Side.BUY, Side.SELL):
            for mode in (MarginMode.CROSS, MarginMode.ISOLATED):
                p = pos(opened(account, mkt, symbol, side, qty, mode, 20), mkt, symbol)
                assert p.liquidation_price is not None
                assert p.bankruptcy_price is not None
                if side is Side.BUY:
                    assert p.liquidation_price > p.bankruptcy_price
                else:
                    assert p.liquidation_price < p.bankruptcy_price


def test_at_or_through_liquidation_is_margin_left_at_most_maintenance() -> None:
    account, mkt = karen()
    # At 510: PnL 20 × (510 − 1000) = −9800; margin left 10000 − 9800 = 200 = maintenance.
    at = pos(account, mkt.with_mark("ETHUSDT", D("510")), "ETHUSDT")
    assert at.margin_left == 200
    assert at.at_or_through_liquidation
    assert pos(account, mkt.with_mark("ETHUSDT", D("505")), "ETHUSDT").at_or_through_liquidation
    above = pos(account, mkt.with_mark("ETHUSDT", D("510.01")), "ETHUSDT")
    assert not above.at_or_through_liquidation
