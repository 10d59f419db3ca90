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
    rounded = value.quantize(step, ROUND_FLOOR if most else ROUND_CEILING, context)
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


# ------------------------------------------------------------------------------ reading

#: The longest text :func:`read_number` reads (a figure as the desk prints it is far shorter).
MAX_NUMBER_TEXT = 40
#: Digits a number read from a person may have before and after the point.
MAX_WHOLE_DIGITS = 30
MAX_FRACTION_DIGITS = 30
_MINUSES = "-\u2212\u2013"  # hyphen-minus, the minus sign, an en dash
_SPACES = " \u00a0\u2009\u202f"  # space, no-break space, thin space, narrow no-break space
_UNIT_SUFFIXES = ("%", "x")


class NumberTextError(ValueError):
    """Text that is not a number a person meant; ``message`` says how to write it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _grouped(whole: str, separator: str) -> bool:
    """Digits grouped in threes by ``separator`` (1,234,567), the first group 1 to 3."""
    groups = whole.split(separator)
    return 1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])


def read_number(text: str, units: tuple[str, ...] = ()) -> Decimal:
    """Read a number as the app prints it, the inverse of :func:`number` and its kin.

    Accepted: thousands separators (``44,250``, ``16 420`` with any kind of space), a
    decimal point (``44,250.5``), a sign (``+12.5``, ``-3.5``, ``−3.5`` with the minus
    sign), and a trailing ``%``, ``x`` or one of ``units`` (``4 XBT``). Refused, with a
    message saying how to write it: a comma that looks like a decimal point (``44,25``),
    thousands not grouped in threes, exponents, and anything else. Exact: never a float.
    """
    raw = text.strip()
    if not raw:
        raise NumberTextError("Enter a number.")
    if len(raw) > MAX_NUMBER_TEXT:
        raise NumberTextError(
            f"That is too long to be a number: at most {MAX_NUMBER_TEXT} characters."
        )
    body = raw
    for unit in sorted((*units, *_UNIT_SUFFIXES), key=len, reverse=True):
        if unit and body.casefold().endswith(unit.casefold()) and body[: -len(unit)].strip():
            body = body[: -len(unit)].strip()
            break
    sign = ""
    if body[:1] in _MINUSES or body[:1] == "+":
        sign = "-" if body[0] in _MINUSES else ""
        body = body[1:].lstrip(_SPACES)
    for space in _SPACES:
        body = body.replace(space, " ")
    example = "44,250.5"
    if not body or any(c not in "0123456789,. " for c in body):
        if body.lower().count("e") == 1 and _reads_as_decimal(body.lower().replace(" ", "")):
            raise NumberTextError(
                f"Write the number in plain digits, like {example}: exponent notation (such "
                "as 1e3) is not accepted."
            )
        raise NumberTextError(f"Enter a number, like {example} or -3.5.")
    if body.count(".") > 1 and "," not in body:
        raise NumberTextError(
            f"{raw} has more than one point. Write a number like {example} (commas or spaces "
            "for thousands, a point for decimals)."
        )
    whole, point, fraction = body.rpartition(".") if "." in body else (body, "", "")
    if point and ("," in fraction or " " in fraction):
        # 1.234,5: points for thousands and a decimal comma.
        suggestion = body.replace(".", "").replace(" ", "").replace(",", ".")
        raise NumberTextError(
            f"A comma here looks like a decimal point: write {sign}{suggestion} (a point for "
            "decimals, commas only between thousands)."
        )
    head, comma, tail = whole.rpartition(",")
    if comma and not point and 1 <= len(tail) <= 2 and tail.isdigit() and "," not in head:
        raise NumberTextError(
            f"A comma here looks like a decimal point: write {sign}{head.replace(' ', '')}."
            f"{tail} (a point for decimals, commas only between thousands)."
        )
    if "," in whole and " " in whole:
        raise NumberTextError(
            f"{raw} mixes commas and spaces between its digits: use one or the other, "
            f"like {example}."
        )
    separator = "," if "," in whole else " "
    if separator in whole and not _grouped(whole, separator):
        name = "commas" if separator == "," else "spaces"
        raise NumberTextError(
            f"In {raw} the {name} are not between thousands: digits go in groups of three "
            f"(44,250 or 44 250), or write them with no separator (44250)."
        )
    digits = whole.replace(separator, "")
    if not digits and not fraction:
        raise NumberTextError(f"Enter a number, like {example} or -3.5.")
    if len(digits.lstrip("0")) > MAX_WHOLE_DIGITS or len(fraction) > MAX_FRACTION_DIGITS:
        raise NumberTextError(
            f"That number is too large or too long: at most {MAX_WHOLE_DIGITS} digits before "
            f"the point and {MAX_FRACTION_DIGITS} after it."
        )
    value = Decimal(f"{sign}{digits or '0'}" + (f".{fraction}" if fraction else ""))
    return abs(value) if value.is_zero() else value


def _reads_as_decimal(text: str) -> bool:
    """Whether ``text`` reads as a decimal at all (for telling exponents apart)."""
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


# A figure in words, by its name in the engine's records (lessons, tasks, notices).
FIGURE_NAMES = {
    "wallet_balance": "wallet balance",
    "available_balance": "available balance",
    "unrealised_pnl": "unrealised PnL",
    "margin_balance": "margin balance",
    "qty": "position size",
    "margin_mode": "margin mode",
    "leverage": "leverage",
    "avg_cost_price": "avg cost price",
    "avg_entry_price": "avg entry price",
    "mark_price": "mark price",
    "initial_margin": "initial margin",
    "maintenance_margin": "maintenance margin",
    "position_margin": "position margin",
    "liquidation_price": "liquidation price",
    "bankruptcy_price": "bankruptcy price",
    "stop_loss": "stop-loss",
    "take_profit": "take-profit",
    "effective_leverage": "effective leverage",
    "distance_to_liquidation": "distance to liquidation",
    "realised_pnl": "realised PnL",
}
