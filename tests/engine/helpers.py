"""Shared builders for the engine tests: instruments with round numbers, markets, accounts.

The instruments here carry no taker fee unless a test says so, so that hand-worked figures
stay readable; the fee has its own tests with the built-in instruments.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from decimal import Decimal

import pytest

from sandbox.engine import (
    Account,
    AccountFigures,
    BalanceFigures,
    ContractKind,
    Instrument,
    MarginMode,
    Market,
    Outcome,
    PositionFigures,
    Rejected,
    Side,
    account_figures,
    deposit,
    place_order,
    set_leverage,
)
from sandbox.engine.money import engine_context

D = Decimal

# The instruments of the source documents (BitMEX examples): maintenance margin 1%.
XBTUSDT = Instrument(
    symbol="XBTUSDT",
    kind=ContractKind.LINEAR,
    settle="USDT",
    maint_margin_rate=D("0.01"),
    max_leverage=D("100"),
    taker_fee=D("0"),
    qty_step=D("0.001"),
)
ETHUSDT = Instrument(
    symbol="ETHUSDT",
    kind=ContractKind.LINEAR,
    settle="USDT",
    maint_margin_rate=D("0.01"),
    max_leverage=D("50"),
    taker_fee=D("0"),
    qty_step=D("0.01"),
)
XBTUSD = Instrument(
    symbol="XBTUSD",
    kind=ContractKind.INVERSE,
    settle="XBT",
    maint_margin_rate=D("0.01"),
    max_leverage=D("100"),
    taker_fee=D("0"),
    qty_step=D("1"),
)

ALL = (XBTUSDT, ETHUSDT, XBTUSD)


def market(*instruments: Instrument, **marks: str | Decimal | int) -> Market:
    """A market of ``instruments`` (default: all three above) with the given marks."""
    chosen = instruments or ALL
    return Market(
        {inst.symbol: inst for inst in chosen},
        {symbol: D(price) for symbol, price in marks.items()},
    )


def funded(**wallets: str | Decimal | int) -> Account:
    """A new account with a deposit per currency, made through the engine."""
    account = Account()
    for currency, amount in wallets.items():
        account = deposit(account, currency, D(amount)).account
    return account


def opened(
    account: Account,
    mkt: Market,
    symbol: str,
    side: Side,
    qty: str | Decimal | int,
    mode: MarginMode,
    leverage: str | Decimal | int,
) -> Account:
    """Set mode and leverage for ``symbol`` and fill an order at its mark."""
    account = set_leverage(account, mkt, symbol, mode, D(leverage)).account
    return place_order(account, mkt, symbol, side, D(qty)).account


def figures(account: Account, mkt: Market) -> AccountFigures:
    return account_figures(account, mkt)


def pos(account: Account, mkt: Market, symbol: str) -> PositionFigures:
    return account_figures(account, mkt).positions[symbol]


def bal(account: Account, mkt: Market, currency: str) -> BalanceFigures:
    return account_figures(account, mkt).balances[currency]


def q8(value: Decimal | None) -> Decimal | None:
    """Round to 8 places (the printed precision) for comparisons with hand-worked figures."""
    return None if value is None else value.quantize(D("1e-8"))


TIGHT = Decimal("1e-30")


def close_to(actual: Decimal | None, expected: Decimal, rel: Decimal = TIGHT) -> bool:
    assert actual is not None
    return abs(actual - expected) <= abs(expected) * rel


def div(numerator: Decimal | int, denominator: Decimal | int) -> Decimal:
    """An exact quotient at the engine's 50 digits (the test module's context has 28)."""
    with decimal.localcontext(engine_context()):
        return Decimal(numerator) / Decimal(denominator)


def snapshot(account: Account) -> tuple[dict[str, object], ...]:
    return (dict(account.wallets), dict(account.positions), dict(account.settings))


def assert_rejected(
    call: Callable[[], Outcome | object],
    account: Account,
    mkt: Market | None,
    *fragments: str,
) -> Rejected:
    """``call`` raises Rejected naming every fragment, and ``account`` is left as it was."""
    state = snapshot(account)
    before = account_figures(account, mkt) if mkt is not None else None
    with pytest.raises(Rejected) as info:
        call()
    message = info.value.message
    assert message == str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert snapshot(account) == state
    if mkt is not None:
        assert account_figures(account, mkt) == before
    return info.value
