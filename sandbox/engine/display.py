"""How a figure is written for a person: the one place that turns a Decimal into text.

Every screen and every message (the desk's tables, its notices, the engine's refusals, the
lesson player, the classroom) writes its figures with these functions, so the same figure
reads the same everywhere:

* a **price** at its instrument's tick precision (:func:`price`): as many decimals as the
  tick size has (XBTUSDT's 0.5 → one, ETHUSDT's 0.01 → two), trailing zeros dropped, with
  thousands separators; a positive price too small for those decimals keeps its first
  :data:`~sandbox.engine.money.PRICE_DIGITS` significant digits (never "0"), and where no
  positive price exists it is "none";
* an amount of **money** at one precision per currency (:func:`money`, :data:`CURRENCY_PLACES`);
* a **quantity** at its instrument's step (:func:`qty`), a **percent** and a **leverage**
  at two decimals.

Rounding is half-up, as the source documents round, and for display only: the engine
keeps the exact values. Pure Python, no Django.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from .money import MONEY_PLACES, decimal_places, engine_context, format_decimal, price_places

NONE = "none"

#: Decimals an amount is shown with, per currency (the desk's balances and the seeds).
CURRENCY_PLACES: dict[str, int] = {"USDT": 4, "XBT": 8}
#: Decimals of a currency not in :data:`CURRENCY_PLACES` (the engine's minor unit).
DEFAULT_MONEY_PLACES = MONEY_PLACES
#: Decimals of a price whose instrument's tick size is not known.
DEFAULT_PRICE_PLACES = 4
PERCENT_PLACES = 2
LEVERAGE_PLACES = 2


def step_places(step: Decimal | None, default: int) -> int:
    """The decimals of a step (a tick size, a quantity step): 0.5 → 1, 0.01 → 2, 1 → 0."""
    if step is None or not step.is_finite() or step <= 0:
        return default
    return decimal_places(step.normalize())


def number(value: Decimal, places: int = MONEY_PLACES) -> str:
    """At most ``places`` decimals, trailing zeros dropped, with thousands separators:
    1234567.5 → 1,234,567.5 (:func:`~sandbox.engine.money.format_decimal` without them)."""
    text = format_decimal(value, places)
    sign = "-" if text.startswith("-") else ""
    whole, _, fraction = text.lstrip("-").partition(".")
    return sign + f"{int(whole):,}" + (f".{fraction}" if fraction else "")


def price(value: Decimal | None, tick_size: Decimal | None = None) -> str:
    """A price at the tick's precision (see the module's docstring); "none" for no price."""
    if value is None or value <= 0:
        return NONE
    places = step_places(tick_size, DEFAULT_PRICE_PLACES)
    return number(value, price_places(value, places))


def money_places(currency: str) -> int:
    return CURRENCY_PLACES.get(currency, DEFAULT_MONEY_PLACES)


def money(value: Decimal | None, currency: str = "") -> str:
    """An amount of ``currency`` at that currency's precision; "none" for no amount."""
    return NONE if value is None else number(value, money_places(currency))


def limit(value: Decimal, currency: str, *, most: bool) -> str:
    """A limit quoted in a sentence ("at most", "at least"), rounded at the currency's
    precision towards what is allowed: "at most 2,699.99999999" reads 2,699.9999 in USDT,
    never 2,700, which would be refused."""
    places = money_places(currency)
    context = engine_context()
    context.prec = max(context.prec, value.adjusted() + places + 2)
    step = Decimal(1).scaleb(-places)
    rounded = value.quantize(step, rounding=ROUND_FLOOR if most else ROUND_CEILING, context=context)
    return number(rounded, places)


def signed(value: Decimal | None, currency: str = "") -> str:
    """An amount with its sign written out (+12.5, -3), so a gain never relies on colour."""
    text = money(value, currency)
    if value is not None and text != "0" and not text.startswith("-"):
        return "+" + text
    return text


def magnitude(value: Decimal | None, currency: str = "") -> str:
    """An amount without its sign, for a sentence that already says which way it went."""
    return NONE if value is None else money(abs(value), currency)


def qty(value: Decimal | None, qty_step: Decimal | None = None) -> str:
    """A quantity at the instrument's step (all its digits when the step is not known)."""
    if value is None:
        return NONE
    places = step_places(qty_step, MONEY_PLACES)
    # A quantity off the step (refused, and quoted in the refusal) keeps its digits.
    return number(value, max(places, decimal_places(value.normalize())))


def percent(value: Decimal | None, places: int = PERCENT_PLACES) -> str:
    return NONE if value is None else number(value, places) + "%"


def leverage(value: Decimal | None) -> str:
    return NONE if value is None else number(value, LEVERAGE_PLACES) + "x"
