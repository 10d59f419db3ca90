"""A server-rendered price chart: mark prices as an SVG polyline, with a price axis, a time
axis, the position's avg entry, liquidation and bankruptcy prices as labelled lines, the
marks set by hand as points and a marker wherever a liquidation happened.

The chart is drawn in CSS pixels (its SVG has no ``viewBox``, so text keeps its size on a
phone): a fixed height, and a width given in percent: the plot takes the left ``PLOT_WIDTH``
percent, the price axis's labels the rest. Only the price line sits in a ``viewBox`` of its
own (in ticks and prices), so every viewer shares its text. Coordinates are computed with
Decimals and written as text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from sandbox.engine import PositionFigures
from sandbox.engine.money import format_decimal

WINDOW_TICKS = 120  # a live chart shows the last 120 ticks, "now" at its right edge
HEIGHT = 232  # the chart's height in CSS pixels
TOP = 10  # the plot's top, in pixels
BOTTOM = 200  # the plot's bottom; the time axis's labels below it
PLOT_WIDTH = Decimal(80)  # percent of the chart's width; the price axis's labels the rest
LABEL_X = 18  # position lines' labels start here (pixels), after an off-scale arrow
LABEL_GAP = 15  # pixels between two labels' baselines, so 12 px text never overlaps
LABEL_ABOVE = 4  # a line's label sits this far above it
ZOOM_OUT = Decimal(4)  # a position's line joins the scale while the prices fill 1/4 of it
KEEP_FILL = Decimal("0.4")  # a kept scale must still be at least 40% filled
MARGIN = Decimal("0.1")  # a new scale leaves 10% of its span free above and below
MIN_SPAN = Decimal("0.001")  # a flat price is drawn on a scale of a thousandth of it
PRICE_STEPS = (Decimal(1), Decimal(2), Decimal(5), Decimal(10))
TIME_STEPS = (1, 2, 5, 10, 15, 20, 30, 50, 100, 200, 300, 500, 1000)
UP, DOWN = "\u2191", "\u2193"


def coord(value: Decimal) -> str:
    """An SVG coordinate, to a tenth of a unit."""
    return format(value.quantize(Decimal("0.1")), "f")


def _percent(value: Decimal) -> str:
    return coord(value) + "%"


@dataclass(frozen=True, slots=True)
class ChartLine:
    """A position's price: a line across the plot at ``y``, or, when it is off the scale,
    an ``arrow`` at the plot's edge pointing to it (``y`` is then that edge). The label's
    baseline is ``label_y``, moved apart from the others so that none overlap."""

    kind: str  # entry, liquidation, bankruptcy
    label: str
    price: Decimal
    y: str
    label_y: str
    arrow: str = ""  # "", UP or DOWN

    @property
    def off(self) -> bool:
        return bool(self.arrow)

    @property
    def arrow_path(self) -> str:
        """A small triangle at the plot's left edge, pointing up or down, just before the
        label (each arrow beside its own label, even when two share an edge)."""
        baseline = Decimal(self.label_y)
        if self.arrow == UP:
            return f"M3 {coord(baseline - 1)} l5 -8 l5 8 z"
        return f"M3 {coord(baseline - 9)} l5 8 l5 -8 z"


@dataclass(frozen=True, slots=True)
class ChartMarker:
    x: str  # percent of the chart's width
    y: str
    label: str


@dataclass(frozen=True, slots=True)
class AxisTick:
    """A label of an axis: a price at ``y`` pixels, or a time at ``x`` percent."""

    text: str
    price: Decimal | None
    x: str
    y: str
    anchor: str = "middle"


@dataclass(frozen=True)
class PriceWindow:
    """The recent mark prices of one symbol, shared by every chart of it on this tick.

    The points are written once, in the window's own units (x: ticks since the first,
    y: minus the price), so a viewer's chart only says which part of that plane it
    shows (a ``viewBox``): the price line is the same text for everyone. A mark set by
    hand after a tick is a point of the line at that tick (the line jumps to it) and is
    drawn as a point of its own as well."""

    points: str
    first_tick: int
    last_tick: int
    first: Decimal
    last: Decimal
    low: Decimal
    high: Decimal
    count: int
    manual: tuple[tuple[int, Decimal], ...] = ()

    @property
    def ticks(self) -> int:
        return max(self.last_tick - self.first_tick, 1)

    @property
    def last_point(self) -> str:
        return f"{self.last_tick - self.first_tick},{format_decimal(-self.last)}"

    @property
    def manual_path(self) -> str:
        """Each mark set by hand as a zero-length stroke (drawn as a round dot)."""
        return " ".join(
            f"M{tick - self.first_tick},{format_decimal(-price)}h0" for tick, price in self.manual
        )


@dataclass(frozen=True)
class Chart:
    """One viewer's chart: a window of prices on the viewer's own scale (``low`` to
    ``high``), with the viewer's position lines, liquidation markers and axes."""

    window: PriceWindow
    low: Decimal
    high: Decimal
    lines: tuple[ChartLine, ...]
    markers: tuple[ChartMarker, ...]
    price_ticks: tuple[AxisTick, ...]
    time_ticks: tuple[AxisTick, ...]
    span: int  # how many ticks the plot is wide
    height: int = HEIGHT
    top: int = TOP
    bottom: int = BOTTOM
    plot_width: str = _percent(PLOT_WIDTH)
    axis_x: str = _percent(PLOT_WIDTH)

    @property
    def scale(self) -> tuple[Decimal, Decimal]:
        return self.low, self.high

    @property
    def plot_height(self) -> int:
        return self.bottom - self.top

    @property
    def view_box(self) -> str:
        left = self.window.last_tick - self.window.first_tick - self.span
        height = format_decimal(self.high - self.low)
        return f"{left} {format_decimal(-self.high)} {self.span} {height}"

    @property
    def off_chart(self) -> tuple[tuple[str, Decimal], ...]:
        return tuple((line.label, line.price) for line in self.lines if line.off)

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


def price_window(
    points: Sequence[tuple[int, Decimal]], manual: Sequence[tuple[int, Decimal]] = ()
) -> PriceWindow | None:
    """``points`` are (tick, price), oldest first; ``manual`` the marks set by hand, as
    (tick they followed, price), oldest first. None when there is nothing to draw."""
    if not points:
        return None
    first_tick, last_tick = points[0][0], points[-1][0]
    hand = tuple((t, p) for t, p in manual if first_tick <= t <= last_tick)
    # A mark set by hand follows its tick's own price (the line jumps to it there).
    path = sorted(
        [(t, 0, i, p) for i, (t, p) in enumerate(points)]
        + [(t, 1, i, p) for i, (t, p) in enumerate(hand)]
    )
    prices = [p for *_, p in path]
    return PriceWindow(
        points=" ".join(f"{t - first_tick},{format_decimal(-p)}" for t, *_, p in path),
        first_tick=first_tick,
        last_tick=last_tick,
        first=prices[0],
        last=prices[-1],
        low=min(prices),
        high=max(prices),
        count=len(points),
        manual=hand,
    )


def chart_view(
    window: PriceWindow | None,
    lines: Sequence[tuple[str, str, Decimal | None]],
    markers: Sequence[tuple[int, Decimal, str]] = (),
    keep: tuple[Decimal, Decimal] | None = None,
    *,
    span: int | None = WINDOW_TICKS - 1,
    unit: str = "tick",
    include: Sequence[Decimal] = (),
) -> Chart | None:
    """One viewer's chart of a shared window.

    The scale covers the prices, ``markers`` (tick, price, label) and the prices of
    ``include`` (lines that must be drawn on it, however far), with a margin, and the
    viewer's other ``lines`` (kind, label, price) nearest first while the prices still fill
    a quarter of it; a line beyond is drawn as an arrow at the plot's edge. ``keep`` is the
    scale the viewer already has, kept while everything on it still fits it well (so from
    one tick to the next only the price line moves). The plot is ``span`` ticks wide with
    the last at its right edge (the window's own width when None); ``unit`` names the
    time axis's ticks."""
    if window is None:
        return None
    markers = [m for m in markers if window.first_tick <= m[0] <= window.last_tick]
    low = min([window.low] + [p for _, p, _ in markers] + list(include))
    high = max([window.high] + [p for _, p, _ in markers] + list(include))
    reach = max(high - low, window.last * MIN_SPAN) * ZOOM_OUT
    priced = [(k, label, p) for k, label, p in lines if p is not None]
    for p in sorted((p for *_, p in priced), key=lambda p: max(low - p, p - high)):
        if max(high, p) - min(low, p) > reach:
            break  # the lines are nearest first: the rest are farther still
        low, high = min(low, p), max(high, p)
    if keep is not None and keep[0] <= low and high <= keep[1]:
        scale = keep if high - low >= (keep[1] - keep[0]) * KEEP_FILL else None
    else:
        scale = None
    if scale is None:
        margin = (high - low) * MARGIN if high > low else window.last * MIN_SPAN
        scale = (low - margin, high + margin)
    width = span if span is not None else window.ticks
    return _chart(window, scale, priced, markers, max(width, 1), unit)


def _chart(
    window: PriceWindow,
    scale: tuple[Decimal, Decimal],
    lines: Sequence[tuple[str, str, Decimal]],
    markers: Sequence[tuple[int, Decimal, str]],
    span: int,
    unit: str,
) -> Chart:
    """The chart on ``scale``; ``markers`` are inside the window."""
    low, high = scale
    plot = Decimal(BOTTOM - TOP)

    def x(tick: int) -> Decimal:
        return PLOT_WIDTH * (span - (window.last_tick - tick)) / span

    def y(price: Decimal) -> Decimal:
        return TOP + plot * (high - price) / (high - low)

    placed = []
    for kind, label, price in lines:
        if price > high:
            placed.append((kind, label, price, Decimal(TOP), UP, Decimal(TOP + 12)))
        elif price < low:
            placed.append((kind, label, price, Decimal(BOTTOM), DOWN, Decimal(BOTTOM - 4)))
        else:
            at = y(price)
            placed.append((kind, label, price, at, "", at - LABEL_ABOVE))
    label_ys = _spread([p[5] for p in placed], Decimal(TOP + 12), Decimal(BOTTOM - 4))
    return Chart(
        window=window,
        low=low,
        high=high,
        lines=tuple(
            ChartLine(kind, label, price, coord(at), coord(label_y), arrow)
            for (kind, label, price, at, arrow, _), label_y in zip(placed, label_ys, strict=True)
        ),
        markers=tuple(ChartMarker(_percent(x(t)), coord(y(p)), label) for t, p, label in markers),
        price_ticks=tuple(
            AxisTick("", p, _percent(PLOT_WIDTH), coord(y(p)), "start")
            for p in price_ticks(low, high)
        ),
        time_ticks=time_ticks(span, unit),
        span=span,
    )


def _spread(wanted: Sequence[Decimal], top: Decimal, bottom: Decimal) -> list[Decimal]:
    """Label baselines as near ``wanted`` as they can be, ``LABEL_GAP`` apart, all
    between ``top`` and ``bottom`` (the few labels of a position always fit)."""
    order = sorted(range(len(wanted)), key=lambda i: (wanted[i], i))
    ys = [min(max(wanted[i], top), bottom) for i in order]
    for n in range(1, len(ys)):  # downwards: each at least a gap below the one above
        ys[n] = max(ys[n], ys[n - 1] + LABEL_GAP)
    if ys and ys[-1] > bottom:  # then upwards from the bottom if that pushed one out
        ys[-1] = bottom
        for n in range(len(ys) - 2, -1, -1):
            ys[n] = min(ys[n], ys[n + 1] - LABEL_GAP)
    placed = [Decimal(0)] * len(wanted)
    for i, label_y in zip(order, ys, strict=True):
        placed[i] = label_y
    return placed


def price_ticks(low: Decimal, high: Decimal) -> list[Decimal]:
    """Round prices between ``low`` and ``high`` for the price axis: three to five of
    them, a 1, 2 or 5 times a power of ten apart."""
    if high <= low:
        return []
    rough = (high - low) / 4
    power = Decimal(1).scaleb(rough.adjusted())
    step = next(power * m for m in PRICE_STEPS if power * m >= rough)
    first = (low / step).to_integral_value(rounding=ROUND_CEILING) * step
    found: list[Decimal] = []
    price = first
    while price <= high and len(found) < 6:
        found.append(Decimal(format(price, "f")))  # 40000, not 4.000E+4
        price += step
    return found


def time_ticks(span: int, unit: str) -> tuple[AxisTick, ...]:
    """The time axis: "now" at the right edge, then every few ticks back (a round number
    of them, four labels at most), in percent of the chart's width."""
    step = next((s for s in TIME_STEPS if s * 4 >= span), span)
    found: list[AxisTick] = []
    for back in range(0, span + 1, step):
        at = PLOT_WIDTH * (span - back) / span
        if back == 0:
            found.append(AxisTick("now", None, _percent(at), "", "end"))
        elif at >= PLOT_WIDTH / 10:  # not so close to the left edge that it would clip
            text = f"\u2212{back} {unit}{'' if back == 1 else 's'}"
            found.append(AxisTick(text, None, _percent(at), "", "middle"))
    return tuple(reversed(found))


def build_chart(
    points: Sequence[tuple[int, Decimal]],
    lines: Sequence[tuple[str, str, Decimal | None]],
    markers: Sequence[tuple[int, Decimal, str]] = (),
    *,
    manual: Sequence[tuple[int, Decimal]] = (),
    span: int | None = WINDOW_TICKS - 1,
    unit: str = "tick",
    include: Sequence[Decimal] = (),
) -> Chart | None:
    """A chart of ``points`` (tick, price) for one viewer, its scale covering ``include``.
    None when there is nothing to draw."""
    return chart_view(
        price_window(points, manual), lines, markers, span=span, unit=unit, include=include
    )
