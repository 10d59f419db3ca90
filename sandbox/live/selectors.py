"""What the live desk shows: chart data, margin-call alerts, liquidation notices."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from sandbox import engine
from sandbox.desk.models import LiquidationRecord, ManualMark, Market

from .chart import WINDOW_TICKS
from .models import MarkTick

CHART_TICKS = WINDOW_TICKS


@dataclass(frozen=True)
class MarginAlert:
    """A position close to its liquidation price: a margin call."""

    symbol: str
    level: str  # "warning" or "danger"
    distance: Decimal  # percent the mark may still move against the position
    mark_price: Decimal
    liquidation_price: Decimal

    @property
    def key(self) -> str:
        return f"{self.symbol}:{self.level}"


def margin_alerts(figures: engine.AccountFigures) -> list[MarginAlert]:
    warning = Decimal(settings.SANDBOX_MARGIN_CALL_PERCENT)
    danger = Decimal(settings.SANDBOX_MARGIN_DANGER_PERCENT)
    alerts = []
    for position in figures.positions.values():
        distance = position.distance_to_liquidation
        if distance is None or position.liquidation_price is None or distance > warning:
            continue
        alerts.append(
            MarginAlert(
                symbol=position.symbol,
                level="danger" if distance <= danger else "warning",
                distance=distance,
                mark_price=position.mark_price,
                liquidation_price=position.liquidation_price,
            )
        )
    return alerts


def open_liquidations(account_ids: list[int]) -> dict[int, list[LiquidationRecord]]:
    """The liquidation notices each account has not acknowledged yet (five at most)."""
    found: dict[int, list[LiquidationRecord]] = defaultdict(list)
    for record in LiquidationRecord.objects.filter(account_id__in=account_ids, acknowledged=False):
        if len(found[record.account_id]) < 5:
            found[record.account_id].append(record)
    return found


def recent_marks(market: Market, symbol: str) -> list[tuple[int, Decimal]]:
    """The last ``CHART_TICKS`` (tick, mark) of a symbol on a market, oldest first."""
    rows = list(
        MarkTick.objects.filter(market=market, symbol=symbol)
        .order_by("-sequence")
        .values_list("sequence", "price")[:CHART_TICKS]
    )
    rows.reverse()
    return rows


def manual_marks(market: Market, symbol: str, since: int) -> list[tuple[int, Decimal]]:
    """The marks set by hand on a symbol since tick ``since``, as (tick they followed,
    price), oldest first: the last ``CHART_TICKS`` of them (a paused market may have many)."""
    rows = list(
        ManualMark.objects.filter(market=market, symbol=symbol, sequence__gte=since)
        .order_by("-id")
        .values_list("sequence", "price")[:CHART_TICKS]
    )
    rows.reverse()
    return rows


def chart_marks(
    market: Market, symbol: str
) -> tuple[list[tuple[int, Decimal]], list[tuple[int, Decimal]]]:
    """A chart's prices: the recent ticks, and the marks set by hand among them."""
    ticks = recent_marks(market, symbol)
    return ticks, manual_marks(market, symbol, ticks[0][0]) if ticks else []
