"""A large market's ledger ticks shared with a helper process (sandbox.live.shares): the
ticks write what a tick computing every account itself writes, and a helper that dies or
a tick that fails costs only speed.

These tests commit (the helper reads the accounts through its own connection, so it sees
only what is committed): each one's database is emptied after it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings

from sandbox.desk import services as desk_services
from sandbox.live import kept as keeping
from sandbox.live import services as live_services
from sandbox.live import shares
from sandbox.live.shares import Helper

from .afternoon import (
    KEEP_ALL,
    KEEP_NONE,
    a_class,
    a_class_after_its_first_funding,
    a_market,
    boundary,
    stored,
    tick,
    two_afternoons,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def a_helper(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Instruments seeded, nothing kept, and a helper ready (stopped after the test). The
    split stays where it starts (it follows the ticks' timings, see the test of its own),
    so which accounts each side reads does not depend on the machine's speed."""
    monkeypatch.setattr(shares, "WAITED", float("inf"))
    monkeypatch.setattr(shares, "TRAILED", float("inf"))
    shares._splits.clear()
    monkeypatch.setattr(shares, "_restart_at", 0.0)
    desk_services.instruments_seed()
    keeping.forget()
    with override_settings(**KEEP_ALL):
        assert shares.start(wait_seconds=60)
    yield
    shares.stop()
    keeping.forget()


def test_ticks_shared_with_the_helper_write_what_ticks_computing_everything_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # (One split for both kinds of tick: no account changes side between them here.)
    monkeypatch.setattr(shares, "FIRST_OURS", {False: 16, True: 16})

    with_helper, announced, alone = two_afternoons()

    # The first tick read every account, the ticker's share and the helper's; then only
    # those written since, as when the ticker keeps them all, and at most two more: the
    # account a plain tick reached (a plain tick is the ticker's alone), if in the
    # helper's share, read by the ticker for it and by the helper on the next.
    reads = [row[3] for row in with_helper]
    assert reads[0] == 6
    assert sum(announced[1:]) <= sum(reads[1:]) <= sum(announced[1:]) + 2
    assert sum(reads[1:]) <= sum(row[3] for row in alone[1:]) / 4


def test_the_accounts_are_shared_by_their_id() -> None:
    rows = [(pk, False, 1) for pk in range(1, 2 * shares.SHARES + 1)]
    split = shares.Split(7)
    ours, theirs = split.rows(rows)
    assert [r[0] for r in ours] == [r[0] for r in rows if r[0] % shares.SHARES < 7]
    assert sorted(ours + theirs) == rows
    assert len(ours) == 14  # (ids 1 to 6, SHARES to SHARES + 6, and 2 x SHARES)


def test_the_split_moves_a_share_towards_the_side_that_waited_ticks_in_a_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shares, "WAITED", 0.03)
    monkeypatch.setattr(shares, "TRAILED", 0.10)
    split = shares.Split(7)
    waiting = {"waited": 0.010, "trailed": 0.010, "took": 0.250}  # waited 4% of the tick
    trailing = {"waited": 0, "trailed": 0.050, "took": 0.250}  # wrote on for 20% of it
    within = {"waited": 0.005, "trailed": 0.020, "took": 0.250}
    for _ in range(shares.STEADY - 1):
        split.after(**waiting)
    assert split.ours == 7
    split.after(**waiting)
    assert split.ours == 8
    # Signs that change (or none) move nothing.
    for sign in (waiting, trailing, waiting, within, trailing, waiting, waiting, trailing):
        split.after(**sign)
    assert split.ours == 8
    for _ in range(2 * shares.STEADY):
        split.after(**trailing)
    assert split.ours == 6
    for _ in range(shares.MOST * shares.STEADY):
        split.after(waited=0, trailed=1, took=2)
    assert split.ours == shares.FEWEST
    for _ in range(shares.MOST * shares.STEADY):
        split.after(waited=1, trailed=0, took=2)
    assert split.ours == shares.MOST


def test_a_helper_killed_during_a_tick_leaves_its_share_to_the_ticker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shared_market, alone_market = a_market(), a_market()
    for market in (shared_market, alone_market):
        a_class(market)
        boundary(market, 28800)
    asked = Helper.ask

    def killed(self: Helper, *args: Any) -> bool:
        handed = asked(self, *args)
        self.process.kill()
        return handed

    monkeypatch.setattr(Helper, "ask", killed)
    shared = tick(shared_market)
    alone = tick(alone_market, KEEP_NONE)

    assert (shared.funded, shared.accounts_touched, shared.booked) == (
        True,
        5,
        sorted(shared.booked),
    )
    assert shared.accounts_touched == alone.accounts_touched
    assert stored(shared_market) == stored(alone_market)
    # A new helper is started; until it is ready the ticker computes every account itself.
    monkeypatch.setattr(Helper, "ask", asked)
    boundary(shared_market, 29400)
    assert tick(shared_market).realised
    assert shares.start(wait_seconds=60)


def test_after_a_tick_that_failed_the_helper_reads_its_share_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    market, _ = a_class_after_its_first_funding()
    boundary(market, 29400)
    calls = []

    def failing(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        saved = desk_services.gathered_save(*args, **kwargs)
        if len(calls) == 2:  # (the helper's share written, then the tick fails)
            raise RuntimeError("the disk is full")
        return saved

    monkeypatch.setattr(live_services, "gathered_save", failing)
    helper = shares._helper
    assert helper is not None
    with pytest.raises(RuntimeError):
        tick(market)
    monkeypatch.setattr(live_services, "gathered_save", desk_services.gathered_save)
    # (It was stopped: what it would still send belongs to no tick.)
    assert not helper.alive()

    assert tick(market).accounts_read == 6  # (ours and the helper's: nothing kept)
    boundary(market, 30000)
    assert tick(market).accounts_read == 0


def test_a_tick_inside_its_callers_transaction_never_asks_the_helper(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    market = a_market()
    a_class(market)
    asked: list[int] = []
    real = Helper.ask

    def ask(self: Helper, work: Any, *args: Any) -> bool:
        asked.append(work.sequence)
        return real(self, work, *args)

    monkeypatch.setattr(Helper, "ask", ask)
    boundary(market, 28800)
    with transaction.atomic():  # (the helper could not see what this transaction wrote)
        inside = tick(market)
    boundary(market, 29400)
    outside = tick(market)

    assert (inside.funded, outside.realised) == (True, True)
    assert asked == [outside.sequence]


def test_a_helper_that_stopped_is_not_started_again_at_every_tick() -> None:
    helper = shares._helper
    assert helper is not None
    helper.process.kill()
    helper.process.wait()
    with transaction.atomic():  # (a tick's own transaction)
        assert shares.helper_for(10**6) is None  # it stopped: none started yet
        assert shares.helper_for(10**6) is None
    assert shares._helper is None
    assert shares._restart_at > time.monotonic() + shares.RESTART_SECONDS - 5
