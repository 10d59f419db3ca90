"""Side by side: the same position held isolated and under cross margin, compared at one
mark.

The twins open the same order at the same price and pay the same fees and funding, so at
any mark they hold the same equity (margin balance: wallet balance plus unrealised PnL)
while both positions are open. What differs is *where* it sits: every realisation, the
cross twin's profit moves out of its unrealised PnL into its wallet (rule 9: the
position's entry value moves by the amount, so its unrealised PnL is measured from a new
avg entry price), while the isolated twin's profit stays unrealised until it is closed.
:func:`compare_twins` gives the differences a learner is shown, computed here so that no
page subtracts one figure from another.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal

from .figures import BalanceFigures, PositionFigures
from .money import exact


class TwinsGap(enum.Enum):
    """Why the twins' figures differ at the same mark."""

    ALIKE = "alike"  # same wallet, same unrealised PnL: nothing has been realised yet
    REALISED = "realised"  # the same equity; the cross twin's profit moved into its wallet
    APART = "apart"  # the equities themselves differ (a twin without its position, say)


@dataclass(frozen=True, slots=True)
class TwinsComparison:
    """The twins' figures in their settle currency, and how they differ (cross − isolated
    for the wallets and equities; isolated − cross for the unrealised PnL, so that when
    profit was realised ``wallet_gap`` and ``pnl_gap`` are the same amount)."""

    currency: str
    mark_price: Decimal | None  # the mark both are measured at (None: neither is open)
    isolated_wallet: Decimal
    cross_wallet: Decimal
    isolated_pnl: Decimal
    cross_pnl: Decimal
    isolated_equity: Decimal
    cross_equity: Decimal
    wallet_gap: Decimal
    pnl_gap: Decimal
    equity_gap: Decimal
    isolated_entry: Decimal | None  # avg entry prices, where the positions are open
    cross_entry: Decimal | None

    @property
    def gap(self) -> TwinsGap:
        if self.equity_gap != 0:
            return TwinsGap.APART
        if self.wallet_gap == 0 and self.pnl_gap == 0:
            return TwinsGap.ALIKE
        return TwinsGap.REALISED

    @property
    def cross_wallet_higher(self) -> bool:
        return self.wallet_gap > 0

    @property
    def cross_equity_higher(self) -> bool:
        return self.equity_gap > 0


@exact
def compare_twins(
    isolated: BalanceFigures,
    cross: BalanceFigures,
    isolated_position: PositionFigures | None = None,
    cross_position: PositionFigures | None = None,
) -> TwinsComparison:
    """The twins' balances in one settle currency (and their positions in the symbol, if
    still open) side by side. Both balances must be in the same currency."""
    if isolated.currency != cross.currency:
        raise ValueError(f"twins in {isolated.currency} and {cross.currency} do not compare")
    open_one = cross_position or isolated_position
    return TwinsComparison(
        currency=isolated.currency,
        mark_price=open_one.mark_price if open_one else None,
        isolated_wallet=isolated.wallet_balance,
        cross_wallet=cross.wallet_balance,
        isolated_pnl=isolated.unrealised_pnl,
        cross_pnl=cross.unrealised_pnl,
        isolated_equity=isolated.margin_balance,
        cross_equity=cross.margin_balance,
        wallet_gap=cross.wallet_balance - isolated.wallet_balance,
        pnl_gap=isolated.unrealised_pnl - cross.unrealised_pnl,
        equity_gap=cross.margin_balance - isolated.margin_balance,
        isolated_entry=isolated_position.avg_entry_price if isolated_position else None,
        cross_entry=cross_position.avg_entry_price if cross_position else None,
    )
