"""The rounding policy: exact Decimals, money in minor units of 1e-8 in the exchange's favour."""

from __future__ import annotations

import decimal
from dataclasses import replace
from decimal import Decimal

import pytest

from sandbox.engine import (
    Account,
    LedgerReason,
    MarginMode,
    Rejected,
    Side,
    account_figures,
    close_position,
    deposit,
    display,
    pay_funding,
    place_order,
    realise_profit,
    reset_account,
    set_leverage,
    set_triggers,
)
from sandbox.engine.money import (
    MINOR_UNIT,
    PRECISION,
    decimal_places,
    engine_context,
    format_decimal,
    format_price,
    is_multiple,
    money_down,
    money_nearest,
    money_up,
    parse_decimal,
    price_places,
    require_decimal,
    round_half_up,
)

from .helpers import XBTUSD, XBTUSDT, assert_rejected, funded, market, opened, pos

D = Decimal


def test_constants() -> None:
    assert str(MINOR_UNIT) == "1E-8"
    assert PRECISION == 50
    context = engine_context()
    assert context.prec == 50
    assert context.traps[decimal.InvalidOperation]
    assert context.traps[decimal.DivisionByZero]


# ------------------------------------------------------------------- require_decimal


def test_require_decimal_accepts_decimal_and_int() -> None:
    assert require_decimal(D("1.5"), "x") == D("1.5")
    value = require_decimal(7, "x")
    assert value == 7
    assert type(value) is Decimal


@pytest.mark.parametrize("bad", [1.5, 0.0, True, False, "1.5", None, [1]])
def test_require_decimal_refuses_everything_else_with_a_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="qty must be a Decimal"):
        require_decimal(bad, "qty")


@pytest.mark.parametrize("bad", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_require_decimal_refuses_non_finite(bad: str) -> None:
    with pytest.raises(ValueError, match="price must be a finite number"):
        require_decimal(D(bad), "price")


# ---------------------------------------------------------------------- parse_decimal


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12.5", D("12.5")),
        (" 7 ", D("7")),
        ("-0.5", D("-0.5")),
        ("+3", D("3")),
        ("1e3", D("1000")),
        ("0.1", D("0.1")),
        ("12345678901234567890.123456789", D("12345678901234567890.123456789")),
    ],
)
def test_parse_decimal_reads_plain_numbers_exactly(text: str, expected: Decimal) -> None:
    parsed = parse_decimal(text)
    assert parsed == expected
    assert type(parsed) is Decimal


@pytest.mark.parametrize(
    "text", ["", "   ", "NaN", "nan", "inf", "Infinity", "1,000", "abc", "1e", "--1", "1.2.3", "½"]
)
def test_parse_decimal_refuses_what_is_not_a_plain_finite_number(text: str) -> None:
    assert parse_decimal(text) is None


# ------------------------------------------------------------------- decimal_places


@pytest.mark.parametrize(
    ("value", "places"),
    [(D("1.50"), 2), (D("10"), 0), (D("1E+3"), 0), (D("0.00000001"), 8), (D("-2.125"), 3)],
)
def test_decimal_places(value: Decimal, places: int) -> None:
    assert decimal_places(value) == places


# ------------------------------------------------------------------------- rounding


def test_money_down_rounds_towards_minus_infinity() -> None:
    assert money_down(D("1.234567899")) == D("1.23456789")
    assert money_down(D("-1.234567891")) == D("-1.23456790")
    assert money_down(D("5")) == D("5")
    assert money_down(D("0.000000009")) == 0


def test_money_up_rounds_towards_plus_infinity() -> None:
    assert money_up(D("1.234567891")) == D("1.23456790")
    assert money_up(D("-1.234567899")) == D("-1.23456789")
    assert money_up(D("0.000000001")) == D("0.00000001")
    assert money_up(D("2.5")) == D("2.5")


def test_round_half_up_rounds_halves_away_from_zero() -> None:
    assert round_half_up(D("2.5"), 0) == 3
    assert round_half_up(D("-2.5"), 0) == -3
    assert round_half_up(D("2.4999"), 0) == 2
    assert round_half_up(D("633.335"), 2) == D("633.34")
    assert round_half_up(D("633.3333333"), 2) == D("633.33")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D("0"), "0"),
        (D("-0"), "0"),
        (D("0E-8"), "0"),
        (D("0.000000004"), "0"),
        (D("-0.000000004"), "0"),
        (D("0.000000005"), "0.00000001"),
        (D("12.5000"), "12.5"),
        (D("-3.20"), "-3.2"),
        (D("1E+3"), "1000"),
        (D("1.5E+20"), "150000000000000000000"),
        (D("0.1234567890"), "0.12345679"),
        (D(10000) / D(103), "97.08737864"),
        (D("-2.382978723404255319"), "-2.38297872"),
        (D("400.00"), "400"),
    ],
)
def test_format_decimal_plain_at_most_eight_places(value: Decimal, text: str) -> None:
    shown = format_decimal(value)
    assert shown == text
    assert "e" not in shown.lower()


def test_rounding_for_display_takes_the_digits_a_huge_figure_needs() -> None:
    # 10^45 to 8 places needs 54 digits, more than the engine's 50: display only.
    assert round_half_up(D("1.5e45"), 8) == D("1.5e45")
    assert format_decimal(D("1.5e45")) == "15" + "0" * 44
    assert format_decimal(D("1e22"), 30) == "1" + "0" * 22
    assert round_half_up(D("1234567890123456789012345678901.25"), 30) == D(
        "1234567890123456789012345678901.25"
    )


def test_money_too_large_to_keep_exactly_is_refused_with_a_sentence() -> None:
    # Below 10^42 an amount keeps its 8 places within 50 digits; from 10^42 it cannot.
    below = "999" + "0" * 39  # 9.99 × 10^41
    assert money_up(D(below + ".000000001")) == D(below + ".00000001")
    assert money_down(D("0E+60")) == 0
    for rounding in (money_down, money_up, money_nearest):
        with pytest.raises(Rejected) as info:
            rounding(D("1e42"))
        assert info.value.message == (
            "This step needs an amount of about 10^42, too large for the engine: it keeps "
            "money exact to 8 decimal places only below 10^42."
        )


@pytest.mark.parametrize(
    ("value", "step", "multiple"),
    [
        (D("1.5"), D("0.5"), True),
        (D("1.25"), D("0.5"), False),
        (D("1e30"), D("1e-30"), True),  # 10^60 steps: more than 50 digits of quotient
        (D("1" + "0" * 30 + "." + "0" * 29 + "1"), D("2e-30"), False),  # 10^30 + 10^-30
        (D("1e-30"), D("1e30"), False),
        (D("0"), D("1e-30"), True),
    ],
)
def test_is_multiple_is_exact_however_far_apart_the_sizes(
    value: Decimal, step: Decimal, multiple: bool
) -> None:
    assert is_multiple(value, step) is multiple


def test_format_decimal_with_fewer_places() -> None:
    assert format_decimal(D("0.125"), 2) == "0.13"
    assert format_decimal(D("633.3333"), 2) == "633.33"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        # Prices the usual 8 places show are written as format_decimal writes them.
        (D("97.087378640776699"), "97.08737864"),
        (D("0.00004"), "0.00004"),
        (D("0.000000005"), "0.00000001"),
        # A positive price 8 places would round to 0 keeps 4 significant digits.
        (D("0.000000004"), "0.000000004"),
        (D("0.0000000001"), "0.0000000001"),
        (D("9.99999998000000004E-10"), "0.000000001"),
        (D("1.234567E-20"), "0.00000000000000000001235"),
        # No positive price: null.
        (None, None),
        (D("0"), None),
        (D("-0.000000004"), None),
        (D("-5"), None),
    ],
)
def test_format_price_never_prints_a_positive_price_as_zero(
    value: Decimal | None, text: str | None
) -> None:
    assert format_price(value) == text


def test_price_places() -> None:
    assert price_places(D("12.5")) == 8
    assert price_places(D("0.000000004")) == 12
    assert price_places(D("0.00004"), 4) == 8
    assert price_places(D("0.0002"), 4) == 4
    assert price_places(D("0"), 4) == 4


# ---------------------------------------------------------------- display (one formatter)


@pytest.mark.parametrize(
    ("value", "tick", "text"),
    [
        # At the tick's decimals (0.5 → one, 0.01 → two), trailing zeros dropped,
        # thousands separated, halves rounded up.
        (D("60000"), D("0.5"), "60,000"),
        (D("61000.5"), D("0.5"), "61,000.5"),
        (D("45454.54545454545"), D("0.5"), "45,454.5"),
        (D("45454.55"), D("0.5"), "45,454.6"),
        (D("3000.375"), D("0.01"), "3,000.38"),
        (D("97.087378640776699"), D("0.01"), "97.09"),
        (D("1234567"), D("1"), "1,234,567"),
        (D("1234567.4"), D("1"), "1,234,567"),
        # Unknown instrument: four decimals.
        (D("97.087378640776699"), None, "97.0874"),
        # A positive price too small for the tick's decimals keeps 4 significant digits.
        (D("0.004"), D("0.5"), "0.004"),
        (D("0.0000123456"), D("0.01"), "0.00001235"),
        (D("1.234567E-20"), D("0.01"), "0.00000000000000000001235"),
        # No positive price: "none".
        (None, D("0.5"), "none"),
        (D("0"), D("0.5"), "none"),
        (D("-5"), D("0.01"), "none"),
    ],
)
def test_display_price_at_the_ticks_precision(
    value: Decimal | None, tick: Decimal | None, text: str
) -> None:
    assert display.price(value, tick) == text


def test_display_money_at_one_precision_per_currency() -> None:
    assert display.money(D("1234.567891"), "USDT") == "1,234.5679"
    assert display.money(D("0.00001"), "USDT") == "0"
    assert display.money(D("0.123456789"), "XBT") == "0.12345679"
    assert display.money(D("0.000000015"), "XBT") == "0.00000002"
    # A currency without its own precision: the engine's minor unit (8 places).
    assert display.money(D("1.123456789"), "ETH") == "1.12345679"
    assert display.money(None, "XBT") == "none"
    assert display.signed(D("12.5"), "USDT") == "+12.5"
    assert display.signed(D("-12.5"), "USDT") == "-12.5"
    assert display.signed(D("0.00001"), "USDT") == "0"
    assert display.magnitude(D("-0.5"), "XBT") == "0.5"


def test_display_quantity_percent_leverage() -> None:
    assert display.qty(D("1000000"), D("1")) == "1,000,000"
    assert display.qty(D("0.125"), D("0.001")) == "0.125"
    # A quantity off its step (quoted in a refusal) keeps every digit it was given.
    assert display.qty(D("0.0001234"), D("0.001")) == "0.0001234"
    assert display.qty(D("1E+9")) == "1,000,000,000"
    assert display.percent(D("12.345")) == "12.35%"
    assert display.percent(D("0.5"), 4) == "0.5%"
    assert display.leverage(D("12.5")) == "12.5x"
    assert display.leverage(D("100")) == "100x"
    assert display.leverage(None) == "none"


def test_engine_sentences_quote_prices_at_the_tick() -> None:
    """The engine's refusals write a price as the desk's tables do (here XBTUSDT, tick 0.5),
    not at 8 places."""
    mkt = market(replace(XBTUSDT, tick_size=D("0.5")), XBTUSDT="50000.123456")
    account = opened(funded(USDT="100000"), mkt, "XBTUSDT", Side.BUY, "1", MarginMode.ISOLATED, 10)
    with pytest.raises(Rejected) as refusal:
        set_triggers(account, mkt, "XBTUSDT", stop_loss=D("60000"), take_profit=None)
    assert "must be below the mark (50,000.1): at 60,000 it would close" in refusal.value.message
    # The liquidation price in the stop-loss warning: one decimal too.
    assert pos(account, mkt, "XBTUSDT").liquidation_price == D("45500.11234496")
    warned = set_triggers(account, mkt, "XBTUSDT", stop_loss=D("40000"), take_profit=None)
    assert "at or beyond the liquidation price (45,500.1)" in warned.warnings[0]


# ---------------------------------------------------------------- exact computation


def test_engine_computes_at_fifty_digits_whatever_the_callers_context() -> None:
    mkt = market(XBTUSD, XBTUSD="100")
    account = opened(funded(XBT="100"), mkt, "XBTUSD", Side.BUY, "10000", MarginMode.ISOLATED, 25)
    with decimal.localcontext() as context:
        context.prec = 4
        context.rounding = decimal.ROUND_DOWN
        liquidation = pos(account, mkt, "XBTUSD").liquidation_price
        assert decimal.getcontext().prec == 4
    with decimal.localcontext(engine_context()):
        expected = D(10000) / D(103)
    assert liquidation == expected
    assert len(liquidation.as_tuple().digits) == 50


# ---------------------------------------------------- every wallet movement, rounded


def test_taker_fee_is_rounded_up() -> None:
    # Built-in XBTUSDT: fee 0.0005. 0.001 × 20000.123456 = 20.000123456; × 0.0005 =
    # 0.010000061728, rounded up to 0.01000007.
    mkt = market(replace(XBTUSDT, taker_fee=D("0.0005")))
    mkt = mkt.with_mark("XBTUSDT", D("20000.123456"))
    outcome = place_order(funded(USDT="1000"), mkt, "XBTUSDT", Side.BUY, D("0.001"))
    assert outcome.fills[0].fee == D("0.01000007")
    assert [e.amount for e in outcome.ledger] == [D("-0.01000007")]
    assert outcome.account.wallet("USDT") == D("999.98999993")


def test_isolated_margin_is_rounded_up() -> None:
    # 100 contracts at 100 are worth 1 XBT; at 3x the margin is 1/3, set aside as 0.33333334.
    mkt = market(XBTUSD, XBTUSD="100")
    account = opened(funded(XBT="1"), mkt, "XBTUSD", Side.BUY, "100", MarginMode.ISOLATED, 3)
    assert account.positions["XBTUSD"].position_margin == D("0.33333334")
    assert account_figures(account, mkt).balances["XBT"].available_balance == D("0.66666666")


def test_realised_profit_is_rounded_down_and_realised_loss_rounded_up_in_size() -> None:
    mkt = market(XBTUSD, XBTUSD="100")
    account = opened(funded(XBT="100"), mkt, "XBTUSD", Side.BUY, "10000", MarginMode.CROSS, 10)
    # Loss at 97: 100 − 10000/97 = −3.0927835051546..., paid as −3.09278351.
    lower = mkt.with_mark("XBTUSD", D("97"))
    loss = close_position(account, lower, "XBTUSD")
    assert loss.ledger[0].reason is LedgerReason.TRADE_PNL
    assert loss.ledger[0].amount == D("-3.09278351")
    assert loss.account.wallet("XBT") == D("96.90721649")
    # Profit at 103: 100 − 10000/103 = 2.9126213592233..., received as 2.91262135.
    higher = mkt.with_mark("XBTUSD", D("103"))
    gain = close_position(account, higher, "XBTUSD")
    assert gain.ledger[0].amount == D("2.91262135")
    # Profit realisation too: received rounded down.
    realised = realise_profit(account, higher)
    assert realised.ledger[0].reason is LedgerReason.PROFIT_REALISATION
    assert realised.ledger[0].amount == D("2.91262135")


def test_funding_paid_rounded_up_and_received_rounded_down() -> None:
    # Long 0.001 XBTUSDT at 20000.123456: value 20.000123456, × 0.0001 = 0.0020000123456.
    mkt = market(XBTUSDT).with_mark("XBTUSDT", D("20000.123456"))
    long = opened(funded(USDT="1000"), mkt, "XBTUSDT", Side.BUY, "0.001", MarginMode.CROSS, 10)
    assert pay_funding(long, mkt, "XBTUSDT", D("0.0001")).ledger[0].amount == D("-0.00200002")
    assert pay_funding(long, mkt, "XBTUSDT", D("-0.0001")).ledger[0].amount == D("0.00200001")
    short = opened(funded(USDT="1000"), mkt, "XBTUSDT", Side.SELL, "0.001", MarginMode.CROSS, 10)
    assert pay_funding(short, mkt, "XBTUSDT", D("0.0001")).ledger[0].amount == D("0.00200001")
    assert pay_funding(short, mkt, "XBTUSDT", D("-0.0001")).ledger[0].amount == D("-0.00200002")


def test_wallet_and_ledger_amounts_are_whole_minor_units() -> None:
    mkt = market(XBTUSD, XBTUSD="100")
    account = funded(XBT="100")
    outcomes = []
    step = set_leverage(account, mkt, "XBTUSD", MarginMode.CROSS, D(7))
    outcomes.append(step)
    step = place_order(step.account, mkt, "XBTUSD", Side.BUY, D("333"))
    outcomes.append(step)
    mkt = mkt.with_mark("XBTUSD", D("101.7"))
    step = realise_profit(step.account, mkt)
    outcomes.append(step)
    step = pay_funding(step.account, mkt, "XBTUSD", D("0.000123"))
    outcomes.append(step)
    mkt = mkt.with_mark("XBTUSD", D("99.3"))
    step = close_position(step.account, mkt, "XBTUSD")
    outcomes.append(step)
    total = D("100")
    for outcome in outcomes:
        for entry in outcome.ledger:
            assert entry.amount == entry.amount.quantize(MINOR_UNIT)
            total += entry.amount
    assert step.account.wallet("XBT") == total
    assert total == total.quantize(MINOR_UNIT)
    assert deposit(step.account, "XBT", D("0.00000001")).account.wallet("XBT") == total + MINOR_UNIT


# ---------------------------------------------------------------- deposits and resets


def test_deposit_credits_the_wallet_with_one_ledger_entry() -> None:
    outcome = deposit(funded(USDT="1"), "USDT", D("0.12345678"))
    assert outcome.account.wallet("USDT") == D("1.12345678")
    assert [(e.currency, e.amount, e.reason) for e in outcome.ledger] == [
        ("USDT", D("0.12345678"), LedgerReason.DEPOSIT)
    ]
    assert deposit(Account(), "XBT", 3).account.wallet("XBT") == 3


def test_deposit_refusals() -> None:
    account = funded(USDT="1")
    for amount, message in (
        (D("0"), "A deposit must be above zero."),
        (D("-5"), "A deposit must be above zero."),
        (D("0.000000001"), "Amounts can have at most 8 decimal places."),
    ):
        assert_rejected(
            lambda amount=amount: deposit(account, "USDT", amount), account, None, message
        )
    assert_rejected(lambda: deposit(account, "", D("1")), account, None, "Name the currency")


def test_reset_account_sets_balances_back_and_the_ledger_still_adds_up() -> None:
    mkt = market(XBTUSD, XBTUSD="100")
    account = opened(
        funded(XBT="100", USDT="5"), mkt, "XBTUSD", Side.BUY, "10000", MarginMode.CROSS, 10
    )
    account = close_position(account, mkt.with_mark("XBTUSD", D("97")), "XBTUSD").account
    outcome = reset_account(account, {"XBT": D("1")})
    assert outcome.account.positions == {}
    assert outcome.account.settings == {}
    assert dict(outcome.account.wallets) == {"USDT": 0, "XBT": 1}
    # XBT: 96.90721649 → 1 is −95.90721649; USDT: 5 → 0 is −5.
    assert sorted((e.currency, e.amount, e.reason) for e in outcome.ledger) == [
        ("USDT", D("-5"), LedgerReason.RESET),
        ("XBT", D("-95.90721649"), LedgerReason.RESET),
    ]
    assert_rejected(
        lambda: reset_account(account, {"XBT": D("0.000000001")}), account, None, "8 decimal"
    )
