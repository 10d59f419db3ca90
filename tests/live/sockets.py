"""Desk sockets for the tests: connecting as a learner's browser, ticking a market, and
reading the sections of a push (shared by the live and web tests)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from html.parser import HTMLParser

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from sandbox.asgi import router
from sandbox.live import services

from .conftest import (
    Learner,
    snapshot,
)

D = Decimal
WAIT = 10  # seconds a test may wait for a message; only a bound, never asserted on


def browser_cookie(learner: Learner) -> str:
    return "sandbox_account=" + learner.client.cookies["sandbox_account"].value


def socket(
    account_id: int,
    cookie: str | None,
    symbol: str = "XBTUSDT",
    origin: bytes | None = b"http://localhost",
) -> WebsocketCommunicator:
    headers = [(b"host", b"localhost")]
    if origin is not None:
        headers.insert(0, (b"origin", origin))
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(router, f"/ws/desk/{account_id}/{symbol}/", headers=headers)


@asynccontextmanager
async def opened(
    communicator: WebsocketCommunicator,
) -> AsyncIterator[tuple[WebsocketCommunicator, str]]:
    """The socket connected, and the snapshot it was sent on connect; closed after."""
    connected, _ = await communicator.connect(timeout=WAIT)
    assert connected
    try:
        first = await communicator.receive_from(timeout=WAIT)
        yield communicator, first
    finally:
        await communicator.disconnect()


def desk_socket(
    account_id: int, cookie: str, symbol: str = "XBTUSDT"
) -> AbstractAsyncContextManager[tuple[WebsocketCommunicator, str]]:
    """A learner's desk socket, connected, and the snapshot it was sent on connect."""
    return opened(socket(account_id, cookie, symbol))


async def refused(communicator: WebsocketCommunicator) -> tuple[bool, object]:
    result = await communicator.connect(timeout=WAIT)
    await communicator.disconnect(timeout=WAIT)
    return result


def tick(market_id: int) -> services.TickResult:
    result = services.market_tick(market_id=market_id)
    assert result is not None
    return result


atick = database_sync_to_async(tick)
asnapshot = database_sync_to_async(snapshot)


def oob(html: str, element_id: str) -> bool:
    """Whether the element with ``element_id`` is sent to be swapped out of band."""
    return re.search(rf'<[a-z]+ id="{element_id}"[^>]*hx-swap-oob="true"', html) is not None


class _Element(HTMLParser):
    """Finds the element with a given id and where it ends (tags of its name counted)."""

    def __init__(self, element_id: str) -> None:
        super().__init__(convert_charrefs=False)
        self.element_id = element_id
        self.tag = ""
        self.depth = 0
        self.start: tuple[int, int] | None = None
        self.end: tuple[int, int] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.end is not None:
            return
        if self.start is None and ("id", self.element_id) in attrs:
            self.tag, self.depth, self.start = tag, 1, self.getpos()
        elif self.start is not None and tag == self.tag:
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if self.start is not None and self.end is None and tag == self.tag:
            self.depth -= 1
            if self.depth == 0:
                line, column = self.getpos()
                self.end = (line, column + len(f"</{tag}>"))


def section(html: str, element_id: str) -> str:
    """The whole element with ``element_id`` in a push (its nested elements included)."""
    finder = _Element(element_id)
    finder.feed(html)
    assert finder.start is not None and finder.end is not None, f"no #{element_id} in the push"
    lines = html.splitlines(keepends=True)

    def offset(position: tuple[int, int]) -> int:
        return sum(len(line) for line in lines[: position[0] - 1]) + position[1]

    return html[offset(finder.start) : offset(finder.end)]


# ------------------------------------------------------------------------- snapshot
