"""The desk's websocket: pushes each learner their own figures on every tick.

On connect (and reconnect) the learner gets a full snapshot; then, on each tick of their
market, the mark, their balances and positions, the chart, and (only when they change)
the margin-call alerts and liquidation notices. A learner receives only their own
figures: after the same ownership check as the pages, the socket is served by the
process's feed of their market (:mod:`sandbox.live.feed`), which draws every desk it
serves. Messages from the browser are limited to asking for a
snapshot; anything else is refused and changes nothing.

What one client may cost is bounded, on every socket of this base class (desk, board,
side by side):

- Snapshots: at most one is drawn at a time, at most one every ``SNAPSHOT_INTERVAL``
  seconds (the one sent on connect counts); requests meanwhile make one later snapshot.
- Messages: a socket sent more than ``FLOOD_MESSAGES`` in ``FLOOD_SECONDS`` is told so and
  closed (4429), and what it sent after is dropped unread; a message longer than
  ``MAX_MESSAGE`` characters is refused unread.
- Sockets: one account (a teacher, for the board) may hold ``SOCKETS_PER_ACCOUNT`` open in
  each server process; one more is told to close another tab, and closed (4429).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
import uuid
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

from sandbox.desk.accounts import account_for_scope
from sandbox.desk.models import Market
from sandbox.desk.selectors import market_instruments

from . import feed, services
from .render import Seen, Viewer

log = logging.getLogger(__name__)

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

SNAPSHOT_INTERVAL = 1.0  # seconds between two snapshots of one socket
FLOOD_MESSAGES = 20  # messages a socket may send ...
FLOOD_SECONDS = 10.0  # ... within this many seconds
MAX_MESSAGE = 256  # characters; {"type": "snapshot"} is 20
SOCKETS_PER_ACCOUNT = 8  # open sockets of one account, in one server process
TOO_MANY = 4429  # close code: too many messages, or too many sockets
NOT_FOUND = 4404
TRY_AGAIN_LATER = 1013  # the channel layer is away; the browser reconnects by itself

REFUSED = (
    '<p id="live-problem" hx-swap-oob="true" class="notice error" role="alert">'
    "That message was refused: the live desk only accepts a request for a fresh snapshot."
    "</p>"
)


def closing_notice(text: str) -> str:
    """A sentence shown in the page's problem box (every page has one) as a socket closes."""
    return (
        '<div id="request-problem" hx-swap-oob="true" class="notice error" role="alert">'
        f"{text}</div>"
    )


TOO_MANY_SOCKETS = closing_notice(
    "Too many open desks for this account: close another tab, then reload this page "
    "to see live prices here."
)
FLOODED = closing_notice(
    "The live updates stopped: this page sent the server too many messages at once. "
    "Reload the page to start them again."
)

# A monotonic clock in seconds (tests replace it to control time).
clock: Callable[[], float] = time.monotonic


# Open sockets per account, per event loop (a server has one; tests start a loop per test).
_open: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, set[str]]] = (
    weakref.WeakKeyDictionary()
)


def _sockets(owner: str) -> set[str]:
    return _open.setdefault(asyncio.get_running_loop(), {}).setdefault(owner, set())


def open_sockets(owner: str) -> int:
    """How many sockets ``owner`` holds open in this process."""
    return len(_open.get(asyncio.get_running_loop(), {}).get(owner, ()))


#: Markets that tick only while someone watches them (a learner's own).
KEEP_TICKING = (Market.Kind.PRACTICE, Market.Kind.TWINS)


def _authorise(scope: dict[str, Any], account_id: int, symbol: str) -> Market | None:
    """The account's market if this connection may watch it there, else None: the same
    few reads whatever the size of the class."""
    account = account_for_scope(scope, account_id)
    if account is None:
        return None
    market = account.market
    if symbol not in {row.symbol for row in market_instruments(market)}:
        return None
    if market.kind in KEEP_TICKING:  # (a classroom's market ticks whether watched or not)
        services.market_watched(market_id=market.pk)
    return market


class FragmentConsumer(AsyncWebsocketConsumer):
    """A socket that sends rendered fragments of its groups' news, and from the browser
    accepts only a request for a fresh snapshot; anything else is refused and changes
    nothing. Subclasses authorise in ``connect``, then ``join`` their groups (which ends
    the consumer if the account holds too many sockets), and draw through
    ``draw_and_send`` so that a snapshot and their own news are sent one at a time."""

    refused = REFUSED
    joined: list[str]
    owner = ""
    _drawing: asyncio.Lock | None = None
    _snapshot_task: asyncio.Task[None] | None = None
    _snapshot_wanted = False
    _last_snapshot = float("-inf")
    _received: deque[float] | None = None
    _closed = False

    async def join(self, *groups: str, owner: str) -> None:
        """Count this socket as one of ``owner``'s, join ``groups`` and accept; or, when
        the owner holds too many sockets already, say so and close (the consumer ends)."""
        sockets = _sockets(owner)
        if len(sockets) >= SOCKETS_PER_ACCOUNT:
            await self.accept()
            await self.close_with(TOO_MANY_SOCKETS, TOO_MANY, "Too many open desks")
        self.owner = owner
        sockets.add(self.channel_name)
        self.joined = []
        try:
            for group in groups:
                await self.channel_layer.group_add(group, self.channel_name)
                self.joined.append(group)
        except Exception as error:  # the channel layer (Redis) is away: the page retries
            log.warning("socket not joined to its groups (channel layer unavailable): %r", error)
            await self.accept()
            # No notice: the page shows "retrying" itself while the socket is closed, and
            # hides it when it reconnects.
            await self.close_with(None, TRY_AGAIN_LATER, "Live updates unavailable")
        await self.accept()
        self._last_snapshot = clock()  # the subclass sends one now

    async def close_with(self, notice: str | None, code: int, reason: str) -> NoReturn:
        """Say why, close, and end this consumer at once: what the client goes on sending
        until it sees the close is dropped by the server unread, not handled one by one."""
        self._closed = True
        if notice is not None:
            await self.send(text_data=notice)
        await self.close(code=code, reason=reason)
        await self.disconnect(code)
        raise StopConsumer

    async def disconnect(self, code: int) -> None:
        self._closed = True
        if self.owner:
            _sockets(self.owner).discard(self.channel_name)
        if self._snapshot_task is not None:
            self._snapshot_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._snapshot_task
        for group in getattr(self, "joined", []):
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception as error:  # Redis away: its group entries expire by themselves
                log.warning(
                    "socket not removed from %s (channel layer unavailable): %r", group, error
                )

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self._closed:
            return
        if self._flooding():
            await self.close_with(FLOODED, TOO_MANY, "Too many messages")
        if self._is_snapshot_request(text_data):
            self.request_snapshot()
            return
        await self.send(text_data=self.refused)

    def _flooding(self) -> bool:
        """Note a message; whether the socket has sent too many lately."""
        if self._received is None:
            self._received = deque(maxlen=FLOOD_MESSAGES + 1)
        now = clock()
        self._received.append(now)
        return len(self._received) > FLOOD_MESSAGES and now - self._received[0] < FLOOD_SECONDS

    @staticmethod
    def _is_snapshot_request(text: str | None) -> bool:
        if not text or len(text) > MAX_MESSAGE:
            return False
        try:
            message = json.loads(text)
        except (ValueError, RecursionError):
            return False
        return isinstance(message, dict) and message.get("type") == "snapshot"

    def request_snapshot(self) -> None:
        """Send a snapshot soon: one drawing at a time, ``SNAPSHOT_INTERVAL`` apart;
        requests meanwhile are answered by the next one."""
        self._snapshot_wanted = True
        if self._snapshot_task is None or self._snapshot_task.done():
            self._snapshot_task = asyncio.get_running_loop().create_task(self._snapshots())

    async def _snapshots(self) -> None:
        while self._snapshot_wanted and not self._closed:
            wait = self._last_snapshot + SNAPSHOT_INTERVAL - clock()
            if wait > 0:
                await asyncio.sleep(wait)
            self._snapshot_wanted = False
            self._last_snapshot = clock()
            try:
                await self.snapshot()
            except Exception:  # the socket may have gone; the next request tries again
                log.exception("snapshot of %s failed", self.channel_name)

    async def draw_and_send(self, draw: Callable[[], str]) -> None:
        """Draw in the database thread and send; one drawing at a time on this socket, so
        a snapshot and a push never overtake each other."""
        if self._drawing is None:
            self._drawing = asyncio.Lock()
        async with self._drawing:
            html = await database_sync_to_async(draw)()
            await self.send(text_data=html)

    async def snapshot(self) -> None:
        raise NotImplementedError


class DeskConsumer(FragmentConsumer):
    """A learner's desk. Everything it is sent comes from the process's feed of the
    market, drawn for many desks at once: each tick; whole sections for its snapshots and
    for the account's own news (a liquidation or a stop that fired, which the market's
    message lists). Connecting costs a few reads of the account, whatever the size of the
    class, and joins no group: the snapshot is drawn by the feed with the others
    waiting."""

    # No channel of its own on the channel layer: the feed hands it every push, so a desk
    # costs no subscription (Redis), no queue and no listening task.
    channel_layer_alias = "desks hear their feed, not the channel layer"

    account_id: int
    symbol: str
    market_id: int
    viewer: Viewer
    generation: int

    @classmethod
    def as_asgi(cls, **initkwargs: Any) -> Any:
        """Channels' ``as_asgi``, not a coroutine itself: it returns the consumer's, so
        nothing of it stays for the socket's life (a desk is one of hundreds)."""

        def app(scope: dict[str, Any], receive: Receive, send: Send) -> Any:
            return cls(**initkwargs)(scope, receive, send)

        app.consumer_class = cls  # type: ignore[attr-defined]
        app.consumer_initkwargs = initkwargs  # type: ignore[attr-defined]
        app._asgi_single_callable = True  # type: ignore[attr-defined]
        functools.update_wrapper(app, cls, updated=())
        return app

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        """Channels' ``AsyncConsumer.__call__`` for a socket with no channel-layer channel
        (the feed hands a desk every push): its messages awaited one after the other,
        rather than through Channels' wait on many sources, which kept a task, a future
        and two more coroutines for every open desk."""
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        with contextlib.suppress(StopConsumer):
            while True:
                await self.dispatch(await receive())

    async def connect(self) -> None:
        self.channel_name = f"desk.{uuid.uuid4().hex}"  # its name in this process only
        route = self.scope["url_route"]["kwargs"]
        self.account_id = int(route["account_id"])
        self.symbol = str(route["symbol"])
        # In the loop's pool of threads: not behind the feeds' drawing, nor the ticker.
        market = await database_sync_to_async(_authorise, thread_sensitive=False)(
            self.scope, self.account_id, self.symbol
        )
        if market is None:
            await self.close(code=NOT_FOUND)
            return
        self.market_id = market.pk
        self.generation = 0
        await self.join(owner=f"account:{self.account_id}")
        self.viewer = Viewer(self.account_id, self.symbol, Seen())
        try:
            await feed.watch(market.pk, self, keep_ticking=market.kind in KEEP_TICKING)
        except Exception as error:  # the channel layer went away meanwhile: the page retries
            log.warning("desk not fed (channel layer unavailable): %r", error)
            del self.viewer
            await self.close_with(None, TRY_AGAIN_LATER, "Live updates unavailable")
        await self.snapshot()

    async def disconnect(self, code: int) -> None:
        await super().disconnect(code)
        if hasattr(self, "viewer"):
            await feed.leave(self.market_id, self)

    async def snapshot(self) -> None:
        feed.request(self.market_id, self, full=True)
