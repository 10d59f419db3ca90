"""What a learner's desk shows: the one description of the screen, its sections, and which
event redraws which section.

Everything that draws a desk starts here: the desk's pages and action answers
(:mod:`sandbox.desk.views`), the live feed's pushes (:mod:`sandbox.live.render`), and the
pages that show a desk's tables with data of their own (the lesson player, the twins).

This module belongs to the desk app and imports nothing from the apps built on it. Those
plug their parts in when Django starts (their ``AppConfig.ready``):

- a *layer* adds names every desk page and answer shows (the live app: the chart, margin
  calls, liquidation notices, the practice market's clock);
- a *panel* adds a section some accounts' desks show (the classroom: the room panel with
  its leaderboard), loaded for many accounts at once so the live feed can draw it in bulk.

Each section is one partial (:data:`PARTIALS`) and one place for its data (the fields of
:class:`DeskScreen`, whose names the partials use).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Hashable, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from sandbox import engine

from . import selectors
from .forms import LeverageForm, MarginForm, MarkForm, OrderForm, TriggerForm
from .models import Instrument, Market, PaperAccount

T = TypeVar("T")

# ------------------------------------------------------------------------------ sections

#: Each section of the desk and the one partial that draws it (page order). The live app's
#: partials are named here as templates only: nothing of it is imported.
PARTIALS: dict[str, str] = {
    "status": "live/live.html#status",
    "picker": "desk/desk.html#picker",
    "mark": "desk/desk.html#mark_display",
    "ticket_mark": "desk/desk.html#ticket_mark",
    "market": "desk/desk.html#market",
    "leverage": "desk/desk.html#leverage",
    "ticket": "desk/desk.html#ticket",
    "triggers": "desk/desk.html#triggers",
    "chart": "live/live.html#chart",
    "balances": "desk/desk.html#balances",
    "positions": "desk/desk.html#positions",
    "history": "desk/desk.html#history",
    "alerts": "live/live.html#alerts",
    "liquidations": "live/live.html#liquidations",
}
#: Not partials of their own: every figure that moved (a span each), each symbol's mark in
#: the picker, and the panels an account's desk has (the classroom's room panel).
FIGURES, PICKER_MARKS, PANELS = "figures", "picker_marks", "panels"


class Event(StrEnum):
    """What happened to a desk."""

    ORDER = "order"  # an order opened, flipped or closed a position
    ORDER_KEPT = "order kept"  # an order added to or reduced a position (its margin stands)
    CLOSE = "close"
    MARGIN = "margin"  # isolated margin added or removed
    LEVERAGE = "leverage"
    TRIGGERS = "triggers"  # stop-loss and take-profit set
    MARK_SET = "mark set"  # the learner set the mark by hand
    CLOCK = "clock"  # the learner stopped, started, sped up or gapped their market
    TWINS = "twins"  # opening the twins (answered only when refused)
    RESET = "reset"  # the account back to its starting balances: the whole page again
    TICK = "tick"  # a plain tick of the market
    REALISATION = "realisation"  # a tick that wrote ledger entries (realisation, funding)
    NEWS = "news"  # the account's own news, at once: its notice and the tables it changed
    OWN = "own"  # the account's own news: a trade, a liquidation, a stop that fired
    SNAPSHOT = "snapshot"  # a desk (re)connected, or catching up after missed ticks
    TEACHER = "teacher"  # the classroom's teacher acted on the market
    LIQUIDATED = "liquidated"  # an action's outcome liquidated a position (added to its answer)


_ANSWERED = ("balances", "positions", "history")
_TICKED = ("status", "mark", "ticket_mark", PICKER_MARKS, "chart", "alerts", PANELS)
_WHOLE = ("status", "picker", "mark", "ticket_mark", "balances", "positions", "chart", PANELS)

#: Which sections each event redraws. For an action, the first is the section that sent
#: it (it also shows the notice); a refused action redraws only that one. The ticket and
#: the triggers keep what the learner typed unless the action came from them. On the live
#: pushes, margin calls and liquidation notices go only when they changed (always on a
#: snapshot), and panels only to the accounts that have them.
REDRAWS: dict[Event, tuple[str, ...]] = {
    Event.ORDER: ("ticket", *_ANSWERED),  # the ticket holds the leverage control
    Event.ORDER_KEPT: ("ticket", *_ANSWERED),
    Event.CLOSE: ("positions", "leverage", "balances", "history"),
    Event.MARGIN: ("positions", "leverage", "balances", "history"),
    Event.LEVERAGE: ("leverage", "market", *_ANSWERED),
    Event.TRIGGERS: ("triggers", *_ANSWERED),
    Event.MARK_SET: ("market", "leverage", *_ANSWERED),
    Event.CLOCK: ("market", "leverage", *_ANSWERED),
    Event.TWINS: ("ticket",),
    Event.RESET: tuple(PARTIALS),
    Event.TICK: (*_TICKED, FIGURES),
    Event.REALISATION: (*_TICKED, *_ANSWERED),
    # A trade, a liquidation or a stop that fired may open or close the position: the
    # slider says again what the next order uses (so it never speaks of a position that is
    # gone). The live feed sends it in two pushes: first what the learner must see at once
    # (NEWS: the notice, the tables it changed, the tick it came with), then the rest of
    # the desk (OWN less NEWS), so that a crash liquidating a whole class tells everyone
    # first and redraws their charts and histories after.
    Event.NEWS: (
        "status",
        "mark",
        "ticket_mark",
        "balances",
        "positions",
        "alerts",
        "liquidations",
    ),
    Event.OWN: (*_WHOLE, "leverage", "history", "alerts", "liquidations"),
    Event.SNAPSHOT: (*_WHOLE, "leverage", "history", "alerts", "liquidations"),
    # A teacher's action changes the market's line (running, speed, trading closed) and the
    # room panel (trading, the leaderboard shown or not, lessons): no account's figures
    # (a teacher's reset comes with ledger entries and redraws the desk as the account's
    # own news).
    Event.TEACHER: ("status", PANELS),
    # Whatever caused it (Set mark, an order, ...), a liquidation shows the live notice.
    Event.LIQUIDATED: ("liquidations",),
}
#: The pushes that send whole sections (the others send a tick's figures, or a teacher's
#: action the market's line and the panels).
WHOLE = frozenset({Event.NEWS, Event.OWN, Event.SNAPSHOT})


def redraws(*events: Event) -> list[str]:
    """The sections any of ``events`` redraws, each once, in the order of the first."""
    found: dict[str, None] = {}
    for event in events:
        found.update(dict.fromkeys(REDRAWS[event]))
    return list(found)


def answer_parts(event: Event, *, ok: bool) -> list[tuple[str, bool]]:
    """An htmx answer to an action: (partial, out of band) for each section it redraws,
    the one that sent it first (swapped in place)."""
    names = REDRAWS[event] if ok else REDRAWS[event][:1]
    return [(PARTIALS[name], index > 0) for index, name in enumerate(names)]


def liquidation_parts() -> list[tuple[str, bool]]:
    """Added to an action's answer when its outcome liquidated a position: the notices,
    out of band, as the live feed draws them."""
    return [(PARTIALS[name], True) for name in REDRAWS[Event.LIQUIDATED]]


# ------------------------------------------------------------------------------ notices


@dataclass
class Notice:
    """The result of an action, shown in the section that sent it."""

    event: Event
    text: str
    ok: bool = True
    liquidations: list[engine.LiquidationEvent] = field(default_factory=list)
    # The account as the action left it, so the answer need not read it again.
    state: engine.Account | None = None

    @property
    def section(self) -> str:
        return REDRAWS[self.event][0]


# ------------------------------------------------------------------------------ the screen


@dataclass
class MarketView:
    """What every desk of a market shares at one moment: the market row, the engine's
    view of it (marks and instruments), and what layers keep per market (``memo``: the
    live app's recent prices of each symbol, read once)."""

    market: Market
    prices: engine.Market
    instruments: list[Instrument]
    memo: dict[str, Any] = field(default_factory=dict)

    def instrument(self, symbol: str) -> Instrument:
        return next(row for row in self.instruments if row.symbol == symbol)

    def once(self, kind: str, key: Hashable, make: Callable[[], T]) -> T:
        """What ``make`` gives for ``key``, made once per market view: the desks whose
        ``key`` is alike (the same figures, chart or drawing) share it."""
        made: dict[Hashable, T] = self.memo.setdefault(kind, {})
        if key not in made:
            made[key] = make()
        return made[key]


def market_view(market: Market) -> MarketView:
    return MarketView(market, selectors.engine_market(market), selectors.market_instruments(market))


@dataclass
class DeskScreen:
    """Everything a desk shows, for one account and the symbol it views. The field names
    are the names the section partials use (:meth:`context`)."""

    # The market, as every desk of it sees it.
    account: PaperAccount
    market: Market
    instrument: Instrument
    inst: engine.Instrument
    instruments: list[tuple[Instrument, Decimal | None]]
    mark: Decimal | None
    # The account's figures.
    state: selectors.AccountState
    figures: engine.AccountFigures
    balances: list[engine.BalanceFigures]
    positions: list[engine.PositionFigures]
    position: engine.PositionFigures | None
    # The history section (lists, or read only if a template shows them).
    fills: Any
    ledger: Any
    recent: int = selectors.RECENT
    notice: Notice | None = None
    # The learner's own controls: figures as live spans, links and actions in the tables.
    trading: bool = True
    # The leverage, ticket, triggers and margin sections (pages and action answers).
    setting: engine.MarginSetting | None = None
    stop: int = 0
    max_stop: int = 0
    order_form: OrderForm | None = None
    leverage_form: LeverageForm | None = None
    mark_form: MarkForm | None = None
    margin_form: MarginForm | None = None
    trigger_form: TriggerForm | None = None
    margin_limits: engine.MarginLimits | None = None
    # The panels this desk shows (their partials); what layers and panels add, by name.
    panels: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def context(self, **more: Any) -> dict[str, Any]:
        """The template context: every field by name, then what layers and panels added."""
        context = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        context.update(self.extra)
        context.update(more)
        return context


def build_screen(
    account: PaperAccount,
    symbol: str,
    view: MarketView,
    state: engine.Account,
    *,
    history: tuple[Any, Any] | None = None,
    controls: bool = False,
) -> DeskScreen:
    """The desk of ``account`` viewing ``symbol``: its figures from ``state`` on the market's
    marks; ``history``: its recent fills and ledger (read when shown, otherwise);
    ``controls``: also the forms and settings of the desk's controls."""
    figures = engine.account_figures(state, view.prices)
    position = figures.positions.get(symbol)
    if history is None:
        fills: Any = functools.cache(lambda: selectors.recent_fills(account))
        ledger: Any = functools.cache(lambda: selectors.recent_ledger(account))
    else:
        fills, ledger = history
    screen = DeskScreen(
        account=account,
        market=view.market,
        instrument=view.instrument(symbol),
        inst=view.prices.instrument(symbol),
        instruments=[(row, view.prices.marks.get(row.symbol)) for row in view.instruments],
        mark=view.prices.marks.get(symbol),
        state=selectors.AccountState(state, view.prices, figures),
        figures=figures,
        balances=list(figures.balances.values()),
        positions=list(figures.positions.values()),
        position=position,
        fills=fills,
        ledger=ledger,
    )
    if controls:
        _add_controls(screen, state, view.prices, symbol)
    return screen


def _add_controls(
    screen: DeskScreen, state: engine.Account, prices: engine.Market, symbol: str
) -> None:
    inst = screen.inst
    position = screen.position
    setting = state.settings.get(symbol) or engine.default_setting(inst)
    if position is not None:
        setting = engine.MarginSetting(position.margin_mode, position.leverage)
    stop = 0 if setting.mode is engine.MarginMode.CROSS else int(setting.leverage)
    kept = state.positions.get(symbol)
    screen.setting, screen.stop, screen.max_stop = setting, stop, int(inst.max_leverage)
    screen.order_form = OrderForm(instrument=screen.instrument, initial={"side": "buy"})
    screen.leverage_form = LeverageForm(
        instrument=screen.instrument, max_leverage=inst.max_leverage, initial={"stop": stop}
    )
    screen.mark_form = MarkForm()
    screen.margin_form = MarginForm()
    screen.trigger_form = TriggerForm(
        initial={
            "stop_loss": kept.stop_loss if position and kept else None,
            "take_profit": kept.take_profit if position and kept else None,
        }
    )
    if position is not None and position.margin_mode is engine.MarginMode.ISOLATED:
        screen.margin_limits = engine.margin_limits(state, prices, symbol)


# ------------------------------------------------------------------------------ plug-ins

#: A layer: the names it adds to a desk page or answer, given its screen and market.
Layer = Callable[[DeskScreen, MarketView], dict[str, Any]]


@dataclass
class PanelView:
    """One account's panel: its context, and whether a plain tick redraws it; ``draw``,
    when the panel draws its pushes itself (out of band, on the market as it is then:
    the parts many desks share drawn once), else its partial is rendered with the
    context."""

    context: dict[str, Any]
    ticks: bool = False
    draw: Callable[[Market], str] | None = None


class Panel(Protocol):
    """A section some accounts' desks show, drawn by ``partial``."""

    partial: str

    def load(
        self, market: Market, account_ids: Collection[int], *, fresh: bool
    ) -> dict[int, PanelView]:
        """The panel of each account that has one. ``fresh``: the whole desk is drawn (a
        page, a snapshot, news); otherwise a tick, for which a panel may have nothing."""
        ...


_layers: list[Layer] = []
_panels: list[Panel] = []


def register_layer(layer: Layer) -> None:
    if layer not in _layers:
        _layers.append(layer)


def register_panel(panel: Panel) -> None:
    if all(type(p) is not type(panel) for p in _panels):
        _panels.append(panel)


def layers() -> Sequence[Layer]:
    return tuple(_layers)


def load_panels(
    market: Market, account_ids: Collection[int], *, fresh: bool
) -> dict[int, list[tuple[str, PanelView]]]:
    """Every registered panel of each account, loaded for all of them at once."""
    found: dict[int, list[tuple[str, PanelView]]] = {}
    for panel in _panels:
        for account_id, shown in panel.load(market, account_ids, fresh=fresh).items():
            found.setdefault(account_id, []).append((panel.partial, shown))
    return found


def add_panels(screen: DeskScreen, shown: Sequence[tuple[str, PanelView]]) -> None:
    for partial, panel in shown:
        screen.panels.append(partial)
        screen.extra.update(panel.context)


def desk_screen(
    account: PaperAccount,
    symbol: str,
    *,
    state: engine.Account | None = None,
    page: bool = True,
) -> DeskScreen:
    """A desk page (``page``) or an action's answer, with its controls and every layer;
    a page also has its panels. ``state``: the account as an action just left it (read
    from the database otherwise)."""
    view = market_view(account.market)
    if state is None:
        state = selectors.engine_accounts([account.pk])[account.pk]
    screen = build_screen(account, symbol, view, state, controls=True)
    for layer in _layers:
        screen.extra.update(layer(screen, view))
    if page:
        add_panels(screen, load_panels(view.market, [account.pk], fresh=True).get(account.pk, []))
    return screen
