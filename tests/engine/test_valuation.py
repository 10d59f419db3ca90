"""Valuing an account of several currencies in one: equity, return and leverage."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest

from sandbox.engine import (
    BUILT_IN_INSTRUMENTS,
    Account,
    MarginMode,
    Market,
    Position,
    account_figures,
)
from sandbox.engine.money import engine_context
from sandbox.engine.valuation import Rate, account_value, base_and_quote, valuation

D = Decimal
XBTUSDT, XBTUSD, ETHUSDT = (BUILT_IN_INSTRUMENTS[s] for s in ("XBTUSDT", "XBTUSD", "ETHUSDT"))


def market(**marks: str) -> Market:
    chosen = {s: BUILT_IN_INSTRUMENTS[s] for s in marks}
    return Market(chosen, {s: D(p) for s, p in marks.items()})


def test_base_and_quote_of_linear_and_inverse_contracts() -> None:
    assert base_and_quote(XBTUSDT) == ("XBT", "USDT")
    assert base_and_quote(ETHUSDT) == ("ETH", "USDT")
    assert base_and_quote(XBTUSD) == ("XBT", "USD")


def test_xbt_is_valued_at_the_linear_mark_before_the_inverse_one() -> None:
    rates = valuation(market(XBTUSDT="62500", XBTUSD="62000"), "USDT", ["XBT"])
    assert rates.rates == {"USDT": Rate("USDT", D(1)), "XBT": Rate("XBT", D(62500), "XBTUSDT")}
    assert rates.marked == (Rate("XBT", D(62500), "XBTUSDT"),)
    assert rates.unvalued == ()


def test_with_only_the_inverse_contract_a_usd_mark_counts_as_usdt() -> None:
    rates = valuation(market(XBTUSD="50000"), "USDT", ["XBT"])
    assert rates.rates["XBT"] == Rate("XBT", D(50000), "XBTUSD", dollar=True)
    assert valuation(market(XBTUSD="50000"), "USD", ["XBT"]).rates["XBT"] == Rate(
        "XBT", D(50000), "XBTUSD"
    )


def test_a_currency_without_a_mark_is_left_unvalued() -> None:
    rates = valuation(market(ETHUSDT="3000"), "USDT", ["XBT", "USDT"])
    assert rates.unvalued == ("XBT",)
    assert rates.value("XBT", D(1)) is None
    assert rates.value("USDT", D(5)) == D(5)


def short_20x() -> Account:
    """A 20x isolated short of 30,000 XBTUSD contracts opened at 60,000 (value 0.5 XBT,
    margin 0.025 XBT), beside 10,000 USDT and 0.99975 XBT."""
    position = Position(
        "XBTUSD", D(-30000), D("-0.5"), D("-0.5"), MarginMode.ISOLATED, D(20), D("0.025")
    )
    return Account(wallets={"USDT": D(10000), "XBT": D("0.99975")}, positions={"XBTUSD": position})


def test_a_losing_inverse_short_counts_in_the_equity_and_return() -> None:
    prices = market(XBTUSDT="62500", XBTUSD="62500")
    rates = valuation(prices, "USDT", ["XBT"])
    figures = account_figures(short_20x(), prices)

    value = account_value(figures, prices, rates, {"USDT": D(10000), "XBT": D(1)})

    # XBT margin balance: 0.99975 − 0.02 (30,000/60,000 − 30,000/62,500), at 62,500.
    assert value.margin_balances == {"USDT": D(10000), "XBT": D("0.97975")}
    assert value.equity == D("71234.375")
    assert value.start_value == D(72500)
    assert value.notional == D(30000)  # 0.48 XBT at 62,500
    with localcontext(engine_context()):
        assert value.return_percent == D("-1265.625") / D(72500) * 100
        assert value.effective_leverage == D(30000) / D("71234.375")
    [position] = value.positions
    assert (position.symbol, position.is_long, position.margin_mode) == (
        "XBTUSD",
        False,
        MarginMode.ISOLATED,
    )
    assert position.leverage == 20
    assert position.effective_leverage == D(20)  # 0.5 XBT at cost over 0.025 XBT
    assert position.notional == D(30000)


def test_an_account_that_did_nothing_returns_nothing_whatever_the_price() -> None:
    held = Account(wallets={"USDT": D(10000), "XBT": D(1)})
    for price in ("30000", "90000"):
        prices = market(XBTUSDT=price)
        value = account_value(
            account_figures(held, prices),
            prices,
            valuation(prices, "USDT", ["XBT"]),
            {"USDT": D(10000), "XBT": D(1)},
        )
        assert value.return_percent == 0
        assert value.effective_leverage is None
        assert value.distance_to_liquidation is None


@pytest.mark.parametrize("start", [{}, {"USDT": D(0)}])
def test_a_start_worth_nothing_has_no_return(start: dict[str, Decimal]) -> None:
    prices = market(XBTUSDT="60000")
    empty = Account(wallets={"USDT": D(0)})
    value = account_value(
        account_figures(empty, prices), prices, valuation(prices, "USDT", []), start
    )
    assert value.return_percent is None
    assert value.equity == 0
