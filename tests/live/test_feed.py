"""Market feeds and the pass that draws every desk of a market: one feed per market in
this process serves all its desks; a tick gives each desk one push with its own figures;
a desk whose stop fired gets whole sections instead; a kept chart scale sends only the
price line; a classroom panel lists the top ten and the learner's own place.

Websocket tests talk to ``sandbox.asgi.router`` through Channels' communicator, as in
``test_consumers``; the feed registry is per event loop, so ``feed.serving`` is read
inside the test's loop.
"""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal

import pytest
from channels.db import database_sync_to_async

from sandbox.classroom.models import RoomMember
from sandbox.classroom.panel import BOARD_TOP, ranked_for
from sandbox.classroom.selectors import LearnerRow
from sandbox.desk import services as desk_services
from sandbox.desk.broadcast import market_group
from sandbox.desk.models import Fill, Market, PaperAccount, Position
from sandbox.desk.screen import PanelView
from sandbox.live import feed, render, services
from sandbox.live.render import Seen, Viewer, desk_updates

from .conftest import (
    BUY,
    ISOLATED,
    Learner,
    account_on,
    open_position,
    quiet,
    schedule_gap,
    wallet,
)
from .sockets import WAIT, atick, browser_cookie, desk_socket, oob, section

D = Decimal
TICK_SPAN = re.compile(r'<span id="(?:pos|bal)-[^"]*"[^>]*hx-swap-oob="true"')

websockets = pytest.mark.django_db(transaction=True)
pytestmark = pytest.mark.usefixtures("empty_channel_layer")


@pytest.fixture
def shared_market(learner: Learner, other_learner: Learner) -> tuple[Learner, Learner]:
    """Two learners on the first one's quiet practice market; the first holds 0.1 XBTUSDT
    isolated 10x (liquidation 54,300, bankruptcy 54,000), the second nothing."""
    market = quiet(learner.account.market)
    PaperAccount.objects.filter(pk=other_learner.account.pk).update(market=market)
    other_learner.account.refresh_from_db()
    open_position(learner.account, "XBTUSDT", BUY, "0.1", ISOLATED, "10")
    assert other_learner.account.market_id == learner.account.market_id
    return learner, other_learner


# ------------------------------------------------------------------- one feed per market


@websockets
async def test_one_feed_serves_every_desk_of_a_market(
    shared_market: tuple[Learner, Learner],
) -> None:
    learner, other = shared_market
    market_id = learner.account.market_id
    assert feed.serving(market_id) == 0

    async with desk_socket(learner.account.pk, browser_cookie(learner)) as (mine, _):
        assert feed.serving(market_id) == 1
        async with desk_socket(other.account.pk, browser_cookie(other)) as (theirs, _):
            assert feed.serving(market_id) == 2
        assert feed.serving(market_id) == 1
        # The remaining desk is still served.
        await atick(market_id)
        assert 'data-sequence="1"' in await mine.receive_from(timeout=WAIT)
    assert feed.serving(market_id) == 0
    assert feed.serving(market_id + 10_000) == 0  # a market nobody watches has no feed


@websockets
async def test_a_tick_gives_each_desk_one_push_with_its_own_figures(
    shared_market: tuple[Learner, Learner],
) -> None:
    learner, other = shared_market
    market = learner.account.market
    await database_sync_to_async(schedule_gap)(market, "XBTUSDT", "1")

    async with (
        desk_socket(learner.account.pk, browser_cookie(learner)) as (mine, _),
        desk_socket(other.account.pk, browser_cookie(other)) as (theirs, _),
    ):
        assert feed.serving(market.pk) == 2
        result = await atick(market.pk)
        assert result.marks["XBTUSDT"] == D("60600.0")
        assert (result.liquidated, result.triggered) == ({}, [])
        my_push = await mine.receive_from(timeout=WAIT)
        their_push = await theirs.receive_from(timeout=WAIT)
        assert await mine.receive_nothing(timeout=0.2)
        assert await theirs.receive_nothing(timeout=0.2)

    # The shared parts, the same for both.
    for push in (my_push, their_push):
        assert '<strong id="mark-price" data-sequence="1">60,600</strong>' in push
        assert '<span id="picker-XBTUSDT-mark" hx-swap-oob="true">60,600</span>' in push
        assert oob(push, "live-status")
    assert section(my_push, "mark-display") == section(their_push, "mark-display")
    # The learner's own figures: 0.1 × 600 = +60 unrealised.
    assert '<span id="pos-XBTUSDT-mark" hx-swap-oob="true">60,600</span>' in my_push
    assert '<span id="pos-XBTUSDT-upnl" class="gain" hx-swap-oob="true">+60</span>' in my_push
    assert '<span id="bal-USDT-upnl" class="gain" hx-swap-oob="true">+60</span>' in my_push
    # The other learner holds nothing: no figure of theirs moves, and none of the learner's.
    assert "pos-XBTUSDT-" not in their_push
    assert 'id="bal-' not in their_push
    assert "+60" not in their_push
    # A plain tick sends figures, not tables.
    for push in (my_push, their_push):
        for element_id in ("positions", "balances", "history", "liquidation-notices"):
            assert f'id="{element_id}"' not in push


@websockets
async def test_a_desk_that_connects_later_is_served_by_the_same_feed(
    shared_market: tuple[Learner, Learner],
) -> None:
    learner, other = shared_market
    market_id = learner.account.market_id

    async with desk_socket(learner.account.pk, browser_cookie(learner)) as (mine, _):
        await atick(market_id)
        first = await mine.receive_from(timeout=WAIT)
        async with desk_socket(other.account.pk, browser_cookie(other)) as (theirs, snapshot):
            assert 'data-sequence="1"' in section(snapshot, "live-status")
            await atick(market_id)
            for ws in (mine, theirs):
                push = await ws.receive_from(timeout=WAIT)
                assert 'data-sequence="2"' in section(push, "live-status")
    assert 'data-sequence="1"' in section(first, "live-status")


# ------------------------------------------------------------------- a stop that fires


@websockets
async def test_a_stop_that_fires_sends_its_desk_its_news_then_the_rest_once(
    shared_market: tuple[Learner, Learner],
) -> None:
    learner, other = shared_market
    account = learner.account

    def stop_and_gap() -> None:
        desk_services.triggers_set(
            account=account, symbol="XBTUSDT", stop_loss=D(57000), take_profit=None
        )
        schedule_gap(account.market, "XBTUSDT", "-6")  # 56,400: through the stop, not 54,300

    await database_sync_to_async(stop_and_gap)()

    async with (
        desk_socket(account.pk, browser_cookie(learner)) as (mine, first),
        desk_socket(other.account.pk, browser_cookie(other)) as (theirs, _),
    ):
        assert "No open positions" not in section(first, "positions")
        result = await atick(account.market_id)
        assert result.marks["XBTUSDT"] == D("56400.0")
        assert result.triggered == [account.pk]
        assert result.liquidated == {}
        push = await mine.receive_from(timeout=WAIT)
        rest = await mine.receive_from(timeout=WAIT)
        their_push = await theirs.receive_from(timeout=WAIT)
        assert await mine.receive_nothing(timeout=0.2)
        assert await theirs.receive_nothing(timeout=0.2)

    # The position was closed by the stop at the mark.
    assert not await database_sync_to_async(Position.objects.filter(account=account).exists)()
    fill = await database_sync_to_async(lambda: Fill.objects.filter(account=account).first())()
    assert fill is not None and (fill.kind, fill.price) == ("stop-loss", D("56400"))
    # Open fee 3, close fee 2.82, loss 0.1 × 3,600 = 360.
    assert await database_sync_to_async(wallet)(account) == D("9634.18")

    # Whole sections, at the tick's sequence, not the tick's figures.
    assert 'data-sequence="1"' in section(push, "live-status")
    assert '<strong id="mark-price" data-sequence="1">56,400</strong>' in push
    assert oob(push, "positions")
    assert "No open positions" in section(push, "positions")
    assert oob(push, "balances")
    assert '<td data-figure="wallet-USDT">9,634.18</td>' in section(push, "balances")
    assert TICK_SPAN.search(push) is None
    # Then the rest of the desk: the history with the stop's fill, the chart without the
    # position's lines, the slider; nothing the news sent is sent twice.
    for element_id in ("positions", "balances", "live-status"):
        assert f'id="{element_id}"' not in rest
    assert 'id="history"' not in push and 'id="chart"' not in push
    assert oob(rest, "history")
    history = section(rest, "history")
    assert "<td>stop-loss</td>" in history
    assert "<td>56,400</td>" in history
    assert oob(rest, "chart") and oob(rest, "leverage")
    assert TICK_SPAN.search(rest) is None
    # The other learner on the market gets the plain tick.
    assert '<strong id="mark-price" data-sequence="1">56,400</strong>' in their_push
    assert 'id="positions"' not in their_push
    assert 'id="history"' not in their_push


# ----------------------------------------------------------------------- the class board


def rows(count: int) -> list[LearnerRow]:
    """``count`` leaderboard rows, best first; member pk i + 1 at place i + 1."""
    return [
        LearnerRow(
            member=RoomMember(pk=place, display_name=f"learner {place}"),
            equity=D(10000 - place),
            currency="USDT",
            return_percent=D(-place) / 100,
            leverage_used=None,
            modes="",
            distance=None,
            liquidations=0,
            trades=place,
        )
        for place in range(1, count + 1)
    ]


def places(shown: list[tuple[int, LearnerRow]]) -> list[tuple[int, int | None]]:
    return [(place, row.member.pk) for place, row in shown]


def test_the_board_shows_the_top_ten() -> None:
    assert BOARD_TOP == 10


def test_a_learner_twelfth_sees_the_top_ten_then_their_own_place() -> None:
    ranking = rows(12)

    shown = ranked_for(ranking, RoomMember(pk=12))

    assert places(shown) == [(p, p) for p in range(1, 11)] + [(12, 12)]
    assert shown[-1] == (12, ranking[11])


def test_a_learner_eleventh_sees_the_top_ten_then_their_own_place() -> None:
    shown = ranked_for(rows(12), RoomMember(pk=11))

    assert places(shown) == [(p, p) for p in range(1, 11)] + [(11, 11)]


@pytest.mark.parametrize("pk", [1, 5, 10])
def test_a_learner_in_the_top_ten_sees_just_the_top_ten(pk: int) -> None:
    shown = ranked_for(rows(12), RoomMember(pk=pk))

    assert places(shown) == [(p, p) for p in range(1, 11)]


def test_a_small_class_is_shown_whole() -> None:
    shown = ranked_for(rows(3), RoomMember(pk=3))

    assert places(shown) == [(1, 1), (2, 2), (3, 3)]


def test_a_learner_not_on_the_board_sees_the_top_ten_only() -> None:
    assert places(ranked_for(rows(12), RoomMember(pk=99))) == [(p, p) for p in range(1, 11)]
    assert ranked_for([], RoomMember(pk=1)) == []


# -------------------------------------------------------------------- a chart kept still


def tick(market_id: int) -> services.TickResult:
    result = services.market_tick(market_id=market_id)
    assert result is not None
    return result


def view_box(html: str) -> str:
    found = re.search(r'<svg id="chart-plot"[^>]* viewBox="([^"]*)"', html)
    assert found is not None, "no price line in the push"
    return found[1]


@pytest.fixture
def ticking(learner: Learner) -> tuple[int, Viewer]:
    """The learner's quiet market after one tick to 60,600, holding 0.1 XBTUSDT isolated
    10x (avg entry 60,000, liquidation 54,300, bankruptcy 54,000); and a viewer of it."""
    market = quiet(learner.account.market)
    open_position(learner.account, "XBTUSDT", BUY, "0.1", ISOLATED, "10")
    schedule_gap(market, "XBTUSDT", "1")
    tick(market.pk)
    return market.pk, Viewer(learner.account.pk, "XBTUSDT", Seen())


@websockets
def test_a_plain_tick_keeps_the_scale_and_sends_only_the_price_line(
    ticking: tuple[int, Viewer],
) -> None:
    market_id, viewer = ticking
    (full,) = desk_updates(market_id, [viewer], full=True)
    # One price, 60,600: a scale of a thousandth of it on each side (60.6); the position's
    # prices, 1% and more below, are arrows at its bottom edge.
    assert oob(full, "chart")
    assert view_box(section(full, "chart")) == "-119 -60660.6 119 121.2"
    assert viewer.seen.chart is not None
    assert viewer.seen.chart[0] == (D("60539.4"), D("60660.6"))
    assert "avg entry 60,000 \u2193" in section(full, "chart")

    schedule_gap(Market.objects.get(pk=market_id), "XBTUSDT", "0.09")  # 60,654.5: inside it
    tick(market_id)
    (plain,) = desk_updates(market_id, [viewer])

    assert '<svg id="chart-plot" hx-swap-oob="true"' in plain
    assert 'id="chart"' not in plain
    assert view_box(plain) == "-118 -60660.6 119 121.2"  # the new tick at the right edge
    assert 'points="0,-60600 1,-60654.5"' in plain
    assert '<span id="pos-XBTUSDT-mark" hx-swap-oob="true">60,654.5</span>' in plain

    tick(market_id)  # no move: the scale stays, the line grows
    (again,) = desk_updates(market_id, [viewer])
    assert 'id="chart"' not in again
    assert view_box(again) == "-117 -60660.6 119 121.2"


@websockets
def test_desks_sharing_a_chart_each_get_their_own_margin_calls(
    ticking: tuple[int, Viewer],
) -> None:
    """Two desks viewing ETHUSDT, where neither holds a position, share one drawing of its
    chart; their margin calls are each their own account's: the learner whose XBTUSDT
    position nears liquidation is warned, the one holding nothing is not."""
    market_id, holder = ticking
    market = Market.objects.get(pk=market_id)
    empty = Viewer(account_on(market).pk, "ETHUSDT", Seen())
    warned = Viewer(holder.account_id, "ETHUSDT", Seen())
    # 56,400 is (56,400 − 54,300) / 56,400 = 3.72% from liquidation: a warning (≤ 5%).
    schedule_gap(market, "XBTUSDT", "-6.93")
    tick(market_id)

    calm, called = desk_updates(market_id, [empty, warned])

    assert 'id="chart"' in calm and 'id="chart"' in called  # (the whole chart, shared)
    assert "data-alert" not in calm
    assert 'data-alert="XBTUSDT"' in section(called, "margin-alerts")


@websockets
def test_a_price_leaving_the_scale_sends_the_whole_chart(ticking: tuple[int, Viewer]) -> None:
    market_id, viewer = ticking
    desk_updates(market_id, [viewer], full=True)

    schedule_gap(Market.objects.get(pk=market_id), "XBTUSDT", "5")  # 63,630: above 61,260
    tick(market_id)
    (plain,) = desk_updates(market_id, [viewer])

    assert oob(plain, "chart")
    chart = section(plain, "chart")
    # Values 54,000 to 63,630: 963 free on each side.
    assert view_box(chart) == "-118 -64593 119 11556"
    assert viewer.seen.chart is not None
    assert viewer.seen.chart[0] == (D("53037"), D("64593"))


@websockets
def test_a_new_viewers_first_tick_sends_the_whole_chart(ticking: tuple[int, Viewer]) -> None:
    market_id, viewer = ticking
    tick(market_id)

    (plain,) = desk_updates(market_id, [viewer])

    assert oob(plain, "chart")
    assert "avg entry 60,000" in section(plain, "chart")
    # And then it is kept.
    tick(market_id)
    (next_plain,) = desk_updates(market_id, [viewer])
    assert 'id="chart"' not in next_plain
    assert '<svg id="chart-plot" hx-swap-oob="true"' in next_plain


@websockets
def test_viewers_of_one_market_get_one_update_each_in_order(
    shared_market: tuple[Learner, Learner],
) -> None:
    learner, other = shared_market
    market_id = learner.account.market_id
    schedule_gap(learner.account.market, "XBTUSDT", "1")
    tick(market_id)
    mine = Viewer(learner.account.pk, "XBTUSDT", Seen())
    theirs = Viewer(other.account.pk, "ETHUSDT", Seen())

    my_update, their_update = desk_updates(market_id, [mine, theirs])

    assert '<strong id="mark-price" data-sequence="1">60,600</strong>' in my_update
    assert "pos-XBTUSDT-upnl" in my_update
    assert '<strong id="mark-price" data-sequence="1">3,000</strong>' in their_update
    assert "pos-" not in their_update
    assert desk_updates(market_id, []) == []


def test_a_tick_already_drawn_is_not_sent_again(ticking: tuple[int, Viewer]) -> None:
    """The learner's own news drew the desk at this tick: the tick's own push would repeat
    it, so there is none; the next tick is drawn as usual."""
    market_id, viewer = ticking
    (whole,) = desk_updates(market_id, [viewer], own=True)
    assert whole is not None
    sequence = Market.objects.get(pk=market_id).sequence
    assert f'data-sequence="{sequence}"' in section(whole, "live-status")

    assert desk_updates(market_id, [viewer]) == [None]

    tick(market_id)
    (plain,) = desk_updates(market_id, [viewer])
    assert plain is not None
    assert f'data-sequence="{sequence + 1}"' in section(plain, "live-status")


@websockets
def test_a_teachers_action_sends_the_markets_line_and_no_figures(
    ticking: tuple[int, Viewer],
) -> None:
    """Play, speed, trading closed, the leaderboard: the market's line and the panels
    (a practice desk has none), no table or figure; what the desk noted as shown stands."""
    market_id, viewer = ticking
    desk_updates(market_id, [viewer], full=True)
    assert viewer.seen.sequence == 1 and viewer.seen.chart is not None
    Market.objects.filter(pk=market_id).update(trading_open=False)
    seen = (viewer.seen.sequence, dict(viewer.seen.figures), viewer.seen.chart)

    (push,) = desk_updates(market_id, [viewer], room=True)

    assert push is not None and oob(push, "live-status")
    assert "<strong>trading closed</strong>" in section(push, "live-status")
    for element_id in ("balances", "positions", "chart", "history", "leverage", "mark-display"):
        assert f'id="{element_id}"' not in push, element_id
    assert (viewer.seen.sequence, viewer.seen.figures, viewer.seen.chart) == seen
    # With ledger entries (a teacher's reset), the desk is drawn whole.
    (whole,) = desk_updates(market_id, [viewer], room=True, history=True)
    assert whole is not None and oob(whole, "balances") and oob(whole, "history")


@websockets
def test_a_teachers_action_before_the_tick_is_drawn_does_not_announce_that_tick(
    ticking: tuple[int, Viewer],
) -> None:
    """A teacher's action drawn after tick 2 committed but before the desk was sent tick
    2: the market's line keeps the tick the desk shows (1), so tick 2 arrives once."""
    market_id, viewer = ticking
    desk_updates(market_id, [viewer], full=True)
    assert viewer.seen.sequence == 1
    tick(market_id)
    Market.objects.filter(pk=market_id).update(trading_open=False)

    (push,) = desk_updates(market_id, [viewer], room=True)
    (plain,) = desk_updates(market_id, [viewer])

    assert push is not None and plain is not None
    assert 'data-sequence="1"' in section(push, "live-status")
    assert "<strong>trading closed</strong>" in section(push, "live-status")
    assert 'data-sequence="2"' in section(plain, "live-status")


@websockets
def test_a_class_re_ranked_draws_its_panels_over_the_next_ticks(
    ticking: tuple[int, Viewer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tick that loads the panels of many desks (a class re-ranked every fifth tick)
    draws each desk's panel on its account's turn among the next ``PANEL_SPREAD`` ticks:
    every desk once, a share on each tick, none left over."""
    market_id, _ = ticking
    market = Market.objects.get(pk=market_id)
    viewers = [Viewer(account_on(market).pk, "XBTUSDT", Seen()) for _ in range(render.MANY + 5)]
    panel = ("live/live.html#connection", PanelView({"live_ok": False}, ticks=True))

    def load(market: Market, ids: list[int], *, fresh: bool) -> dict[int, list[object]]:
        return {i: [panel] for i in ids} if fresh or market.sequence % 5 == 0 else {}

    monkeypatch.setattr(render, "load_panels", load)
    desk_updates(market_id, viewers, full=True)
    while Market.objects.get(pk=market_id).sequence % 5 != 4:
        tick(market_id)
        desk_updates(market_id, viewers)

    drawn: list[list[int]] = []
    for _ in range(render.PANEL_SPREAD + 1):
        tick(market_id)
        pushes = desk_updates(market_id, viewers)
        drawn.append(
            [
                v.account_id
                for v, p in zip(viewers, pushes, strict=True)
                if p and "live-connection" in p
            ]
        )

    assert sorted(a for turn in drawn for a in turn) == sorted(v.account_id for v in viewers)
    assert all(0 < len(turn) < len(viewers) for turn in drawn[: render.PANEL_SPREAD])
    assert drawn[render.PANEL_SPREAD] == []  # none left over
    assert all(not v.seen.panels for v in viewers)


@websockets
def test_a_realisation_for_a_class_sends_the_tables_at_once_and_the_histories_in_turn(
    ticking: tuple[int, Viewer],
) -> None:
    """The balances and positions a realisation moved go to every desk at once; each
    desk's history (the new ledger entries) on its account's turn among the next
    ``PANEL_SPREAD`` ticks: every desk once, none left over."""
    market_id, first = ticking
    market = Market.objects.get(pk=market_id)
    viewers = [first] + [
        Viewer(account_on(market).pk, "XBTUSDT", Seen()) for _ in range(render.MANY + 4)
    ]
    desk_updates(market_id, viewers, full=True)
    tick(market_id)

    pushes = desk_updates(market_id, viewers, history=True)  # a realisation tick's
    assert all(p and oob(p, "balances") and oob(p, "positions") for p in pushes)
    drawn = [[v.account_id for v, p in zip(viewers, pushes, strict=True) if 'id="history"' in p]]
    for _ in range(render.PANEL_SPREAD):
        tick(market_id)
        pushes = desk_updates(market_id, viewers)
        assert not any(p and 'id="balances"' in p for p in pushes)
        drawn.append(
            [
                v.account_id
                for v, p in zip(viewers, pushes, strict=True)
                if p and 'id="history"' in p
            ]
        )

    assert sorted(a for turn in drawn for a in turn) == sorted(v.account_id for v in viewers)
    assert 0 < len(drawn[0]) < len(viewers)
    assert drawn[-1] == []  # none left over
    assert all(v.seen.history is None for v in viewers)


@websockets
def test_a_realisation_redraws_the_tables_of_the_accounts_it_booked_only(
    ticking: tuple[int, Viewer],
) -> None:
    """A realisation books only cross positions' profit: the tick says whose ledgers it
    wrote, and the other desks get a plain tick's figures."""
    market_id, mine = ticking
    other = Viewer(account_on(Market.objects.get(pk=market_id)).pk, "XBTUSDT", Seen())
    desk_updates(market_id, [mine, other], full=True)
    tick(market_id)

    booked, plain = desk_updates(market_id, [mine, other], history=True, booked=[mine.account_id])

    assert booked is not None and oob(booked, "balances") and oob(booked, "history")
    assert plain is not None and oob(plain, "live-status")
    assert 'id="balances"' not in plain and 'id="history"' not in plain
    # Not said whose (a mark set by hand): every desk's tables.
    tick(market_id)
    assert all(
        p and oob(p, "balances") for p in desk_updates(market_id, [mine, other], history=True)
    )


class _Desk:
    """A desk socket as the feed sees it, recording what it is sent."""

    def __init__(self) -> None:
        self.channel_name = "desk-1"
        self.generation = 0
        self.viewer = Viewer(1, "XBTUSDT", Seen(figures={"pos-XBTUSDT-mark": D(60000)}))
        self.viewer.seen.chart = ((D(1), D(2)), (), ())
        self.sent: list[str | None] = []

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.sent.append(text_data)


@pytest.mark.django_db
async def test_a_push_drawn_before_the_desks_own_news_is_not_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The desk was sent whole sections while the feed drew the tick: the older push is
    dropped, and the next tick sends every figure and the whole chart again."""
    desk = _Desk()
    market_feed = feed.MarketFeed(market_id=1)
    market_feed.desks[desk.channel_name] = desk

    def draw(*args: object) -> list[str | None]:
        desk.generation += 1  # the desk's own push went out meanwhile
        return ["<p>an older tick</p>"]

    monkeypatch.setattr(feed, "_draw", draw)
    await market_feed.deliver({"type": "market.tick", "sequence": 3})

    assert desk.sent == []
    assert desk.viewer.seen.figures == {}
    assert desk.viewer.seen.chart is None

    # Drawn without news in between, a push goes out.
    monkeypatch.setattr(feed, "_draw", lambda *args: ["<p>tick 4</p>"])
    await market_feed.deliver({"type": "market.tick", "sequence": 4})
    assert desk.sent == ["<p>tick 4</p>"]


# ------------------------------------------------------------- the channel layer away


class QuietDesk:
    """A desk socket as a feed sees it, keeping what it is sent."""

    def __init__(self, name: str, account_id: int) -> None:
        self.channel_name = name
        self.viewer = Viewer(account_id, "XBTUSDT", Seen())
        self.generation = 0
        self.sent: list[str] = []

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.sent.append(text_data or "")


@pytest.fixture
def snapshots(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The feed's passes drawing whole sections, each desk's push standing in for by the
    kind of pass ("snapshot", "news", "rest"); records the accounts of each pass."""
    passes: list[list[int]] = []

    def draw(market_id: int, viewers: list[Viewer], kind: str) -> list[str | None]:
        passes.append([v.account_id for v in viewers])
        return [kind for _ in viewers]

    monkeypatch.setattr(feed, "_draw_whole", draw)
    return passes


def notice(html: str) -> str:
    """'shown' or 'hidden', for the live-connection notice a feed sent."""
    found = re.search(r'<p id="live-connection"[^>]*>', html)
    assert found, html
    return "hidden" if " hidden" in found.group(0) else "shown"


@pytest.mark.django_db  # drawing runs through database_sync_to_async, which checks connections
async def test_a_feed_tells_its_desks_when_the_layer_fails_and_snapshots_them_when_back(
    monkeypatch: pytest.MonkeyPatch, snapshots: list[list[int]]
) -> None:
    market = feed.MarketFeed(1)
    await market.start()
    desks = [QuietDesk("a", 1), QuietDesk("b", 2)]
    market.desks = {d.channel_name: d for d in desks}
    try:
        await market.beat()  # the message comes back: nothing to say
        assert market.live and [d.sent for d in desks] == [[], []]

        real_send = market.layer.send

        async def refused(channel: str, message: dict[str, object]) -> None:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

        monkeypatch.setattr(market.layer, "send", refused)
        await market.beat()
        assert not market.live
        assert [[notice(m) for m in d.sent] for d in desks] == [["shown"], ["shown"]]
        assert "Live updates are unavailable, retrying" in desks[0].sent[0]
        await market.beat()  # still away: told once, not on every heartbeat
        assert [len(d.sent) for d in desks] == [1, 1]

        monkeypatch.setattr(market.layer, "send", real_send)
        await market.beat()
        assert market.live
        for desk in desks:  # caught up with a snapshot, then the notice hidden
            assert desk.sent[1] == "snapshot"
            assert notice(desk.sent[2]) == "hidden"
            assert desk.generation == 1
        assert snapshots == [[1, 2]]  # both desks drawn in one pass
    finally:
        await market.stop()


async def test_a_heartbeat_that_never_comes_back_counts_as_the_layer_away(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sent, but not heard back (a subscription lost): away too, after the timeout."""
    monkeypatch.setattr(feed, "HEARTBEAT_TIMEOUT", 0.05)
    market = feed.MarketFeed(2)
    await market.start()
    desk = QuietDesk("a", 1)
    market.desks = {"a": desk}

    async def lost(channel: str, message: dict[str, object]) -> None:
        return None

    monkeypatch.setattr(market.layer, "send", lost)
    try:
        await market.beat()
        assert not market.live
        assert [notice(m) for m in desk.sent] == ["shown"]
    finally:
        await market.stop()


async def test_a_feed_busy_drawing_a_tick_still_answers_its_heartbeat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A tick for many desks takes a while to draw; the heartbeat must not wait behind it,
    or a busy feed is taken for a Redis outage and snapshots every desk (a storm)."""
    monkeypatch.setattr(feed, "HEARTBEAT_TIMEOUT", 0.2)
    drawing = asyncio.Event()
    go_on = asyncio.Event()

    async def slow(self: feed.MarketFeed, event: dict[str, object]) -> None:
        drawing.set()
        await go_on.wait()  # still drawing, well past the heartbeat's timeout

    monkeypatch.setattr(feed.MarketFeed, "deliver", slow)
    market = feed.MarketFeed(4)
    await market.start()
    desk = QuietDesk("a", 1)
    market.desks = {"a": desk}
    try:
        await market.layer.group_send(market_group(4), {"type": "market.tick", "sequence": 1})
        await asyncio.wait_for(drawing.wait(), 2)

        await market.beat()

        assert market.live
        assert desk.sent == []  # no "unavailable" notice, no snapshot
    finally:
        go_on.set()
        await market.stop()


@pytest.mark.django_db  # drawing runs through database_sync_to_async, which checks connections
async def test_ticks_missed_on_the_way_send_each_desk_a_snapshot_instead(
    monkeypatch: pytest.MonkeyPatch, snapshots: list[list[int]]
) -> None:
    drawn: list[int] = []

    def draw(
        market_id: int, viewers: list[Viewer], event: dict[str, object], watched: bool
    ) -> list[str | None]:
        drawn.append(int(str(event["sequence"])))
        return [f"tick {event['sequence']}" for _ in viewers]

    monkeypatch.setattr(feed, "_draw", draw)
    market = feed.MarketFeed(3)
    desk = QuietDesk("a", 1)
    market.desks = {"a": desk}
    for sequence in (5, 6, 9, 10, 10):  # 7 and 8 lost; the second 10 is a teacher's action
        await market.deliver({"type": "market.tick", "sequence": sequence})

    assert drawn == [5, 6, 10, 10]
    assert desk.sent[:3] == ["tick 5", "tick 6", "snapshot"]
    assert notice(desk.sent[3]) == "hidden"
    assert desk.sent[4:] == ["tick 10", "tick 10"]


async def test_a_feed_that_cannot_start_is_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    async def away(self: feed.MarketFeed) -> None:
        raise ConnectionError("Connection refused.")

    real_start = feed.MarketFeed.start
    monkeypatch.setattr(feed.MarketFeed, "start", away)
    with pytest.raises(ConnectionError):
        await feed.watch(4, QuietDesk("a", 1))
    assert feed.serving(4) == 0

    monkeypatch.setattr(feed.MarketFeed, "start", real_start)
    await feed.watch(4, QuietDesk("a", 1))  # Redis back: the next desk starts a feed
    assert feed.serving(4) == 1
    started = feed._registry()[4]
    assert started.task is not None and not started.task.done()  # listening, not half-made
    await feed.leave(4, QuietDesk("a", 1))
    assert feed.serving(4) == 0


# ------------------------------------------------------------ drawn once per figure set


@websockets
def test_desks_with_the_same_figures_are_computed_and_drawn_once_per_tick(
    ticking: tuple[int, Viewer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Accounts holding the same wallets and positions (a class that traded alike) have
    their figures computed once a tick and their moved figures drawn once for all the
    desks showing the same; a desk showing something else gets its own drawing, and no
    desk's record of what it shows changes another's."""
    market_id, first = ticking
    market = Market.objects.get(pk=market_id)
    alike = []  # (opened at 60,600: the first one's position was opened at 60,000)
    for _ in range(4):
        account = account_on(market)
        open_position(account, "XBTUSDT", BUY, "0.1", ISOLATED, "10")
        alike.append(Viewer(account.pk, "XBTUSDT", Seen()))
    empty = [Viewer(account_on(market).pk, "XBTUSDT", Seen()) for _ in range(2)]
    viewers = [first, *alike, *empty]
    desk_updates(market_id, viewers, full=True)
    computed: list[int] = []
    drawn: list[int] = []
    account_figures, tick_figures = render.engine.account_figures, render.tick_figures

    def count_figures(state: object, prices: object) -> object:
        computed.append(1)
        return account_figures(state, prices)  # type: ignore[arg-type]

    def count_drawing(figures: object, sent: dict[str, object]) -> str:
        drawn.append(1)
        return tick_figures(figures, sent)  # type: ignore[arg-type]

    monkeypatch.setattr(render.engine, "account_figures", count_figures)
    monkeypatch.setattr(render, "tick_figures", count_drawing)
    schedule_gap(market, "XBTUSDT", "1")  # 61,206
    tick(market_id)
    pushes = desk_updates(market_id, viewers)

    # The first account, the four alike, the two without a position.
    assert len(computed) == 3
    assert len(drawn) == 3
    mark = '<span id="pos-XBTUSDT-mark" hx-swap-oob="true">61,206</span>'
    assert all(p is not None and mark in p for p in pushes[:5])
    assert len(set(pushes[1:5])) == 1
    assert pushes[0] != pushes[1]  # (another entry: another unrealised PnL)
    assert all(p is not None and "pos-XBTUSDT" not in p for p in pushes[5:])

    # One desk was sent whole sections meanwhile: it shows every figure anew, the others
    # only those the next tick moved; what the others noted is left as it was.
    alike[1].seen.figures = {}
    noted = dict(alike[0].seen.figures)
    computed.clear()
    drawn.clear()
    schedule_gap(market, "XBTUSDT", "1")
    tick(market_id)
    again = desk_updates(market_id, viewers)

    assert len(computed) == 3
    # The first; the three alike still showing alike; the one afresh; the empty ones.
    assert len(drawn) == 4
    fresh = again[2]
    assert fresh is not None and "pos-XBTUSDT-im" in fresh  # unmoved, sent afresh
    assert all(p is not None and "pos-XBTUSDT-im" not in p for p in (again[1], *again[3:5]))
    assert all(p is not None and "pos-XBTUSDT-mark" in p for p in again[:5])
    assert noted != alike[0].seen.figures  # replaced by the new tick's ...
    assert alike[0].seen.figures == alike[1].seen.figures  # ... the same record for all
    assert alike[0].seen.figures["pos-XBTUSDT-mark"] == D("61818.0")
