"""The fragments a learner's desk receives over the websocket, rendered with the same
partials the pages use (a figure is formatted in exactly one place).

Every desk of a market is drawn from one pass over the market (:func:`desk_updates`): the
market's row, marks and recent prices are read once, every viewer's account is loaded in
one bulk query, and the parts that are the same for everybody (tick, marks, picker) are
rendered once. A plain tick then sends each viewer only what a tick can change: the
figures of their positions and balances that moved, their price line (their whole chart
when its scale changes), and their margin calls when those change. A realisation or
funding tick adds the balances, positions and history sections; a snapshot, the viewer's
own news (a trade, a liquidation, a stop that fired) and a teacher's action send whole
sections.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.template.loader import get_template

from sandbox import engine
from sandbox.classroom.models import Room, RoomMember
from sandbox.classroom.selectors import LearnerRow, leaderboard, learner_rows
from sandbox.desk.models import (
    Fill,
    Instrument,
    LedgerEntry,
    LiquidationRecord,
    Market,
    PaperAccount,
)
from sandbox.desk.selectors import (
    RECENT,
    AccountState,
    engine_accounts,
    engine_market,
    market_instruments,
    recent_by_account,
)
from sandbox.desk.templatetags.figures import tick_figures

from .chart import Chart, PriceWindow, chart_view, position_lines, price_window
from .selectors import chart_marks, margin_alerts, open_liquidations
from .services import SPEEDS
from .templatetags.charts import chart_plot, plot_prices

GAP_CHOICES = ("-20", "-10", "-5", "5", "10", "20")
BOARD_EVERY = 5  # a classroom's leaderboard is re-ranked on every fifth tick
BOARD_TOP = 10  # a learner's panel lists the top ten, and their own place below them
MANY = 20  # viewers from which a market's accounts are read by market, not by ids


@dataclass
class MarketView:
    """What every desk of a market shares at one moment: the market row, the engine's
    view of it (marks and instruments), and each symbol's recent prices (read once)."""

    market: Market
    prices: engine.Market
    instruments: list[Instrument]
    windows: dict[str, PriceWindow | None] = field(default_factory=dict)

    def window(self, symbol: str) -> PriceWindow | None:
        if symbol not in self.windows:
            self.windows[symbol] = price_window(*chart_marks(self.market, symbol))
        return self.windows[symbol]

    def instrument(self, symbol: str) -> Instrument:
        return next(row for row in self.instruments if row.symbol == symbol)


def market_view(market: Market) -> MarketView:
    return MarketView(market, engine_market(market), market_instruments(market))


def ranked_for(ranking: list[LearnerRow], member: RoomMember) -> list[tuple[int, LearnerRow]]:
    """(place, row) for a learner's panel: the top of the class, then their own place."""
    places = list(enumerate(ranking, start=1))
    shown = places[:BOARD_TOP]
    own = next((p for p in places[BOARD_TOP:] if p[1].member.pk == member.pk), None)
    return shown + [own] if own else shown


def desk_context(
    account: PaperAccount,
    symbol: str,
    view: MarketView,
    state: engine.Account,
    *,
    member: RoomMember | None = None,
    ranking: list[LearnerRow] | None = None,
    markers: Sequence[tuple[int, Decimal, str]] | None = None,
    liquidations: Sequence[LiquidationRecord] | None = None,
) -> dict[str, Any]:
    """Everything the desk's live partials need, for one account and the symbol it views."""
    figures = engine.account_figures(state, view.prices)
    position = figures.positions.get(symbol)
    return {
        "account": account,
        "market": view.market,
        "instrument": view.instrument(symbol),
        "inst": view.prices.instrument(symbol),
        "instruments": [(row, view.prices.marks.get(row.symbol)) for row in view.instruments],
        "mark": view.prices.marks.get(symbol),
        "balances": list(figures.balances.values()),
        "positions": list(figures.positions.values()),
        "position": position,
        "alerts": margin_alerts(figures),
        # Read only if a template shows them (an action's answer usually does not).
        "liquidations": list(liquidations)
        if liquidations is not None
        else functools.cache(lambda: open_liquidations([account.pk]).get(account.pk, [])),
        # Drawn only if a template shows it (an action's answer usually does not).
        "chart": functools.cache(
            lambda: chart_view(
                view.window(symbol),
                position_lines(position),
                markers
                if markers is not None
                else _markers([account.pk], view, {symbol}).get((account.pk, symbol), []),
            )
        ),
        "notice": None,
        "state": AccountState(state, view.prices, figures),
        "figures": figures,
        "speeds": SPEEDS,
        "gaps": GAP_CHOICES,
        "recent": RECENT,
        "member": member,
        "ranking": ranked_for(ranking, member) if ranking and member else None,
    }


def _markers(account_ids: list[int], view: MarketView, symbols: set[str]) -> dict[Any, list[Any]]:
    """Each account's liquidations inside the chart's window, by (account, symbol)."""
    found: dict[Any, list[Any]] = defaultdict(list)
    first = min((w.first_tick for s in symbols if (w := view.window(s)) is not None), default=None)
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


def _rankings(members: dict[int, RoomMember], *, due: bool) -> dict[int, list[LearnerRow]]:
    """Each room's ranking, computed once for all its learners (when due and shown)."""
    rooms: dict[int, Room] = {m.room_id: m.room for m in members.values()}
    return {
        pk: leaderboard(learner_rows(room))
        for pk, room in rooms.items()
        if due and room.leaderboard_visible
    }


def live_context(
    account: PaperAccount,
    symbol: str,
    *,
    with_board: bool = True,
    state: engine.Account | None = None,
) -> dict[str, Any]:
    """The live partials' context for one account, for a page or an action's answer.

    In a classroom, ``with_board`` also ranks the class for the leaderboard (when the
    teacher shows it to learners). ``state``: the account as an action just left it (read
    from the database otherwise).
    """
    view = market_view(account.market)
    if state is None:
        state = engine_accounts([account.pk])[account.pk]
    member = None
    if account.market.kind == Market.Kind.ROOM:  # only a classroom's accounts have members
        member = RoomMember.objects.filter(account=account).select_related("room").first()
    ranking = None
    if member is not None:
        ranking = _rankings({account.pk: member}, due=with_board).get(member.room_id)
    return desk_context(
        account,
        symbol,
        view,
        state,
        member=member,
        ranking=ranking,
    )


@dataclass(slots=True)
class Seen:
    """What a connection last showed, so live regions only change when their news does."""

    alerts: tuple[str, ...] | None = None
    liquidations: tuple[int, ...] | None = None
    sequence: int = -1  # the market's tick the desk shows
    chart: tuple[Any, ...] | None = None  # the chart's scale and lines, if it has no markers
    figures: dict[str, Any] = field(default_factory=dict)  # the ticking figures, by span id


@dataclass(slots=True)
class Viewer:
    """One open desk: the account, the symbol it views, and what it last showed."""

    account_id: int
    symbol: str
    seen: Seen


LIVE_PARTS = (
    "live/live.html#status",
    "desk/desk.html#picker",
    "desk/desk.html#mark_display",
    "desk/desk.html#ticket_mark",
)
FIGURE_PARTS = ("desk/desk.html#balances", "desk/desk.html#positions", "live/live.html#chart")


def desk_updates(
    market_id: int,
    viewers: Sequence[Viewer],
    *,
    full: bool = False,
    own: bool = False,
    history: bool = False,
    room: bool = False,
) -> list[str | None]:
    """One push for each viewer of a market, from one pass over it (None for a viewer
    whose desk already shows this tick: a plain tick sends nothing it would repeat).

    A plain tick sends the shared parts and each viewer's figures that moved. A tick that
    wrote ledger entries (``history``: a realisation or funding) also sends the balances,
    positions and history sections. Whole sections go for a snapshot (``full``), the
    account's own news (``own``: a trade, a liquidation, a stop that fired) and a teacher's
    action (``room``, which also redraws classroom panels). Alerts and liquidation notices
    go only when they changed.
    """
    market = Market.objects.get(pk=market_id)
    view = market_view(market)
    ids = sorted({v.account_id for v in viewers})
    # Many viewers: their rows are picked out of the market's (a long list of ids costs more).
    states = engine_accounts(ids, market_id=market_id if len(ids) > MANY else None)
    board_due = full or own or room or market.sequence % BOARD_EVERY == 0
    members: dict[int, RoomMember] = {}
    if market.kind == Market.Kind.ROOM:
        wanted = set(ids)
        members = {
            m.account_id: m
            for m in RoomMember.objects.filter(room__market_id=market_id).select_related("room")
            if m.account_id in wanted
        }
    rankings = _rankings(members, due=board_due)
    markers = _markers(ids, view, {v.symbol for v in viewers})
    sections = full or own or room
    accounts: dict[int, Any] = {}
    liquidations: dict[int, list[LiquidationRecord]] = {}
    fills: dict[int, list[Any]] = {}
    ledger: dict[int, list[Any]] = {}
    if sections or history:
        accounts = PaperAccount.objects.select_related("market").in_bulk(ids)
    if full or own or history:  # the pushes that show the history
        fills, ledger = recent_by_account(Fill, ids), recent_by_account(LedgerEntry, ids)
    if sections:
        liquidations = open_liquidations(ids)
    shared: dict[str, str] = {}
    updates: list[str | None] = []
    for viewer in viewers:
        member = members.get(viewer.account_id)
        ranking = rankings.get(member.room_id) if member else None
        own_markers = markers.get((viewer.account_id, viewer.symbol), [])
        if not sections and not history and viewer.seen.sequence >= market.sequence:
            # Drawn already at this tick (a teacher's action or the learner's own news came
            # first): sending it again would repeat the tick.
            updates.append(None)
            continue
        viewer.seen.sequence = market.sequence
        if not sections:
            push = _tick_push(
                viewer,
                view,
                states[viewer.account_id],
                own_markers,
                member,
                ranking,
                shared,
                figures=not history,
            )
            if history:
                recent = (fills[viewer.account_id], ledger[viewer.account_id])
                account = accounts[viewer.account_id]
                push += _ledger_sections(account, viewer, view, states[account.pk], recent)
            updates.append(push)
            continue
        context = desk_context(
            accounts[viewer.account_id],
            viewer.symbol,
            view,
            states[viewer.account_id],
            member=member,
            ranking=ranking,
            markers=own_markers,
            liquidations=liquidations.get(viewer.account_id, []),
        )
        viewer.seen.chart = _chart_key(context["chart"]())
        viewer.seen.figures = {}  # whole sections: the next tick sends every figure again
        alerts = tuple(a.key for a in context["alerts"])
        alerts_changed = full or alerts != viewer.seen.alerts
        viewer.seen.alerts = alerts
        parts = [*LIVE_PARTS, *FIGURE_PARTS]
        if member is not None:
            parts.append("desk/desk.html#room")
        if full or own or history:
            parts.append("desk/desk.html#history")
            context["fills"] = fills[viewer.account_id]
            context["ledger"] = ledger[viewer.account_id]
        if alerts_changed:
            parts.append("live/live.html#alerts")
        notices = tuple(r.pk for r in context["liquidations"])
        if full or notices != viewer.seen.liquidations:
            parts.append("live/live.html#liquidations")
            viewer.seen.liquidations = notices
        context["parts"] = [(name, True) for name in parts]
        updates.append(get_template("desk/sections.html").render(context))
    return updates


def _chart_key(chart: Chart | None) -> tuple[Any, ...] | None:
    """What a chart looks like apart from its price line (which every tick moves)."""
    if chart is None or chart.redraws_every_tick:
        return None
    return (chart.scale, chart.lines, chart.off_chart)


def _tick_push(
    viewer: Viewer,
    view: MarketView,
    state: engine.Account,
    markers: list[tuple[int, Decimal, str]],
    member: RoomMember | None,
    ranking: list[LearnerRow] | None,
    shared: dict[str, str],
    *,
    figures: bool = True,
) -> str:
    """A plain tick for one viewer: what every viewer of the symbol shares, then the
    viewer's figures that moved, and their price line on the scale they already have
    (the whole chart when that scale had to change)."""
    symbol = viewer.symbol
    own = engine.account_figures(state, view.prices)
    position = own.positions.get(symbol)
    kept = viewer.seen.chart[0] if viewer.seen.chart else None
    chart = chart_view(view.window(symbol), position_lines(position), markers, keep=kept)
    if symbol not in shared:
        context: dict[str, Any] = {
            "market": view.market,
            "instrument": view.instrument(symbol),
            "mark": view.prices.marks.get(symbol),
            "instruments": [(row, view.prices.marks.get(row.symbol)) for row in view.instruments],
        }
        shared[symbol] = get_template("live/tick.html#shared").render(context)
        if chart is not None:
            shared["plot:" + symbol] = plot_prices(chart)
    parts = [shared[symbol]]
    if figures:
        parts.append(tick_figures(own, viewer.seen.figures))
    key = _chart_key(chart)
    if chart is not None and key is not None and key == viewer.seen.chart:
        parts.append(chart_plot(chart, shared["plot:" + symbol], oob=True))
    else:
        context = {
            "chart": chart,
            "instrument": view.instrument(symbol),
            "position": position,
            "oob": True,
        }
        parts.append(get_template("live/live.html#chart").render(context))
    viewer.seen.chart = key
    alerts = margin_alerts(own)
    keys = tuple(a.key for a in alerts)
    if keys != viewer.seen.alerts:
        viewer.seen.alerts = keys
        parts.append(get_template("live/live.html#alerts").render({"alerts": alerts, "oob": True}))
    if member is not None and ranking is not None:
        context = {
            "member": member,
            "market": view.market,
            "ranking": ranked_for(ranking, member),
            "oob": True,
        }
        parts.append(get_template("desk/desk.html#room").render(context))
    return "".join(parts)


LEDGER_PARTS = ("desk/desk.html#balances", "desk/desk.html#positions", "desk/desk.html#history")


def _ledger_sections(
    account: PaperAccount,
    viewer: Viewer,
    view: MarketView,
    state: engine.Account,
    history: tuple[list[Any], list[Any]],
) -> str:
    """After a realisation or funding: the balances, positions and history sections whole
    (wallets, realised PnL and avg entry prices moved, and the ledger has new entries)."""
    context = desk_context(account, viewer.symbol, view, state)
    context["fills"], context["ledger"] = history
    context["parts"] = [(name, True) for name in LEDGER_PARTS]
    viewer.seen.figures = {}  # the sections hold every figure: the next tick sends them all
    return get_template("desk/sections.html").render(context)


def render_update(
    account_id: int,
    symbol: str,
    seen: Seen,
    *,
    snapshot: bool,
) -> str:
    """Whole sections for one desk: on connect (``snapshot``) and when its account
    changed (a trade of its own, a liquidation, a stop that fired)."""
    market_id = PaperAccount.objects.values_list("market_id", flat=True).get(pk=account_id)
    viewer = Viewer(account_id, symbol, seen)
    update = desk_updates(market_id, [viewer], full=snapshot, own=True)[0]
    assert update is not None  # whole sections are always drawn
    return update
