"""A model field that keeps Decimals exact in every database.

Django's DecimalField is stored by SQLite with REAL affinity and read back through a
float, which would round prices and balances. This field stores the decimal's exact text
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
    _DecimalFieldBase = models.Field[Decimal, Decimal]
else:
    _DecimalFieldBase = models.Field


class ExactDecimalField(_DecimalFieldBase):
    description = "An exact decimal number, stored as text"

    def db_type(self, connection: BaseDatabaseWrapper) -> str:
        return "text"

    def from_db_value(
        self, value: str | None, expression: Expression, connection: BaseDatabaseWrapper
    ) -> Decimal | None:
        return None if value is None else Decimal(value)

    def to_python(self, value: Any) -> Decimal | None:
        if value is None or isinstance(value, Decimal):
            return value
        if isinstance(value, float):
            raise ValidationError("Floats are not accepted for exact figures.")
        try:
            return Decimal(str(value))
        except InvalidOperation:
            raise ValidationError(f"{value!r} is not a decimal number.") from None

    def get_prep_value(self, value: Any) -> str | None:
        value = self.to_python(value)
        return None if value is None else format(value, "f")
