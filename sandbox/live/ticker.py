"""The ticker: the loop that moves every running market, one tick at a time.

``make run`` runs it inside the web server's own event loop (:class:`EmbeddedTicker`
starts it on the first request), so one process does everything. A deployment with
several web processes sets ``SANDBOX_TICKER=off`` on them and runs
``python manage.py runticker`` (one or more); the leases make sure each market is ticked
by exactly one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from decimal import Decimal
from typing import Any

from django.conf import settings

from . import services
from .threads import Threads, run_in

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


MAX_BACKOFF_SECONDS = Decimal(5)

# The ticker's database work runs in a thread of its own: not behind the live feeds'
# drawing (their threads) nor the sockets' handshakes (Channels' database thread), so a
# crash that gives a whole class whole sections does not hold up the next tick.
_thread = Threads(1, "ticker")


def in_ticker_thread(function: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    return run_in(_thread, function)


def backoff(failures: int) -> Decimal:
    """The pause after ``failures`` failures in a row: 0.25 s, doubling, at most 5 s."""
    return min(Decimal("0.25") * Decimal(2) ** min(failures - 1, 10), MAX_BACKOFF_SECONDS)


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Ticker:
    """Claims market leases and ticks each claimed market at its own interval."""

    def __init__(self, owner: str | None = None, *, poll_seconds: Decimal = Decimal("0.1")):
        self.owner = owner or new_owner()
        self.poll_seconds = poll_seconds
        self.claim_every = Decimal(1)
        self.markets: dict[int, Decimal] = {}
        self.next_tick: dict[int, Decimal] = {}
        self.last_claim = Decimal(-1_000_000)
        self.claim_after = Decimal(-1_000_000)  # no claim before (backing off after a failure)
        self.claim_failures = 0
        self.tick_failures: dict[int, int] = {}
        self.run_failures = 0
        self.stopping = asyncio.Event()

    def _now(self) -> Decimal:
        # Real time only schedules ticks; it never enters a price or a balance.
        return Decimal(asyncio.get_running_loop().time()).quantize(Decimal("0.001"))

    async def step(self) -> int:
        """Renew leases when due and apply every tick that is due. Returns ticks applied.

        Nothing that goes wrong here stops the ticker: a failed claim (the database busy or
        away) is logged and tried again after a pause that doubles up to
        :data:`MAX_BACKOFF_SECONDS`, keeping the markets already held (each tick checks its
        lease again); a failed tick pauses that market alone the same way.
        """
        now = self._now()
        if now - self.last_claim >= self.claim_every and now >= self.claim_after:
            try:
                claimed = await in_ticker_thread(services.leases_claim)(self.owner)
            except Exception:
                self.claim_failures += 1
                pause = backoff(self.claim_failures)
                self.claim_after = now + pause
                log.exception(
                    "ticker %s could not claim its markets; retrying in %s s", self.owner, pause
                )
            else:
                self.markets = dict(claimed)
                self.last_claim = now
                self.claim_failures = 0
        applied = 0
        for market_id, interval in list(self.markets.items()):
            due = self.next_tick.get(market_id, Decimal(0))
            if now < due:
                continue
            # From when it was due, so the market keeps its rate (a tick a little late does
            # not delay all the next ones); more than a tick late, from now (no catching up).
            self.next_tick[market_id] = due + interval if now - due < interval else now + interval
            try:
                result = await in_ticker_thread(services.market_tick)(
                    market_id=market_id, owner=self.owner
                )
            except Exception:  # a broken tick must not stop the other markets
                failures = self.tick_failures[market_id] = self.tick_failures.get(market_id, 0) + 1
                pause = max(interval, backoff(failures))
                self.next_tick[market_id] = now + pause
                log.exception("tick of market %s failed; retrying in %s s", market_id, pause)
                continue
            self.tick_failures.pop(market_id, None)
            if result is not None:
                applied += 1
            else:
                # Lost the lease, or paused: look again at the next claim.
                self.last_claim = Decimal(-1_000_000)
        return applied

    async def run(self) -> None:
        log.info("ticker %s started", self.owner)
        try:
            while not self.stopping.is_set():
                try:
                    await self.step()
                except Exception:  # step catches what it expects; anything else, too
                    self.run_failures += 1
                    pause = backoff(self.run_failures)
                    log.exception("ticker %s step failed; going on in %s s", self.owner, pause)
                    await self._wait(pause)
                    continue
                self.run_failures = 0
                await self._wait(self._pause())
        finally:
            try:
                await in_ticker_thread(services.leases_release)(self.owner)
            except Exception:  # the leases then expire by themselves
                log.exception("ticker %s could not release its leases", self.owner)
            log.info("ticker %s stopped", self.owner)

    def _pause(self) -> Decimal:
        """Until the next tick due, at most ``poll_seconds`` (a tick is not late by a
        poll)."""
        now = self._now()
        due = [self.next_tick.get(m, Decimal(0)) for m in self.markets]
        return max(Decimal(0), min([self.poll_seconds, *(d - now for d in due)]))

    async def _wait(self, seconds: Decimal) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), float(seconds))


class EmbeddedTicker:
    """ASGI wrapper: starts one ticker in the server's event loop on the first request."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app
        self.task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if settings.SANDBOX_TICKER == "embedded":
            self.ensure_running()
        await self.app(scope, receive, send)

    def ensure_running(self) -> None:
        """Start the ticker, or start it again if its task ended (it should not)."""
        if self.task is not None and not self.task.done():
            return
        if self.task is not None and not self.task.cancelled():
            error = self.task.exception()
            log.error("the embedded ticker had stopped; starting it again", exc_info=error)
        self.task = asyncio.get_running_loop().create_task(Ticker().run())

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.task is not None:
                    self.task.cancel()
                await send({"type": "lifespan.shutdown.complete"})
                return
