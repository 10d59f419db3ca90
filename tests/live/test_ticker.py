"""The ticker goes on whatever fails: a lease claim, a market's tick, the release on stop,
its own task (the embedded ticker starts it again), and the ``runticker`` command."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable, MutableMapping
from decimal import Decimal
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command
from django.db import OperationalError
from django.test import override_settings

from sandbox.desk.models import Market
from sandbox.live import services, ticker
from sandbox.live.services import TickResult
from sandbox.live.ticker import EmbeddedTicker, Ticker, backoff

from .conftest import Learner

D = Decimal


class Clock:
    """The ticker's notion of now, moved by the test."""

    def __init__(self, now: str) -> None:
        self.now = D(now)

    def __call__(self) -> Decimal:
        return self.now


def failing(
    real: Callable[..., Any], times: int, error: Exception, calls: list[str] | None = None
) -> Callable[..., Any]:
    """``real``, raising ``error`` on its first ``times`` calls."""
    count = [0]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        if calls is not None:
            calls.append("failed" if count[0] <= times else "ok")
        if count[0] <= times:
            raise error
        return real(*args, **kwargs)

    return wrapper


LOCKED = OperationalError("database is locked")


def watched(learner: Learner, tick_seconds: str = "1") -> int:
    services.market_watched(market_id=learner.account.market_id)
    Market.objects.filter(pk=learner.account.market_id).update(tick_seconds=D(tick_seconds))
    return learner.account.market_id


@database_sync_to_async
def sequence(market_id: int) -> int:
    return Market.objects.get(pk=market_id).sequence


def test_the_pause_after_failures_doubles_up_to_five_seconds() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4, 5, 6, 50)] == [
        D("0.25"),
        D("0.5"),
        D("1"),
        D("2"),
        D("4"),
        D("5"),
        D("5"),
    ]


@pytest.mark.django_db(transaction=True)
async def test_a_failed_claim_is_retried_after_a_pause_and_the_ticks_go_on(
    learner: Learner, monkeypatch: pytest.MonkeyPatch
) -> None:
    market = await database_sync_to_async(watched)(learner)
    monkeypatch.setattr(services, "leases_claim", failing(services.leases_claim, 2, LOCKED))
    ticker = Ticker("ticker-test")
    clock = Clock("100")
    ticker._now = clock  # type: ignore[method-assign]

    assert await ticker.step() == 0  # the claim failed: logged, not raised
    assert ticker.claim_after == D("100.25")
    clock.now = D("100.1")
    assert await ticker.step() == 0  # still pausing: no claim tried
    clock.now = D("100.25")
    assert await ticker.step() == 0  # failed again: the pause doubles
    assert ticker.claim_after == D("100.75")
    clock.now = D("100.75")
    assert await ticker.step() == 1  # claimed at last, and ticked
    clock.now = D("101.75")
    assert await ticker.step() == 1
    assert ticker.claim_failures == 0
    assert await sequence(market) == 2


@pytest.mark.django_db(transaction=True)
async def test_a_failed_tick_pauses_that_market_and_it_ticks_again(
    learner: Learner, monkeypatch: pytest.MonkeyPatch
) -> None:
    market = await database_sync_to_async(watched)(learner, "0.1")
    monkeypatch.setattr(services, "market_tick", failing(services.market_tick, 2, LOCKED))
    ticker = Ticker("ticker-test")
    clock = Clock("10")
    ticker._now = clock  # type: ignore[method-assign]

    assert await ticker.step() == 0
    assert ticker.next_tick[market] == D("10.25")  # the pause, longer than its 0.1 s
    clock.now = D("10.25")
    assert await ticker.step() == 0
    assert ticker.next_tick[market] == D("10.75")
    clock.now = D("10.75")
    assert await ticker.step() == 1
    assert ticker.next_tick[market] == D("10.85")  # its own interval again
    clock.now = D("10.85")
    assert await ticker.step() == 1
    assert await sequence(market) == 2


@pytest.mark.django_db(transaction=True)
async def test_a_market_keeps_its_rate_when_a_tick_starts_a_little_late(
    learner: Learner,
) -> None:
    """Each tick is due an interval after the last was due, not after it started: a tick
    begun 30 ms late does not make every later one 30 ms late (2 a second stay 2 a
    second); one more than an interval late starts afresh, with no burst to catch up."""
    market = await database_sync_to_async(watched)(learner, "0.5")
    ticker = Ticker("ticker-test")
    clock = Clock("10")
    ticker._now = clock  # type: ignore[method-assign]

    assert await ticker.step() == 1
    assert ticker.next_tick[market] == D("10.5")
    assert ticker._pause() == D("0.1")  # a poll at most
    clock.now = D("10.45")
    assert ticker._pause() == D("0.05")  # woken when the tick is due
    clock.now = D("10.53")  # a little late
    assert await ticker.step() == 1
    assert ticker.next_tick[market] == D("11.0")
    clock.now = D("11.7")  # more than an interval late
    assert await ticker.step() == 1
    assert ticker.next_tick[market] == D("12.2")
    assert await sequence(market) == 3


async def wait_for_sequence(market: int, at_least: int) -> int:
    for _ in range(200):
        found = await sequence(market)
        if found >= at_least:
            return found
        await asyncio.sleep(0.05)
    return await sequence(market)


@pytest.mark.django_db(transaction=True)
async def test_run_survives_failed_claims_ticks_steps_and_release(
    learner: Learner, monkeypatch: pytest.MonkeyPatch
) -> None:
    market = await database_sync_to_async(watched)(learner, "0.1")
    monkeypatch.setattr(services, "leases_claim", failing(services.leases_claim, 2, LOCKED))
    monkeypatch.setattr(services, "market_tick", failing(services.market_tick, 1, LOCKED))
    monkeypatch.setattr(services, "leases_release", failing(services.leases_release, 1, LOCKED))
    runner = Ticker("ticker-test", poll_seconds=D("0.02"))
    real_step = runner.step
    monkeypatch.setattr(runner, "step", failing(real_step, 1, RuntimeError("unexpected")))
    task = asyncio.get_running_loop().create_task(runner.run())

    assert await wait_for_sequence(market, 3) >= 3
    assert not task.done()
    runner.stopping.set()
    await asyncio.wait_for(task, 10)  # the failed release is logged, not raised
    assert task.exception() is None


@pytest.mark.django_db(transaction=True)
def test_the_runticker_command_goes_on_after_failed_claims_and_ticks(
    learner: Learner, monkeypatch: pytest.MonkeyPatch
) -> None:
    market = watched(learner, "0.1")
    claims: list[str] = []
    monkeypatch.setattr(services, "leases_claim", failing(services.leases_claim, 2, LOCKED, claims))
    real_tick = failing(services.market_tick, 1, LOCKED)

    def tick_then_stop(*, market_id: int, owner: str | None = None) -> TickResult | None:
        result = real_tick(market_id=market_id, owner=owner)
        if result is not None and result.sequence >= 3:
            os.kill(os.getpid(), signal.SIGTERM)  # what stopping the process does
        return result

    monkeypatch.setattr(services, "market_tick", tick_then_stop)
    call_command("runticker")

    assert claims[:3] == ["failed", "failed", "ok"]
    assert Market.objects.get(pk=market).sequence >= 3
    assert Market.objects.get(pk=market).lease_owner == ""  # released on the way out


Scope = MutableMapping[str, Any]


async def no_app(scope: Scope, receive: Callable[[], Awaitable[Any]], send: Any) -> None:
    return None


@override_settings(SANDBOX_TICKER="embedded")
async def test_the_embedded_ticker_starts_again_when_its_task_died(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[int] = []

    async def dies(self: Ticker) -> None:
        started.append(1)
        raise RuntimeError("the ticker task died")

    monkeypatch.setattr(ticker.Ticker, "run", dies)
    app = EmbeddedTicker(no_app)

    async def receive() -> dict[str, Any]:
        return {}

    await app({"type": "http"}, receive, no_app)
    first = app.task
    assert first is not None
    await asyncio.sleep(0)  # the task runs and dies
    assert first.done()

    await app({"type": "http"}, receive, no_app)  # the next request starts it again
    assert app.task is not first
    await asyncio.sleep(0)
    assert started == [1, 1]
