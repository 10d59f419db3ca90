"""Threads of the live market's own, apart from the one thread Channels gives every
consumer's database work: the ticker's, and the ones the feeds draw in.

Daemon threads: a server stopping mid-tick (the tick waiting to hand its broadcast to the
event loop that has stopped) does not keep the process alive; the tick's transaction is
committed or rolled back by the database either way.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

from channels.db import database_sync_to_async

T = TypeVar("T")

_Job = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class Threads(Executor):
    """A fixed number of daemon threads taking calls in order from one queue (started on
    the first call)."""

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self.name = name
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


def run_in(threads: Threads, function: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """``function`` made awaitable, run in ``threads``: each call opens its database
    connection and closes it after (``CONN_MAX_AGE=0``)."""
    awaitable: Callable[..., Awaitable[T]] = database_sync_to_async(
        function,
        thread_sensitive=False,
        executor=threads,
    )
    return awaitable
