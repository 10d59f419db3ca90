"""How figures are written on the page: one place, so every figure reads the same.

Rounding is for display only (half-up, as the source documents round); the engine keeps
the exact values.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from decimal import Decimal
from html import escape
from typing import Any

from django import template
from django.utils.safestring import SafeString, mark_safe

from sandbox.desk.selectors import instruments
from sandbox.engine import AccountFigures, BalanceFigures, PositionFigures, display
from sandbox.engine.instruments import BUILT_IN_INSTRUMENTS
from sandbox.engine.money import format_decimal

register = template.Library()

# The filters write figures with sandbox.engine.display, as the views' and the engine's
# sentences do, so a figure reads the same in a table, a notice and a refusal.
CURRENCY_PLACES = display.CURRENCY_PLACES
DEFAULT_PLACES = display.DEFAULT_MONEY_PLACES


def named_instrument(instrument: object) -> Any:
    """``instrument`` itself when it is one (the engine's or the desk's); else the one a
    symbol (or a context's ``{"symbol": …}``) names, among the desk's instruments (kept per
    process, see selectors.instruments) and then the built-in ones; None when unknown."""
    if hasattr(instrument, "tick_size"):
        return instrument
    if isinstance(instrument, dict):
        instrument = instrument.get("symbol")
    if not isinstance(instrument, str) or not instrument:
        return None
    for row in instruments():
        if row.symbol == instrument:
            return row
    return BUILT_IN_INSTRUMENTS.get(instrument)


def tick_size(instrument: object) -> Decimal | None:
    """The tick size of ``instrument`` (see :func:`named_instrument`); None when unknown."""
    tick = getattr(named_instrument(instrument), "tick_size", None)
    return None if tick is None else Decimal(tick)


@register.filter
def figure(value: Decimal | None, places: int = DEFAULT_PLACES) -> str:
    """A decimal with thousands separators and at most ``places`` decimals."""
    return display.NONE if value is None else display.number(Decimal(value), int(places))


@register.filter
def price(value: Decimal | None, instrument: object = None) -> str:
    """A price at its instrument's tick precision: ``{{ p.mark_price|price:p.symbol }}``
    (or an instrument). A positive price too small for those places keeps its first
    digits (0.00004, never 0); "none" where no positive price exists."""
    return display.price(None if value is None else Decimal(value), tick_size(instrument))


@register.filter
def amount(value: Decimal | None, currency: str = "") -> str:
    return display.money(None if value is None else Decimal(value), currency)


@register.filter
def signed(value: Decimal | None, currency: str = "") -> str:
    """An amount with its sign written out, so gains and losses never rely on colour."""
    return display.signed(None if value is None else Decimal(value), currency)


def settle_of(symbol: str) -> str:
    """The currency ``symbol`` settles in ("" when the instrument is not known)."""
    return str(getattr(named_instrument(symbol), "settle", ""))


@register.filter
def settled(value: Decimal | None, symbol: str) -> str:
    """An amount of ``symbol``'s settle currency, at that currency's precision (a fill's
    value or fee, which the row does not name the currency of)."""
    return amount(value, settle_of(symbol))


@register.filter
def signed_settled(value: Decimal | None, symbol: str) -> str:
    """:func:`settled` with its sign written out."""
    return signed(value, settle_of(symbol))


@register.filter
def at_most(value: Decimal | None, currency: str = "") -> str:
    """An upper limit ("up to …"), rounded down at the currency's precision, so the figure
    shown is one the limit allows."""
    return display.NONE if value is None else display.limit(Decimal(value), currency, most=True)


@register.filter
def at_least(value: Decimal | None, currency: str = "") -> str:
    """A lower limit ("at least …"), rounded up at the currency's precision."""
    return display.NONE if value is None else display.limit(Decimal(value), currency, most=False)


@register.filter
def quantity(value: Decimal | None, instrument: object = None) -> str:
    """A quantity at its instrument's step (a symbol or an instrument)."""
    step = getattr(named_instrument(instrument), "qty_step", None)
    return display.qty(None if value is None else Decimal(value), step)


@register.filter
def percent(value: Decimal | None) -> str:
    return display.percent(None if value is None else Decimal(value))


@register.filter
def leverage(value: Decimal | None) -> str:
    return display.leverage(None if value is None else Decimal(value))


@register.filter
def tone(value: Decimal | None) -> str:
    """A CSS class for a gain or a loss (the sign is always written as well)."""
    if value is None or value == 0:
        return "flat"
    return "gain" if value > 0 else "loss"


@register.filter
def percent_of(rate: Decimal | None) -> str:
    """A rate written as a percentage: 0.005 → 0.5%."""
    return display.NONE if rate is None else display.percent(Decimal(rate) * 100, 4)


@register.filter
def duration(seconds: Decimal | None) -> str:
    """Simulated time as days, hours, minutes and seconds: 93784 → 1d 02:03:04."""
    if seconds is None:
        return "none"
    total = int(Decimal(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}d {clock}" if days else clock


@register.filter
def magnitude(value: Decimal | None, currency: str = "") -> str:
    """An amount without its sign, for sentences that already say which way it went."""
    return display.magnitude(None if value is None else Decimal(value), currency)


@register.filter
def price_input(value: object) -> str:
    """A value for a price field: a Decimal written plainly, typed text left as it was."""
    if isinstance(value, Decimal):
        return format_decimal(value)
    return "" if value is None else str(value)


@register.filter
def get_item(mapping: object, key: str) -> object:
    """``mapping[key]`` in a template, or None."""
    getter = getattr(mapping, "get", None)
    return getter(key) if getter is not None else None


# ------------------------------------------------------------------ figures that tick
# The figures a mark move changes, each in a span with an id. The desk's tables show them
# with these tags; a tick's push sends the same spans again (``oob``) with new values.

# (value, currency, symbol: "" for a balance) → (text, css class)
Show = Callable[[Any, str, str], tuple[str, str]]


def _price(value: Decimal | None, currency: str, symbol: str) -> tuple[str, str]:
    return price(value, symbol), ""


def _amount(value: Decimal | None, currency: str, symbol: str) -> tuple[str, str]:
    return amount(value, currency), ""


def _signed(value: Decimal | None, currency: str, symbol: str) -> tuple[str, str]:
    return signed(value, currency), tone(value)


def _percent(value: Decimal | None, currency: str, symbol: str) -> tuple[str, str]:
    return percent(value), ""


# name in the span's id → (attribute of the engine's figures, how it is shown)
POSITION_FIGURES: dict[str, tuple[str, Show]] = {
    "mark": ("mark_price", _price),
    "upnl": ("unrealised_pnl", _signed),
    "im": ("initial_margin", _amount),
    "mm": ("maintenance_margin", _amount),
    "margin": ("position_margin", _amount),
    "liq": ("liquidation_price", _price),
    "bankruptcy": ("bankruptcy_price", _price),
    "distance": ("distance_to_liquidation", _percent),
}
BALANCE_FIGURES: dict[str, tuple[str, Show]] = {
    "upnl": ("unrealised_pnl", _signed),
    "margin": ("margin_balance", _amount),
    "available": ("available_balance", _amount),
}


def _span(element_id: str, text: str, css: str = "", oob: bool = False) -> str:
    css_attr = f' class="{css}"' if css else ""
    oob_attr = ' hx-swap-oob="true"' if oob else ""
    return f'<span id="{escape(element_id)}"{css_attr}{oob_attr}>{escape(text)}</span>'


@register.simple_tag
def position_figure(position: PositionFigures, name: str, oob: bool = False) -> SafeString:
    attribute, show = POSITION_FIGURES[name]
    text, css = show(getattr(position, attribute), position.settle, position.symbol)
    return mark_safe(_span(f"pos-{position.symbol}-{name}", text, css, oob))


@register.simple_tag
def balance_figure(balance: BalanceFigures, name: str, oob: bool = False) -> SafeString:
    attribute, show = BALANCE_FIGURES[name]
    text, css = show(getattr(balance, attribute), balance.currency, "")
    return mark_safe(_span(f"bal-{balance.currency}-{name}", text, css, oob))


@register.simple_tag
def picker_mark(symbol: str, mark: Decimal | None, oob: bool = False) -> SafeString:
    return mark_safe(_span(f"picker-{symbol}-mark", price(mark, symbol), "", oob))


_UNSENT = object()


def tick_figures(figures: AccountFigures, sent: dict[str, Any]) -> SafeString:
    """The figures of an account that a mark move changes, to be swapped in by id: its
    positions', and its balances' in the currencies those positions settle in. Only
    those whose value differs from ``sent`` (what the desk shows) go; ``sent`` is updated."""
    held = {p.settle for p in figures.positions.values()}
    rows: list[tuple[str, Any, str, str, dict[str, tuple[str, Show]]]] = [
        (f"pos-{p.symbol}", p, p.settle, p.symbol, POSITION_FIGURES)
        for p in figures.positions.values()
    ]
    rows += [
        (f"bal-{b.currency}", b, b.currency, "", BALANCE_FIGURES)
        for b in figures.balances.values()
        if b.currency in held
    ]
    parts = []
    for prefix, row, currency, symbol, table in rows:
        for name, (attribute, show) in table.items():
            # Interned: every desk's record of what it shows shares the same id strings.
            key, value = sys.intern(f"{prefix}-{name}"), getattr(row, attribute)
            if sent.get(key, _UNSENT) != value:
                sent[key] = value
                parts.append(_span(key, *show(value, currency, symbol), oob=True))
    return mark_safe("".join(parts))
