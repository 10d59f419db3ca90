"""Rule 7: leverage and margin mode, for an open position or for the next one."""

from __future__ import annotations

from decimal import Decimal

from sandbox.engine import (
    Account,
    MarginMode,
    MarginSetting,
    Market,
    Side,
    account_figures,
    change_margin,
    close_position,
    default_setting,
    place_order,
    set_leverage,
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


def hundred_xbt(
    mode: MarginMode, side: Side = Side.BUY, wallet: str = "100"
) -> tuple[Account, Market]:
    """10000 XBTUSD contracts at 100 (100 XBT of value) at 25x."""
    mkt = market(XBTUSD, XBTUSD="100")
    return opened(funded(XBT=wallet), mkt, "XBTUSD", side, "10000", mode, 25), mkt


def test_never_configured_symbol_trades_cross_at_the_maximum() -> None:
    assert default_setting(ETHUSDT) == MarginSetting(MarginMode.CROSS, D("50"))
    assert default_setting(XBTUSD) == MarginSetting(MarginMode.CROSS, D("100"))
    mkt = market(ETHUSDT, ETHUSDT="1000")
    account = place_order(funded(USDT="1000"), mkt, "ETHUSDT", Side.BUY, D("1")).account
    p = pos(account, mkt, "ETHUSDT")
    assert (p.margin_mode, p.leverage, p.initial_margin) == (MarginMode.CROSS, 50, 20)


def test_with_no_position_the_choice_is_kept_for_the_next_one() -> None:
    mkt = market(XBTUSDT)  # no mark needed to choose leverage
    account = funded(USDT="1000")
    outcome = set_leverage(account, mkt, "XBTUSDT", MarginMode.ISOLATED, D("12.5"))
    assert outcome.account.settings["XBTUSDT"] == MarginSetting(MarginMode.ISOLATED, D("12.5"))
    assert (outcome.ledger, outcome.events, outcome.fills) == ((), (), ())
    assert outcome.account.positions == {}
    assert outcome.account.wallets == account.wallets
    # The next position uses it: 0.1 at 20000 = 2000 at 12.5x: margin 160.
    marked = mkt.with_mark("XBTUSDT", D("20000"))
    after = place_order(outcome.account, marked, "XBTUSDT", Side.BUY, D("0.1")).account
    p = pos(after, marked, "XBTUSDT")
    assert (p.margin_mode, p.leverage, p.position_margin) == (MarginMode.ISOLATED, D("12.5"), 160)
    # ... and after closing, the one after that too.
    closed = close_position(after, marked, "XBTUSDT").account
    again = place_order(closed, marked, "XBTUSDT", Side.SELL, D("0.1")).account
    assert pos(again, marked, "XBTUSDT").margin_mode is MarginMode.ISOLATED
    assert pos(again, marked, "XBTUSDT").leverage == D("12.5")


def test_mode_and_leverage_may_be_given_as_plain_text_and_int() -> None:
    mkt = market(XBTUSDT)
    outcome = set_leverage(funded(USDT="1"), mkt, "XBTUSDT", "isolated", 7)  # type: ignore[arg-type]
    assert outcome.account.settings["XBTUSDT"] == MarginSetting(MarginMode.ISOLATED, D("7"))


def test_new_isolated_leverage_sets_margin_from_cost_and_drops_added_margin() -> None:
    account, mkt = hundred_xbt(MarginMode.ISOLATED)
    account = change_margin(account, mkt, "XBTUSD", D("2")).account
    assert account.positions["XBTUSD"].position_margin == 6
    # At 10x the margin becomes |value at cost| / 10 = 10, not 10 + 2; even at another mark.
    moved = mkt.with_mark("XBTUSD", D("99"))
    outcome = set_leverage(account, moved, "XBTUSD", MarginMode.ISOLATED, D(10))
    p = pos(outcome.account, moved, "XBTUSD")
    assert p.position_margin == 10
    assert p.leverage == 10
    assert bal(outcome.account, moved, "XBT").available_balance == 90
    # 100 − 10000/P = 1 − 10 → P = 10000/109.
    assert p.liquidation_price == div(10000, 109)
    # Back to 25x: 4, the 2 added by hand are gone.
    back = set_leverage(outcome.account, moved, "XBTUSD", MarginMode.ISOLATED, D(25)).account
    assert back.positions["XBTUSD"].position_margin == 4
    assert outcome.account.settings["XBTUSD"] == MarginSetting(MarginMode.ISOLATED, D(10))


def test_new_isolated_leverage_on_shorts() -> None:
    # Linear short 0.1 XBTUSDT at 20000 isolated 10x (margin 200) to 5x: margin 400;
    # −0.1P + 2000 = 20 − 400 → 23800.
    mkt = market(XBTUSDT, XBTUSDT="20000")
    account = opened(funded(USDT="1000"), mkt, "XBTUSDT", Side.SELL, "0.1", MarginMode.ISOLATED, 10)
    account = set_leverage(account, mkt, "XBTUSDT", MarginMode.ISOLATED, D(5)).account
    p = pos(account, mkt, "XBTUSDT")
    assert (p.position_margin, p.liquidation_price, p.bankruptcy_price) == (400, 23800, 24000)
    # Inverse short 100 XBT at 25x to 10x: margin 10; −100 + 10000/P = 1 − 10 → 10000/91.
    short, xmkt = hundred_xbt(MarginMode.ISOLATED, Side.SELL)
    short = set_leverage(short, xmkt, "XBTUSD", MarginMode.ISOLATED, D(10)).account
    p = pos(short, xmkt, "XBTUSD")
    assert p.position_margin == 10
    assert p.liquidation_price == div(10000, 91)


def test_cross_to_isolated_sets_margin_and_isolated_to_cross_releases_it() -> None:
    account, mkt = hundred_xbt(MarginMode.CROSS)
    p = pos(account, mkt, "XBTUSD")
    assert p.liquidation_price == div(10000, 199)
    isolated = set_leverage(account, mkt, "XBTUSD", MarginMode.ISOLATED, D(25)).account
    assert isolated.positions["XBTUSD"].position_margin == 4
    p = pos(isolated, mkt, "XBTUSD")
    assert (p.margin_mode, p.funds) == (MarginMode.ISOLATED, 4)
    assert p.liquidation_price == div(10000, 103)
    assert bal(isolated, mkt, "XBT").available_balance == 96
    cross = set_leverage(isolated, mkt, "XBTUSD", MarginMode.CROSS, D(25)).account
    assert cross.positions["XBTUSD"].position_margin == 0
    p = pos(cross, mkt, "XBTUSD")
    # Shown margin for cross = initial 4; funds 96 + 4 = 100.
    assert (p.margin_mode, p.position_margin, p.funds) == (MarginMode.CROSS, 4, 100)
    assert p.liquidation_price == div(10000, 199)


def test_changing_cross_leverage_of_a_single_position_moves_initial_margin_not_prices() -> None:
    # Karen 50x → 10x: initial 20000/10 = 2000, available 8000; funds are still the whole
    # wallet, so liquidation stays at 510.
    mkt = market(ETHUSDT, ETHUSDT="1000")
    account = opened(funded(USDT="10000"), mkt, "ETHUSDT", Side.BUY, "20", MarginMode.CROSS, 50)
    account = set_leverage(account, mkt, "ETHUSDT", MarginMode.CROSS, D(10)).account
    p = pos(account, mkt, "ETHUSDT")
    assert (p.initial_margin, p.leverage, p.liquidation_price) == (2000, 10, 510)
    assert bal(account, mkt, "USDT").available_balance == 8000


def test_leverage_change_refused_when_available_would_go_below_zero() -> None:
    # 10 XBT; 100 XBT of value isolated 25x: margin 4, available 6. 10x needs 10: accepted,
    # available 0. 5x needs 20: 10 XBT short.
    account, mkt = hundred_xbt(MarginMode.ISOLATED, wallet="10")
    account = set_leverage(account, mkt, "XBTUSD", MarginMode.ISOLATED, D(10)).account
    assert bal(account, mkt, "XBT").available_internal == 0
    assert_rejected(
        lambda: set_leverage(account, mkt, "XBTUSD", MarginMode.ISOLATED, D(5)),
        account,
        mkt,
        "Not enough available balance: switching XBTUSD to isolated margin at 5x needs 10 XBT more",
    )
    # Cross: 1000 USDT, 20 ETHUSDT at 50x (400); 1x would need 20000: 19000 short.
    emkt = market(ETHUSDT, ETHUSDT="1000")
    cross = opened(funded(USDT="1000"), emkt, "ETHUSDT", Side.BUY, "20", MarginMode.CROSS, 50)
    assert_rejected(
        lambda: set_leverage(cross, emkt, "ETHUSDT", MarginMode.CROSS, D(1)),
        cross,
        emkt,
        "switching ETHUSDT to cross margin at 1x needs 19,000 USDT more",
    )


def test_leverage_change_refused_when_it_would_liquidate() -> None:
    account, mkt = hundred_xbt(MarginMode.ISOLATED)
    lower = mkt.with_mark("XBTUSD", D("97.5"))
    # PnL −2.564...; at 100x the margin would be 1: 1 − 2.564 is below the maintenance 1.
    assert_rejected(
        lambda: set_leverage(account, lower, "XBTUSD", MarginMode.ISOLATED, D(100)),
        account,
        lower,
        "Switching XBTUSD to isolated margin at 100x would leave your XBTUSD position at or "
        "beyond its liquidation price",
    )
    cross, _ = hundred_xbt(MarginMode.CROSS)
    # Cross to isolated 50x in the same loss: margin 2 − 2.564 < 1.
    assert_rejected(
        lambda: set_leverage(cross, lower, "XBTUSD", MarginMode.ISOLATED, D(50)),
        cross,
        lower,
        "at or beyond its liquidation price",
    )


def test_leverage_out_of_range_is_refused() -> None:
    mkt = market(XBTUSDT, ETHUSDT, XBTUSDT="20000", ETHUSDT="1000")
    account = opened(funded(USDT="10000"), mkt, "XBTUSDT", Side.BUY, "0.1", MarginMode.CROSS, 10)
    for symbol, leverage, maximum in (
        ("XBTUSDT", D("0.5"), "100"),
        ("XBTUSDT", D("0"), "100"),
        ("XBTUSDT", D("-5"), "100"),
        ("XBTUSDT", D("100.01"), "100"),
        ("ETHUSDT", D("51"), "50"),
    ):
        for mode in (MarginMode.CROSS, MarginMode.ISOLATED):
            assert_rejected(
                lambda s=symbol, m=mode, lev=leverage: set_leverage(account, mkt, s, m, lev),
                account,
                mkt,
                f"Leverage on {symbol} must be from 1x to {maximum}x",
                "is outside that",
            )
    # The bounds themselves are allowed.
    assert set_leverage(account, mkt, "XBTUSDT", MarginMode.ISOLATED, D(1)).account
    assert set_leverage(account, mkt, "XBTUSDT", MarginMode.CROSS, D(100)).account
    assert set_leverage(account, mkt, "ETHUSDT", MarginMode.ISOLATED, D(50)).account


def test_unknown_symbol_is_refused() -> None:
    mkt = market(XBTUSDT)
    account = funded(USDT="1")
    assert_rejected(
        lambda: set_leverage(account, mkt, "NOPE", MarginMode.CROSS, D(2)),
        account,
        mkt,
        "no instrument called 'NOPE'",
    )


def test_leverage_change_touches_only_its_own_symbol() -> None:
    mkt = market(XBTUSDT, ETHUSDT, XBTUSDT="20000", ETHUSDT="1000")
    account = opened(funded(USDT="10000"), mkt, "XBTUSDT", Side.BUY, "0.1", MarginMode.ISOLATED, 10)
    account = opened(account, mkt, "ETHUSDT", Side.BUY, "1", MarginMode.ISOLATED, 10)
    after = set_leverage(account, mkt, "ETHUSDT", MarginMode.ISOLATED, D(5)).account
    assert after.positions["XBTUSDT"] == account.positions["XBTUSDT"]
    assert after.positions["ETHUSDT"].position_margin == 200
    assert account_figures(after, mkt).positions["XBTUSDT"].liquidation_price == 18200
