"""Threads of the live market's own, apart from the one thread Channels gives every
consumer's database work: the ticker's, and the ones the feeds draw in.

Daemon threads: a server stopping mid-tick (the tick waiting to hand its broadcast to the
event loop that has stopped) does not keep the process alive; the tick's transaction is
committed or rolled back by the database either way.

They give way to the pages (:data:`FOREGROUND`): between two calls, a thread waits while
the process is answering requests, at most :data:`YIELD_SECONDS` (and not for a request
running longer than :data:`GIVE_WAY_SECONDS`). The process has one
interpreter lock; a request's thread gives it up at every database call and must win it
back from whichever thread took it, which a busy background thread keeps for a whole
switch interval (5 ms), so a request with fifteen statements, run beside ticks and
drawings, took several times its own work. A tick or a drawing that waits a few
milliseconds for the requests in flight is not late (the ticker keeps each market's rate
from when its tick was due, and the wait is bounded), and the requests meet only the call
already running. A call once started runs to its end: the wait is never inside a
transaction.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, TypeVar, cast

from asgiref.sync import sync_to_async
from django.db import connections

T = TypeVar("T")

#: How long a background thread waits, at most, for the requests in flight before its
#: next call: short against a tick's interval and a drawing's budget (a tick reaches the
#: screen within 250 ms), long against a request (a few milliseconds).
YIELD_SECONDS = 0.025
#: How long a request is given way to: one that runs longer (a teacher's action over a
#: whole class) is not, so the pushes it causes are not held up until it has answered.
GIVE_WAY_SECONDS = 0.05


class Foreground:
    """The requests this process is answering, which background threads give way to."""

    def __init__(self, give_way: float = GIVE_WAY_SECONDS) -> None:
        self.give_way = give_way
        self.started: dict[int, float] = {}  # each request in flight: when it started
        self.changed = threading.Condition(threading.Lock())
        self.last = 0

    @property
    def count(self) -> int:
        return len(self.started)

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """Count a request in flight for the ``with`` block."""
        with self.changed:
            self.last = key = self.last + 1
            self.started[key] = time.monotonic()
        try:
            yield
        finally:
            with self.changed:
                del self.started[key]
                self.changed.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is in flight (none that started less than ``give_way``
        ago), at most ``timeout`` seconds; whether none is (a thread never waits longer
        than that, however busy the pages are)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                now = time.monotonic()
                young = [t for t in self.started.values() if now - t < self.give_way]
                if not young:
                    return True
                if now >= deadline:
                    return False
                self.changed.wait(min(deadline, min(young) + self.give_way) - now)


FOREGROUND = Foreground()

_Job = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class Threads(Executor):
    """A fixed number of daemon threads taking calls in order from one queue (started on
    the first call), each call after the requests in flight in ``foreground`` (bounded;
    ``None``: at once)."""

    def __init__(self, size: int, name: str, *, foreground: Foreground | None = FOREGROUND) -> None:
        self.size = size
        self.name = name
        self.foreground = foreground  # whose requests each call waits for (bounded)
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()
        self.closed = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        with self.lock:
            if self.closed:
                raise RuntimeError(f"{self.name} threads are shut down")
            while len(self.threads) < self.size:
                thread = threading.Thread(
                    target=self._work, name=f"{self.name}-{len(self.threads)}", daemon=True
                )
                thread.start()
                self.threads.append(thread)
        self.jobs.put((future, fn, args, kwargs))
        return future

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            future, fn, args, kwargs = job
            if self.foreground is not None:
                self.foreground.wait_idle(YIELD_SECONDS)
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args, **kwargs)
            except BaseException as error:
                future.set_exception(error)
            else:
                future.set_result(result)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self.lock:
            self.closed = True
            threads, self.threads = self.threads, []
        for _ in threads:
            self.jobs.put(None)
        if wait:
            for thread in threads:
                thread.join()


def _keeping_connections(function: Callable[..., T]) -> Callable[..., T]:
    """``function``, run on the thread's own SQLite connection, kept open from one call to
    the next (a tick or a drawing 20 times a second, or a request, would otherwise open
    and close one each time: ``CONN_MAX_AGE=0`` is for threads that live one request).
    Between calls it holds no transaction, so every call reads the latest commits; after a
    call that failed, or one that met a database error (handled or not), it is closed, and
    the next opens afresh. A pooled connection (PostgreSQL) goes back to the
    process's pool after each call, as a request's does."""

    @functools.wraps(function)
    def kept(*args: Any, **kwargs: Any) -> T:
        failed = True
        try:
            result = function(*args, **kwargs)
            failed = False
            return result
        finally:
            for connection in connections.all(initialized_only=True):
                if failed or connection.vendor != "sqlite" or connection.errors_occurred:
                    connection.close()

    return kept


def run_in(threads: Threads, function: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """``function`` made awaitable, run in ``threads`` on their own database connections."""
    awaitable: Callable[..., Awaitable[T]] = sync_to_async(
        _keeping_connections(function),
        thread_sensitive=False,
        # (Typed as a ThreadPoolExecutor; asgiref hands it to loop.run_in_executor, which
        # takes any Executor.)
        executor=cast(ThreadPoolExecutor, threads),
    )
    return awaitable
