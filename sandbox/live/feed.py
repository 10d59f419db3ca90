"""Market feeds: one per market in each server process, for all the desks it serves.

A tick is announced once to the market's channel-layer group. Rather than every desk
socket joining that group (one message, one database read and one render per learner),
the process's feed for the market joins it once, draws every desk it serves in one pass
(:func:`sandbox.live.render.desk_updates`) and hands each socket its ready fragment.
With several server processes, each has its own feed and serves its own learners.

Whole sections are drawn by the feed too, for many desks at once: the snapshot of a desk
that just connected (or asked for one), and the account's own news (a liquidation or a
stop that fired, which the tick's message lists). A desk asks (:func:`request`) and the
feed draws every desk waiting in one pass between ticks (snapshots ``BATCH`` at a time):
a crash that liquidates a whole class, or a class connecting at the bell, costs a few
bulk reads and one render per desk, not a round of queries each. The news goes in two
pushes: at once, for every account it reached, the notice and the tables it changed; then
the rest of each desk (chart, history, slider, panel), ``BATCH`` at a time. A desk waiting for
whole sections is left out of a tick's pass (its sections show that tick anyway), and a
desk that was sent whole sections is skipped for a tick drawn before them, so it never
goes back to older figures.

The drawing runs in threads of its own (:func:`drawing`), apart from the thread that
Channels gives every consumer's database work, and from the ticker's: a long drawing
never holds up a tick, a socket's handshake, or the pages.

When the channel layer goes away (Redis stopped), the desks' sockets stay open but hear
nothing: each feed checks every ``HEARTBEAT_SECONDS`` that a message it sends itself comes
back, tells its desks "live updates are unavailable, retrying" when it does not, and sends
each a full snapshot when it does again (channels-redis's client subscribes again by
itself once Redis is back). A tick whose sequence number skips some (missed in a short
outage) also sends snapshots rather than changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from channels.layers import get_channel_layer
from django.conf import settings
from django.template.loader import render_to_string

from sandbox.desk.broadcast import market_group
from sandbox.desk.screen import REDRAWS, Event

from . import services
from .render import Viewer, desk_updates
from .threads import Threads, run_in

log = logging.getLogger(__name__)

WATCH_EVERY = 5  # ticks between "still watched" marks on a practice market
HEARTBEAT_SECONDS = 2.0  # how often a feed checks that the channel layer carries messages
HEARTBEAT_TIMEOUT = 2.0  # how long it waits for its own message to come back
HEARTBEAT = "feed.heartbeat"
INBOX = 100  # ticks heard and not yet drawn, at most (the channel layer's own capacity)
BATCH = 100  # desks drawn whole in one pass, at most (ticks heard meanwhile go between)

T = TypeVar("T")

_threads: Threads | None = None


def drawing(function: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """``function`` made awaitable, run in the process's drawing threads: not in the one
    thread Channels gives every consumer's database work (connects, the boards), nor in
    the ticker's, so neither waits behind a long drawing (with SQLite's WAL a reader never
    waits for the tick's writer either)."""
    global _threads
    if _threads is None:
        _threads = Threads(int(settings.SANDBOX_DRAW_THREADS), "draw")
    return run_in(_threads, function)


class Desk(Protocol):
    """What a feed needs of a desk socket."""

    channel_name: str
    viewer: Viewer
    generation: int  # moves on whenever the desk is sent whole sections

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None: ...


def connection_notice(live: bool) -> str:
    """The desk's "live updates are unavailable, retrying" line, shown or hidden."""
    return render_to_string("live/live.html#connection", {"live_ok": live, "oob": True})


def _draw(
    market_id: int, viewers: list[Viewer], event: dict[str, Any], watched: bool
) -> list[str | None]:
    """A tick's push for each viewer (``watched``: also mark a practice market watched)."""
    if watched:
        services.market_watched(market_id=market_id)
    booked = event.get("booked")  # the accounts whose ledgers the tick wrote, if it says
    return desk_updates(
        market_id,
        viewers,
        history=bool(event.get("ledger")),
        booked=[int(b) for b in booked] if isinstance(booked, list) else None,
        room=bool(event.get("room")),
    )


#: The passes that draw desks whole: a snapshot; the account's own news, first what the
#: learner must see at once (the notice and the tables), then the rest of the desk.
SNAPSHOT, NEWS, REST = "snapshot", "news", "rest"


def _draw_whole(market_id: int, viewers: list[Viewer], kind: str) -> list[str | None]:
    """Whole sections for each viewer: a snapshot, or their own news (first or rest)."""
    if kind == SNAPSHOT:
        return desk_updates(market_id, viewers, full=True)
    if kind == NEWS:
        return desk_updates(market_id, viewers, news=True)
    return desk_updates(market_id, viewers, own=True, leave_out=REDRAWS[Event.NEWS])


class MarketFeed:
    def __init__(self, market_id: int) -> None:
        self.market_id = market_id
        self.layer = get_channel_layer()
        self.desks: dict[str, Desk] = {}
        self.channel = ""
        self.task: asyncio.Task[None] | None = None
        self.worker: asyncio.Task[None] | None = None
        self.watchdog: asyncio.Task[None] | None = None
        # What the feed has heard and not yet drawn. The drawing runs apart from the
        # listening, so a heartbeat is answered even while a tick for many desks is drawn
        # (judged behind that drawing, a busy feed would be taken for a Redis outage).
        self.inbox: deque[dict[str, Any]] = deque(maxlen=INBOX)
        self.heard = asyncio.Event()
        # Desks waiting for whole sections, by channel; of which those wanting a snapshot;
        # and the desks sent their news that wait for the rest of it.
        self.wanted: dict[str, Desk] = {}
        self.full: set[str] = set()
        self.rest: dict[str, Desk] = {}
        self.drawing = asyncio.Lock()  # one pass at a time: a desk's pushes keep their order
        self.ticks = 0
        self.keep_ticking = False  # a practice market: marked watched while desks watch it
        self.live = True  # whether the channel layer carried the last heartbeat
        self.pong = asyncio.Event()
        self.sequence: int | None = None  # the last tick heard

    async def start(self) -> None:
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(market_group(self.market_id), self.channel)
        loop = asyncio.get_running_loop()
        self.task = loop.create_task(self.listen())
        self.worker = loop.create_task(self.work())
        self.watchdog = loop.create_task(self.check())

    async def stop(self) -> None:
        for task in (self.task, self.worker, self.watchdog):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        try:
            await self.layer.group_discard(market_group(self.market_id), self.channel)
        except Exception as error:  # the channel layer away: nothing left to undo there
            log.warning("feed of market %s left its group uncleanly: %r", self.market_id, error)

    async def listen(self) -> None:
        while True:
            event = await self.layer.receive(self.channel)
            if event.get("type") == HEARTBEAT:
                self.pong.set()
                continue
            # (Full, the oldest is dropped: the next tick's sequence shows the gap, and the
            # desks are sent snapshots.)
            self.inbox.append(event)
            self.heard.set()

    def want(self, desk: Desk, *, full: bool) -> None:
        """Draw ``desk`` whole sections soon, with the other desks waiting: a snapshot
        (``full``) or its own news. A request while one waits is answered by it (a snapshot
        shows the news too)."""
        self.wanted[desk.channel_name] = desk
        if full:
            self.full.add(desk.channel_name)
        self.heard.set()

    async def work(self) -> None:
        """Draw and send what the feed heard, in order; after each tick, one pass of the
        desks waiting for whole sections (or of the rest of the news already sent)."""
        while True:
            await self.heard.wait()
            self.heard.clear()
            while self.inbox or self.wanted or self.rest:
                # A tick, then one pass of whole sections: neither starves the other when
                # ticks come as fast as they are drawn.
                try:
                    if self.inbox:
                        await self.deliver(self.inbox.popleft())
                    if self.wanted:
                        await self.draw_wanted()
                    elif self.rest:
                        await self.draw_rest()
                except Exception:  # one bad tick must not stop the feed
                    log.exception("feed of market %s failed", self.market_id)

    async def draw_wanted(self) -> None:
        """Whole sections for the desks waiting: snapshots (``BATCH`` at most) in one pass;
        the accounts' news in another, every one of them at once (a short push each), the
        rest of their desks queued for the passes after."""
        async with self.drawing:
            full = [d for name, d in self.wanted.items() if name in self.full][:BATCH]
            news = [d for name, d in self.wanted.items() if name not in self.full]
            for desk in full:
                del self.wanted[desk.channel_name]
                self.full.discard(desk.channel_name)
                self.rest.pop(desk.channel_name, None)  # (a snapshot is the whole desk)
            for desk in news:
                del self.wanted[desk.channel_name]
                self.rest[desk.channel_name] = desk
            await self.draw(full, SNAPSHOT)
            await self.draw(news, NEWS)
        if self.rest:
            self.heard.set()

    async def draw_rest(self) -> None:
        """The rest of the desks of accounts sent their news (``BATCH`` at most)."""
        async with self.drawing:
            rest = list(self.rest.values())[:BATCH]
            for desk in rest:
                del self.rest[desk.channel_name]
            await self.draw(rest, REST)

    async def draw(self, desks: list[Desk], kind: str) -> None:
        """One pass drawing ``desks`` whole (``kind``), and each sent its push."""
        desks = [d for d in desks if d.channel_name in self.desks]
        if not desks:
            return
        for desk in desks:
            desk.generation += 1
        updates = await drawing(_draw_whole)(self.market_id, [d.viewer for d in desks], kind)
        await self.hand_out(desks, updates)

    async def hand_out(self, desks: list[Desk], updates: list[str | None]) -> None:
        for desk, html in zip(desks, updates, strict=True):
            if html is None or desk.channel_name not in self.desks:
                continue  # shows this tick already, or gone
            try:
                await desk.send(text_data=html)
            except Exception:  # a socket closing as we send must not stop the others
                log.debug("desk %s went away", desk.channel_name)

    async def heartbeat(self) -> bool:
        """Whether a message sent to this feed's own channel comes back in time."""
        self.pong.clear()
        try:
            async with asyncio.timeout(HEARTBEAT_TIMEOUT):
                await self.layer.send(self.channel, {"type": HEARTBEAT})
                await self.pong.wait()
        except Exception:  # refused, or no answer: Redis is away
            return False
        return True

    async def check(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            await self.beat()

    async def beat(self) -> None:
        """One heartbeat; when the answer changes, tell the desks."""
        live = await self.heartbeat()
        if live == self.live:
            return
        self.live = live
        if live:
            log.info("live updates of market %s are back: sending snapshots", self.market_id)
            self.sequence = None  # the snapshots show the latest tick, whichever it is
        else:
            log.warning("live updates of market %s are unavailable; retrying", self.market_id)
        try:
            await self.tell(live)
        except Exception:
            log.exception("feed of market %s could not tell its desks", self.market_id)

    async def tell(self, live: bool) -> None:
        """Show or hide the desks' notice; back live, each desk catches up with a snapshot
        (drawn for all of them in one pass) before the notice goes."""
        notice = connection_notice(live)
        desks = list(self.desks.values())
        if live:
            for desk in desks:
                self.want(desk, full=True)
            while self.full:
                await self.draw_wanted()
        for desk in desks:
            try:
                await desk.send(text_data=notice)
            except Exception:  # a socket closing as we send must not stop the others
                log.debug("desk %s went away", desk.channel_name)

    async def deliver(self, event: dict[str, Any]) -> None:
        if event.get("type") != "market.tick":
            return
        sequence = event.get("sequence")
        missed = (
            isinstance(sequence, int) and self.sequence is not None and sequence > self.sequence + 1
        )
        if isinstance(sequence, int):
            self.sequence = max(sequence, self.sequence or 0)
        if missed:  # ticks lost on the way (the channel layer was away): start afresh
            log.info("feed of market %s missed ticks: sending snapshots", self.market_id)
            await self.tell(True)
            return
        # The accounts the tick (or a mark set by hand) liquidated or whose stop fired:
        # whole sections, drawn together once the tick is out.
        changed = set(event.get("changed") or ())
        for desk in self.desks.values():
            if desk.viewer.account_id in changed:
                self.want(desk, full=False)
        desks = [
            d
            for d in self.desks.values()
            if d.viewer.account_id not in changed and d.channel_name not in self.wanted
        ]
        if not desks:
            return
        self.ticks += 1
        watched = self.keep_ticking and self.ticks % WATCH_EVERY == 0
        async with self.drawing:
            drawn_at = [d.generation for d in desks]
            updates = await drawing(_draw)(
                self.market_id, [d.viewer for d in desks], event, watched
            )
            sent = []
            for desk, generation, html in zip(desks, drawn_at, updates, strict=True):
                if desk.generation != generation:
                    # Sent whole sections meanwhile: this push is not sent, so what the
                    # drawing noted as shown is not; the next tick sends every figure and
                    # the chart.
                    desk.viewer.seen.figures = {}
                    desk.viewer.seen.chart = None
                    continue
                sent.append((desk, html))
            await self.hand_out([d for d, _ in sent], [h for _, h in sent])


# One registry per event loop (a server has one; tests start a loop per test).
_feeds: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, MarketFeed]] = (
    weakref.WeakKeyDictionary()
)


def _registry() -> dict[int, MarketFeed]:
    return _feeds.setdefault(asyncio.get_running_loop(), {})


class Startable(Protocol):
    """A feed: started once for all it serves, stopped when the last leaves."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


FeedT = TypeVar("FeedT", bound=Startable)
KeyT = TypeVar("KeyT")


async def started(feeds: dict[KeyT, FeedT], key: KeyT, make: Callable[[], FeedT]) -> FeedT:
    """The process's feed for ``key`` in ``feeds``, made and started now if there is none
    (one that cannot start, the channel layer away, is not kept half-started)."""
    feed = feeds.get(key)
    if feed is None:
        feed = feeds[key] = make()
        try:
            await feed.start()
        except BaseException:
            if feeds.get(key) is feed:
                del feeds[key]
            await feed.stop()
            raise
    return feed


async def watch(market_id: int, desk: Desk, *, keep_ticking: bool = False) -> None:
    """Serve ``desk`` the ticks of its market (starting the process's feed if needed);
    ``keep_ticking``: a practice market, which ticks only while someone watches it."""
    feed = await started(_registry(), market_id, lambda: MarketFeed(market_id))
    feed.keep_ticking = feed.keep_ticking or keep_ticking
    feed.desks[desk.channel_name] = desk


def request(market_id: int, desk: Desk, *, full: bool) -> None:
    """Draw ``desk`` whole sections soon (a snapshot, or its own news), with the other
    desks of its market waiting for theirs; nothing if the desk is not served."""
    feed = _registry().get(market_id)
    if feed is not None and desk.channel_name in feed.desks:
        feed.want(desk, full=full)


async def leave(market_id: int, desk: Desk) -> None:
    feeds = _registry()
    feed = feeds.get(market_id)
    if feed is None:
        return
    feed.desks.pop(desk.channel_name, None)
    feed.wanted.pop(desk.channel_name, None)
    feed.full.discard(desk.channel_name)
    feed.rest.pop(desk.channel_name, None)
    if not feed.desks:
        del feeds[market_id]
        await feed.stop()


def serving(market_id: int) -> int:
    """How many desks this process's feed of the market serves (0 without a feed)."""
    feed = _registry().get(market_id)
    return len(feed.desks) if feed else 0
