"""The ASGI handler daphne runs Django's HTTP side with.

Django's own ASGI handler gives each request a worker thread of its own (a
``ThreadSensitiveContext`` per request), runs the middleware in the event loop and hands
each sync step to that thread and back: every ``process_request`` and ``process_response``
of the usual middleware, then the view, a dozen hand-overs a request, each a wait for the
other thread and for the interpreter lock. The sandbox's views are all sync, so this
handler builds the middleware stack as sync code and hands a request to its thread once:
the same middleware and views, in one thread.

That thread is one of a few kept for the requests (``REQUEST_THREADS``), each with its own
SQLite connection kept open from one request to the next (as the live market's threads
keep theirs, :func:`sandbox.live.threads.run_in`): a thread started and a connection
opened for every request (Django's way under ASGI, with ``CONN_MAX_AGE=0``) cost a
slider preview a quarter of its time, each step a wait for the interpreter lock. Django's
``request_started`` and ``request_finished`` signals still run in a thread of the
request's own, where they find no connection to close.

Requests take turns (:class:`Turns`): one runs Django's code at a time, the next waits
for it (in order of arrival), at most ``TURN_SECONDS``, after which it runs beside it. The
process has one interpreter lock, so two requests run side by side take as long as one
after the other, and longer: each gives the lock up at every database call and must win it
back from the other, which keeps it a whole switch interval (5 ms) when it is busy. A
request that waits a few milliseconds for its turn then runs without that contention;
one that takes longer than ``TURN_SECONDS`` (a teacher's action over a whole class) holds
nobody up longer than that. While a request is in flight (for its first 50 ms), the live
market's threads wait before their next tick or drawing
(:data:`sandbox.live.threads.FOREGROUND`).

Static files are served by the middleware of :mod:`sandbox.staticfiles`; any address
under ``/static/`` that is not one of its files, one that climbs out of the folder
included, goes on to the views and answers the 404 page.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType

from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponseBase

from sandbox.live.threads import FOREGROUND, Threads, run_in

REQUEST_THREADS = 4  # requests take turns: one runs at a time, and a few beside it at most
_request_threads = Threads(REQUEST_THREADS, "request", foreground=None)

TURN_SECONDS = 0.05  # the longest a request waits for the one before it


class Turns:
    """One request at a time, in order of arrival; one that waited ``wait`` seconds goes
    ahead beside the requests running. Used from the event loop only."""

    def __init__(self, wait: float) -> None:
        self.wait = wait
        self.running = 0
        self.queue: deque[asyncio.Future[None]] = deque()

    async def __aenter__(self) -> None:
        if not self.running and not self.queue:
            self.running += 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.queue.append(turn)
        try:
            await asyncio.wait({turn}, timeout=self.wait)
        except BaseException:  # cancelled (the client went away) while waiting
            if turn.done():
                self._release()  # given the turn meanwhile: pass it on
            else:
                self.queue.remove(turn)
            raise
        if not turn.done():  # waited long enough: run beside
            self.queue.remove(turn)
            self.running += 1

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._release()

    def _release(self) -> None:
        self.running -= 1
        if not self.running and self.queue:
            self.running += 1
            self.queue.popleft().set_result(None)


class SandboxASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        self.turns = Turns(TURN_SECONDS)
        super().__init__()

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        chain: Callable[[HttpRequest], HttpResponseBase] = self._middleware_chain  # type: ignore[has-type]
        self._middleware_chain = run_in(_request_threads, chain)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        """Also adds ``total`` to the ``Server-Timing`` header: from the request reaching
        Django to its response, its wait for its turn and the hand-over to its worker
        thread included."""
        began = time.perf_counter()
        # Counted in flight (the live market's threads give way until it is answered),
        # then its turn.
        with FOREGROUND.serving():
            async with self.turns:
                response = await super().get_response_async(request)
        total = f"total;dur={(time.perf_counter() - began) * 1000:.2f}"
        timing = response.get("Server-Timing")
        response["Server-Timing"] = f"{timing}, {total}" if timing else total
        return response
