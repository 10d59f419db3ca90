"""Rule 10: funding payments at the mark, their sign, and isolated positions' margin."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sandbox.engine import (
    Account,
    FundingEvent,
    LedgerEntry,
    LedgerReason,
    LiquidationEvent,
    MarginMode,
    Market,
    Side,
    pay_funding,
)

from .helpers import (
    ETHUSDT,
    XBTUSD,
    assert_rejected,
    bal,
    div,
    funded,
    market,
    opened,
    pos,
)

D = Decimal


@pytest.mark.parametrize(
    ("side", "rate", "change"),
    [
        # |value at mark| = 20 × 1100 = 22000; × 0.0001 = 2.2.
        (Side.BUY, D("0.0001"), D("-2.2")),  # positive rate: longs pay
        (Side.SELL, D("0.0001"), D("2.2")),  # ... shorts receive
        (Side.BUY, D("-0.0001"), D("2.2")),  # negative rate: longs receive
        (Side.SELL, D("-0.0001"), D("-2.2")),  # ... shorts pay
    ],
)
def test_funding_sign_linear_cross(side: Side, rate: Decimal, change: Decimal) -> None:
    mkt = market(ETHUSDT, ETHUSDT="1000")
    account = opened(funded(USDT="10000"), mkt, "ETHUSDT", side, "20", MarginMode.CROSS, 50)
    mkt = mkt.with_mark("ETHUSDT", D("1100"))
    outcome = pay_funding(account, mkt, "ETHUSDT", rate)
    assert outcome.events == (FundingEvent("ETHUSDT", "USDT", rate, change),)
    assert outcome.ledger == (LedgerEntry("USDT", change, LedgerReason.FUNDING, "ETHUSDT"),)
    assert outcome.account.wallet("USDT") == 10000 + change
    assert outcome.account.positions["ETHUSDT"].realised_pnl == change
    # Cross funding comes from the wallet: no position margin is set aside.
    assert outcome.account.positions["ETHUSDT"].position_margin == 0


@pytest.mark.parametrize(
    ("side", "rate", "change"),
    [
        # |value at mark| = 10000/80 = 125 XBT; × 0.0001 = 0.0125.
        (Side.BUY, D("0.0001"), D("-0.0125")),
        (Side.SELL, D("0.0001"), D("0.0125")),
        (Side.BUY, D("-0.0001"), D("0.0125")),
        (Side.SELL, D("-0.0001"), D("-0.0125")),
    ],
)
def test_funding_sign_inverse_cross(side: Side, rate: Decimal, change: Decimal) -> None:
    mkt = market(XBTUSD, XBTUSD="100")
    account = opened(funded(XBT="100"), mkt, "XBTUSD", side, "10000", MarginMode.CROSS, 10)
    mkt = mkt.with_mark("XBTUSD", D("80"))
    outcome = pay_funding(account, mkt, "XBTUSD", rate)
    assert [e.amount for e in outcome.events if isinstance(e, FundingEvent)] == [change]
    assert outcome.account.wallet("XBT") == 100 + change


def test_cross_funding_moves_the_cross_prices_through_the_wallet() -> None:
    # Karen at 1100 pays 2.2: funds 9997.8; 20P − 20000 = 200 − 9997.8 → 510.11.
    mkt = market(ETHUSDT, ETHUSDT="1000")
    account = opened(funded(USDT="10000"), mkt, "ETHUSDT", Side.BUY, "20", MarginMode.CROSS, 50)
    mkt = mkt.with_mark("ETHUSDT", D("1100"))
    account = pay_funding(account, mkt, "ETHUSDT", D("0.0001")).account
    assert pos(account, mkt, "ETHUSDT").liquidation_price == D("510.11")


def isolated_100_xbt(side: Side = Side.BUY) -> tuple[Account, Market]:
    mkt = market(XBTUSD, XBTUSD="100")
    return opened(funded(XBT="100"), mkt, "XBTUSD", side, "10000", MarginMode.ISOLATED, 25), mkt


def test_isolated_funding_moves_the_liquidation_price() -> None:
    account, mkt = isolated_100_xbt()
    assert pos(account, mkt, "XBTUSD").liquidation_price == div(10000, 103)
    # Rate 0.01 on 100 XBT: pays 1 from the wallet and from the position margin.
    paid = pay_funding(account, mkt, "XBTUSD", D("0.01")).account
    assert paid.wallet("XBT") == 99
    assert paid.positions["XBTUSD"].position_margin == 3
    assert bal(paid, mkt, "XBT").available_balance == 96
    # 100 − 10000/P = 1 − 3 → 10000/102 (towards the mark); bankruptcy 10000/103.
    p = pos(paid, mkt, "XBTUSD")
    assert p.liquidation_price == div(10000, 102)
    assert p.bankruptcy_price == div(10000, 103)
    # Rate −0.01: receives 1 into the margin: 10000/104 (away from the mark).
    received = pay_funding(account, mkt, "XBTUSD", D("-0.01")).account
    assert received.wallet("XBT") == 101
    assert received.positions["XBTUSD"].position_margin == 5
    assert pos(received, mkt, "XBTUSD").liquidation_price == div(10000, 104)


def test_isolated_short_receiving_funding() -> None:
    account, mkt = isolated_100_xbt(Side.SELL)
    received = pay_funding(account, mkt, "XBTUSD", D("0.01")).account
    assert received.positions["XBTUSD"].position_margin == 5
    # −100 + 10000/P = 1 − 5 → 10000/96 (up from 10000/97: away from the mark).
    assert pos(received, mkt, "XBTUSD").liquidation_price == div(10000, 96)


def test_isolated_position_never_pays_more_than_its_margin() -> None:
    account, mkt = isolated_100_xbt()
    # Rate 0.05 would be 5 XBT; only the margin of 4 is paid, and the empty position is
    # taken over at once, losing nothing more.
    outcome = pay_funding(account, mkt, "XBTUSD", D("0.05"))
    funding, liquidation = outcome.events
    assert isinstance(funding, FundingEvent)
    assert funding.amount == -4
    assert isinstance(liquidation, LiquidationEvent)
    assert liquidation.loss == 0
    assert outcome.account.positions == {}
    assert outcome.account.wallet("XBT") == 96


def test_funding_that_pushes_an_isolated_position_through_liquidation() -> None:
    account, mkt = isolated_100_xbt()
    lower = mkt.with_mark("XBTUSD", D("97.5"))
    # Value at mark 10000/97.5 = 102.564...; × 0.005 = 0.512820512..., paid as 0.51282052.
    # Margin 3.48717948; PnL −2.56410256...: margin left 0.923 ≤ 1: liquidated, losing the
    # remaining margin. In total the trader loses exactly the 4 XBT set aside.
    outcome = pay_funding(account, lower, "XBTUSD", D("0.005"))
    assert [type(e) for e in outcome.events] == [FundingEvent, LiquidationEvent]
    assert outcome.events[0].amount == D("-0.51282052")
    assert outcome.events[1].loss == D("-3.48717948")
    assert outcome.account.wallet("XBT") == 96
    assert outcome.account.positions == {}


def test_funding_with_nothing_open_or_a_zero_rate() -> None:
    mkt = market(XBTUSD)  # no mark: nothing is open, so none is needed
    account = funded(XBT="1")
    outcome = pay_funding(account, mkt, "XBTUSD", D("0.01"))
    assert (outcome.events, outcome.ledger, outcome.fills) == ((), (), ())
    assert outcome.account.wallets == account.wallets
    held, xmkt = isolated_100_xbt()
    outcome = pay_funding(held, xmkt, "XBTUSD", D("0"))
    assert outcome.ledger == ()
    assert outcome.account.positions == held.positions
    assert_rejected(lambda: pay_funding(held, xmkt, "NOPE", D("0.01")), held, xmkt, "no instrument")


def test_funding_reads_each_markets_own_mark_and_refuses_a_missing_one() -> None:
    # The same 20 ETH long on two markets in turn, then back on the first: 20 × 1,100 and
    # 20 × 900 at a rate of 0.0001 pay 2.2 and 1.8 (each market's own mark, however often
    # the markets alternate); with no mark at all there is no value to pay funding on.
    mkt = market(ETHUSDT, ETHUSDT="1000")
    account = opened(funded(USDT="10000"), mkt, "ETHUSDT", Side.BUY, "20", MarginMode.CROSS, 50)
    high, low = mkt.with_mark("ETHUSDT", D("1100")), mkt.with_mark("ETHUSDT", D("900"))
    paid = [
        pay_funding(account, m, "ETHUSDT", D("0.0001")).ledger[0].amount for m in (high, low, high)
    ]
    assert paid == [D("-2.2"), D("-1.8"), D("-2.2")]
    unmarked = market(ETHUSDT)
    assert_rejected(
        lambda: pay_funding(account, unmarked, "ETHUSDT", D("0.0001")),
        account,
        None,  # (no figures without a mark)
        "ETHUSDT has no mark price yet",
    )
