"""Exact decimal arithmetic for the margin engine.

Every figure the engine handles is a :class:`decimal.Decimal`; floats are refused at the
door (:func:`require_decimal`). Two kinds of number exist:

* **Money that moves or is kept** (wallet balances, isolated position margin, the
  insurance fund, ledger entries) is held in whole minor units of ``10**-8`` of the
  currency. Each movement is rounded once, in the exchange's favour: what the trader
  receives is rounded down, what the trader pays or sets aside is rounded up. Sums of
  such amounts are exact, so the ledger always adds up to the wallet.
* **Derived figures** (prices, initial and maintenance margin, unrealised PnL, available
  balance) are computed at 50 significant digits and only rounded for display.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from functools import wraps
from typing import ParamSpec, TypeVar

from .errors import Rejected

PRECISION = 50
MONEY_PLACES = 8
MINOR_UNIT = Decimal(1).scaleb(-MONEY_PLACES)
ZERO = Decimal(0)
ONE = Decimal(1)

P = ParamSpec("P")
R = TypeVar("R")


_ENGINE_CONTEXT = decimal.Context(
    prec=PRECISION,
    rounding=decimal.ROUND_HALF_EVEN,
    Emin=-999999,
    Emax=999999,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)


def engine_context() -> decimal.Context:
    """The arithmetic context every engine computation runs in (a fresh copy)."""
    return _ENGINE_CONTEXT.copy()


# The context money is rounded in, shared: a rounding reads its precision and traps, and
# only sets flags, which nothing reads (a copy for each of a tick's thousands of roundings
# cost more than the rounding).
_MONEY_CONTEXT = engine_context()


def exact(func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func`` inside the engine's decimal context, whatever the caller's is."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        # (localcontext sets a copy of the context it is given: a fresh one for each call.)
        with decimal.localcontext(_ENGINE_CONTEXT):
            return func(*args, **kwargs)

    return wrapper


def require_decimal(value: object, name: str) -> Decimal:
    """Return ``value`` as a finite Decimal, or raise TypeError/ValueError.

    Only ``Decimal`` and ``int`` are accepted. A float is a programming error (it has
    already lost exactness), so it raises ``TypeError`` rather than being converted.
    """
    if type(value) is Decimal:  # (the usual case: a Decimal is immutable, kept as it is)
        if not value.is_finite():
            raise ValueError(f"{name} must be a finite number")
        return value
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    result = Decimal(value)
    if not result.is_finite():
        raise ValueError(f"{name} must be a finite number")
    return result


def parse_decimal(text: str) -> Decimal | None:
    """Read a decimal written by a person (a form field, a scenario file).

    Returns None when ``text`` is not a plain finite decimal number. Exponents are
    accepted (``1e3``); NaN, infinities, blanks and thousands separators are not.
    """
    text = text.strip()
    if not text or any(c not in "0123456789.-+eE" for c in text):
        return None
    try:
        value = Decimal(text)
    except decimal.InvalidOperation:
        return None
    return value if value.is_finite() else None


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return exponent


def decimal_places(value: Decimal) -> int:
    """How many digits ``value`` has after the decimal point (0 for whole numbers)."""
    return max(0, -_exponent(value))


# Money is kept exactly in minor units at PRECISION digits: below 10**42.
MONEY_LIMIT_EXPONENT = PRECISION - MONEY_PLACES


def _minor_units(amount: Decimal, rounding: str) -> Decimal:
    """``amount`` in whole minor units; Rejected when it is too large to keep exactly.

    Only a scenario file's extreme figures (each below 10**31, but multiplied together)
    get there; the rejected step then changes nothing.
    """
    if amount.adjusted() >= MONEY_LIMIT_EXPONENT and not amount.is_zero():
        raise Rejected(
            f"This step needs an amount of about 10^{amount.adjusted()}, too large for the "
            f"engine: it keeps money exact to {MONEY_PLACES} decimal places only below "
            f"10^{MONEY_LIMIT_EXPONENT}."
        )
    return amount.quantize(MINOR_UNIT, rounding, _MONEY_CONTEXT)  # (positional: quicker)


def money_down(amount: Decimal) -> Decimal:
    """Round a wallet movement to whole minor units, towards minus infinity.

    A credit to the trader is rounded down and a debit is rounded up (in size): the
    exchange never pays out a fraction of a unit it does not have.
    """
    return _minor_units(amount, ROUND_FLOOR)


def money_nearest(amount: Decimal) -> Decimal:
    """Round to the nearest minor unit (halves to even): for an amount that is exactly a
    sum of minor units but for a tail far below them (10**-40) from a division."""
    return _minor_units(amount, decimal.ROUND_HALF_EVEN)


def money_up(amount: Decimal) -> Decimal:
    """Round an amount the trader must set aside (margin) up to whole minor units."""
    return _minor_units(amount, ROUND_CEILING)


def is_multiple(value: Decimal, step: Decimal) -> bool:
    """Whether ``value`` is a whole number of ``step``s, exactly, however far apart their
    sizes are (a plain ``%`` at 50 digits fails when the quotient needs more)."""
    digits = max(value.adjusted(), step.adjusted()) - min(_exponent(value), _exponent(step))
    context = engine_context()
    context.prec = max(PRECISION, digits + 2)
    return context.remainder(value, step) == 0


_STEPS: dict[int, Decimal] = {}


def round_half_up(value: Decimal, places: int) -> Decimal:
    """Round to ``places`` decimals, halves away from zero (as the documents round).

    Display only, so a figure too long for the engine's 50 digits at those places (a
    scenario's extreme figures) gets the digits it needs rather than an error.
    """
    step = _STEPS.get(places)
    if step is None:
        step = _STEPS[places] = Decimal(1).scaleb(-places)
    context = engine_context()
    digits = value.adjusted() + places + 1
    if digits > PRECISION:
        context.prec = digits + 1
    return value.quantize(step, ROUND_HALF_UP, context)  # (positional: quicker)


def format_decimal(value: Decimal, places: int = MONEY_PLACES) -> str:
    """A plain string with at most ``places`` decimals, no exponent, no trailing zeros."""
    rounded = round_half_up(value, places)
    if rounded == 0:
        return "0"
    text = format(rounded, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


PRICE_DIGITS = 4  # significant digits of a price too small for the usual places


def price_places(value: Decimal, places: int = MONEY_PLACES) -> int:
    """The decimals to print a price with: ``places``, or more when those would round a
    positive price to 0 (enough for :data:`PRICE_DIGITS` significant digits)."""
    if value > 0 and round_half_up(value, places) == 0:
        return max(places, PRICE_DIGITS - 1 - value.adjusted())
    return places


def format_price(value: Decimal | None, places: int = MONEY_PLACES) -> str | None:
    """A price as :func:`format_decimal` writes it, but a positive price never as ``"0"``
    (0.000000004 stays 0.000000004), and None where no positive price exists (rule 4)."""
    if value is None or value <= 0:
        return None
    return format_decimal(value, price_places(value, places))
