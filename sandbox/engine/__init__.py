"""The margin engine: exact isolated and cross margin for perpetual contracts.

Pure Python with no Django import; every number is a :class:`decimal.Decimal`. The web
desk, the live market and the lessons all call these functions, so every figure a
learner sees comes from here. Rules 1–4 are in :mod:`.figures`, 5–11 in
:mod:`.operations`.
"""

from __future__ import annotations

from .account import (
    Account,
    Event,
    Fill,
    FundingEvent,
    LedgerEntry,
    LedgerReason,
    LiquidationEvent,
    MarginMode,
    MarginSetting,
    Outcome,
    Position,
    ProfitRealisedEvent,
    Side,
    TriggerEvent,
    TriggerKind,
)
from .errors import Rejected
from .figures import (
    AccountFigures,
    BalanceFigures,
    PositionFigures,
    account_figures,
    liquidation_cushions,
)
from .instruments import BUILT_IN_INSTRUMENTS, ContractKind, Instrument
from .market import Market
from .operations import (
    CROSS_MARGIN_IS_SHARED,
    MarginLimits,
    apply_mark,
    change_margin,
    close_position,
    combine,
    default_setting,
    deposit,
    margin_limits,
    pay_funding,
    place_order,
    realisable,
    realise_profit,
    reset_account,
    set_leverage,
    set_triggers,
    tick_account,
    tick_accounts,
)

__all__ = [
    "BUILT_IN_INSTRUMENTS",
    "CROSS_MARGIN_IS_SHARED",
    "Account",
    "AccountFigures",
    "BalanceFigures",
    "ContractKind",
    "Event",
    "Fill",
    "FundingEvent",
    "Instrument",
    "LedgerEntry",
    "LedgerReason",
    "LiquidationEvent",
    "MarginLimits",
    "MarginMode",
    "MarginSetting",
    "Market",
    "Outcome",
    "Position",
    "PositionFigures",
    "ProfitRealisedEvent",
    "Rejected",
    "Side",
    "TriggerEvent",
    "TriggerKind",
    "account_figures",
    "apply_mark",
    "change_margin",
    "close_position",
    "combine",
    "default_setting",
    "deposit",
    "liquidation_cushions",
    "margin_limits",
    "pay_funding",
    "place_order",
    "realisable",
    "realise_profit",
    "reset_account",
    "set_leverage",
    "set_triggers",
    "tick_account",
    "tick_accounts",
]
