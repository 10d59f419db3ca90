"""Reading a number as the app prints it (sandbox/engine/display.py read_number): every
figure the desk shows reads back as itself, and text that only looks like a number is
refused with a sentence saying how to write it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.engine import display
from sandbox.engine.display import MAX_NUMBER_TEXT, NumberTextError, read_number

D = Decimal


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("44,250", D("44250")),
        ("16 420", D("16420")),
        ("16\u00a0420", D("16420")),  # a no-break space
        ("16\u202f420", D("16420")),  # a narrow no-break space
        ("44,250.5", D("44250.5")),
        ("1,234,567.89", D("1234567.89")),
        ("−3.5", D("-3.5")),  # the minus sign
        ("-3.5", D("-3.5")),
        ("+12.5", D("12.5")),
        ("50.25", D("50.25")),
        (".5", D("0.5")),
        ("  7  ", D("7")),
        ("-0", D("0")),
        ("1,000", D("1000")),
        ("12%", D("12")),
        ("20x", D("20")),
        ("4 XBT", D("4")),
        ("850 usdt", D("850")),
    ],
)
def test_the_formats_the_app_prints_are_read(text: str, value: Decimal) -> None:
    result = read_number(text, ("XBT", "USDT"))
    assert result == value
    assert str(result) == str(value)  # exact, as written: no float, no stray places


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("44,25", "A comma here looks like a decimal point: write 44.25"),
        ("-44,2", "A comma here looks like a decimal point: write -44.2"),
        ("1.234,5", "A comma here looks like a decimal point: write 1234.5"),
        ("44 250,5", "A comma here looks like a decimal point: write 44250.5"),
        ("4,4500", "In 4,4500 the commas are not between thousands"),
        ("1,2,3", "In 1,2,3 the commas are not between thousands"),
        ("44 25", "In 44 25 the spaces are not between thousands"),
        ("1..2", "1..2 has more than one point"),
        ("1,000 000", "mixes commas and spaces"),
        ("1e3", "exponent notation (such as 1e3) is not accepted"),
        ("abc", "Enter a number, like 44,250.5 or -3.5."),
        ("4 ETH", "Enter a number, like 44,250.5 or -3.5."),
        ("NaN", "Enter a number"),
        ("", "Enter a number."),
        ("   ", "Enter a number."),
        ("9" * 31, "too large or too long: at most 30 digits before the point"),
        ("0." + "1" * 31, "30 after it"),
        ("1" * (MAX_NUMBER_TEXT + 1), f"too long to be a number: at most {MAX_NUMBER_TEXT}"),
    ],
)
def test_text_that_is_not_a_number_says_how_to_write_it(text: str, message: str) -> None:
    with pytest.raises(NumberTextError) as info:
        read_number(text, ("XBT", "USDT"))
    assert message in info.value.message


amounts = st.decimals(
    min_value=D("-1e12"), max_value=D("1e12"), allow_nan=False, allow_infinity=False, places=8
)


@given(amounts)
def test_every_figure_display_prints_reads_back(value: Decimal) -> None:
    for places in (0, 2, 4, 8):
        shown = display.number(value, places)
        assert read_number(shown) == D(shown.replace(",", ""))
    assert read_number(display.money(value, "USDT"), ("USDT",)) == round(value, 4)
    assert read_number(display.signed(value, "XBT")) == round(value, 8)
    assert read_number(display.percent(value)) == round(value, 2)
    assert read_number(display.leverage(abs(value))) == round(abs(value), 2)


@given(st.decimals(min_value=D("0.5"), max_value=D("1e9"), places=1))
def test_every_price_the_desk_prints_reads_back(value: Decimal) -> None:
    assert read_number(display.price(value, D("0.5"))) == value.quantize(D("0.1")).normalize()


@given(st.text(alphabet="0123456789,. -+−\u00a0\u202fexX%UuSsDdTt", max_size=45))
def test_any_text_is_a_number_or_a_sentence_never_an_error(text: str) -> None:
    try:
        value = read_number(text, ("USDT", "USD"))
    except NumberTextError as problem:
        assert problem.message.endswith((".", ")")) and len(problem.message) < 300
    else:
        assert value.is_finite()


@given(st.text(max_size=60))
def test_any_unicode_text_is_a_number_or_a_sentence(text: str) -> None:
    try:
        value = read_number(text)
    except NumberTextError as problem:
        assert problem.message
    else:
        assert value.is_finite()
