"""The state of one paper account, and what an action leaves behind.

Every type here is immutable. An engine function takes an :class:`Account` and returns
an :class:`Outcome` holding a new one, so a rejected action cannot leave anything
half-changed, and a preview is the same call with the result thrown away.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from .money import ZERO, require_decimal


class MarginMode(StrEnum):
    CROSS = "cross"
    ISOLATED = "isolated"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class LedgerReason(StrEnum):
    """Why a wallet balance changed. Every change has exactly one reason."""

    DEPOSIT = "deposit"
    TRADE_PNL = "trade_pnl"  # PnL realised by reducing or closing a position
    PROFIT_REALISATION = "profit_realisation"  # periodic realisation of cross profit
    LIQUIDATION = "liquidation"  # the funds lost when a position is taken over
    TAKER_FEE = "taker_fee"
    FUNDING = "funding"
    RESET = "reset"  # a paper account set back to its starting balances

    @property
    def is_realised_pnl(self) -> bool:
        return self in (
            LedgerReason.TRADE_PNL,
            LedgerReason.PROFIT_REALISATION,
            LedgerReason.LIQUIDATION,
        )


@dataclass(frozen=True, slots=True)
class MarginSetting:
    """The margin mode and leverage chosen for a symbol (used when a position opens)."""

    mode: MarginMode
    leverage: Decimal


@dataclass(frozen=True, slots=True)
class Position:
    """An open position.

    ``qty`` is signed (negative is short). Instead of prices the position keeps two
    values (see :mod:`.instruments`): ``cost_value`` at the **avg cost price**, weighted
    over every opening fill and never touched by realisation, and ``entry_value`` at the
    **avg entry price**, the reference unrealised PnL is measured from, which moves to
    the mark when profit is realised. ``position_margin`` is the margin set aside for an
    isolated position (zero under cross margin). ``realised_pnl`` adds up what the position
    has put into or taken from the wallet since it opened (closed parts, realised profit,
    funding, less fees). ``stop_loss`` and ``take_profit`` are trigger prices: when the
    mark reaches one, the whole position is closed by a market order at the mark.
    """

    symbol: str
    qty: Decimal
    cost_value: Decimal
    entry_value: Decimal
    mode: MarginMode
    leverage: Decimal
    position_margin: Decimal = ZERO
    realised_pnl: Decimal = ZERO  # trade PnL, realised profit, funding, less fees, while open
    stop_loss: Decimal | None = None  # close the whole position when the mark reaches it
    take_profit: Decimal | None = None

    def __post_init__(self) -> None:
        # (The usual case, a finite Decimal in every field, told at once: a tick builds
        # thousands of positions. Anything else goes through require_decimal, which says
        # what is wrong.)
        stop, take = self.stop_loss, self.take_profit
        if (
            type(self.qty) is Decimal
            and type(self.cost_value) is Decimal
            and type(self.entry_value) is Decimal
            and type(self.leverage) is Decimal
            and type(self.position_margin) is Decimal
            and type(self.realised_pnl) is Decimal
            and self.qty.is_finite()
            and self.cost_value.is_finite()
            and self.entry_value.is_finite()
            and self.leverage.is_finite()
            and self.position_margin.is_finite()
            and self.realised_pnl.is_finite()
            and (stop is None or (type(stop) is Decimal and stop.is_finite()))
            and (take is None or (type(take) is Decimal and take.is_finite()))
        ):
            return
        for name in ("qty", "cost_value", "entry_value", "leverage", "position_margin"):
            require_decimal(getattr(self, name), name)
        require_decimal(self.realised_pnl, "realised_pnl")
        for name in ("stop_loss", "take_profit"):
            if getattr(self, name) is not None:
                require_decimal(getattr(self, name), name)

    @property
    def is_long(self) -> bool:
        return self.qty > 0


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    currency: str
    amount: Decimal
    reason: LedgerReason
    symbol: str = ""


@dataclass(frozen=True, slots=True)
class Fill:
    """An execution: an order at the mark, or a liquidation at the bankruptcy price."""

    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    value: Decimal  # absolute value of the fill in the settle currency
    fee: Decimal
    realised_pnl: Decimal
    liquidation: bool = False
    trigger: str = ""  # "stop_loss" or "take_profit" when a trigger order filled


@dataclass(frozen=True, slots=True)
class LiquidationEvent:
    symbol: str
    settle: str
    margin_mode: MarginMode
    qty: Decimal
    avg_entry_price: Decimal
    funds: Decimal  # what stood behind the position when it was taken over
    maintenance_margin: Decimal
    liquidation_price: Decimal | None
    bankruptcy_price: Decimal | None
    mark_price: Decimal
    loss: Decimal  # the trader's wallet change (negative)
    insurance_fund_change: Decimal
    type: str = "liquidation"


@dataclass(frozen=True, slots=True)
class ProfitRealisedEvent:
    symbol: str
    settle: str
    amount: Decimal
    type: str = "profit_realised"


@dataclass(frozen=True, slots=True)
class FundingEvent:
    symbol: str
    settle: str
    rate: Decimal
    amount: Decimal  # the trader's wallet change: negative when paying
    type: str = "funding"


class TriggerKind(StrEnum):
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"


@dataclass(frozen=True, slots=True)
class TriggerEvent:
    """A stop-loss or take-profit fired: the position was closed at the mark."""

    symbol: str
    settle: str
    kind: TriggerKind
    trigger_price: Decimal
    mark_price: Decimal  # the fill: beyond the trigger when the price gapped
    qty: Decimal
    realised_pnl: Decimal
    fee: Decimal
    type: str = "order_triggered"


Event = LiquidationEvent | ProfitRealisedEvent | FundingEvent | TriggerEvent


def _frozen(mapping: Mapping[str, object] | None) -> MappingProxyType[str, object]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class Account:
    """Wallets per settle currency, open positions and margin settings per symbol."""

    wallets: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))
    positions: Mapping[str, Position] = field(default_factory=lambda: MappingProxyType({}))
    settings: Mapping[str, MarginSetting] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        for currency, balance in dict(self.wallets or {}).items():
            require_decimal(balance, f"wallet {currency}")
        object.__setattr__(self, "wallets", _frozen(self.wallets))
        object.__setattr__(self, "positions", _frozen(self.positions))
        object.__setattr__(self, "settings", _frozen(self.settings))

    @classmethod
    def owning(
        cls,
        wallets: dict[str, Decimal],
        positions: dict[str, Position],
        settings: dict[str, MarginSetting],
    ) -> Account:
        """An account made of these very dicts, which the caller hands over and never
        changes again (rows just read; an action's finished scratch copy): its wallets
        checked as the constructor checks them, but nothing copied (a tick makes thousands
        of accounts)."""
        for currency, balance in wallets.items():
            if type(balance) is not Decimal or not balance.is_finite():  # (the rare case)
                require_decimal(balance, f"wallet {currency}")
        account = object.__new__(cls)
        object.__setattr__(account, "wallets", MappingProxyType(wallets))
        object.__setattr__(account, "positions", MappingProxyType(positions))
        object.__setattr__(account, "settings", MappingProxyType(settings))
        return account

    def wallet(self, currency: str) -> Decimal:
        return self.wallets.get(currency, ZERO)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an action produced: the new account and everything that happened on the way."""

    account: Account
    events: tuple[Event, ...] = ()
    ledger: tuple[LedgerEntry, ...] = ()
    fills: tuple[Fill, ...] = ()
    insurance: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))
    warnings: tuple[str, ...] = ()  # accepted, but worth telling the learner

    def __post_init__(self) -> None:
        object.__setattr__(self, "insurance", MappingProxyType(dict(self.insurance)))
