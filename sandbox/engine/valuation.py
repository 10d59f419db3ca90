"""One figure for an account that holds several currencies: its equity in one quote
currency, its return against its starting balances, and its leverage (a classroom's board
compares learners by these).

An account's margin balance is kept per settle currency (USDT for the linear contracts,
XBT for the inverse XBTUSD). To add them up, each currency is valued at a mark of the
market, in the quote currency:

* a linear contract quoted in the quote currency on that currency (XBTUSDT's mark values
  XBT in USDT) is preferred;
* otherwise an inverse contract settled in that currency and quoted in the quote currency
  or its dollar (XBTUSD's mark values XBT in USD, counted one USD for one USDT, and said so:
  :attr:`Rate.dollar`).

A currency no mark values (an XBT balance in a room without an XBT contract) is left out
of the sums and listed in :attr:`Valuation.unvalued`. Everything is exact ``Decimal``.

* **Equity** = Σ margin balance (wallet + unrealised PnL) × its rate.
* **Return** = (equity − the starting balances valued at the same rates) / that × 100:
  what trading gained or lost against keeping the starting balances, so a learner who did
  nothing is at 0% whatever the XBT price does.
* **Effective leverage** = Σ |value of each position at its mark| × its rate / equity
  (None with no position, or with no positive equity).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from .account import MarginMode
from .figures import AccountFigures, PositionFigures
from .instruments import Instrument
from .market import Market
from .money import ONE, ZERO, exact

#: A quote currency that stands for a dollar: a USD-quoted mark values in it one for one.
DOLLAR_OF: Mapping[str, str] = MappingProxyType({"USDT": "USD", "USDC": "USD"})


def base_and_quote(inst: Instrument) -> tuple[str, str]:
    """The currency a contract prices and the one its price is in: XBTUSDT (linear,
    settled in USDT) → (XBT, USDT); XBTUSD (inverse, settled in XBT) → (XBT, USD)."""
    if inst.is_inverse:
        return inst.settle, inst.symbol.removeprefix(inst.settle)
    return inst.symbol.removesuffix(inst.settle), inst.settle


@dataclass(frozen=True, slots=True)
class Rate:
    """One unit of ``currency`` in the quote currency: ``price``, the mark of ``symbol``
    (empty for the quote currency itself). ``dollar``: the mark is in USD and counted one
    for one in the quote currency (a USD stablecoin)."""

    currency: str
    price: Decimal
    symbol: str = ""
    dollar: bool = False


@dataclass(frozen=True, slots=True)
class Valuation:
    quote: str
    rates: Mapping[str, Rate]
    unvalued: tuple[str, ...] = ()

    def value(self, currency: str, amount: Decimal) -> Decimal | None:
        rate = self.rates.get(currency)
        return None if rate is None else amount * rate.price

    @property
    def marked(self) -> tuple[Rate, ...]:
        """The rates that come from a mark (every currency but the quote), by currency."""
        return tuple(rate for _, rate in sorted(self.rates.items()) if rate.symbol)


def _rate(market: Market, currency: str, quote: str) -> Rate | None:
    if currency == quote:
        return Rate(currency, ONE)
    linear: list[Rate] = []
    inverse: list[Rate] = []
    dollar: list[Rate] = []
    for symbol in sorted(market.instruments):
        inst = market.instruments[symbol]
        mark = market.marks.get(symbol)
        if mark is None or mark <= 0:
            continue
        base, priced_in = base_and_quote(inst)
        if base != currency:
            continue
        if priced_in == quote:
            (inverse if inst.is_inverse else linear).append(Rate(currency, mark, symbol))
        elif priced_in == DOLLAR_OF.get(quote):
            dollar.append(Rate(currency, mark, symbol, dollar=True))
    found = linear or inverse or dollar
    return found[0] if found else None


@exact
def valuation(market: Market, quote: str, currencies: Iterable[str]) -> Valuation:
    """The rate of each of ``currencies`` in ``quote`` at the market's marks."""
    rates: dict[str, Rate] = {}
    unvalued: list[str] = []
    for currency in sorted(set(currencies) | {quote}):
        rate = _rate(market, currency, quote)
        if rate is None:
            unvalued.append(currency)
        else:
            rates[currency] = rate
    return Valuation(quote, MappingProxyType(rates), tuple(unvalued))


@dataclass(frozen=True, slots=True)
class PositionSummary:
    """A position as a teacher reads it: side, the mode and leverage the learner chose,
    and the leverage it really runs at (|value at avg cost| over the margin behind it)."""

    symbol: str
    is_long: bool
    margin_mode: MarginMode
    leverage: Decimal  # chosen (for cross: the initial margin's leverage)
    effective_leverage: Decimal | None
    notional: Decimal | None  # |value at the mark| in the quote currency
    distance_to_liquidation: Decimal | None


@dataclass(frozen=True, slots=True)
class AccountValue:
    """An account's figures in one quote currency (see the module's docstring)."""

    quote: str
    equity: Decimal
    margin_balances: Mapping[str, Decimal]  # per currency, in that currency
    start_value: Decimal
    return_percent: Decimal | None  # None when the start is worth nothing
    notional: Decimal
    effective_leverage: Decimal | None
    positions: tuple[PositionSummary, ...]
    distance_to_liquidation: Decimal | None  # the closest any position is, in percent


def _notional(position: PositionFigures, market: Market, rates: Valuation) -> Decimal | None:
    inst = market.instrument(position.symbol)
    return rates.value(position.settle, abs(inst.value(position.qty, position.mark_price)))


@exact
def account_value(
    figures: AccountFigures,
    market: Market,
    rates: Valuation,
    start: Mapping[str, Decimal],
) -> AccountValue:
    """``figures`` (from :func:`~.figures.account_figures`) valued in ``rates.quote``;
    ``start``: the starting balances the return is measured against."""
    balances = {c: b.margin_balance for c, b in sorted(figures.balances.items())}
    equity = sum(
        (v for c, amount in balances.items() if (v := rates.value(c, amount)) is not None), ZERO
    )
    start_value = sum(
        (v for c, amount in start.items() if (v := rates.value(c, amount)) is not None), ZERO
    )
    summaries = tuple(
        PositionSummary(
            symbol=p.symbol,
            is_long=p.is_long,
            margin_mode=p.margin_mode,
            leverage=p.leverage,
            effective_leverage=p.effective_leverage,
            notional=_notional(p, market, rates),
            distance_to_liquidation=p.distance_to_liquidation,
        )
        for _, p in sorted(figures.positions.items())
    )
    notional = sum((s.notional for s in summaries if s.notional is not None), ZERO)
    distances = [
        s.distance_to_liquidation for s in summaries if s.distance_to_liquidation is not None
    ]
    return AccountValue(
        quote=rates.quote,
        equity=equity,
        margin_balances=MappingProxyType(balances),
        start_value=start_value,
        return_percent=(equity - start_value) / start_value * 100 if start_value > 0 else None,
        notional=notional,
        effective_leverage=notional / equity if summaries and equity > 0 else None,
        positions=summaries,
        distance_to_liquidation=min(distances) if distances else None,
    )
