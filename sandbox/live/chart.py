"""A server-rendered price chart: mark prices as an SVG polyline, with the position's
avg entry, liquidation and bankruptcy prices as labelled lines and a marker wherever a
liquidation happened. Coordinates are computed with Decimals and written as text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sandbox.engine import PositionFigures
from sandbox.engine.money import format_decimal

WIDTH = Decimal(640)
HEIGHT = Decimal(220)
PAD = Decimal(12)
NEAR = Decimal("0.25")  # reference lines within 25% of the last price are drawn


def _coord(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.1")), "f")


@dataclass(frozen=True, slots=True)
class ChartLine:
    kind: str  # entry, liquidation, bankruptcy
    label: str
    price: Decimal
    y: str


@dataclass(frozen=True, slots=True)
class ChartMarker:
    x: str
    y: str
    label: str


@dataclass(frozen=True)
class PriceWindow:
    """The recent mark prices of one symbol, shared by every chart of it on this tick.

    The points are written once, in the window's own units (x: ticks since the first,
    y: minus the price), so a viewer's chart only says which part of that plane it
    shows (a ``viewBox``): the price line is the same text for everyone."""

    points: str
    first_tick: int
    last_tick: int
    first: Decimal
    last: Decimal
    low: Decimal
    high: Decimal
    count: int

    @property
    def ticks(self) -> int:
        return max(self.last_tick - self.first_tick, 1)

    @property
    def last_point(self) -> str:
        return f"{self.last_tick - self.first_tick},{format_decimal(-self.last)}"


@dataclass(frozen=True)
class Chart:
    """One viewer's chart: a window of prices on the viewer's own scale (``low`` to
    ``high``), with the viewer's reference lines and liquidation markers on it."""

    window: PriceWindow
    low: Decimal
    high: Decimal
    lines: tuple[ChartLine, ...]
    off_chart: tuple[tuple[str, Decimal], ...]
    markers: tuple[ChartMarker, ...]
    width: int = int(WIDTH)
    height: int = int(HEIGHT)
    pad: int = int(PAD)

    @property
    def scale(self) -> tuple[Decimal, Decimal]:
        return self.low, self.high

    @property
    def view_box(self) -> str:
        span = format_decimal(self.high - self.low)
        return f"0 {format_decimal(-self.high)} {self.window.ticks} {span}"

    @property
    def plot_width(self) -> int:
        return self.width - 2 * self.pad

    @property
    def right(self) -> int:
        return self.width - self.pad

    @property
    def plot_height(self) -> int:
        return self.height - 2 * self.pad

    @property
    def redraws_every_tick(self) -> bool:
        """Markers sit at a tick, so they move along as the window slides."""
        return bool(self.markers)


def position_lines(position: PositionFigures | None) -> list[tuple[str, str, Decimal | None]]:
    """The reference lines a position puts on a chart: avg entry, liquidation, bankruptcy."""
    if position is None:
        return []
    return [
        ("entry", "avg entry", position.avg_entry_price),
        ("liquidation", "liquidation", position.liquidation_price),
        ("bankruptcy", "bankruptcy", position.bankruptcy_price),
    ]


def price_window(points: Sequence[tuple[int, Decimal]]) -> PriceWindow | None:
    """``points`` are (tick, price), oldest first. None when there is nothing to draw."""
    if not points:
        return None
    prices = [price for _, price in points]
    first_tick = points[0][0]
    return PriceWindow(
        points=" ".join(f"{tick - first_tick},{format_decimal(-p)}" for tick, p in points),
        first_tick=first_tick,
        last_tick=points[-1][0],
        first=prices[0],
        last=prices[-1],
        low=min(prices),
        high=max(prices),
        count=len(points),
    )


KEEP_FILL = Decimal("0.4")  # a kept scale must still be at least 40% filled
MARGIN = Decimal("0.1")  # a new scale leaves 10% of its span free above and below


def chart_view(
    window: PriceWindow | None,
    lines: Sequence[tuple[str, str, Decimal | None]],
    markers: Sequence[tuple[int, Decimal, str]] = (),
    keep: tuple[Decimal, Decimal] | None = None,
) -> Chart | None:
    """One viewer's chart of a shared window. The scale covers the prices, the viewer's
    own ``lines`` (kind, label, price) near them and ``markers`` (tick, price, label),
    with a margin; ``keep`` is the scale the viewer already has, kept while everything
    still fits it well (so from one tick to the next only the price line moves)."""
    if window is None:
        return None
    markers = [m for m in markers if window.first_tick <= m[0] <= window.last_tick]
    last = window.last
    shown = [
        (k, label, p) for k, label, p in lines if p is not None and abs(p - last) <= last * NEAR
    ]
    off = tuple(
        (label, p) for k, label, p in lines if p is not None and abs(p - last) > last * NEAR
    )
    values = [window.low, window.high] + [p for _, _, p in shown] + [p for _, p, _ in markers]
    low, high = min(values), max(values)
    fits = keep is not None and keep[0] <= low and high <= keep[1]
    if keep is not None and fits and high - low >= (keep[1] - keep[0]) * KEEP_FILL:
        return _chart(window, keep[0], keep[1], shown, off, markers)
    margin = (high - low) * MARGIN if high > low else last / 1000
    return _chart(window, low - margin, high + margin, shown, off, markers)


def _chart(
    window: PriceWindow,
    low: Decimal,
    high: Decimal,
    shown: Sequence[tuple[str, str, Decimal]],
    off: tuple[tuple[str, Decimal], ...],
    markers: Sequence[tuple[int, Decimal, str]],
) -> Chart:
    """The chart on the scale ``low`` to ``high``; ``markers`` are inside the window."""
    span = high - low

    def x(tick: int) -> Decimal:
        return PAD + (WIDTH - 2 * PAD) * Decimal(tick - window.first_tick) / window.ticks

    def y(price: Decimal) -> Decimal:
        return PAD + (HEIGHT - 2 * PAD) * (high - price) / span

    return Chart(
        window=window,
        low=low,
        high=high,
        lines=tuple(ChartLine(k, label, p, _coord(y(p))) for k, label, p in shown),
        off_chart=off,
        markers=tuple(ChartMarker(_coord(x(t)), _coord(y(p)), label) for t, p, label in markers),
    )


def build_chart(
    points: Sequence[tuple[int, Decimal]],
    lines: Sequence[tuple[str, str, Decimal | None]],
    markers: Sequence[tuple[int, Decimal, str]] = (),
) -> Chart | None:
    """A chart of ``points`` (tick, price) for one viewer. None when there is nothing to draw."""
    return chart_view(price_window(points), lines, markers)
