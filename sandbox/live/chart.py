"""A server-rendered price chart: mark prices as an SVG polyline, with the position's
avg entry, liquidation and bankruptcy prices as labelled lines and a marker wherever a
liquidation happened. Coordinates are computed with Decimals and written as text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sandbox.engine import PositionFigures

WIDTH = Decimal(640)
HEIGHT = Decimal(220)
PAD = Decimal(12)
NEAR = Decimal("0.25")  # reference lines within 25% of the last price are drawn


def _coord(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.1")), "f")


@dataclass(frozen=True)
class ChartLine:
    kind: str  # entry, liquidation, bankruptcy
    label: str
    price: Decimal
    y: str


@dataclass(frozen=True)
class ChartMarker:
    x: str
    y: str
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    points: str
    first: Decimal
    last: Decimal
    low: Decimal
    high: Decimal
    count: int
    last_x: str
    last_y: str
    lines: tuple[ChartLine, ...]
    off_chart: tuple[tuple[str, Decimal], ...]
    markers: tuple[ChartMarker, ...]


def position_lines(position: PositionFigures | None) -> list[tuple[str, str, Decimal | None]]:
    """The reference lines a position puts on a chart: avg entry, liquidation, bankruptcy."""
    if position is None:
        return []
    return [
        ("entry", "avg entry", position.avg_entry_price),
        ("liquidation", "liquidation", position.liquidation_price),
        ("bankruptcy", "bankruptcy", position.bankruptcy_price),
    ]


def build_chart(
    points: Sequence[tuple[int, Decimal]],
    lines: Sequence[tuple[str, str, Decimal | None]],
    markers: Sequence[tuple[int, Decimal, str]] = (),
) -> Chart | None:
    """``points`` are (tick, price); ``lines`` (kind, label, price); ``markers``
    (tick, price, label). None when there is nothing to draw."""
    if not points:
        return None
    prices = [price for _, price in points]
    last = prices[-1]
    shown = [
        (k, label, p) for k, label, p in lines if p is not None and abs(p - last) <= last * NEAR
    ]
    off = tuple(
        (label, p) for k, label, p in lines if p is not None and abs(p - last) > last * NEAR
    )
    values = prices + [p for _, _, p in shown] + [p for _, p, _ in markers]
    low, high = min(values), max(values)
    if high == low:
        low, high = low - last / 1000, high + last / 1000
    span = high - low
    first_tick = points[0][0]
    ticks = max(points[-1][0] - first_tick, 1)

    def x(tick: int) -> Decimal:
        return PAD + (WIDTH - 2 * PAD) * Decimal(tick - first_tick) / Decimal(ticks)

    def y(price: Decimal) -> Decimal:
        return PAD + (HEIGHT - 2 * PAD) * (high - price) / span

    return Chart(
        width=int(WIDTH),
        height=int(HEIGHT),
        points=" ".join(f"{_coord(x(t))},{_coord(y(p))}" for t, p in points),
        first=prices[0],
        last=last,
        low=min(prices),
        high=max(prices),
        count=len(points),
        last_x=_coord(x(points[-1][0])),
        last_y=_coord(y(last)),
        lines=tuple(ChartLine(k, label, p, _coord(y(p))) for k, label, p in shown),
        off_chart=off,
        markers=tuple(
            ChartMarker(_coord(x(t)), _coord(y(p)), label)
            for t, p, label in markers
            if first_tick <= t <= points[-1][0]
        ),
    )
