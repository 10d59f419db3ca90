"""The projector's view of a room: the class's risk on the big screen.

What the class sees from the back of the room: the live price of one of the room's
instruments with, beside its price axis, a strip of where every open position's
liquidation and bankruptcy prices sit (isolated and cross told apart by shape, the
positions liquidated lately drawn filled and crossed), the counts of open positions, of
liquidations and of positions at risk, the liquidation feed, and the leaderboard when the
teacher shows it. Every figure comes from the engine (:func:`sandbox.engine.account_figures`
over the room's accounts, read in bulk) or from the liquidation records; nothing here
computes a margin.

The page is drawn in one SVG with a ``viewBox`` (so the whole chart, text included, grows
with the screen): the chart itself (price line, axes: :mod:`sandbox.live.chart`) takes the
left of it, the strip the right. The strip bins the prices by the rows of the plot they
fall in, and lays each bin's markers side by side (a dot plot); a bin with more than fit
ends with "+n". A table (read by screen readers, not shown) says the same in words.

Who may watch: the room's teacher, or anyone with the room's read-only link (its
``projector_key``, made and revoked on the teacher's panel, compared in constant time).
The read-only page shows nothing of a learner beyond what the learners' own leaderboard
shows.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import Count
from django.template.loader import get_template
from django.utils.safestring import SafeString, mark_safe

from sandbox import engine
from sandbox.desk import broadcast
from sandbox.desk.models import LiquidationRecord, Market, MarkPrice
from sandbox.desk.roles import is_teacher
from sandbox.desk.selectors import engine_accounts, engine_market
from sandbox.live.chart import (
    PLOT_WIDTH,
    WINDOW_TICKS,
    AxisTick,
    Chart,
    ChartMarker,
    PriceWindow,
    coord,
    price_ticks,
    price_window,
    time_ticks,
)
from sandbox.live.selectors import chart_marks

from . import selectors
from .models import Room, RoomMember

# The drawing, in the SVG's own units (it is scaled to the box it is shown in).
WIDTH = 1400
HEIGHT = 1000
CHART_WIDTH = 900  # the price chart: its plot takes PLOT_WIDTH percent, the axis the rest
PLOT_RIGHT = Decimal(CHART_WIDTH) * PLOT_WIDTH / 100
PLOT_TOP = 70
PLOT_BOTTOM = 920
BIN = 30  # the strip's rows: prices whose place on the price axis is in one row share it
BINS = (PLOT_BOTTOM - PLOT_TOP) // BIN
PITCH = 30  # one marker's width in a row
LABEL_CLEARANCE = 30  # an axis label this close to the mark's own label is left out


@dataclass(frozen=True)
class StripColumn:
    kind: str  # liquidation, bankruptcy
    title: str
    x: int
    width: int

    @property
    def slots(self) -> int:
        return self.width // PITCH


COLUMNS = (
    StripColumn("liquidation", "Liquidation", 930, 250),
    StripColumn("bankruptcy", "Bankruptcy", 1200, 190),
)
SPAN = WINDOW_TICKS - 1  # the plot is at most as many ticks wide as a desk's chart
MIN_TICKS = 20  # and at least this many: a crash of a few ticks fills the plot
BAND = Decimal("0.5")  # the scale takes in prices up to 50% from the mark; farther: a count
SCALE_MARGIN = Decimal("0.06")
MIN_SPAN = Decimal("0.002")  # a flat price with no position near is drawn on this scale
FEED_ITEMS = 3  # liquidation feed lines the projector shows
BOARD_ROWS = 5  # leaderboard places the projector shows
# A marker's state, in the order a row lays them out: liquidated lately (filled and
# crossed), then open, each by margin mode (a circle isolated, a diamond cross).
MODES = ("isolated", "cross")
STATES = ("liquidated-isolated", "liquidated-cross", "isolated", "cross")


# ------------------------------------------------------------------------------ data


@dataclass(frozen=True)
class StripPrice:
    """One price in the strip: a position's liquidation or bankruptcy price."""

    kind: str  # liquidation, bankruptcy
    mode: str  # isolated, cross
    price: Decimal
    liquidated: bool = False  # a position liquidated lately (from its record)

    @property
    def state(self) -> str:
        return f"liquidated-{self.mode}" if self.liquidated else self.mode


@dataclass(frozen=True)
class ClassRisk:
    """The room's risk: the strip's prices for one symbol, and counts over every symbol."""

    symbol: str
    prices: tuple[StripPrice, ...]
    learners: int
    open_positions: int
    at_risk: int
    at_risk_percent: Decimal
    liquidations: int
    liquidated_learners: int
    unpriced: int  # positions on the symbol without a liquidation price to draw


def room_symbol(room: Room, wanted: str | None) -> str | None:
    """The symbol to show: ``wanted`` if the room trades it, the room's first when none is
    asked for; None for one the room does not trade."""
    symbols = list(room.market.symbols or [])
    if not wanted:
        return symbols[0] if symbols else None
    return wanted if wanted in symbols else None


def _drawn(price: Decimal | None) -> Decimal | None:
    """The price, if the strip can draw it (a price of zero or less never comes)."""
    return price if price is not None and price > 0 else None


def class_risk(
    room: Room, symbol: str, market: engine.Market, since: int | None = None
) -> ClassRisk:
    """The strip's prices for ``symbol`` and the room's counts, from one bulk read of the
    room's accounts (a few queries, whatever the class's size). Liquidated positions are
    those of records from tick ``since`` on (all of them when None)."""
    threshold = Decimal(settings.SANDBOX_MARGIN_CALL_PERCENT)
    ids = list(RoomMember.objects.filter(room=room).values_list("account_id", flat=True))
    states = engine_accounts(ids, market_id=room.market_id) if ids else {}
    prices: list[StripPrice] = []
    open_positions = at_risk = unpriced = 0
    for account_id in ids:
        for position in engine.account_figures(states[account_id], market).positions.values():
            open_positions += 1
            distance = position.distance_to_liquidation
            if distance is not None and distance <= threshold:
                at_risk += 1
            if position.symbol != symbol:
                continue
            mode = position.margin_mode.value
            if (liquidation := _drawn(position.liquidation_price)) is None:
                unpriced += 1
                continue
            prices.append(StripPrice("liquidation", mode, liquidation))
            if (bankruptcy := _drawn(position.bankruptcy_price)) is not None:
                prices.append(StripPrice("bankruptcy", mode, bankruptcy))
    records = LiquidationRecord.objects.filter(account__member__room=room)
    totals = records.aggregate(count=Count("id"), learners=Count("account", distinct=True))
    lately = records.filter(symbol=symbol)
    if since is not None:
        lately = lately.filter(sequence__gte=since)
    for mode, liquidation, bankruptcy in lately.values_list(
        "margin_mode", "liquidation_price", "bankruptcy_price"
    ):
        if mode not in MODES:
            continue  # no shape to draw it with
        for kind, price in (("liquidation", liquidation), ("bankruptcy", bankruptcy)):
            if (drawn := _drawn(price)) is not None:
                prices.append(StripPrice(kind, mode, drawn, liquidated=True))
    return ClassRisk(
        symbol=symbol,
        prices=tuple(prices),
        learners=len(ids),
        open_positions=open_positions,
        at_risk=at_risk,
        at_risk_percent=threshold,
        liquidations=totals["count"],
        liquidated_learners=totals["learners"],
        unpriced=unpriced,
    )


# --------------------------------------------------------------------------- drawing


@dataclass(frozen=True)
class StripMarker:
    state: str  # one of STATES
    x: int
    y: int

    def __post_init__(self) -> None:
        assert self.state in STATES, self.state  # written into the page as it is


@dataclass(frozen=True)
class StripRow:
    """One row of a column: its markers, and "+n" when more than fit."""

    y: int
    markers: tuple[StripMarker, ...]
    more: int = 0
    more_x: int = 0

    @property
    def svg(self) -> SafeString:
        """The row's markers, each a ``<use>`` of its state's shape (written here, not in
        the template: a crowded class has hundreds, drawn on every tick). Only numbers and
        the fixed state names go in."""
        return mark_safe(  # noqa: S308
            "".join(
                f'<use href="#pm-{m.state}" x="{m.x}" y="{m.y}" class="pm pm-{m.state}" '
                f'data-state="{m.state}"/>'
                for m in self.markers
            )
        )


@dataclass(frozen=True)
class StripLevel:
    """A row of the strip in words: its prices, and how many of each kind sit there."""

    low: Decimal
    high: Decimal
    counts: dict[tuple[str, str], int]  # (kind, state) -> how many

    def count(self, kind: str, state: str) -> int:
        return self.counts.get((kind, state), 0)

    def liquidation(self) -> str:
        return self.describe("liquidation")

    def bankruptcy(self) -> str:
        return self.describe("bankruptcy")

    def describe(self, kind: str) -> str:
        """ "2 isolated, 1 cross, 3 liquidated", or "none"."""
        liquidated = self.count(kind, "liquidated-isolated") + self.count(kind, "liquidated-cross")
        parts = [
            f"{n} {word}"
            for n, word in (
                (self.count(kind, "isolated"), "isolated"),
                (self.count(kind, "cross"), "cross"),
                (liquidated, "liquidated"),
            )
            if n
        ]
        return ", ".join(parts) or "none"


@dataclass(frozen=True)
class StripColumnView:
    column: StripColumn
    rows: tuple[StripRow, ...]
    above: int  # prices above the scale
    below: int


@dataclass(frozen=True)
class ProjectorChart:
    """The chart and its strip, in the SVG's units."""

    chart: Chart
    now: Decimal
    now_y: str
    columns: tuple[StripColumnView, ...]
    levels: tuple[StripLevel, ...]
    totals: dict[tuple[str, str], int] = field(default_factory=dict)
    width: int = WIDTH
    height: int = HEIGHT
    chart_width: int = CHART_WIDTH
    plot_right: str = format(PLOT_RIGHT, "f")
    strip_right: int = COLUMNS[-1].x + COLUMNS[-1].width

    @property
    def view_box(self) -> str:
        return f"0 0 {self.width} {self.height}"

    @property
    def heading_y(self) -> int:
        return PLOT_TOP - 30

    @property
    def arrow_top_y(self) -> int:
        return PLOT_TOP - 4

    @property
    def arrow_bottom_y(self) -> int:
        return PLOT_BOTTOM + 26

    @property
    def time_y(self) -> int:
        return PLOT_BOTTOM + 44

    @property
    def isolated(self) -> int:
        """Open isolated positions in the strip (each has one liquidation price)."""
        return self.totals.get(("liquidation", "isolated"), 0)

    @property
    def cross(self) -> int:
        return self.totals.get(("liquidation", "cross"), 0)

    @property
    def liquidated(self) -> int:
        """Positions liquidated lately, in the strip."""
        return sum(self.totals.get(("liquidation", f"liquidated-{m}"), 0) for m in MODES)

    @property
    def off_axis(self) -> str:
        """The prices beyond the axis, in words ("" when none are)."""
        return "; ".join(
            f"{c.column.title.lower()} prices off the axis: {c.above} above, {c.below} below"
            for c in self.columns
            if c.above or c.below
        )


def _scale(window: PriceWindow, prices: list[Decimal]) -> tuple[Decimal, Decimal]:
    """The price line's range, widened to take in the strip's prices up to ``BAND`` from
    the mark (so the crash is seen sweeping through them), with a margin."""
    near = [p for p in prices if window.last * (1 - BAND) <= p <= window.last * (1 + BAND)]
    low, high = min([window.low, *near]), max([window.high, *near])
    if high - low < window.last * MIN_SPAN:
        middle = (high + low) / 2
        low, high = middle - window.last * MIN_SPAN / 2, middle + window.last * MIN_SPAN / 2
    margin = (high - low) * SCALE_MARGIN
    return low - margin, high + margin


def _y(price: Decimal, low: Decimal, high: Decimal) -> Decimal:
    return PLOT_TOP + (PLOT_BOTTOM - PLOT_TOP) * (high - price) / (high - low)


def _sample(states: list[str], room: int) -> list[str]:
    """``room`` markers standing for ``states`` in their proportions: every state present
    keeps one (when there is room), the rest go one by one to the state furthest below its
    share; in the order of :data:`STATES`."""
    counts = {state: states.count(state) for state in STATES if state in states}
    share = {state: count * room / len(states) for state, count in counts.items()}
    given = dict.fromkeys(counts, 1 if len(counts) <= room else 0)
    for _ in range(room - sum(given.values())):
        behind = max(counts, key=lambda state: share[state] - given[state])
        given[behind] += 1
    return [state for state in STATES for _ in range(given.get(state, 0))]


def _rows(column: StripColumn, bins: dict[int, list[str]]) -> tuple[StripRow, ...]:
    """Each row's markers; a row with more than fit shows a sample in their proportions
    and how many more there are."""
    rows = []
    for index in sorted(bins):
        states = sorted(bins[index], key=STATES.index)
        y = PLOT_TOP + BIN * index + BIN // 2
        shown = states if len(states) <= column.slots else _sample(states, column.slots - 2)
        markers = tuple(
            StripMarker(state, column.x + PITCH // 2 + PITCH * n, y)
            for n, state in enumerate(shown)
        )
        more = len(states) - len(shown)
        rows.append(StripRow(y, markers, more, column.x + PITCH * len(shown) + 4))
    return tuple(rows)


def projector_chart(
    window: PriceWindow, risk: ClassRisk, liquidations: list[tuple[int, Decimal, int]]
) -> ProjectorChart:
    """The chart of ``window`` with the strip of ``risk``'s prices; ``liquidations`` are
    (tick, mark, how many) of the liquidations in the window, marked on the price line."""
    low, high = _scale(window, [p.price for p in risk.prices])
    by_column: dict[str, dict[int, list[str]]] = {c.kind: defaultdict(list) for c in COLUMNS}
    outside: dict[tuple[str, str], int] = defaultdict(int)
    levels: dict[int, list[StripPrice]] = defaultdict(list)
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for item in risk.prices:
        totals[item.kind, item.state] += 1
        if item.price > high:
            outside[item.kind, "above"] += 1
            continue
        if item.price < low:
            outside[item.kind, "below"] += 1
            continue
        index = min(int((_y(item.price, low, high) - PLOT_TOP) // BIN), BINS - 1)
        by_column[item.kind][index].append(item.state)
        levels[index].append(item)
    columns = tuple(
        StripColumnView(
            column,
            _rows(column, by_column[column.kind]),
            outside[column.kind, "above"],
            outside[column.kind, "below"],
        )
        for column in COLUMNS
    )
    words = []
    for index in sorted(levels):
        items = levels[index]
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for item in items:
            counts[item.kind, item.state] += 1
        words.append(
            StripLevel(min(i.price for i in items), max(i.price for i in items), dict(counts))
        )

    span = min(SPAN, max(window.ticks, MIN_TICKS))

    def x(tick: int) -> str:
        return coord(PLOT_WIDTH * (span - (window.last_tick - tick)) / span) + "%"

    now_y = _y(window.last, low, high)
    ticks = tuple(
        AxisTick("", p, coord(PLOT_WIDTH) + "%", coord(_y(p, low, high)), "start")
        for p in price_ticks(low, high)
        if abs(_y(p, low, high) - now_y) >= LABEL_CLEARANCE
    )
    markers = []
    labelled: list[Decimal] = []  # a label too close to one above is left out (its X stays)
    placed = sorted(
        (_y(mark, low, high), tick, count)
        for tick, mark, count in liquidations
        if window.first_tick <= tick <= window.last_tick and low <= mark <= high
    )
    for at, tick, count in placed:
        near = any(abs(at - other) < LABEL_CLEARANCE for other in labelled)
        if not near:
            labelled.append(at)
        markers.append(ChartMarker(x(tick), coord(at), "" if near else f"{count} liquidated"))
    chart = Chart(
        window=window,
        low=low,
        high=high,
        lines=(),
        markers=tuple(markers),
        price_ticks=ticks,
        time_ticks=time_ticks(span, "tick"),
        span=span,
        height=HEIGHT,
        top=PLOT_TOP,
        bottom=PLOT_BOTTOM,
    )
    return ProjectorChart(
        chart=chart,
        now=window.last,
        now_y=coord(now_y),
        columns=columns,
        levels=tuple(words),
        totals=dict(totals),
    )


def symbol_window(market: Market, symbol: str) -> PriceWindow | None:
    """The symbol's recent prices; before its first tick, its mark alone."""
    window = price_window(*chart_marks(market, symbol))
    if window is not None:
        return window
    mark = MarkPrice.objects.filter(market=market, instrument_id=symbol).first()
    return price_window([(market.sequence, mark.price)]) if mark else None


def window_liquidations(room: Room, symbol: str, since: int) -> list[tuple[int, Decimal, int]]:
    """(tick, mark, how many) of the room's liquidations on ``symbol`` from tick ``since``."""
    rows = (
        LiquidationRecord.objects.filter(
            account__member__room=room, symbol=symbol, sequence__gte=since
        )
        .values_list("sequence", "mark_price")
        .annotate(count=Count("id"))
        .order_by("sequence", "mark_price")
    )
    return [(sequence, mark, count) for sequence, mark, count in rows]


# ------------------------------------------------------------------------ the screen


def live_context(room: Room, symbol: str) -> dict[str, Any]:
    """What the projector's live parts show (the market read afresh: it moves between calls)."""
    market_row = Market.objects.get(pk=room.market_id)
    room.market = market_row
    market = engine_market(market_row)
    window = symbol_window(market_row, symbol)
    since = window.first_tick if window is not None else None
    risk = class_risk(room, symbol, market, since)
    drawing = None
    if window is not None:
        lately = window_liquidations(room, symbol, window.first_tick)
        drawing = projector_chart(window, risk, lately)
    ranking = None
    if room.leaderboard_visible:  # the ranking the learners' panels show (not re-ranked
        # on every tick: see selectors.BOARD_EVERY)
        board = selectors.class_board(room, market_row, every=selectors.BOARD_EVERY)
        ranking = list(enumerate(board.ranking[:BOARD_ROWS], start=1))
    return {
        "room": room,
        "market": market_row,
        "symbol": symbol,
        "instrument": symbol,
        "mark": market.marks.get(symbol),
        "risk": risk,
        "drawing": drawing,
        "feed": selectors.liquidation_feed(room, limit=FEED_ITEMS),
        "ranking": ranking,
        "ranking_rule": selectors.RANKING_RULE,
        "learners": risk.learners,
        "symbols": list(market_row.symbols or []),
    }


LIVE_PARTS = ("status", "chart", "counts", "feed", "board")
ALWAYS = ("status", "chart", "counts")  # the others are sent when they change


@dataclass(frozen=True)
class Drawing:
    """The projector's live parts, rendered once for every projector watching, and the
    room's read-only link's key at the time ("" when there is none)."""

    parts: dict[str, str]
    link_key: str

    def opens(self, key: str) -> bool:
        """Whether ``key`` still opens the projector (compared in constant time)."""
        return bool(self.link_key) and secrets.compare_digest(self.link_key, key)


def live_parts(room_id: int, symbol: str) -> Drawing:
    """Each live part of the projector, rendered once (for every projector watching)."""
    room = Room.objects.select_related("market").get(pk=room_id)
    context = live_context(room, symbol)
    context["oob"] = True
    parts = {
        name: get_template(f"classroom/projector.html#{name}").render(context)
        for name in LIVE_PARTS
    }
    return Drawing(parts, room.projector_key)


def push_for(parts: dict[str, str], shown: dict[str, str], *, full: bool) -> str:
    """The push for one projector: the parts that change with every tick, and the others
    when they differ from what it shows (so its live regions speak only of news)."""
    sent = []
    for name in LIVE_PARTS:
        html = parts[name]
        if full or name in ALWAYS or shown.get(name) != html:
            sent.append(html)
            shown[name] = html
    return "".join(sent)


# ------------------------------------------------------------------------- access


MAX_KEY_TEXT = 64


def room_for_teacher(user: AbstractBaseUser | AnonymousUser, code: str) -> Room | None:
    """The room with ``code`` if ``user`` is its teacher."""
    if len(code) > 16 or not is_teacher(user):
        return None
    room = Room.objects.select_related("market").filter(code=code.upper()).first()
    return room if room is not None and room.teacher_id == user.pk else None


def room_for_key(code: str, key: str) -> Room | None:
    """The room with ``code`` if ``key`` is its read-only link's key (none made, or
    revoked: no room). Compared in constant time."""
    if len(code) > 16 or not key or len(key) > MAX_KEY_TEXT:
        return None
    room = Room.objects.select_related("market").filter(code=code.upper()).first()
    if room is None or not room.projector_key:
        return None
    return room if secrets.compare_digest(room.projector_key, key) else None


def _link_changed(room: Room) -> None:
    """The projectors redraw (a projector opened by a link that no longer works closes)."""
    market_id = room.market_id
    transaction.on_commit(lambda: broadcast.board_changed(market_id))


def projector_link_make(*, room: Room) -> str:
    """A new read-only link's key (any earlier link stops working)."""
    key = secrets.token_urlsafe(32)
    Room.objects.filter(pk=room.pk).update(projector_key=key)
    room.projector_key = key
    _link_changed(room)
    return key


def projector_link_revoke(*, room: Room) -> None:
    """No read-only link any more: the projectors it opened close."""
    Room.objects.filter(pk=room.pk).update(projector_key="")
    room.projector_key = ""
    _link_changed(room)
