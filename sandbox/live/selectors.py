"""What the live desk shows: chart data, margin-call alerts, liquidation notices."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from sandbox import engine
from sandbox.desk.models import LiquidationRecord, Market, PaperAccount

from .chart import Chart, build_chart, position_lines
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


def open_liquidations(account: PaperAccount) -> list[LiquidationRecord]:
    return list(LiquidationRecord.objects.filter(account=account, acknowledged=False)[:5])


def price_chart(
    market: Market, account: PaperAccount, symbol: str, position: engine.PositionFigures | None
) -> Chart | None:
    rows = list(
        MarkTick.objects.filter(market=market, symbol=symbol)
        .order_by("-sequence")
        .values_list("sequence", "price")[:CHART_TICKS]
    )
    rows.reverse()
    lines = position_lines(position)
    first = rows[0][0] if rows else 0
    markers = [
        (record.sequence, record.mark_price, "liquidated")
        for record in LiquidationRecord.objects.filter(
            account=account, symbol=symbol, sequence__gte=first
        )
    ]
    return build_chart(rows, lines, markers)
