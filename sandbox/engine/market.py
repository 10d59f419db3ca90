"""The market an account trades in: its instruments and their current mark prices."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from types import MappingProxyType

from . import display
from .errors import Rejected
from .instruments import Instrument
from .money import exact, is_multiple, require_decimal

#: How far from the current mark a price set by hand may be: from a hundredth of it to a
#: hundred times it. A mark typed further away (1e9 on a 60,000 market) is a slip.
HAND_MARK_LOWEST = Decimal("0.01")
HAND_MARK_HIGHEST = Decimal("100")


@dataclass(frozen=True, slots=True)
class Market:
    instruments: Mapping[str, Instrument]
    marks: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "instruments", MappingProxyType(dict(self.instruments)))
        object.__setattr__(self, "marks", MappingProxyType(dict(self.marks)))

    def __reduce__(self) -> tuple[type[Market], tuple[dict[str, Instrument], dict[str, Decimal]]]:
        # (Pickled as plain dicts: a tick hands its market to a helper process.)
        return Market, (dict(self.instruments), dict(self.marks))

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
            raise Rejected(
                f"A mark price must be above zero; {display.number(price)} is not a price."
            )
        return Market(self.instruments, {**self.marks, symbol: price})

    @exact
    def with_hand_mark(self, symbol: str, price: Decimal) -> Market:
        """A copy of the market with a mark set by hand (a learner's Set mark, a teacher's
        price): above zero, a whole number of ticks, and from :data:`HAND_MARK_LOWEST` to
        :data:`HAND_MARK_HIGHEST` times the current mark (when there is one)."""
        price = require_decimal(price, "price")
        inst = self.instrument(symbol)
        tick = inst.tick_size
        if price <= 0:
            raise Rejected(
                f"A mark price must be above zero; {display.number(price)} is not a price."
            )
        if not is_multiple(price, tick):
            below = (price // tick) * tick
            nearest = [p for p in (below, below + tick) if p > 0]
            raise Rejected(
                f"{symbol} prices move in ticks of {display.qty(tick)}; "
                f"{display.qty(price)} is between ticks. Try "
                + " or ".join(display.price(p, tick) for p in nearest)
                + "."
            )
        current = self.marks.get(symbol)
        if current is not None:
            # The range's ends, on ticks: the first tick at or above a hundredth of the
            # mark, the last at or below a hundred times it.
            ticks = (current * HAND_MARK_LOWEST / tick).to_integral_value(ROUND_CEILING)
            lowest = max(ticks * tick, tick)
            highest = (current * HAND_MARK_HIGHEST / tick).to_integral_value(ROUND_FLOOR) * tick
            if not lowest <= price <= highest:
                raise Rejected(
                    f"A mark set by hand must be within a hundredfold of the current mark "
                    f"({display.price(current, tick)}): from {display.price(lowest, tick)} to "
                    f"{display.price(highest, tick)} on {symbol}; {display.qty(price)} is "
                    f"{'above' if price > highest else 'below'} that."
                )
        return self.with_mark(symbol, price)
