"""Side by side: the same position isolated and cross, compared at one mark
(sandbox.engine.twins). The twins are opened through the engine as the desk opens them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sandbox.engine import (
    Account,
    MarginMode,
    Market,
    Side,
    account_figures,
    apply_mark,
    close_position,
    realise_profit,
)
from sandbox.engine.twins import TwinsComparison, TwinsGap, compare_twins

from .helpers import ETHUSDT, XBTUSD, bal, funded, market, opened

D = Decimal


def opened_twins(mkt: Market) -> tuple[Account, Account]:
    iso = opened(funded(USDT="10000"), mkt, "ETHUSDT", Side.BUY, "20", MarginMode.ISOLATED, 20)
    cross = opened(funded(USDT="10000"), mkt, "ETHUSDT", Side.BUY, "20", MarginMode.CROSS, 50)
    return iso, cross


def compared(iso: Account, cross: Account, mkt: Market, currency: str = "USDT") -> TwinsComparison:
    a, b = account_figures(iso, mkt), account_figures(cross, mkt)
    return compare_twins(
        a.balances[currency],
        b.balances[currency],
        a.positions.get("ETHUSDT") or a.positions.get("XBTUSD"),
        b.positions.get("ETHUSDT") or b.positions.get("XBTUSD"),
    )


def test_twins_are_alike_until_a_realisation() -> None:
    mkt = market(ETHUSDT, ETHUSDT="1000")
    iso, cross = opened_twins(mkt)
    mkt = mkt.with_mark("ETHUSDT", D("1050"))  # both 20 × 50 = +1000 unrealised
    c = compare_twins(bal(iso, mkt, "USDT"), bal(cross, mkt, "USDT"))
    assert (c.isolated_wallet, c.cross_wallet) == (10000, 10000)
    assert (c.isolated_pnl, c.cross_pnl) == (1000, 1000)
    assert (c.isolated_equity, c.cross_equity) == (11000, 11000)
    assert (c.wallet_gap, c.pnl_gap, c.equity_gap) == (0, 0, 0)
    assert c.gap is TwinsGap.ALIKE
    assert c.mark_price is None  # no position given


def test_a_realisation_moves_the_cross_twins_profit_into_its_wallet_the_equity_stays() -> None:
    mkt = market(ETHUSDT, ETHUSDT="1000")
    iso, cross = opened_twins(mkt)
    mkt = mkt.with_mark("ETHUSDT", D("1100"))
    iso = realise_profit(iso, mkt).account  # isolated: nothing to realise
    cross = realise_profit(cross, mkt).account  # cross: 20 × 100 = 2000 into the wallet
    c = compared(iso, cross, mkt)
    assert (c.isolated_wallet, c.cross_wallet) == (10000, 12000)
    assert (c.isolated_pnl, c.cross_pnl) == (2000, 0)
    assert (c.isolated_equity, c.cross_equity) == (12000, 12000)
    assert (c.wallet_gap, c.pnl_gap, c.equity_gap) == (2000, 2000, 0)
    assert c.cross_wallet_higher and not c.cross_equity_higher
    assert (c.isolated_entry, c.cross_entry) == (1000, 1100)  # cross measured from 1100
    assert c.mark_price == 1100
    assert c.gap is TwinsGap.REALISED

    # The mark falls to 980 (the isolated twin's liquidation price is 960): the cross twin
    # is 2400 down from 1100, the isolated one 400 down from 1000; the 2000 stays in the
    # cross twin's wallet, the equities agree.
    mkt = mkt.with_mark("ETHUSDT", D("980"))
    iso = apply_mark(iso, mkt, "ETHUSDT").account
    cross = apply_mark(cross, mkt, "ETHUSDT").account
    c = compared(iso, cross, mkt)
    assert (c.isolated_pnl, c.cross_pnl) == (-400, -2400)
    assert (c.isolated_equity, c.cross_equity) == (9600, 9600)
    assert (c.wallet_gap, c.pnl_gap) == (2000, 2000)
    assert c.gap is TwinsGap.REALISED


def test_twins_apart_once_one_has_closed() -> None:
    mkt = market(ETHUSDT, ETHUSDT="1000")
    iso, cross = opened_twins(mkt)
    mkt = mkt.with_mark("ETHUSDT", D("1100"))
    cross = realise_profit(cross, mkt).account  # 2000 realised into the wallet
    iso = close_position(iso, mkt, "ETHUSDT").account  # 2000 realised by the close
    c = compared(iso, cross, mkt)
    assert (c.isolated_wallet, c.cross_wallet) == (12000, 12000)
    assert (c.isolated_equity, c.cross_equity, c.equity_gap) == (12000, 12000, 0)
    assert c.isolated_entry is None and c.cross_entry == 1100
    assert c.mark_price == 1100  # read from the position still open

    # Back to 1000: the cross twin, still open, is 2000 down from 1100.
    mkt = mkt.with_mark("ETHUSDT", D("1000"))
    cross = apply_mark(cross, mkt, "ETHUSDT").account
    c = compared(iso, cross, mkt)
    assert (c.isolated_pnl, c.cross_pnl) == (0, -2000)
    assert (c.isolated_equity, c.cross_equity) == (12000, 10000)
    assert (c.wallet_gap, c.pnl_gap, c.equity_gap) == (0, 2000, -2000)
    assert not c.cross_equity_higher
    assert c.gap is TwinsGap.APART
    assert c.mark_price == 1000


def test_inverse_twins_compare_in_the_settle_currency() -> None:
    """XBTUSD settles in XBT: 1000 contracts long at 50,000, 20x isolated and 100x cross."""
    mkt = market(XBTUSD, XBTUSD="50000")
    iso = opened(funded(XBT="1"), mkt, "XBTUSD", Side.BUY, "1000", MarginMode.ISOLATED, 20)
    cross = opened(funded(XBT="1"), mkt, "XBTUSD", Side.BUY, "1000", MarginMode.CROSS, 100)
    mkt = mkt.with_mark("XBTUSD", D("40000"))
    a, b = account_figures(iso, mkt), account_figures(cross, mkt)
    # 1000 × (1/50,000 − 1/40,000) = −0.005 XBT for both.
    assert a.positions["XBTUSD"].unrealised_pnl == b.positions["XBTUSD"].unrealised_pnl
    c = compared(iso, cross, mkt, "XBT")
    assert c.currency == "XBT"
    assert c.isolated_pnl == c.cross_pnl == D("-0.005")
    assert c.equity_gap == 0 and c.gap is TwinsGap.ALIKE
    assert c.mark_price == 40000


def test_twins_in_different_currencies_do_not_compare() -> None:
    mkt = market(ETHUSDT, XBTUSD, ETHUSDT="1000", XBTUSD="50000")
    account = funded(USDT="100", XBT="1")
    with pytest.raises(ValueError, match="USDT and XBT"):
        compare_twins(bal(account, mkt, "USDT"), bal(account, mkt, "XBT"))
