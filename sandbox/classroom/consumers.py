"""The class board, live: the room's teacher sees every learner's figures on each tick;
and the room's projector, drawn once per tick for every projector watching it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import weakref
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.models import AnonymousUser
from django.template.loader import render_to_string

from sandbox.desk.broadcast import board_group, market_group
from sandbox.desk.roles import is_teacher
from sandbox.live.consumers import NOT_FOUND, TRY_AGAIN_LATER, FragmentConsumer, closing_notice
from sandbox.live.feed import drawing, started

from . import projector
from .models import Room

log = logging.getLogger(__name__)

REFUSED = (
    '<p id="board-problem" hx-swap-oob="true" class="notice error" role="alert">'
    "That message was refused: the board only accepts a request for a fresh snapshot.</p>"
)


def _room(scope: dict[str, Any], code: str) -> Room | None:
    user = scope.get("user")
    if user is None or not is_teacher(user):
        return None
    room = Room.objects.select_related("market").filter(code=code.upper()).first()
    return room if room is not None and room.teacher_id == user.pk else None


def _render(room_id: int) -> str:
    from .views import board_context

    room = Room.objects.select_related("market").get(pk=room_id)
    context = board_context(room)
    context["oob"] = True
    return render_to_string("classroom/panel.html#board", context)


class BoardConsumer(FragmentConsumer):
    refused = REFUSED

    async def connect(self) -> None:
        code = str(self.scope["url_route"]["kwargs"]["code"])
        room = await database_sync_to_async(_room)(self.scope, code)
        if room is None:
            await self.close(code=4403)
            return
        self.room_id = room.pk
        groups = market_group(room.market_id), board_group(room.market_id)
        await self.join(*groups, owner=f"teacher:{room.teacher_id}")
        await self.push()

    async def snapshot(self) -> None:
        await self.push()

    async def push(self) -> None:
        await self.draw_and_send(lambda: _render(self.room_id))

    async def market_tick(self, event: dict[str, Any]) -> None:
        await self.push()

    async def board_refresh(self, event: dict[str, Any]) -> None:
        await self.push()

    async def account_liquidated(self, event: dict[str, Any]) -> None:
        """Not sent to the board's groups; present so a stray message is harmless."""


# ------------------------------------------------------------------------ the projector

PROJECTOR_REFUSED = (
    '<p id="request-problem" hx-swap-oob="true" class="notice error" role="alert">'
    "That message was refused: the projector only accepts a request for a fresh snapshot.</p>"
)
LINK_REVOKED = closing_notice(
    "This read-only link no longer works: the teacher revoked it or made a new one. "
    "The projector stopped; open the new link to see the class again."
)
PROJECTOR_EVENTS = ("market.tick", "board.refresh")
RETRY_SECONDS = 1.0  # how long a projector feed waits after the channel layer failed it

# Each drawing of a projector's parts is stamped when it starts: a projector never shows
# a drawing older than one it already shows (a snapshot and a tick's push may cross).
_stamps = itertools.count(1)


def _projector_room(scope: dict[str, Any], code: str, key: str | None) -> Room | None:
    if key is None:
        return projector.room_for_teacher(scope.get("user") or AnonymousUser(), code)
    return projector.room_for_key(code, key)


def _query_symbol(scope: dict[str, Any]) -> str:
    query = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"))
    return (query.get("symbol") or [""])[0][:20]


class ProjectorFeed:
    """What the projectors of one room and symbol in this process hear: the room market's
    ticks and the class's changes, drawn once for all of them (however many ticks came
    while the last drawing was made: the projector shows the latest, not every one), in
    the live feeds' drawing threads (never Channels' one database thread, which the
    pages' sockets connect through)."""

    def __init__(self, room_id: int, market_id: int, symbol: str) -> None:
        self.room_id = room_id
        self.market_id = market_id
        self.symbol = symbol
        self.layer = get_channel_layer()
        self.screens: dict[str, ProjectorConsumer] = {}
        self.channel = ""
        self.heard = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.channel = await self.layer.new_channel()
        for group in (market_group(self.market_id), board_group(self.market_id)):
            await self.layer.group_add(group, self.channel)
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self.listen()), loop.create_task(self.work())]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for group in (market_group(self.market_id), board_group(self.market_id)):
            try:
                await self.layer.group_discard(group, self.channel)
            except Exception as error:  # the channel layer away: its entries expire
                log.warning("projector feed left %s uncleanly: %r", group, error)

    async def listen(self) -> None:
        while True:
            try:
                event = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # Redis away: try again (it subscribes again)
                log.warning("projector feed of room %s not hearing: %r", self.room_id, error)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if event.get("type") in PROJECTOR_EVENTS:
                self.heard.set()

    async def work(self) -> None:
        while True:
            await self.heard.wait()
            self.heard.clear()
            stamp = next(_stamps)
            try:
                drawn = await drawing(projector.live_parts)(self.room_id, self.symbol)
            except Exception:  # one bad drawing must not stop the feed
                log.exception("projector of room %s not drawn", self.room_id)
                continue
            for screen in list(self.screens.values()):
                try:
                    await screen.deliver(stamp, drawn)
                except Exception:  # a socket closing as we send must not stop the others
                    log.debug("projector %s went away", screen.channel_name)


_projector_feeds: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[int, str], ProjectorFeed]
] = weakref.WeakKeyDictionary()


def _projector_registry() -> dict[tuple[int, str], ProjectorFeed]:
    return _projector_feeds.setdefault(asyncio.get_running_loop(), {})


async def projector_watch(screen: ProjectorConsumer) -> None:
    feed = await started(
        _projector_registry(),
        (screen.room_id, screen.symbol),
        lambda: ProjectorFeed(screen.room_id, screen.market_id, screen.symbol),
    )
    feed.screens[screen.channel_name] = screen


async def projector_leave(screen: ProjectorConsumer) -> None:
    feeds = _projector_registry()
    key = (screen.room_id, screen.symbol)
    feed = feeds.get(key)
    if feed is None:
        return
    feed.screens.pop(screen.channel_name, None)
    if not feed.screens:
        del feeds[key]
        await feed.stop()


def projector_feeds() -> dict[tuple[int, str], int]:
    """How many projectors each of this process's projector feeds serves."""
    return {key: len(feed.screens) for key, feed in _projector_registry().items()}


class ProjectorConsumer(FragmentConsumer):
    """A room's projector: the room's teacher (``/ws/rooms/<code>/projector/``) or the
    read-only link (``/ws/rooms/<code>/projector/<key>/``), for one symbol (``?symbol=``).
    Sent a snapshot on connect, then the room's :class:`ProjectorFeed`'s drawings."""

    refused = PROJECTOR_REFUSED
    room_id: int
    market_id: int
    symbol: str
    key: str | None = None  # the read-only link's key it was opened with
    watching = False

    async def connect(self) -> None:
        route = self.scope["url_route"]["kwargs"]
        code, key = str(route["code"]), route.get("key")
        room = await database_sync_to_async(_projector_room)(
            self.scope, code, None if key is None else str(key)
        )
        symbol = projector.room_symbol(room, _query_symbol(self.scope)) if room else None
        if room is None or symbol is None:
            await self.close(code=NOT_FOUND)
            return
        self.room_id, self.market_id, self.symbol = room.pk, room.market_id, symbol
        self.key = None if key is None else str(key)
        self.shown: dict[str, str] = {}
        self.stamp = 0
        owner = f"teacher:{room.teacher_id}" if key is None else f"projector:{room.pk}"
        await self.join(owner=owner)
        try:
            await projector_watch(self)
        except Exception as error:  # the channel layer away: the page retries
            log.warning("projector not fed (channel layer unavailable): %r", error)
            await self.close_with(None, TRY_AGAIN_LATER, "Live updates unavailable")
        self.watching = True
        await self.snapshot()

    async def disconnect(self, code: int) -> None:
        await super().disconnect(code)
        if self.watching:
            self.watching = False
            await projector_leave(self)

    async def snapshot(self) -> None:
        stamp = next(_stamps)
        drawn = await drawing(projector.live_parts)(self.room_id, self.symbol)
        await self.deliver(stamp, drawn, full=True)

    async def deliver(self, stamp: int, drawn: projector.Drawing, *, full: bool = False) -> None:
        """Send a drawing, unless this projector shows a later one already; a projector
        opened by a read-only link that no longer works is told so and closed instead."""
        if stamp <= self.stamp or self._closed:
            return
        self.stamp = stamp
        if self.key is not None and not drawn.opens(self.key):
            self._closed = True
            await self.send(text_data=LINK_REVOKED)
            await self.close(code=NOT_FOUND)
            return
        await self.send(text_data=projector.push_for(drawn.parts, self.shown, full=full))
