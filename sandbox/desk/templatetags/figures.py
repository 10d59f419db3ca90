"""How figures are written on the page: one place, so every figure reads the same.

Rounding is for display only (half-up, as the source documents round); the engine keeps
the exact values.
"""

from __future__ import annotations

from decimal import Decimal

from django import template

from sandbox.engine.money import format_decimal, round_half_up

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
    return figure(value, PRICE_PLACES)


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
