"""Contracts: how a quantity and a price turn into a value and a profit or loss.

Two kinds of perpetual contract are modelled, as on BitMEX:

* **Linear** (XBTUSDT, ETHUSDT, SOLUSDT): the quantity is in units of the base asset and
  everything is settled in the quote currency. ``value = qty × price`` and
  ``PnL = qty × (exit − entry)``.
* **Inverse** (XBTUSD): the quantity is a number of one-dollar contracts and everything
  is settled in the base asset. ``value = qty / price`` and
  ``PnL = qty × (1/entry − 1/exit)``. Averaging values rather than prices makes the
  average entry the harmonic mean of the fill prices.

Values carry the sign of the quantity (a short has a negative value), so one formula
serves both sides.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from .money import ONE, ZERO


class ContractKind(StrEnum):
    LINEAR = "linear"
    INVERSE = "inverse"


_INVERSE = ContractKind.INVERSE  # (read for every value and PnL: a member's look-up is slow)


@dataclass(frozen=True, slots=True)
class Instrument:
    """A perpetual contract and its risk parameters.

    ``qty_step`` is the smallest order size (and every quantity must be a whole multiple
    of it); ``funding_rate`` is the rate of a funding payment on a live market;
    ``tick_size`` is the step of a simulated price.
    """

    symbol: str
    kind: ContractKind
    settle: str
    maint_margin_rate: Decimal = Decimal("0.005")
    max_leverage: Decimal = Decimal("100")
    taker_fee: Decimal = ZERO
    qty_step: Decimal = Decimal("0.00000001")
    funding_rate: Decimal = Decimal("0.0001")
    tick_size: Decimal = Decimal("0.01")

    @property
    def is_inverse(self) -> bool:
        return self.kind is _INVERSE

    @property
    def qty_unit(self) -> str:
        """What a quantity counts: USD contracts for inverse, the base asset for linear."""
        if self.is_inverse:
            return "USD"
        return self.symbol.removesuffix(self.settle) or "contracts"

    def value(self, qty: Decimal, price: Decimal) -> Decimal:
        """Signed value of ``qty`` at ``price``, in the settle currency."""
        return qty / price if self.is_inverse else qty * price

    def pnl(self, qty: Decimal, entry_value: Decimal, price: Decimal) -> Decimal:
        """Profit or loss of ``qty`` bought or sold for ``entry_value``, marked at ``price``."""
        if self.is_inverse:
            return entry_value - qty / price
        return qty * price - entry_value

    def pnl_direction(self) -> Decimal:
        """+1 when the value at entry rises with the PnL it leaves to make (linear), else −1.

        Realising an amount ``r`` of PnL moves the value at entry by ``r`` times this.
        """
        return -ONE if self.is_inverse else ONE

    def price_at_pnl(self, qty: Decimal, entry_value: Decimal, pnl: Decimal) -> Decimal | None:
        """The mark price at which the position's PnL equals ``pnl``, if one exists.

        Linear: ``qty × P − entry_value = pnl``. Inverse: ``entry_value − qty / P = pnl``,
        which is linear in 1/P. None when the answer is not a positive finite price.
        """
        if qty == 0:
            return None
        if self.is_inverse:
            denominator = entry_value - pnl
            if denominator == 0:
                return None
            price = qty / denominator
        else:
            price = (entry_value + pnl) / qty
        return price if price > 0 else None

    def avg_price(self, qty: Decimal, value: Decimal) -> Decimal:
        """The single price at which ``qty`` would have ``value``."""
        return qty / value if self.is_inverse else value / qty


# Realistic defaults, close to what BitMEX lists for these perpetuals.
BUILT_IN_INSTRUMENTS: MappingProxyType[str, Instrument] = MappingProxyType(
    {
        "XBTUSDT": Instrument(
            symbol="XBTUSDT",
            kind=ContractKind.LINEAR,
            settle="USDT",
            maint_margin_rate=Decimal("0.005"),
            max_leverage=Decimal("100"),
            taker_fee=Decimal("0.0005"),
            qty_step=Decimal("0.001"),
            tick_size=Decimal("0.5"),
        ),
        "ETHUSDT": Instrument(
            symbol="ETHUSDT",
            kind=ContractKind.LINEAR,
            settle="USDT",
            maint_margin_rate=Decimal("0.01"),
            max_leverage=Decimal("50"),
            taker_fee=Decimal("0.0005"),
            qty_step=Decimal("0.01"),
            tick_size=Decimal("0.01"),
        ),
        "SOLUSDT": Instrument(
            symbol="SOLUSDT",
            kind=ContractKind.LINEAR,
            settle="USDT",
            maint_margin_rate=Decimal("0.01"),
            max_leverage=Decimal("50"),
            taker_fee=Decimal("0.0005"),
            qty_step=Decimal("0.1"),
            tick_size=Decimal("0.01"),
        ),
        "XBTUSD": Instrument(
            symbol="XBTUSD",
            kind=ContractKind.INVERSE,
            settle="XBT",
            maint_margin_rate=Decimal("0.0035"),
            max_leverage=Decimal("100"),
            taker_fee=Decimal("0.0005"),
            qty_step=Decimal("1"),
            tick_size=Decimal("0.5"),
        ),
    }
)
