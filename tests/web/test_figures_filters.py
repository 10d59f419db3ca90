"""How figures are written: the ``figures`` template filters, exactly."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.template import Context, Template

from sandbox.desk.templatetags.figures import (
    amount,
    at_least,
    at_most,
    figure,
    leverage,
    percent,
    percent_of,
    price,
    settled,
    signed,
    signed_settled,
    tone,
)
from tests.web.conftest import Learner

D = Decimal


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (None, 8, "none"),
        (D("0"), 8, "0"),
        (D("0.00000000"), 8, "0"),
        (D("1"), 8, "1"),
        (D("1.50000000"), 8, "1.5"),
        (D("999"), 8, "999"),
        (D("1000"), 8, "1,000"),
        (D("1234567.891"), 8, "1,234,567.891"),
        (D("-1234567.891"), 8, "-1,234,567.891"),
        (D("-0.5"), 8, "-0.5"),
        (D("1E+3"), 8, "1,000"),
        (D("60000.00000000"), 8, "60,000"),
        # Half-up rounding, halves away from zero.
        (D("0.000000005"), 8, "0.00000001"),
        (D("0.0000000049"), 8, "0"),
        (D("-0.000000005"), 8, "-0.00000001"),
        (D("-0.000000004"), 8, "0"),  # never "-0"
        (D("2.5"), 0, "3"),
        (D("-2.5"), 0, "-3"),
        (D("0.125"), 2, "0.13"),
        (D("1234.5678"), 2, "1,234.57"),
        (D("999.995"), 2, "1,000"),
        (D("-999.995"), 2, "-1,000"),
    ],
)
def test_figure(value: Decimal | None, places: int, expected: str) -> None:
    assert figure(value, places) == expected


def test_figure_defaults_to_eight_places_and_takes_ints() -> None:
    assert figure(D("0.123456789")) == "0.12345679"
    assert figure(12345) == "12,345"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "none"),
        (D("54300"), "54,300"),
        (D("60000.5"), "60,000.5"),
        (D("0.12345"), "0.1235"),
        (D("59999.99995"), "60,000"),
        (D("59999.99994"), "59,999.9999"),
        (D("1.00005"), "1.0001"),
        (D("0.00005"), "0.0001"),
        # A positive price below the 4 places keeps its first digits: never 0.
        (D("0.00004"), "0.00004"),
        (D("0.000049999"), "0.00005"),
        (D("0.0000000001"), "0.0000000001"),
        (D("9.99999998E-10"), "0.000000001"),
        # No positive price exists: none, as for None.
        (D("0"), "none"),
        (D("-1.00005"), "none"),
    ],
)
def test_price(value: Decimal | None, expected: str) -> None:
    assert price(value) == expected


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (None, "USDT", "none"),
        (D("10000"), "USDT", "10,000"),
        (D("9969.5"), "USDT", "9,969.5"),
        (D("1.23456789"), "USDT", "1.2346"),
        (D("0.00005"), "USDT", "0.0001"),
        (D("0.00004999"), "USDT", "0"),
        (D("-30.00005"), "USDT", "-30.0001"),
        (D("1.234567891"), "XBT", "1.23456789"),
        (D("0.000000015"), "XBT", "0.00000002"),
        (D("1.123456789"), "ETH", "1.12345679"),  # an unknown currency: 8 places
        (D("1.123456789"), "", "1.12345679"),
    ],
)
def test_amount(value: Decimal | None, currency: str, expected: str) -> None:
    assert amount(value, currency) == expected


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (None, "USDT", "none"),
        (D("30"), "USDT", "+30"),
        (D("1000.5"), "USDT", "+1,000.5"),
        (D("-30"), "USDT", "-30"),
        (D("-6000"), "USDT", "-6,000"),
        (D("0"), "USDT", "0"),
        (D("0.00004"), "USDT", "0"),  # rounds to nothing: no sign
        (D("-0.00004"), "USDT", "0"),
        (D("0.00005"), "USDT", "+0.0001"),
        (D("0.00151515"), "XBT", "+0.00151515"),
        (D("-0.00000834"), "XBT", "-0.00000834"),
    ],
)
def test_signed(value: Decimal | None, currency: str, expected: str) -> None:
    assert signed(value, currency) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "none"),
        (D("9.5"), "9.5%"),
        (D("9.499"), "9.5%"),
        (D("9.494"), "9.49%"),
        (D("0.005"), "0.01%"),
        (D("0.004"), "0%"),
        (D("100"), "100%"),
        (D("1234.5"), "1,234.5%"),
        (D("-12.345"), "-12.35%"),
    ],
)
def test_percent(value: Decimal | None, expected: str) -> None:
    assert percent(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "none"),
        (D("100"), "100x"),
        (D("10"), "10x"),
        (D("60000") / D("6100"), "9.84x"),
        (D("2.005"), "2.01x"),
        (D("1.5"), "1.5x"),
    ],
)
def test_leverage(value: Decimal | None, expected: str) -> None:
    assert leverage(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "flat"),
        (D("0"), "flat"),
        (D("-0"), "flat"),
        (D("0.00000001"), "gain"),
        (D("1000"), "gain"),
        (D("-0.00000001"), "loss"),
        (D("-6000"), "loss"),
    ],
)
def test_tone(value: Decimal | None, expected: str) -> None:
    assert tone(value) == expected


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (None, "none"),
        (D("0.005"), "0.5%"),
        (D("0.0005"), "0.05%"),
        (D("0.0035"), "0.35%"),
        (D("0.01"), "1%"),
        (D("1"), "100%"),
        (D("0.000001"), "0.0001%"),
        (D("0.0000005"), "0.0001%"),  # half-up at 4 places of the percentage
        (D("0.0000004"), "0%"),
        (D("-0.0001"), "-0.01%"),
    ],
)
def test_percent_of(rate: Decimal | None, expected: str) -> None:
    assert percent_of(rate) == expected


def test_filters_in_a_template() -> None:
    template = Template(
        "{% load figures %}"
        "{{ wallet|amount:'USDT' }}|{{ pnl|signed:'USDT' }}|{{ pnl|tone }}|{{ liq|price }}|"
        "{{ lev|leverage }}|{{ mmr|percent_of }}|{{ dist|percent }}|{{ missing|figure }}|"
        "{{ qty|figure:3 }}"
    )

    rendered = template.render(
        Context(
            {
                "wallet": D("9969.5"),
                "pnl": D("-5700"),
                "liq": D("54300"),
                "lev": D("10"),
                "mmr": D("0.005"),
                "dist": D("9.5"),
                "missing": None,
                "qty": D("0.0015"),
            }
        )
    )

    assert rendered == "9,969.5|-5,700|loss|54,300|10x|0.5%|9.5%|none|0.002"


# ---------------------------------------------------------------------------------------
# One formatter: a notice's sentence and the desk's table write a price the same way.
# ---------------------------------------------------------------------------------------


def _span_text(html: str, element_id: str) -> str:
    found = re.search(rf'<span id="{element_id}"[^>]*>([^<]*)</span>', html)
    assert found, f"no #{element_id} in the page"
    return found[1]


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_the_notice_and_the_table_write_the_same_price(learner: Learner, htmx: bool) -> None:
    """XBTUSDT (tick 0.5): 0.003 bought at 60,000.5, isolated 9x, has a liquidation price
    of many decimals (53,633.78027666…). The stop-loss warning (an engine sentence) and the
    positions table both write it at one decimal (the notice used to print 8 places, the
    table 4)."""
    assert learner.post("mark_set", {"price": "60000.5"}).status_code == 302
    assert learner.post("leverage_apply", {"stop": "9"}).status_code == 302
    order = learner.post("order_submit", {"side": "buy", "qty": "0.003"}, htmx=htmx)
    desk = learner.get("desk").content.decode()
    liquidation = _span_text(desk, "pos-XBTUSDT-liq")
    assert liquidation == "53,633.8"  # one decimal at XBTUSDT's tick
    if htmx:
        assert "Bought 0.003 XBTUSDT at 60,000.5." in order.content.decode()

    warned = learner.post("triggers_set", {"stop_loss": "50000", "take_profit": ""}, htmx=htmx)
    shown = (warned if htmx else learner.get("desk")).content.decode()

    assert f"at or beyond the liquidation price ({liquidation})" in shown
    assert f"Move it above {liquidation}." in shown
    assert "XBTUSDT: stop-loss 50,000 and no take-profit." in shown


@pytest.mark.parametrize(
    ("value", "instrument", "expected"),
    [
        # By symbol: the desk's instruments (XBTUSDT and XBTUSD tick 0.5, ETHUSDT 0.01).
        (D("53633.780276666"), "XBTUSDT", "53,633.8"),
        (D("53633.780276666"), "XBTUSD", "53,633.8"),
        (D("3000.375"), "ETHUSDT", "3,000.38"),
        (D("0.000012345"), "ETHUSDT", "0.00001235"),
        (None, "XBTUSDT", "none"),
        # An object with a tick size (an instrument), or a context's {"symbol": ...}.
        (D("3000.375"), {"symbol": "ETHUSDT"}, "3,000.38"),
        # An instrument the desk does not know: four places.
        (D("3000.12345"), "NOPE", "3,000.1235"),
        (D("3000.12345"), "", "3,000.1235"),
    ],
)
@pytest.mark.django_db
def test_price_at_the_instruments_tick(
    seeded: None, value: Decimal | None, instrument: object, expected: str
) -> None:
    assert price(value, instrument) == expected


@pytest.mark.django_db
def test_price_takes_an_instrument_and_fill_amounts_take_the_settle_currency(seeded: None) -> None:
    from sandbox.desk.models import Instrument

    eth = Instrument.objects.get(symbol="ETHUSDT")
    assert price(D("3000.375"), eth) == "3,000.38"
    assert settled(D("1.234567891"), "XBTUSD") == "1.23456789"  # XBT: 8 places
    assert settled(D("1.234567891"), "XBTUSDT") == "1.2346"  # USDT: 4 places
    assert signed_settled(D("12.5"), "XBTUSDT") == "+12.5"


def test_limits_round_towards_what_they_allow() -> None:
    assert at_most(D("2699.99999999"), "USDT") == "2,699.9999"
    assert at_least(D("3300.00000001"), "USDT") == "3,300.0001"
    assert at_most(D("0.123456789"), "XBT") == "0.12345678"
    assert at_least(D("0.123456781"), "XBT") == "0.12345679"
    assert at_most(None, "USDT") == "none"
