"""The market an account trades in: its instruments and their current mark prices."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from .errors import Rejected
from .instruments import Instrument
from .money import exact, readable, require_decimal


@dataclass(frozen=True, slots=True)
class Market:
    instruments: Mapping[str, Instrument]
    marks: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "instruments", MappingProxyType(dict(self.instruments)))
        object.__setattr__(self, "marks", MappingProxyType(dict(self.marks)))

    def instrument(self, symbol: str) -> Instrument:
        try:
            return self.instruments[symbol]
        except KeyError:
            raise Rejected(f"There is no instrument called {symbol!r} in this market.") from None

    def mark(self, symbol: str) -> Decimal:
        self.instrument(symbol)
        try:
            return self.marks[symbol]
        except KeyError:
            raise Rejected(
                f"{symbol} has no mark price yet, so nothing can be filled: set a mark price first."
            ) from None

    @exact
    def with_mark(self, symbol: str, price: Decimal) -> Market:
        """A copy of the market with a new mark price for ``symbol`` (which must be > 0)."""
        price = require_decimal(price, "price")
        self.instrument(symbol)
        if price <= 0:
            raise Rejected(f"A mark price must be above zero; {readable(price)} is not a price.")
        return Market(self.instruments, {**self.marks, symbol: price})
