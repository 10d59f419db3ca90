"""Previews: what an action would leave behind, without doing it.

Engine functions are pure, so a preview is the action itself with its result kept aside:
the figures shown before confirming are exactly the figures the action would produce.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from .account import Account, MarginMode, MarginSetting, Outcome, Side
from .errors import Rejected
from .figures import BalanceFigures, PositionFigures, account_figures
from .market import Market
from .money import ZERO, exact, require_decimal
from .operations import (
    MarginLimits,
    change_margin,
    default_setting,
    margin_limits,
    place_order,
    set_leverage,
    taker_fee,
)


@dataclass(frozen=True, slots=True)
class Preview:
    """The position and balance before and after an action, or why it would be refused."""

    before: PositionFigures | None
    after: PositionFigures | None
    balance_after: BalanceFigures | None
    rejection: str = ""
    outcome: Outcome | None = None

    @property
    def ok(self) -> bool:
        return not self.rejection


def _preview(
    account: Account, market: Market, symbol: str, action: Callable[[], Outcome]
) -> Preview:
    settle = market.instrument(symbol).settle
    before = account_figures(account, market).positions.get(symbol)
    try:
        outcome = action()
    except Rejected as refusal:
        return Preview(before, None, None, refusal.message)
    after = account_figures(outcome.account, market)
    return Preview(before, after.positions.get(symbol), after.balances.get(settle), "", outcome)


@dataclass(frozen=True, slots=True)
class OrderPreview:
    side: Side
    qty: Decimal
    price: Decimal | None  # the mark it would fill at
    value: Decimal  # |value of the order| in the settle currency
    fee: Decimal
    initial_margin: Decimal  # margin the order adds (0 for a pure reduction)
    setting: MarginSetting
    result: Preview


@exact
def preview_order(
    account: Account,
    market: Market,
    symbol: str,
    side: Side,
    qty: Decimal,
    setting: MarginSetting | None = None,
) -> OrderPreview:
    """The order's value, fee and initial margin, and the position it would leave.

    ``setting`` previews the order under another margin mode or leverage (the slider
    before it is applied); without it the symbol's current setting is used.
    """
    side = Side(side)
    qty = require_decimal(qty, "qty")
    inst = market.instrument(symbol)
    position = account.positions.get(symbol)
    if setting is None:
        setting = account.settings.get(symbol) or default_setting(inst)
        if position is not None:
            setting = MarginSetting(position.mode, position.leverage)
    chosen = setting

    def action() -> Outcome:
        start = account
        current = position and MarginSetting(position.mode, position.leverage)
        if current != chosen and (position is not None or account.settings.get(symbol) != chosen):
            start = set_leverage(account, market, symbol, chosen.mode, chosen.leverage).account
        return place_order(start, market, symbol, side, qty)

    price = market.marks.get(symbol)
    value = abs(inst.value(qty, price)) if price and qty > 0 else ZERO
    signed = qty if side is Side.BUY else -qty
    reduces = position is not None and (position.qty > 0) != (signed > 0)
    opening = max(qty - abs(position.qty), ZERO) if reduces and position else qty
    opening_value = abs(inst.value(opening, price)) if price and opening > 0 else ZERO
    return OrderPreview(
        side=side,
        qty=qty,
        price=price,
        value=value,
        fee=taker_fee(inst, value),
        initial_margin=opening_value / chosen.leverage,
        setting=chosen,
        result=_preview(account, market, symbol, action),
    )


@exact
def preview_leverage(
    account: Account,
    market: Market,
    symbol: str,
    mode: MarginMode,
    leverage: Decimal,
) -> Preview:
    """The position's figures under another margin mode or leverage."""
    return _preview(
        account, market, symbol, lambda: set_leverage(account, market, symbol, mode, leverage)
    )


@dataclass(frozen=True, slots=True)
class MarginPreview:
    limits: MarginLimits | None
    result: Preview


@exact
def preview_margin(account: Account, market: Market, symbol: str, amount: Decimal) -> MarginPreview:
    """The isolated position after adding (or removing) margin, and the allowed range."""
    try:
        limits: MarginLimits | None = margin_limits(account, market, symbol)
    except Rejected:
        limits = None
    return MarginPreview(
        limits=limits,
        result=_preview(
            account, market, symbol, lambda: change_margin(account, market, symbol, amount)
        ),
    )
