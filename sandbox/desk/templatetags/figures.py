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

from sandbox.engine import AccountFigures, BalanceFigures, PositionFigures
from sandbox.engine.money import format_decimal, price_places, round_half_up

register = template.Library()

PRICE_PLACES = 4
CURRENCY_PLACES = {"XBT": 8, "USDT": 4}
DEFAULT_PLACES = 8


def _group(text: str) -> str:
    sign = "-" if text.startswith("-") else ""
    digits = text.lstrip("-")
    whole, _, fraction = digits.partition(".")
    grouped = f"{int(whole):,}"
    return sign + grouped + (f".{fraction}" if fraction else "")


@register.filter
def figure(value: Decimal | None, places: int = DEFAULT_PLACES) -> str:
    """A decimal with thousands separators and at most ``places`` decimals."""
    if value is None:
        return "none"
    rounded = round_half_up(Decimal(value), int(places))
    if rounded == 0:
        return "0"
    text = format(rounded, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return _group(text)


@register.filter
def price(value: Decimal | None) -> str:
    """A price to 4 places; a positive price too small for them keeps its first digits
    (0.00004, never 0), and "none" where no positive price exists."""
    if value is None or value <= 0:
        return "none"
    return figure(value, price_places(Decimal(value), PRICE_PLACES))


@register.filter
def amount(value: Decimal | None, currency: str = "") -> str:
    return figure(value, CURRENCY_PLACES.get(currency, DEFAULT_PLACES))


@register.filter
def signed(value: Decimal | None, currency: str = "") -> str:
    """An amount with its sign written out, so gains and losses never rely on colour."""
    text = amount(value, currency)
    if value is not None and text != "0" and not text.startswith("-"):
        return "+" + text
    return text


@register.filter
def percent(value: Decimal | None) -> str:
    return "none" if value is None else figure(value, 2) + "%"


@register.filter
def leverage(value: Decimal | None) -> str:
    return "none" if value is None else figure(value, 2) + "x"


@register.filter
def tone(value: Decimal | None) -> str:
    """A CSS class for a gain or a loss (the sign is always written as well)."""
    if value is None or value == 0:
        return "flat"
    return "gain" if value > 0 else "loss"


@register.filter
def percent_of(rate: Decimal | None) -> str:
    """A rate written as a percentage: 0.005 → 0.5%."""
    return "none" if rate is None else figure(Decimal(rate) * 100, 4) + "%"


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
    return "none" if value is None else amount(abs(Decimal(value)), currency)


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

Show = Callable[[Any, str], tuple[str, str]]  # (value, currency) → (text, css class)


def _price(value: Decimal | None, currency: str) -> tuple[str, str]:
    return price(value), ""


def _amount(value: Decimal | None, currency: str) -> tuple[str, str]:
    return amount(value, currency), ""


def _signed(value: Decimal | None, currency: str) -> tuple[str, str]:
    return signed(value, currency), tone(value)


def _percent(value: Decimal | None, currency: str) -> tuple[str, str]:
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
    text, css = show(getattr(position, attribute), position.settle)
    return mark_safe(_span(f"pos-{position.symbol}-{name}", text, css, oob))


@register.simple_tag
def balance_figure(balance: BalanceFigures, name: str, oob: bool = False) -> SafeString:
    attribute, show = BALANCE_FIGURES[name]
    text, css = show(getattr(balance, attribute), balance.currency)
    return mark_safe(_span(f"bal-{balance.currency}-{name}", text, css, oob))


@register.simple_tag
def picker_mark(symbol: str, mark: Decimal | None, oob: bool = False) -> SafeString:
    return mark_safe(_span(f"picker-{symbol}-mark", price(mark), "", oob))


_UNSENT = object()


def tick_figures(figures: AccountFigures, sent: dict[str, Any]) -> SafeString:
    """The figures of an account that a mark move changes, to be swapped in by id: its
    positions', and its balances' in the currencies those positions settle in. Only
    those whose value differs from ``sent`` (what the desk shows) go; ``sent`` is updated."""
    held = {p.settle for p in figures.positions.values()}
    rows: list[tuple[str, Any, str, dict[str, tuple[str, Show]]]] = [
        (f"pos-{p.symbol}", p, p.settle, POSITION_FIGURES) for p in figures.positions.values()
    ]
    rows += [
        (f"bal-{b.currency}", b, b.currency, BALANCE_FIGURES)
        for b in figures.balances.values()
        if b.currency in held
    ]
    parts = []
    for prefix, row, currency, table in rows:
        for name, (attribute, show) in table.items():
            # Interned: every desk's record of what it shows shares the same id strings.
            key, value = sys.intern(f"{prefix}-{name}"), getattr(row, attribute)
            if sent.get(key, _UNSENT) != value:
                sent[key] = value
                parts.append(_span(key, *show(value, currency), oob=True))
    return mark_safe("".join(parts))
