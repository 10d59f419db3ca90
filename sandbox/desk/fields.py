"""Model fields that keep Decimals exact in every database.

Django's DecimalField is stored by SQLite with REAL affinity and read back through a
float, which would round prices and balances. These fields store the decimal's exact text
instead, so no float ever touches a figure, in Python or in SQL.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.expressions import Expression

if TYPE_CHECKING:
    _Required = models.Field[Decimal, Decimal]
    _Optional = models.Field[Decimal | None, Decimal | None]
else:
    _Required = _Optional = models.Field


def _to_decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        raise ValidationError("Floats are not accepted for exact figures.")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValidationError(f"{value!r} is not a decimal number.") from None


def stored_text(value: Decimal | None) -> str | None:
    """An exact figure (a Decimal the engine computed) as its column stores it: its digits
    in plain notation, no exponent (what ``get_prep_value`` writes for a Decimal).

    ``str`` writes those very digits, three times faster, unless it writes an exponent (a
    positive exponent, or a figure below 10**-6): then ``format`` (a tick writes tens of
    thousands of figures)."""
    if value is None:
        return None
    text = str(value)
    if "E" in text or "e" in text:
        return format(value, "f")
    return text


class _ExactDecimal:
    def db_type(self, connection: BaseDatabaseWrapper) -> str:
        return "text"

    def from_db_value(
        self, value: str | None, expression: Expression, connection: BaseDatabaseWrapper
    ) -> Decimal | None:
        return None if value is None else Decimal(value)

    def to_python(self, value: Any) -> Decimal | None:
        return _to_decimal(value)

    def get_prep_value(self, value: Any) -> str | None:
        return stored_text(_to_decimal(value))


class ExactDecimalField(_ExactDecimal, _Required):
    """A required exact decimal, stored as text."""


class NullableExactDecimalField(_ExactDecimal, _Optional):
    """An exact decimal that may be missing (a liquidation price that does not exist)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("null", True)
        super().__init__(*args, **kwargs)
