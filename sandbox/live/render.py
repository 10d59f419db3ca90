"""The fragments a learner's desk receives over the websocket, rendered with the same
partials the pages use (a figure is formatted in exactly one place).

Every desk of a market is drawn from one pass over the market (:func:`desk_updates`): the
market's row, marks and recent prices are read once, every viewer's account is loaded in
one bulk query, and what is the same for many is drawn once: the tick's shared parts
(status, marks, picker), each distinct chart (desks with the same position lines,
markers and scale share it), a teacher's status line. A plain tick then sends each viewer
only what a tick can change: the figures of their positions and balances that moved,
their price line (their whole chart when its scale changes), and their margin calls when
those change. A realisation or funding tick adds the balances, positions and history
sections of the accounts it booked. A snapshot and the viewer's own news (a trade, a
liquidation, a stop that fired) send whole sections; a teacher's action, the market's line
and the panels. In a class, a re-ranked panel and a realisation's history are drawn over
the next few ticks, a share of the desks on each, so no tick costs several times another.
"""

from __future__ import annotations

import copy
import functools
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.template.loader import get_template

from sandbox import engine
from sandbox.desk.models import (
    Fill,
    LedgerEntry,
    LiquidationRecord,
    Market,
    PaperAccount,
)
from sandbox.desk.screen import (
    FIGURES,
    PANELS,
    PARTIALS,
    WHOLE,
    DeskScreen,
    Event,
    MarketView,
    PanelView,
    add_panels,
    build_screen,
    load_panels,
    market_view,
    redraws,
)
from sandbox.desk.selectors import engine_accounts, recent_by_account
from sandbox.desk.templatetags.figures import tick_figures

from .chart import Chart, PriceWindow, chart_view, position_lines, price_window
from .selectors import chart_marks, margin_alerts, open_liquidations
from .services import SPEEDS
from .templatetags.charts import chart_plot, plot_prices

GAP_CHOICES = ("-20", "-10", "-5", "5", "10", "20")
MANY = 20  # viewers from which a market's accounts are read by market, not by ids
# A tick that loads the panels of more than MANY desks (a class re-ranked), or that wrote
# their ledgers (a realisation), draws each desk's panel and history on one of this many
# ticks (its account's turn), not all on the same tick: the drawing is spread, and no tick
# of the class takes several times as long as the others. (The balances and positions a
# realisation moved go at once.)
PANEL_SPREAD = 4


def window(view: MarketView, symbol: str) -> PriceWindow | None:
    """The symbol's recent prices, read once per market view."""
    return view.once("window", symbol, lambda: price_window(*chart_marks(view.market, symbol)))


def viewer_chart(
    view: MarketView,
    symbol: str,
    lines: Sequence[tuple[str, str, Decimal | None]],
    markers: Sequence[tuple[int, Decimal, str]],
    keep: tuple[Decimal, Decimal] | None = None,
) -> Chart | None:
    """A viewer's chart of the symbol, drawn once per market view for every viewer whose
    position lines, liquidation markers and kept scale are the same (a class that traded
    alike, or desks without a position)."""
    key = (symbol, tuple(lines), tuple(markers), keep)
    return view.once(
        "charts", key, lambda: chart_view(window(view, symbol), lines, markers, keep=keep)
    )


def live_layer(
    screen: DeskScreen,
    view: MarketView,
    *,
    markers: Sequence[tuple[int, Decimal, str]] | None = None,
    liquidations: Sequence[LiquidationRecord] | None = None,
) -> dict[str, Any]:
    """What the live market adds to a desk: the chart, margin calls, liquidation notices
    and the practice market's clock. Registered as a layer of every desk page and answer
    (:mod:`sandbox.desk.screen`); the feed passes what it read for all its desks at once."""
    account, symbol = screen.account, screen.instrument.symbol
    return {
        "alerts": margin_alerts(screen.figures),
        # Read only if a template shows them (an action's answer usually does not).
        "liquidations": list(liquidations)
        if liquidations is not None
        else functools.cache(lambda: open_liquidations([account.pk]).get(account.pk, [])),
        # Drawn only if a template shows it (an action's answer usually does not).
        "chart": functools.cache(
            lambda: viewer_chart(
                view,
                symbol,
                position_lines(screen.position),
                markers
                if markers is not None
                else _markers([account.pk], view, {symbol}).get((account.pk, symbol), []),
            )
        ),
        "speeds": SPEEDS,
        "gaps": GAP_CHOICES,
    }


def desk_context(
    account: PaperAccount,
    symbol: str,
    view: MarketView,
    state: engine.Account,
    *,
    panels: Sequence[tuple[str, PanelView]] = (),
    markers: Sequence[tuple[int, Decimal, str]] | None = None,
    liquidations: Sequence[LiquidationRecord] | None = None,
    history: tuple[Any, Any] | None = None,
    controls: bool = False,
) -> dict[str, Any]:
    """Everything a pushed section needs, for one account and the symbol it views
    (``controls``: also what the slider shows, for the pushes that redraw it)."""
    screen = build_screen(account, symbol, view, state, history=history, controls=controls)
    screen.extra.update(live_layer(screen, view, markers=markers, liquidations=liquidations))
    add_panels(screen, panels)
    return screen.context()


def _markers(account_ids: list[int], view: MarketView, symbols: set[str]) -> dict[Any, list[Any]]:
    """Each account's liquidations inside the chart's window, by (account, symbol)."""
    found: dict[Any, list[Any]] = defaultdict(list)
    first = min((w.first_tick for s in symbols if (w := window(view, s)) is not None), default=None)
    if first is None:
        return found
    wanted = set(account_ids)
    # By market (the window's few liquidations), not by a long list of account ids.
    for account_id, symbol, sequence, price in LiquidationRecord.objects.filter(
        account__market_id=view.market.pk, symbol__in=symbols, sequence__gte=first
    ).values_list("account_id", "symbol", "sequence", "mark_price"):
        if account_id in wanted:
            found[account_id, symbol].append((sequence, price, "liquidated"))
    return found


@dataclass(slots=True)
class Seen:
    """What a connection last showed, so live regions only change when their news does."""

    alerts: tuple[str, ...] | None = None
    liquidations: tuple[int, ...] | None = None
    sequence: int = -1  # the market's tick the desk shows
    chart: tuple[Any, ...] | None = None  # the chart's scale and lines, if it has no markers
    # The ticking figures, by span id: replaced, never changed in place (desks showing the
    # same share one record).
    figures: dict[str, Any] = field(default_factory=dict)
    # Panels loaded at a tick and not drawn yet (a class's desks draw them over a few ticks).
    panels: Sequence[tuple[str, PanelView]] = ()
    # The recent fills and ledger entries of a realisation, not drawn yet (the same).
    history: tuple[Any, Any] | None = None


@dataclass(slots=True)
class Viewer:
    """One open desk: the account, the symbol it views, and what it last showed."""

    account_id: int
    symbol: str
    seen: Seen


def push_event(
    *, full: bool, own: bool, room: bool, history: bool, news: bool = False
) -> list[Event]:
    """The events a push answers (a teacher's action may come with ledger entries: a
    reset, which changed every account as their own news would)."""
    if full:
        events = [Event.SNAPSHOT]
    elif news:
        events = [Event.NEWS]
    elif own or (room and history):
        events = [Event.OWN]
    else:
        events = []
    if room:
        events.append(Event.TEACHER)
    if not events:
        events.append(Event.REALISATION if history else Event.TICK)
    return events


#: What a teacher's action alone redraws: the market's line and the panels (each viewer's
#: figures have not moved).
LIGHT = frozenset({"status", PANELS})


def desk_updates(
    market_id: int,
    viewers: Sequence[Viewer],
    *,
    full: bool = False,
    own: bool = False,
    news: bool = False,
    history: bool = False,
    booked: Collection[int] | None = None,
    room: bool = False,
    leave_out: Collection[str] = (),
) -> list[str | None]:
    """One push for each viewer of a market, from one pass over it (None for a viewer
    whose desk already shows this tick: a plain tick sends nothing it would repeat).

    What each push redraws is the table of :data:`sandbox.desk.screen.REDRAWS`: a plain
    tick (:attr:`Event.TICK`) sends the shared parts and each viewer's figures that moved;
    a tick that wrote ledger entries (``history``: :attr:`Event.REALISATION`) also the
    balances, positions and history sections (of the ``booked`` accounts only, when the
    tick says which it wrote). Whole sections go for a snapshot (``full``)
    and the account's own news (``own``: a trade, a liquidation, a stop that fired; first
    ``news``, what the learner must see at once, then ``own`` leaving out what ``news``
    drew). A teacher's action (``room``) sends the market's line and the classroom panels;
    with ledger entries (a reset), whole sections. Alerts and liquidation notices go only
    when they changed.
    """
    events = push_event(full=full, own=own, room=room, history=history, news=news)
    names = [name for name in redraws(*events) if name not in leave_out]
    market = Market.objects.get(pk=market_id)
    view = market_view(market)
    ids = sorted({v.account_id for v in viewers})
    if set(names) <= LIGHT:
        return _light_pushes(view, viewers, ids, names)
    # Many viewers: their rows are picked out of the market's (a long list of ids costs more).
    states = engine_accounts(ids, market_id=market_id if len(ids) > MANY else None)
    sections = any(event in WHOLE for event in events)
    panels = load_panels(market, ids, fresh=sections) if PANELS in names else {}
    charts = "chart" in names or not sections
    markers = _markers(ids, view, {v.symbol for v in viewers}) if charts else {}
    accounts: dict[int, Any] = {}
    liquidations: dict[int, list[LiquidationRecord]] = {}
    fills: dict[int, list[Any]] = {}
    ledger: dict[int, list[Any]] = {}
    # The accounts whose ledgers this push shows anew, and those whose history is due.
    if sections or (history and booked is None):
        wrote = set(ids)
    else:
        wrote = set(booked or ()) & set(ids) if history else set()
    late = [v.account_id for v in viewers if v.seen.history is not None]
    if sections:
        accounts = PaperAccount.objects.select_related("market").in_bulk(ids)
    elif wrote or late:
        accounts = PaperAccount.objects.select_related("market").in_bulk([*wrote, *late])
    if "history" in names and wrote:  # the pushes that show the history
        fills = recent_by_account(Fill, sorted(wrote))
        ledger = recent_by_account(LedgerEntry, sorted(wrote))
    if sections and "liquidations" in names:
        liquidations = open_liquidations(ids)
    shared: dict[str, str] = {}
    updates: list[str | None] = []
    for viewer in viewers:
        own_panels = panels.get(viewer.account_id, [])
        own_markers = markers.get((viewer.account_id, viewer.symbol), [])
        wrote_here = history and viewer.account_id in wrote
        if not sections and not history and viewer.seen.sequence >= market.sequence:
            # Drawn already at this tick (the learner's own news came first): sending it
            # again would repeat the tick.
            updates.append(None)
            continue
        viewer.seen.sequence = market.sequence
        recent = (fills.get(viewer.account_id), ledger.get(viewer.account_id))
        if not sections:
            if own_panels:
                viewer.seen.panels = own_panels  # drawn at the desk's turn
            if wrote_here:
                viewer.seen.history = recent  # the same
            turn = len(viewers) <= MANY or (market.sequence + viewer.account_id) % PANEL_SPREAD == 0
            push = _tick_push(
                viewer,
                view,
                states[viewer.account_id],
                own_markers,
                _due_panels(viewer) if turn else (),
                shared,
                figures=FIGURES in names,
            )
            if wrote_here or (turn and viewer.seen.history is not None):
                account = accounts[viewer.account_id]
                due, viewer.seen.history = (viewer.seen.history, None) if turn else (None, recent)
                push += _ledger_sections(account, viewer, view, states[account.pk], due, wrote_here)
            updates.append(push)
            continue
        context = desk_context(
            accounts[viewer.account_id],
            viewer.symbol,
            view,
            states[viewer.account_id],
            panels=own_panels,
            markers=own_markers,
            liquidations=liquidations.get(viewer.account_id, []),
            history=recent if "history" in names else None,
            controls="leverage" in names,
        )
        if PANELS in names:
            viewer.seen.panels = ()  # drawn now
        if "history" in names:
            viewer.seen.history = None  # drawn now
        if "chart" in names:
            viewer.seen.chart = _chart_key(context["chart"]())
        if "balances" in names or "positions" in names:
            viewer.seen.figures = {}  # whole tables: the next tick sends every figure again
        parts = []
        for name in names:
            if name == PANELS:
                parts += [partial for partial, _ in own_panels]
            elif name == "alerts":
                alerts = tuple(a.key for a in context["alerts"])
                if full or alerts != viewer.seen.alerts:
                    parts.append(PARTIALS[name])
                viewer.seen.alerts = alerts
            elif name == "liquidations":
                notices = tuple(r.pk for r in context["liquidations"])
                if full or notices != viewer.seen.liquidations:
                    parts.append(PARTIALS[name])
                viewer.seen.liquidations = notices
            elif name in PARTIALS:
                parts.append(PARTIALS[name])
        context["parts"] = [(name, True) for name in parts]
        updates.append(get_template("desk/sections.html").render(context))
    return updates


def _light_pushes(
    view: MarketView, viewers: Sequence[Viewer], ids: list[int], names: list[str]
) -> list[str | None]:
    """A teacher's action: the market's line, drawn once, and each viewer's panels (the
    figures did not move, so nothing of what the desk noted as shown changes)."""
    statuses: dict[int, str] = {}

    def status(shown: int) -> str:
        """The market's line at the tick the desk shows (its figures are of that tick; the
        next tick's push brings the line to it, so no tick is announced twice)."""
        if "status" not in names:
            return ""
        if shown not in statuses:
            market = copy.copy(view.market)
            market.sequence = shown
            context = {"market": market, "oob": True}
            statuses[shown] = get_template(PARTIALS["status"]).render(context)
        return statuses[shown]

    panels = load_panels(view.market, ids, fresh=True) if PANELS in names else {}
    drawn: dict[int, str] = {}
    updates: list[str | None] = []
    for viewer in viewers:
        if panels:
            viewer.seen.panels = ()  # drawn now, fresh
        if viewer.account_id not in drawn:
            shown = viewer.seen.sequence
            parts = [status(shown if 0 <= shown < view.market.sequence else view.market.sequence)]
            for partial, panel in panels.get(viewer.account_id, []):
                parts.append(_panel_push(partial, panel, view))
            drawn[viewer.account_id] = "".join(parts)
        updates.append(drawn[viewer.account_id])
    return updates


def _due_panels(viewer: Viewer) -> Sequence[tuple[str, PanelView]]:
    """The panels loaded for the desk and not drawn yet, now drawn."""
    due, viewer.seen.panels = viewer.seen.panels, ()
    return due


def _chart_key(chart: Chart | None) -> tuple[Any, ...] | None:
    """What a chart looks like apart from its price line (which every tick moves)."""
    if chart is None or chart.redraws_every_tick:
        return None
    return (chart.scale, chart.lines, chart.off_chart)


def figures_of(view: MarketView, state: engine.Account) -> tuple[engine.AccountFigures, Any]:
    """The account's figures on the view's marks, computed once per market view for all
    the accounts holding the same wallets, positions and settings (a class that traded
    alike); and that key (None when the state cannot be keyed, then computed alone)."""
    try:
        same = (
            tuple(state.wallets.items()),
            tuple(state.positions.items()),
            tuple(state.settings.items()),
        )
        hash(same)
    except TypeError:  # (a value that cannot be hashed: computed for this account alone)
        return engine.account_figures(state, view.prices), None
    return view.once("figures", same, lambda: engine.account_figures(state, view.prices)), same


def _moved_figures(view: MarketView, viewer: Viewer, own: engine.AccountFigures, same: Any) -> str:
    """The viewer's figures that moved since what their desk shows (``tick_figures``),
    drawn once per market view for every desk with the same figures showing the same.
    What a desk shows is never changed in place: desks showing alike share one record."""
    if same is None:
        shown = dict(viewer.seen.figures)
        alone: str = tick_figures(own, shown)
        viewer.seen.figures = shown
        return alone

    def draw() -> tuple[str, dict[str, Any]]:
        shown = dict(viewer.seen.figures)
        return tick_figures(own, shown), shown

    key = (same, tuple(viewer.seen.figures.items()))
    html, viewer.seen.figures = view.once("moved", key, draw)
    return html


def _alerts(view: MarketView, own: engine.AccountFigures, same: Any) -> list[Any]:
    """The margin calls of these figures, once per market view for the same figures."""
    if same is None:
        return margin_alerts(own)
    return view.once("alerts", same, lambda: margin_alerts(own))


def _tick_push(
    viewer: Viewer,
    view: MarketView,
    state: engine.Account,
    markers: list[tuple[int, Decimal, str]],
    panels: Sequence[tuple[str, PanelView]],
    shared: dict[str, str],
    *,
    figures: bool = True,
) -> str:
    """A plain tick for one viewer: what every viewer of the symbol shares, then the
    viewer's figures that moved, and their price line on the scale they already have
    (the whole chart when that scale had to change)."""
    symbol = viewer.symbol
    own, same = figures_of(view, state)
    position = own.positions.get(symbol)
    kept = viewer.seen.chart[0] if viewer.seen.chart else None
    chart = viewer_chart(view, symbol, position_lines(position), markers, kept)
    if symbol not in shared:
        # The status, the mark, the ticket's mark and the picker's marks.
        context: dict[str, Any] = {
            "market": view.market,
            "instrument": view.instrument(symbol),
            "mark": view.prices.marks.get(symbol),
            "instruments": [(row, view.prices.marks.get(row.symbol)) for row in view.instruments],
        }
        shared[symbol] = get_template("live/tick.html#shared").render(context)
        if chart is not None:
            shared["plot:" + symbol] = plot_prices(chart, context["instrument"])
    parts = [shared[symbol]]
    if figures:
        parts.append(_moved_figures(view, viewer, own, same))
    key = _chart_key(chart)
    if chart is not None and key is not None and key == viewer.seen.chart:
        # The frame putting the shared price line on this chart's scale: once per chart.
        plot = shared["plot:" + symbol]
        parts.append(view.once("plots", id(chart), lambda: chart_plot(chart, plot, oob=True)))
    else:
        # The whole chart: drawn once for every viewer showing the same one.
        context = {
            "chart": chart,
            "instrument": view.instrument(symbol),
            "position": position,
            "oob": True,
        }
        alike = (symbol, id(chart), position is None)  # (the chart lives as long as the view)
        parts.append(
            view.once("chart html", alike, lambda: get_template(PARTIALS["chart"]).render(context))
        )
    viewer.seen.chart = key
    alerts = _alerts(view, own, same)
    keys = tuple(a.key for a in alerts)
    if keys != viewer.seen.alerts:
        viewer.seen.alerts = keys
        parts.append(get_template(PARTIALS["alerts"]).render({"alerts": alerts, "oob": True}))
    for partial, panel in panels:
        if panel.ticks:
            parts.append(_panel_push(partial, panel, view))
    return "".join(parts)


def _panel_push(partial: str, panel: PanelView, view: MarketView) -> str:
    """A panel pushed out of band: drawn by the panel (what many desks share, once), or
    its partial rendered with its context."""
    if panel.draw is not None:
        return panel.draw(view.market)
    return get_template(partial).render({"market": view.market, **panel.context, "oob": True})


def _ledger_sections(
    account: PaperAccount,
    viewer: Viewer,
    view: MarketView,
    state: engine.Account,
    history: tuple[Any, Any] | None,
    tables: bool,
) -> str:
    """After a realisation or funding: the balances and positions sections whole
    (``tables``: wallets, realised PnL and avg entry prices moved), and the history with
    the new ledger entries (``history``, the recent rows to show, when its turn came)."""
    wanted = {"balances", "positions"} if tables else set()
    if history is not None:
        wanted.add("history")
    context = desk_context(account, viewer.symbol, view, state, history=history)
    names = [n for n in redraws(Event.REALISATION) if n in wanted]
    context["parts"] = [(PARTIALS[name], True) for name in names]
    if tables:
        viewer.seen.figures = {}  # the tables hold every figure: the next tick sends them all
    return get_template("desk/sections.html").render(context)
