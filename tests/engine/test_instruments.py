"""Contracts: value, PnL, the price at a given PnL and the average price, linear and inverse."""

from __future__ import annotations

import dataclasses
import decimal
from decimal import Decimal

import pytest

from sandbox.engine import BUILT_IN_INSTRUMENTS, ContractKind, Instrument
from sandbox.engine.money import engine_context

from .helpers import ETHUSDT, XBTUSD, XBTUSDT, div

D = Decimal


# ------------------------------------------------------------------------------ value


def test_linear_value_is_qty_times_price_signed() -> None:
    assert XBTUSDT.value(D("0.5"), D("20000")) == D("10000")
    assert XBTUSDT.value(D("-0.5"), D("20000")) == D("-10000")


def test_inverse_value_is_qty_over_price_signed() -> None:
    # 1000 USD contracts at 50000 are worth 1000 / 50000 = 0.02 XBT.
    assert XBTUSD.value(D("1000"), D("50000")) == D("0.02")
    assert XBTUSD.value(D("-1000"), D("50000")) == D("-0.02")


# ------------------------------------------------------------------------------ PnL


def test_linear_pnl_long_and_short() -> None:
    # Long 2 bought for 40000 (at 20000), marked at 21000: 2 × 21000 − 40000 = +2000.
    assert XBTUSDT.pnl(D("2"), D("40000"), D("21000")) == D("2000")
    # Short 2 sold for 40000: value −40000; −2 × 21000 + 40000 = −2000.
    assert XBTUSDT.pnl(D("-2"), D("-40000"), D("21000")) == D("-2000")
    assert XBTUSDT.pnl(D("-2"), D("-40000"), D("19000")) == D("2000")


def test_inverse_pnl_long_and_short() -> None:
    # Long 10000 contracts entered at 100 (value 100 XBT): at 125 the PnL is 100 − 80 = 20.
    assert XBTUSD.pnl(D("10000"), D("100"), D("125")) == D("20")
    # ... and at 80 it is 100 − 125 = −25 (inverse PnL is not symmetric in the price).
    assert XBTUSD.pnl(D("10000"), D("100"), D("80")) == D("-25")
    # Short: entry value −100; at 125: −100 + 80 = −20; at 80: −100 + 125 = +25.
    assert XBTUSD.pnl(D("-10000"), D("-100"), D("125")) == D("-20")
    assert XBTUSD.pnl(D("-10000"), D("-100"), D("80")) == D("25")


# --------------------------------------------------------------------- price at a PnL


def test_linear_price_at_pnl() -> None:
    # Karen: 20 long for 20000, funds 10000, maintenance 200: 20P − 20000 = 200 − 10000.
    assert XBTUSDT.price_at_pnl(D("20"), D("20000"), D("-9800")) == D("510")
    # Short 20 for 20000 (value −20000): −20P + 20000 = −4800  →  P = 1240.
    assert XBTUSDT.price_at_pnl(D("-20"), D("-20000"), D("-4800")) == D("1240")


def test_linear_price_at_pnl_none_when_not_a_positive_price() -> None:
    assert XBTUSDT.price_at_pnl(D("0"), D("0"), D("-1")) is None
    # A loss of the whole value reaches exactly zero, which is not a price.
    assert XBTUSDT.price_at_pnl(D("1"), D("1000"), D("-1000")) is None
    assert XBTUSDT.price_at_pnl(D("1"), D("1000"), D("-2000")) is None


def test_inverse_price_at_pnl_is_solved_in_one_over_price() -> None:
    # Instrument methods use the caller's context; engine functions set the engine's.
    with decimal.localcontext(engine_context()):
        _inverse_price_at_pnl()


def _inverse_price_at_pnl() -> None:
    # 100 − 10000/P = −3  →  P = 10000/103.
    assert XBTUSD.price_at_pnl(D("10000"), D("100"), D("-3")) == div(10000, 103)
    # Short: −100 + 10000/P = −3  →  P = 10000/97.
    assert XBTUSD.price_at_pnl(D("-10000"), D("-100"), D("-3")) == div(10000, 97)
    # A long can gain at most its entry value (at an infinite price): no price for +100.
    assert XBTUSD.price_at_pnl(D("10000"), D("100"), D("100")) is None
    # A short can lose at most its entry value: no price for a loss of 150.
    assert XBTUSD.price_at_pnl(D("-10000"), D("-100"), D("-150")) is None


def test_avg_price_linear_is_value_over_qty_and_inverse_is_harmonic() -> None:
    assert XBTUSDT.avg_price(D("30"), D("29000")) * 3 == D("2900")
    value = XBTUSD.value(D("1000"), D("50000")) + XBTUSD.value(D("3000"), D("50035"))
    harmonic = XBTUSD.avg_price(D("4000"), value)
    # 4000 / (1000/50000 + 3000/50035) = 50026.2454..., not the weighted mean 50026.25.
    assert harmonic.quantize(D("0.0001")) == D("50026.2454")
    assert harmonic != (1000 * D("50000") + 3000 * D("50035")) / 4000


def test_pnl_direction_moves_entry_value_by_the_realised_amount() -> None:
    assert XBTUSDT.pnl_direction() == 1
    assert XBTUSD.pnl_direction() == -1
    for inst, qty, entry, mark in (
        (XBTUSDT, D("2"), D("40000"), D("21000")),
        (XBTUSDT, D("-2"), D("-40000"), D("19000")),
        (XBTUSD, D("10000"), D("100"), D("125")),
        (XBTUSD, D("-10000"), D("-100"), D("80")),
    ):
        pnl = inst.pnl(qty, entry, mark)
        moved = entry + pnl * inst.pnl_direction()
        assert inst.pnl(qty, moved, mark) == 0
        assert inst.avg_price(qty, moved) == mark


# ------------------------------------------------------------------ instrument table


def test_qty_unit() -> None:
    assert XBTUSDT.qty_unit == "XBT"
    assert ETHUSDT.qty_unit == "ETH"
    assert XBTUSD.qty_unit == "USD"
    odd = Instrument("USDT", ContractKind.LINEAR, "USDT")
    assert odd.qty_unit == "contracts"


def test_instrument_defaults_are_the_formats() -> None:
    inst = Instrument("FOO", ContractKind.LINEAR, "USDT")
    assert inst.maint_margin_rate == D("0.005")
    assert inst.max_leverage == D("100")
    assert inst.taker_fee == D("0")
    assert not inst.is_inverse
    assert XBTUSD.is_inverse


def test_instrument_is_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        XBTUSDT.taker_fee = D("1")  # type: ignore[misc]


def test_built_in_instruments() -> None:
    table = BUILT_IN_INSTRUMENTS
    assert set(table) == {"XBTUSDT", "ETHUSDT", "SOLUSDT", "XBTUSD"}
    assert table["XBTUSD"].kind is ContractKind.INVERSE
    assert table["XBTUSD"].settle == "XBT"
    for symbol in ("XBTUSDT", "ETHUSDT", "SOLUSDT"):
        assert table[symbol].kind is ContractKind.LINEAR
        assert table[symbol].settle == "USDT"
    for symbol, inst in table.items():
        assert inst.symbol == symbol
        for name in ("maint_margin_rate", "max_leverage", "taker_fee", "qty_step", "funding_rate"):
            value = getattr(inst, name)
            assert type(value) is Decimal, (symbol, name)
        assert 0 < inst.maint_margin_rate < 1
        assert inst.max_leverage >= 1
        assert inst.qty_step > 0
        # Leverage at the maximum must leave the initial margin above the maintenance
        # margin, otherwise an order at the maximum leverage is liquidated at once.
        assert 1 / inst.max_leverage > inst.maint_margin_rate
    with pytest.raises(TypeError):
        table["FOO"] = table["XBTUSD"]  # type: ignore[index]
