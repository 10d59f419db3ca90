"""Rule 9: periodic profit realisation of cross positions."""

from __future__ import annotations

from decimal import Decimal

from sandbox.engine import (
    LedgerReason,
    MarginMode,
    ProfitRealisedEvent,
    Side,
    account_figures,
    apply_mark,
    place_order,
    realise_profit,
)

from .helpers import (
    ETHUSDT,
    XBTUSD,
    XBTUSDT,
    bal,
    close_to,
    div,
    funded,
    market,
    opened,
    pos,
    q8,
)

D = Decimal


def test_karen_profit_realisation_step_by_step() -> None:
    mkt = market(ETHUSDT, ETHUSDT="1000")
    account = opened(funded(USDT="10000"), mkt, "ETHUSDT", Side.BUY, "20", MarginMode.CROSS, 50)
    assert bal(account, mkt, "USDT").available_balance == 9600

    # Mark 1100, realise: 20 × 100 = 2000 into the wallet; avg entry moves to 1100.
    mkt = mkt.with_mark("ETHUSDT", D("1100"))
    outcome = realise_profit(account, mkt)
    assert outcome.events == (ProfitRealisedEvent("ETHUSDT", "USDT", D("2000")),)
    assert [(e.reason, e.amount) for e in outcome.ledger] == [
        (LedgerReason.PROFIT_REALISATION, D("2000"))
    ]
    account = outcome.account
    assert account.wallet("USDT") == 12000
    assert account.positions["ETHUSDT"].realised_pnl == 2000
    p = pos(account, mkt, "ETHUSDT")
    assert (p.avg_cost_price, p.avg_entry_price, p.unrealised_pnl) == (1000, 1100, 0)
    assert (p.initial_margin, p.maintenance_margin) == (400, 200)
    # Available 12000 − 400 = 11600; funds 12000: 20P − 22000 = 200 − 12000 → 510 still.
    assert bal(account, mkt, "USDT").available_balance == 11600
    assert (p.liquidation_price, p.bankruptcy_price) == (510, 500)

    # Mark 950: a 3000 loss from 1100. Available 12000 − 400 − 3000 = 8600.
    mkt = mkt.with_mark("ETHUSDT", D("950"))
    account = apply_mark(account, mkt, "ETHUSDT").account
    assert bal(account, mkt, "USDT").available_balance == 8600
    assert pos(account, mkt, "ETHUSDT").liquidation_price == 510

    # Mark 900, buy 10: cost 29000/30 = 966.67; entry (22000 + 9000)/30 = 1033.33.
    mkt = mkt.with_mark("ETHUSDT", D("900"))
    account = apply_mark(account, mkt, "ETHUSDT").account
    account = place_order(account, mkt, "ETHUSDT", Side.BUY, D("10")).account
    p = pos(account, mkt, "ETHUSDT")
    assert (p.initial_margin, p.maintenance_margin) == (580, 290)
    assert q8(p.avg_cost_price) == D("966.66666667")
    assert q8(p.avg_entry_price) == D("1033.33333333")
    # PnL 27000 − 31000 = −4000; available 12000 − 580 − 4000 = 7420; funds 12000:
    # 30P − 31000 = 290 − 12000 → 643; 30P − 31000 = −12000 → 633.33.
    assert bal(account, mkt, "USDT").available_balance == 7420
    assert p.liquidation_price == 643
    assert q8(p.bankruptcy_price) == D("633.33333333")

    # Mark 800: another 3000 of loss; available 4420.
    mkt = mkt.with_mark("ETHUSDT", D("800"))
    account = apply_mark(account, mkt, "ETHUSDT").account
    assert bal(account, mkt, "USDT").available_balance == 4420

    # Mark 1200, realise: 30 × (1200 − 1033.33) = 5000; wallet 17000, available 16420.
    mkt = mkt.with_mark("ETHUSDT", D("1200"))
    outcome = realise_profit(account, mkt)
    assert outcome.events == (ProfitRealisedEvent("ETHUSDT", "USDT", D("5000")),)
    account = outcome.account
    assert account.wallet("USDT") == 17000
    assert bal(account, mkt, "USDT").available_balance == 16420
    p = pos(account, mkt, "ETHUSDT")
    assert p.avg_entry_price == 1200
    assert q8(p.avg_cost_price) == D("966.66666667")
    assert p.liquidation_price == 643
    assert q8(p.bankruptcy_price) == D("633.33333333")


def test_realisation_of_a_linear_short() -> None:
    # 5000 USDT, short 20 ETHUSDT at 1000 50x cross; 1240/1250 (see test_figures).
    mkt = market(ETHUSDT, ETHUSDT="1000")
    account = opened(funded(USDT="5000"), mkt, "ETHUSDT", Side.SELL, "20", MarginMode.CROSS, 50)
    mkt = mkt.with_mark("ETHUSDT", D("900"))
    outcome = realise_profit(account, mkt)
    assert outcome.events == (ProfitRealisedEvent("ETHUSDT", "USDT", D("2000")),)
    p = pos(outcome.account, mkt, "ETHUSDT")
    assert (p.avg_cost_price, p.avg_entry_price) == (1000, 900)
    # Funds 7000: −20P + 18000 = 200 − 7000 → 1240; −20P + 18000 = −7000 → 1250.
    assert (p.liquidation_price, p.bankruptcy_price) == (1240, 1250)
    assert bal(outcome.account, mkt, "USDT").available_balance == 6600


def test_realisation_of_an_inverse_long() -> None:
    mkt = market(XBTUSD, XBTUSD="100")
    account = opened(funded(XBT="100"), mkt, "XBTUSD", Side.BUY, "10000", MarginMode.CROSS, 25)
    mkt = mkt.with_mark("XBTUSD", D("125"))
    outcome = realise_profit(account, mkt)
    # 100 − 10000/125 = 20; entry value 100 − 20 = 80 → avg entry 10000/80 = 125.
    assert outcome.events == (ProfitRealisedEvent("XBTUSD", "XBT", D("20")),)
    assert outcome.account.wallet("XBT") == 120
    p = pos(outcome.account, mkt, "XBTUSD")
    assert (p.avg_cost_price, p.avg_entry_price) == (100, 125)
    # Prices unchanged: 10000/199 and 50.
    assert p.liquidation_price == div(10000, 199)
    assert p.bankruptcy_price == 50
    assert bal(outcome.account, mkt, "XBT").available_balance == 116


def test_realisation_of_an_inverse_short_rounds_down_and_keeps_prices() -> None:
    # 10 XBT, short 10000 XBTUSD at 100 at 25x cross: funds 10.
    # −100 + 10000/P = 1 − 10 → 10000/91; −100 + 10000/P = −10 → 10000/90.
    mkt = market(XBTUSD, XBTUSD="100")
    account = opened(funded(XBT="10"), mkt, "XBTUSD", Side.SELL, "10000", MarginMode.CROSS, 25)
    lower = mkt.with_mark("XBTUSD", D("97"))
    before = pos(account, lower, "XBTUSD")
    assert before.liquidation_price == div(10000, 91)
    assert before.bankruptcy_price == div(10000, 90)
    # PnL −100 + 10000/97 = 3.0927835051..., realised as 3.09278350.
    outcome = realise_profit(account, lower)
    assert outcome.ledger[0].amount == D("3.09278350")
    assert outcome.account.wallet("XBT") == D("13.09278350")
    after = pos(outcome.account, lower, "XBTUSD")
    assert 0 <= after.unrealised_pnl < D("0.00000001")
    assert q8(after.avg_entry_price) == D("97.00000000")
    assert close_to(after.liquidation_price, before.liquidation_price, D("1e-40"))
    assert close_to(after.bankruptcy_price, before.bankruptcy_price, D("1e-40"))


def test_isolated_positions_losses_and_flat_accounts_realise_nothing() -> None:
    mkt = market(XBTUSD, ETHUSDT, XBTUSD="100", ETHUSDT="1000")
    account = opened(funded(XBT="100"), mkt, "XBTUSD", Side.BUY, "10000", MarginMode.ISOLATED, 25)
    higher = mkt.with_mark("XBTUSD", D("125"))
    outcome = realise_profit(account, higher)
    assert (outcome.events, outcome.ledger) == ((), ())
    assert outcome.account.positions == account.positions
    # A cross position at a loss realises nothing either.
    losing = opened(funded(USDT="1000"), mkt, "ETHUSDT", Side.BUY, "1", MarginMode.CROSS, 10)
    outcome = realise_profit(losing, mkt.with_mark("ETHUSDT", D("990")))
    assert (outcome.events, outcome.ledger) == ((), ())
    # Nothing open: nothing happens, and it is not an error.
    outcome = realise_profit(funded(USDT="1"), mkt)
    assert (outcome.events, outcome.ledger, outcome.fills) == ((), (), ())


def test_realised_profit_is_shared_with_the_other_cross_positions() -> None:
    # Bryan: long 1 XBTUSDT at 20000, short 20 ETHUSDT at 1000, 5000 USDT, 50x cross.
    mkt = market(XBTUSDT, ETHUSDT, XBTUSDT="20000", ETHUSDT="1000")
    account = opened(funded(USDT="5000"), mkt, "XBTUSDT", Side.BUY, "1", MarginMode.CROSS, 50)
    account = opened(account, mkt, "ETHUSDT", Side.SELL, "20", MarginMode.CROSS, 50)
    # Only XBTUSDT wins: mark 22000; ETH still at 1000.
    mkt = mkt.with_mark("XBTUSDT", D("22000"))
    before = account_figures(account, mkt).positions
    assert (before["XBTUSDT"].liquidation_price, before["ETHUSDT"].liquidation_price) == (
        15600,
        1220,
    )
    outcome = realise_profit(account, mkt)
    assert [e.symbol for e in outcome.events] == ["XBTUSDT"]
    after = account_figures(outcome.account, mkt).positions
    # XBT's own realisation leaves its prices: P − 22000 = 200 − 6600 → 15600.
    assert (after["XBTUSDT"].liquidation_price, after["XBTUSDT"].bankruptcy_price) == (
        15600,
        15400,
    )
    # ETH's funds grow by 2000 to 6600: −20P + 20000 = 200 − 6600 → 1320, away from 1000.
    assert (after["ETHUSDT"].liquidation_price, after["ETHUSDT"].bankruptcy_price) == (
        1320,
        1330,
    )


def test_bryan_realisation_figures() -> None:
    mkt = market(XBTUSDT, ETHUSDT, XBTUSDT="20000", ETHUSDT="1000")
    account = opened(funded(USDT="5000"), mkt, "XBTUSDT", Side.BUY, "1", MarginMode.CROSS, 50)
    account = opened(account, mkt, "ETHUSDT", Side.SELL, "20", MarginMode.CROSS, 50)
    mkt = mkt.with_mark("ETHUSDT", D("900")).with_mark("XBTUSDT", D("22000"))
    outcome = realise_profit(account, mkt)
    # Realised in symbol order, 2000 each.
    assert [(e.symbol, e.amount) for e in outcome.events] == [
        ("ETHUSDT", D("2000")),
        ("XBTUSDT", D("2000")),
    ]
    account = outcome.account
    f = account_figures(account, mkt)
    assert f.balances["USDT"].available_balance == 8200
    xbt, eth = f.positions["XBTUSDT"], f.positions["ETHUSDT"]
    assert (xbt.avg_cost_price, xbt.avg_entry_price) == (20000, 22000)
    assert (eth.avg_cost_price, eth.avg_entry_price) == (1000, 900)
    # Funds 8600 each: XBT P − 22000 = 200 − 8600 → 13600/13400;
    # ETH −20P + 18000 = 200 − 8600 → 1320/1330.
    assert (xbt.liquidation_price, xbt.bankruptcy_price) == (13600, 13400)
    assert (eth.liquidation_price, eth.bankruptcy_price) == (1320, 1330)
    # ETH rallies to 1300: −8000 drawn; available 9000 − 800 − 8000 = 200.
    mkt = mkt.with_mark("ETHUSDT", D("1300"))
    account = apply_mark(account, mkt, "ETHUSDT").account
    f = account_figures(account, mkt)
    assert f.balances["USDT"].available_balance == 200
    xbt, eth = f.positions["XBTUSDT"], f.positions["ETHUSDT"]
    # XBT funds 600: P − 22000 = 200 − 600 → 21600/21400. ETH keeps 1320/1330.
    assert (xbt.liquidation_price, xbt.bankruptcy_price) == (21600, 21400)
    assert (eth.liquidation_price, eth.bankruptcy_price) == (1320, 1330)
