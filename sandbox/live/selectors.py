"""What the live desk shows: chart data, margin-call alerts, liquidation notices."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from sandbox import engine
from sandbox.desk.models import LiquidationRecord, Market

from .models import MarkTick

CHART_TICKS = 120


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
