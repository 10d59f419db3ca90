"""The live market's threads give way to the requests in flight: before each call they
wait while the process answers a request, never longer than ``YIELD_SECONDS``."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pytest

from sandbox.live import threads
from sandbox.live.threads import Foreground, Threads

WAIT = 10  # seconds: only a bound for a thread to answer, never asserted on


def test_idle_with_no_request_in_flight_and_busy_while_one_is() -> None:
    foreground = Foreground()
    assert foreground.wait_idle(0) is True
    with foreground.serving(), foreground.serving():
        assert foreground.count == 2
        assert foreground.wait_idle(0) is False  # the bound passed, requests in flight
    assert foreground.count == 0
    assert foreground.wait_idle(0) is True


def test_a_long_request_is_given_way_to_no_longer_than_give_way() -> None:
    """A teacher's action over a whole class does not hold up the pushes it causes."""
    assert 0 < threads.GIVE_WAY_SECONDS <= 0.1
    foreground = Foreground(give_way=0)  # every request in flight already ran too long
    with foreground.serving():
        assert foreground.count == 1
        assert foreground.wait_idle(WAIT) is True  # at once, not after WAIT


def test_a_request_that_fails_is_no_longer_counted() -> None:
    foreground = Foreground()
    with pytest.raises(RuntimeError), foreground.serving():
        raise RuntimeError("the view failed")
    assert foreground.count == 0


def test_a_waiting_thread_goes_on_when_the_last_request_is_answered() -> None:
    foreground = Foreground()
    answers: list[bool] = []
    with foreground.serving():
        waiter = threading.Thread(target=lambda: answers.append(foreground.wait_idle(WAIT)))
        waiter.start()
    waiter.join(WAIT)
    assert answers == [True]  # woken by the request's end, not by the bound


class Noting(Foreground):
    """A foreground that notes each wait asked of it, and when."""

    def __init__(self, events: list[Any]) -> None:
        super().__init__()
        self.events = events

    def wait_idle(self, timeout: float) -> bool:
        self.events.append(("wait", timeout))
        return True


def test_each_call_waits_for_the_requests_first() -> None:
    events: list[Any] = []
    pool = Threads(1, "test", foreground=Noting(events))
    try:
        for n in range(3):
            assert pool.submit(events.append, ("call", n)).result(WAIT) is None
    finally:
        pool.shutdown()
    bound = ("wait", threads.YIELD_SECONDS)
    assert events == [bound, ("call", 0), bound, ("call", 1), bound, ("call", 2)]


def test_without_a_foreground_calls_wait_for_nothing() -> None:
    foreground = Foreground()
    pool = Threads(1, "test", foreground=None)
    try:
        with foreground.serving():
            assert pool.submit(lambda: "at once").result(WAIT) == "at once"
    finally:
        pool.shutdown()


def test_a_call_runs_even_while_requests_keep_coming(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wait is bounded: a request in flight all along does not stop a tick."""
    foreground = Foreground()
    monkeypatch.setattr(threads, "YIELD_SECONDS", 0.001)
    pool = Threads(1, "test", foreground=foreground)
    try:
        with foreground.serving():
            assert pool.submit(lambda: "ticked").result(WAIT) == "ticked"
            assert foreground.count == 1
    finally:
        pool.shutdown()


def test_the_ticker_and_the_drawing_give_way_to_the_processes_requests() -> None:
    from sandbox.live import feed, ticker

    assert ticker._thread.foreground is threads.FOREGROUND
    feed.drawing(lambda: None)  # (the drawing threads are made on first use)
    assert feed._threads is not None and feed._threads.foreground is threads.FOREGROUND


@pytest.mark.django_db(transaction=True)
def test_a_kept_connection_is_closed_after_a_call_that_met_a_database_error() -> None:
    from django.db import DatabaseError, connection

    pool = Threads(1, "test", foreground=None)

    def read(error: bool) -> bool:
        """Whether the thread's connection was open already."""
        was_open = connection.connection is not None
        # (An error the call handles: the connection is not trusted for the next one.)
        with connection.cursor() as cursor, contextlib.suppress(DatabaseError):
            cursor.execute("SELECT no_such_column FROM desk_market" if error else "SELECT 1")
        return was_open

    kept = threads._keeping_connections(read)
    try:
        answers = [pool.submit(kept, error).result(WAIT) for error in (False, False, True, False)]
    finally:
        pool.shutdown()
    assert answers == [False, True, True, False]  # kept open, until the error
