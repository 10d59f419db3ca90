"""The figures that tick: the ``position_figure``, ``balance_figure`` and ``picker_mark``
tags the desk's tables write, and ``tick_figures``, which sends a tick's changed figures
again as the same spans, out of band.

The figures come from the engine itself: the engine tests' XBTUSDT (linear, maintenance
margin 1%, no fee) and XBTUSD (inverse, settled in XBT); the prices are written at the
desk's XBTUSDT tick (0.5, one decimal).
"""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal

import pytest
from django.template import Context, Template

from sandbox.desk.templatetags.figures import (
    BALANCE_FIGURES,
    POSITION_FIGURES,
    balance_figure,
    picker_mark,
    position_figure,
    tick_figures,
)
from sandbox.engine import AccountFigures, MarginMode, Side, account_figures
from sandbox.engine import Market as EngineMarket
from tests.engine.helpers import funded, market, opened

D = Decimal

# A price is written at its instrument's tick, looked up among the desk's instruments.
pytestmark = pytest.mark.django_db

POSITION_NAMES = ["mark", "upnl", "im", "mm", "margin", "liq", "bankruptcy", "distance"]
BALANCE_NAMES = ["upnl", "margin", "available"]
_SPAN = re.compile(r'<span id="(?P<id>[^"]+)"(?P<attrs>[^>]*)>(?P<text>[^<]*)</span>')


def spans(html: str) -> dict[str, str]:
    """Every span of a fragment: id → the whole span."""
    found = {m["id"]: m[0] for m in _SPAN.finditer(html)}
    assert "".join(found.values()) == html, "something other than spans in the fragment"
    return found


def long_xbtusdt(mark: str = "60000") -> tuple[AccountFigures, EngineMarket]:
    """1 XBTUSDT long at 60,000, isolated 10x, from 10,000 USDT and 1 XBT; seen at ``mark``.

    Margin 6,000; maintenance 600; liquidation 54,600; bankruptcy 54,000."""
    opening = market(XBTUSDT=60000, XBTUSD=60000)
    account = opened(
        funded(USDT=10000, XBT=1), opening, "XBTUSDT", Side.BUY, 1, MarginMode.ISOLATED, 10
    )
    now = opening.with_mark("XBTUSDT", D(mark))
    return account_figures(account, now), now


def test_the_ticking_figures_and_where_they_come_from() -> None:
    assert list(POSITION_FIGURES) == POSITION_NAMES
    assert {name: attr for name, (attr, _) in POSITION_FIGURES.items()} == {
        "mark": "mark_price",
        "upnl": "unrealised_pnl",
        "im": "initial_margin",
        "mm": "maintenance_margin",
        "margin": "position_margin",
        "liq": "liquidation_price",
        "bankruptcy": "bankruptcy_price",
        "distance": "distance_to_liquidation",
    }
    assert {name: attr for name, (attr, _) in BALANCE_FIGURES.items()} == {
        "upnl": "unrealised_pnl",
        "margin": "margin_balance",
        "available": "available_balance",
    }


# ----------------------------------------------------------------------------- the tags


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mark", '<span id="pos-XBTUSDT-mark">61,000</span>'),
        ("upnl", '<span id="pos-XBTUSDT-upnl" class="gain">+1,000</span>'),
        ("im", '<span id="pos-XBTUSDT-im">6,000</span>'),
        ("mm", '<span id="pos-XBTUSDT-mm">600</span>'),
        ("margin", '<span id="pos-XBTUSDT-margin">6,000</span>'),
        ("liq", '<span id="pos-XBTUSDT-liq">54,600</span>'),
        ("bankruptcy", '<span id="pos-XBTUSDT-bankruptcy">54,000</span>'),
        ("distance", '<span id="pos-XBTUSDT-distance">10.49%</span>'),  # 6400/61000
    ],
)
def test_position_figure(name: str, expected: str) -> None:
    figures, _ = long_xbtusdt("61000")

    assert position_figure(figures.positions["XBTUSDT"], name) == expected


@pytest.mark.parametrize(
    ("mark", "expected"),
    [
        ("61000", '<span id="pos-XBTUSDT-upnl" class="gain">+1,000</span>'),
        ("60000", '<span id="pos-XBTUSDT-upnl" class="flat">0</span>'),
        ("59999.5", '<span id="pos-XBTUSDT-upnl" class="loss">-0.5</span>'),
    ],
)
def test_unrealised_pnl_has_its_sign_and_tone(mark: str, expected: str) -> None:
    figures, _ = long_xbtusdt(mark)

    assert position_figure(figures.positions["XBTUSDT"], "upnl") == expected


def test_position_figure_out_of_band() -> None:
    figures, _ = long_xbtusdt("61000")
    position = figures.positions["XBTUSDT"]

    assert (
        position_figure(position, "upnl", oob=True)
        == '<span id="pos-XBTUSDT-upnl" class="gain" hx-swap-oob="true">+1,000</span>'
    )
    assert (
        position_figure(position, "liq", oob=True)
        == '<span id="pos-XBTUSDT-liq" hx-swap-oob="true">54,600</span>'
    )


@pytest.mark.parametrize(
    ("currency", "name", "expected"),
    [
        ("USDT", "upnl", '<span id="bal-USDT-upnl" class="loss">-1,000</span>'),
        ("USDT", "margin", '<span id="bal-USDT-margin">9,000</span>'),
        ("USDT", "available", '<span id="bal-USDT-available">4,000</span>'),
        ("XBT", "upnl", '<span id="bal-XBT-upnl" class="flat">0</span>'),
        ("XBT", "margin", '<span id="bal-XBT-margin">1</span>'),
        ("XBT", "available", '<span id="bal-XBT-available">1</span>'),
    ],
)
def test_balance_figure(currency: str, name: str, expected: str) -> None:
    figures, _ = long_xbtusdt("59000")

    assert balance_figure(figures.balances[currency], name) == expected


def test_balance_figure_out_of_band() -> None:
    figures, _ = long_xbtusdt("59000")

    assert (
        balance_figure(figures.balances["USDT"], "margin", oob=True)
        == '<span id="bal-USDT-margin" hx-swap-oob="true">9,000</span>'
    )


def test_balance_figures_are_shown_to_their_currencys_places() -> None:
    figures, _ = long_xbtusdt("60000.00005")  # +0.00005 USDT unrealised

    # USDT is shown to 4 places: 0.00005 rounds half up to 0.0001.
    assert (
        balance_figure(figures.balances["USDT"], "upnl")
        == '<span id="bal-USDT-upnl" class="gain">+0.0001</span>'
    )


@pytest.mark.parametrize(
    ("mark", "oob", "expected"),
    [
        (D("60000"), False, '<span id="picker-XBTUSDT-mark">60,000</span>'),
        # At XBTUSDT's tick (0.5): one decimal, as every other screen writes it.
        (D("3000.12345"), False, '<span id="picker-XBTUSDT-mark">3,000.1</span>'),
        (D("60600.0"), True, '<span id="picker-XBTUSDT-mark" hx-swap-oob="true">60,600</span>'),
        (None, False, '<span id="picker-XBTUSDT-mark">none</span>'),
    ],
)
def test_picker_mark(mark: Decimal | None, oob: bool, expected: str) -> None:
    assert picker_mark("XBTUSDT", mark, oob) == expected


def test_the_tags_in_a_template_are_not_escaped_twice() -> None:
    figures, _ = long_xbtusdt("61000")
    template = Template(
        "{% load figures %}"
        "{% position_figure p 'upnl' %}|{% balance_figure b 'margin' oob=True %}|"
        "{% picker_mark 'XBTUSDT' m %}"
    )

    html = template.render(
        Context({"p": figures.positions["XBTUSDT"], "b": figures.balances["USDT"], "m": D(61000)})
    )

    assert html == (
        '<span id="pos-XBTUSDT-upnl" class="gain">+1,000</span>|'
        '<span id="bal-USDT-margin" hx-swap-oob="true">11,000</span>|'
        '<span id="picker-XBTUSDT-mark">61,000</span>'
    )


def test_an_id_is_escaped() -> None:
    figures, _ = long_xbtusdt()
    odd = dataclasses.replace(figures.positions["XBTUSDT"], symbol='X<b>"&')

    assert position_figure(odd, "mm") == '<span id="pos-X&lt;b&gt;&quot;&amp;-mm">600</span>'
    assert picker_mark("<i>", D(1)) == '<span id="picker-&lt;i&gt;-mark">1</span>'


def test_a_figures_text_is_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    figures, _ = long_xbtusdt()
    monkeypatch.setitem(
        POSITION_FIGURES, "mark", ("mark_price", lambda value, currency, symbol: ("<b>&'", ""))
    )

    assert (
        position_figure(figures.positions["XBTUSDT"], "mark")
        == '<span id="pos-XBTUSDT-mark">&lt;b&gt;&amp;&#x27;</span>'
    )


@pytest.mark.parametrize("name", ["wallet", "", "MARK", "qty"])
def test_an_unknown_figure_name_is_refused(name: str) -> None:
    figures, _ = long_xbtusdt()

    with pytest.raises(KeyError):
        position_figure(figures.positions["XBTUSDT"], name)
    with pytest.raises(KeyError):
        balance_figure(figures.balances["USDT"], name)


# -------------------------------------------------------------------------- tick_figures


def test_the_first_tick_sends_every_figure_of_the_position_and_its_currency() -> None:
    figures, _ = long_xbtusdt()
    sent: dict[str, object] = {}

    html = tick_figures(figures, sent)

    found = spans(html)
    assert list(found) == [f"pos-XBTUSDT-{n}" for n in POSITION_NAMES] + [
        f"bal-USDT-{n}" for n in BALANCE_NAMES
    ]
    assert html == (
        '<span id="pos-XBTUSDT-mark" hx-swap-oob="true">60,000</span>'
        '<span id="pos-XBTUSDT-upnl" class="flat" hx-swap-oob="true">0</span>'
        '<span id="pos-XBTUSDT-im" hx-swap-oob="true">6,000</span>'
        '<span id="pos-XBTUSDT-mm" hx-swap-oob="true">600</span>'
        '<span id="pos-XBTUSDT-margin" hx-swap-oob="true">6,000</span>'
        '<span id="pos-XBTUSDT-liq" hx-swap-oob="true">54,600</span>'
        '<span id="pos-XBTUSDT-bankruptcy" hx-swap-oob="true">54,000</span>'
        '<span id="pos-XBTUSDT-distance" hx-swap-oob="true">9%</span>'
        '<span id="bal-USDT-upnl" class="flat" hx-swap-oob="true">0</span>'
        '<span id="bal-USDT-margin" hx-swap-oob="true">10,000</span>'
        '<span id="bal-USDT-available" hx-swap-oob="true">4,000</span>'
    )
    # The account holds XBT too, but no position settles in it: its balance does not tick.
    assert "bal-XBT" not in html
    # What was sent is remembered, by span id, as the engine's values.
    assert sent == {
        "pos-XBTUSDT-mark": D("60000"),
        "pos-XBTUSDT-upnl": D("0"),
        "pos-XBTUSDT-im": D("6000"),
        "pos-XBTUSDT-mm": D("600"),
        "pos-XBTUSDT-margin": D("6000"),
        "pos-XBTUSDT-liq": D("54600"),
        "pos-XBTUSDT-bankruptcy": D("54000"),
        "pos-XBTUSDT-distance": D("9"),
        "bal-USDT-upnl": D("0"),
        "bal-USDT-margin": D("10000"),
        "bal-USDT-available": D("4000"),
    }


def test_the_same_figures_again_send_nothing() -> None:
    figures, _ = long_xbtusdt()
    sent: dict[str, object] = {}
    tick_figures(figures, sent)
    before = dict(sent)

    assert tick_figures(figures, sent) == ""
    assert tick_figures(long_xbtusdt()[0], sent) == ""  # equal figures, drawn anew
    assert sent == before


def changed_figures(before: AccountFigures, after: AccountFigures) -> set[str]:
    """The span ids whose engine values differ between two sets of figures."""
    changed = set()
    for symbol, position in after.positions.items():
        for name, (attribute, _) in POSITION_FIGURES.items():
            if getattr(position, attribute) != getattr(before.positions[symbol], attribute):
                changed.add(f"pos-{symbol}-{name}")
    for currency in {p.settle for p in after.positions.values()}:
        for name, (attribute, _) in BALANCE_FIGURES.items():
            old, new = before.balances[currency], after.balances[currency]
            if getattr(new, attribute) != getattr(old, attribute):
                changed.add(f"bal-{currency}-{name}")
    return changed


def test_after_the_mark_moves_only_the_changed_figures_are_sent() -> None:
    first, _ = long_xbtusdt()
    moved, _ = long_xbtusdt("61000")
    sent: dict[str, object] = {}
    tick_figures(first, sent)

    html = tick_figures(moved, sent)

    found = spans(html)
    assert set(found) == changed_figures(first, moved)
    # Worked out: the mark, the PnL and the distance move; the isolated margin, its
    # maintenance, the prices it fixes and the available balance stay.
    assert list(found) == [
        "pos-XBTUSDT-mark",
        "pos-XBTUSDT-upnl",
        "pos-XBTUSDT-distance",
        "bal-USDT-upnl",
        "bal-USDT-margin",
    ]
    assert found["pos-XBTUSDT-mark"] == (
        '<span id="pos-XBTUSDT-mark" hx-swap-oob="true">61,000</span>'
    )
    assert found["pos-XBTUSDT-upnl"] == (
        '<span id="pos-XBTUSDT-upnl" class="gain" hx-swap-oob="true">+1,000</span>'
    )
    assert found["pos-XBTUSDT-distance"] == (
        '<span id="pos-XBTUSDT-distance" hx-swap-oob="true">10.49%</span>'
    )
    assert found["bal-USDT-margin"] == (
        '<span id="bal-USDT-margin" hx-swap-oob="true">11,000</span>'
    )
    assert "pos-XBTUSDT-im" not in found
    assert sent["pos-XBTUSDT-mark"] == D("61000")
    assert sent["pos-XBTUSDT-im"] == D("6000")

    # And back: the same figures are sent again, now as they were.
    back = spans(tick_figures(first, sent))
    assert set(back) == set(found)
    assert back["pos-XBTUSDT-upnl"] == (
        '<span id="pos-XBTUSDT-upnl" class="flat" hx-swap-oob="true">0</span>'
    )


def test_a_cross_position_moves_its_margin_and_the_available_balance() -> None:
    opening = market(XBTUSDT=60000, XBTUSD=60000)
    account = opened(
        funded(USDT=10000, XBT=1), opening, "XBTUSDT", Side.BUY, 1, MarginMode.CROSS, 10
    )
    first = account_figures(account, opening)
    fallen = account_figures(account, opening.with_mark("XBTUSDT", D(59000)))
    sent: dict[str, object] = {}
    tick_figures(first, sent)

    found = spans(tick_figures(fallen, sent))

    assert set(found) == changed_figures(first, fallen)
    assert {"pos-XBTUSDT-mark", "pos-XBTUSDT-upnl", "bal-USDT-available"} <= set(found)
    assert "pos-XBTUSDT-im" not in found
    assert found["bal-USDT-upnl"] == (
        '<span id="bal-USDT-upnl" class="loss" hx-swap-oob="true">-1,000</span>'
    )


def test_an_xbt_settled_position_ticks_the_xbt_balance_only() -> None:
    opening = market(XBTUSDT=60000, XBTUSD=60000)
    account = opened(
        funded(USDT=10000, XBT=1), opening, "XBTUSD", Side.BUY, 6000, MarginMode.ISOLATED, 10
    )

    html = tick_figures(account_figures(account, opening), {})

    assert list(spans(html)) == [f"pos-XBTUSD-{n}" for n in POSITION_NAMES] + [
        f"bal-XBT-{n}" for n in BALANCE_NAMES
    ]
    assert "bal-USDT" not in html


def test_positions_in_both_currencies_tick_both_balances() -> None:
    opening = market(XBTUSDT=60000, XBTUSD=60000)
    account = opened(
        funded(USDT=10000, XBT=1), opening, "XBTUSDT", Side.BUY, 1, MarginMode.ISOLATED, 10
    )
    account = opened(account, opening, "XBTUSD", Side.SELL, 6000, MarginMode.ISOLATED, 10)

    found = spans(tick_figures(account_figures(account, opening), {}))

    assert len(found) == 2 * 8 + 2 * 3
    assert {i for i in found if i.startswith("bal-")} == {
        f"bal-{c}-{n}" for c in ("USDT", "XBT") for n in BALANCE_NAMES
    }


def test_an_account_without_positions_sends_nothing() -> None:
    figures = account_figures(funded(USDT=10000, XBT=1), market(XBTUSDT=60000))
    sent: dict[str, object] = {}

    assert tick_figures(figures, sent) == ""
    assert sent == {}
