"""Reduce-only: what a market closed to new risk still lets a trader do.

When a classroom's teacher closes trading, the room goes *reduce-only*, as an exchange
does for a contract it winds down: a trader may still lower their risk, never raise it.
Whether an action does is judged on the account before and after it (whatever the action
was: an order, a close, a leverage or margin change, a stop), position by position:

* allowed: closing a position, or reducing it (an opposite order no larger than it);
  adding margin to an isolated position; lowering its leverage (which adds margin);
  setting, moving or removing a stop-loss or take-profit (they only ever close);
  choosing a leverage for a symbol with no position (it opens nothing);
* refused: opening a position; an opposite order larger than the position (it would
  open the other side); adding to a position; switching its margin mode; raising its
  leverage; taking margin from an isolated position (beyond what a reduction releases
  with the part it closes).

Pure, exact: quantities and margins are compared without division.
"""

from __future__ import annotations

from decimal import Decimal

from .account import Account, MarginMode, Position, Side


def reduces(position: Position | None, side: Side, qty: Decimal) -> bool:
    """Whether a market order of ``qty`` on ``side`` only closes or reduces ``position``:
    it goes the other way and is no larger."""
    if position is None or qty <= 0:
        return False
    opposite = Side.SELL if position.qty > 0 else Side.BUY
    return Side(side) is opposite and qty <= abs(position.qty)


def risk_added(before: Account, after: Account) -> str | None:
    """How an action that took ``before`` to ``after`` adds risk, in words ("this would
    add to your XBTUSDT position"), or None when it only keeps or lowers it."""
    for symbol in sorted(after.positions):
        new = after.positions[symbol]
        old = before.positions.get(symbol)
        if old is None:
            return f"this would open a new {symbol} position"
        if (old.qty > 0) != (new.qty > 0):
            return (
                f"this would close your {symbol} position and open one on the other side "
                "(an order no larger than the position only reduces it)"
            )
        if abs(new.qty) > abs(old.qty):
            return f"this would add to your {symbol} position"
        if new.mode is not old.mode:
            return f"this would switch your {symbol} position to {new.mode.value} margin"
        if new.leverage > old.leverage:
            return f"this would raise the leverage of your {symbol} position"
        # Margin per unit of the position may only stay or grow (a reduction releases the
        # closed part's share, rounded down, so what stays never falls below it).
        kept = new.position_margin * abs(old.qty)
        if new.mode is MarginMode.ISOLATED and kept < old.position_margin * abs(new.qty):
            return f"this would take margin from your {symbol} position"
    return None
