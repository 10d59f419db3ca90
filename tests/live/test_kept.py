"""A market's accounts kept in memory between ticks (sandbox.live.kept): a tick reads
again only what was written since by anything else, and every tick writes exactly what it
would have written reading everything."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import F
from django.test import override_settings

from sandbox.desk import services as desk_services
from sandbox.desk.models import (
    Market,
    PaperAccount,
)
from sandbox.live import kept as keeping
from sandbox.live import services as live_services

from .afternoon import (
    KEEP_ALL,
    a_class,
    a_class_after_its_first_funding,
    a_market,
    boundary,
    tick,
    two_afternoons,
)
from .conftest import BUY, open_position, reload

pytestmark = pytest.mark.usefixtures("seeded")

D = Decimal


@pytest.fixture(autouse=True)
def nothing_kept() -> Iterator[None]:
    keeping.forget()
    yield
    keeping.forget()


def test_ticks_keeping_the_accounts_write_what_ticks_reading_them_all_write() -> None:
    with_kept, announced, reading_all = two_afternoons()

    assert [row[:3] for row in with_kept] == [
        (True, True, 5),  # realisation and funding: every account with a position
        (False, False, 1),  # a plain tick (1x): the account whose stop the mark reached
        (True, False, 1),  # the ETH short's profit from the fall
        (True, True, 4),  # the stop closed one account's only position
        (True, False, 1),  # the XBT short's profit from the hand-set price
        (True, True, 5),  # the newcomer's position too
        (True, False, 0),
        (True, True, 4),  # the reset account holds nothing
    ]
    # Reading everything, each realisation or funding tick reads the whole class; keeping
    # it, a tick reads only the accounts written since by something other than a tick.
    assert [row[3] for row in reading_all] == [6, 1, 6, 6, 6, 7, 7, 7]
    assert [row[3] for row in with_kept] == [6, *announced[1:]]
    assert announced == [
        0,
        0,  # (the gap is the market's)
        1,  # an order
        1,  # a margin change
        4,  # the hand-set price: every account whose figures or index the mark moved
        1,  # the newcomer, who joined and traded
        1,  # a reset
        0,
    ]


def test_a_tick_that_fails_keeps_nothing_and_the_next_reads_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    market, _ = a_class_after_its_first_funding()
    boundary(market, 29400)

    def failing(*args: Any, **kwargs: Any) -> Any:
        desk_services.gathered_save(*args, **kwargs)  # (written, then the tick fails)
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(live_services, "gathered_save", failing)
    with pytest.raises(RuntimeError):
        tick(market)
    monkeypatch.undo()

    assert tick(market).accounts_read == 6


def test_another_process_ticking_the_market_makes_the_next_tick_read_everything() -> None:
    market, _ = a_class_after_its_first_funding()
    # Another ticker took the lease over and ticked: it wrote without moving versions, and
    # the market's sequence moved on.
    boundary(market, 29400)
    ours = keeping.take(market.pk, reload(market).sequence)
    assert len(ours.accounts) == 6
    tick(market)  # (with nothing kept: "another process")
    with override_settings(**KEEP_ALL):  # (ours back, as the other process's are not ours)
        keeping.keep(market.pk, ours, ours.sequence)
    boundary(market, 30000)

    assert tick(market).accounts_read == 6


def test_a_small_market_is_not_kept() -> None:
    market = a_market()
    a_class(market)
    smaller, larger = {"SANDBOX_KEEP_ACCOUNTS_FROM": 7}, {"SANDBOX_KEEP_ACCOUNTS_FROM": 6}
    read = []
    for keep, at in ((smaller, 28800), (smaller, 29400), (larger, 30000), (larger, 30600)):
        boundary(market, at)
        read.append(tick(market, keep).accounts_read)
    assert read == [6, 6, 6, 0]


def test_an_account_gone_from_the_market_is_forgotten() -> None:
    market, accounts = a_class_after_its_first_funding()
    elsewhere = Market.objects.create(name="elsewhere")
    PaperAccount.objects.filter(pk=accounts[0].pk).update(market=elsewhere)
    boundary(market, 29400)

    result = tick(market)

    assert result.accounts_read == 0
    kept = keeping.take(market.pk, reload(market).sequence)
    assert accounts[0].pk not in kept.accounts
    assert len(kept.accounts) == 5


def test_writes_other_than_a_ticks_move_the_accounts_version() -> None:
    market = a_market()
    accounts = a_class(market)
    versions = dict(PaperAccount.objects.values_list("pk", "version"))
    open_position(accounts[0], "XBTUSDT", BUY, "0.1")
    boundary(market, 28800)
    tick(market)  # writes every account with a position, moves no version

    after = dict(PaperAccount.objects.values_list("pk", "version"))
    assert after[accounts[0].pk] == versions[accounts[0].pk] + 1
    assert {pk: v for pk, v in after.items() if pk != accounts[0].pk} == {
        pk: v for pk, v in versions.items() if pk != accounts[0].pk
    }


def test_a_version_moved_by_hand_is_read_again() -> None:
    market, accounts = a_class_after_its_first_funding()
    PaperAccount.objects.filter(pk__in=[a.pk for a in accounts[:2]]).update(
        version=F("version") + 1
    )
    boundary(market, 29400)
    assert tick(market).accounts_read == 2


def test_a_tick_computed_elsewhere_advances_what_is_kept_but_for_what_it_wrote() -> None:
    market, accounts = a_class_after_its_first_funding()
    sequence = reload(market).sequence
    written = [accounts[0].pk, accounts[1].pk]

    keeping.advanced(market.pk, sequence + 1, written)

    after = keeping.take(market.pk, sequence + 1)
    assert after.known and after.sequence == sequence + 1
    assert set(after.accounts) == {a.pk for a in accounts[2:]} | {
        a.pk for a in PaperAccount.objects.filter(market=market) if a.pk not in written
    }
    keeping.keep(market.pk, after, sequence + 1)
    keeping.advanced(market.pk, sequence + 3, [])  # (a tick it never heard of came between)
    assert not keeping.take(market.pk, sequence + 3).known
