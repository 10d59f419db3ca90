"""A market's accounts kept in memory between ticks (sandbox.live.kept): a tick reads
again only what was written since by anything else, and every tick writes exactly what it
would have written reading everything."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import F
from django.test import TestCase, override_settings

from sandbox.desk import services as desk_services
from sandbox.desk.models import (
    Fill,
    InsuranceFund,
    LedgerEntry,
    LiquidationRecord,
    MarginSettingRow,
    Market,
    PaperAccount,
    Position,
    Wallet,
)
from sandbox.live import kept as keeping
from sandbox.live import services as live_services
from sandbox.live.services import TickResult

from .conftest import (
    BUY,
    ISOLATED,
    SELL,
    account_on,
    open_position,
    quiet,
    reload,
    schedule_gap,
)

pytestmark = pytest.mark.usefixtures("seeded")

D = Decimal
KEEP_ALL = {"SANDBOX_KEEP_ACCOUNTS_FROM": 0}
KEEP_NONE = {"SANDBOX_KEEP_ACCOUNTS_FROM": 10**9}


@pytest.fixture(autouse=True)
def nothing_kept() -> Iterator[None]:
    keeping.forget()
    yield
    keeping.forget()


def tick(market: Market, keep: dict[str, int] = KEEP_ALL) -> TickResult:
    """One tick, committed (what it leaves for after its commit runs: the test's own
    transaction is never committed)."""
    with override_settings(**keep), TestCase.captureOnCommitCallbacks(execute=True):
        result = live_services.market_tick(market_id=market.pk)
    assert result is not None
    return result


def boundary(market: Market, seconds: int) -> None:
    """The market's clock ten simulated minutes (one tick at 600x) before ``seconds``."""
    Market.objects.filter(pk=market.pk).update(sim_seconds=D(seconds - 600))


def a_class(market: Market) -> list[PaperAccount]:
    """Five learners on ``market`` (quiet, 600x, funding on): cross longs and shorts, an
    isolated long, two cross positions sharing funds, a stop-loss."""
    accounts = [account_on(market) for _ in range(5)]
    open_position(accounts[0], "XBTUSDT", BUY, "0.1")
    open_position(accounts[1], "XBTUSDT", SELL, "0.2")
    open_position(accounts[2], "XBTUSDT", BUY, "0.1", ISOLATED, "20")
    open_position(accounts[3], "XBTUSDT", BUY, "0.3")
    open_position(accounts[3], "ETHUSDT", SELL, "2")
    open_position(accounts[4], "ETHUSDT", BUY, "3")
    desk_services.triggers_set(
        account=accounts[4], symbol="ETHUSDT", stop_loss=D("2950"), take_profit=None
    )
    return accounts


def stored(market: Market) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the ticks and actions write, with each account named by its place in the
    class (two markets' classes compare row for row)."""
    ids = list(PaperAccount.objects.filter(market=market).order_by("pk").values_list("pk"))
    place = {pk: n for n, (pk,) in enumerate(ids)}

    def rows(model: Any, *columns: str, order: tuple[str, ...] = ("account_id",)) -> list[Any]:
        found = model.objects.filter(account__market=market).order_by(*order)
        return [(place[r[0]], *r[1:]) for r in found.values_list("account_id", *columns)]

    figures = ("qty", "cost_value", "entry_value", "mode", "leverage", "position_margin")
    keys = ("realised_pnl", "stop_loss", "liquidation_key", "band_low_key", "band_high_key")
    return {
        "wallets": rows(Wallet, "currency", "balance", order=("account_id", "currency")),
        "positions": rows(
            Position, "instrument_id", *figures, *keys, order=("account_id", "instrument_id")
        ),
        "ledger": rows(
            LedgerEntry, "currency", "amount", "balance_after", "reason", "symbol", order=("id",)
        ),
        "fills": rows(Fill, "symbol", "side", "qty", "price", "fee", "trigger", order=("id",)),
        "records": rows(LiquidationRecord, "symbol", "loss", "sequence", order=("id",)),
        "settings": rows(MarginSettingRow, "instrument_id", "mode", "leverage"),
        "flags": [
            (place[pk], linked)
            for pk, linked in PaperAccount.objects.filter(market=market)
            .order_by("pk")
            .values_list("pk", "cross_linked")
        ],
        "insurance": list(
            InsuranceFund.objects.filter(market=market).values_list("currency", "balance")
        ),
    }


def versions(market: Market) -> dict[int, int]:
    return dict(PaperAccount.objects.filter(market=market).values_list("pk", "version"))


def lesson(market: Market, keep: dict[str, int]) -> tuple[list[tuple[Any, ...]], list[int]]:
    """A class's afternoon: ticks of every kind, with learners' and a teacher's actions
    between them. Each tick's (realised, funded, accounts computed, accounts read), and
    how many accounts were new or had their version moved before it."""
    accounts = a_class(market)
    done: list[tuple[Any, ...]] = []
    announced: list[int] = []

    def step(action: Callable[[], object] | None = None, *, at: int, speed: int = 600) -> None:
        before = versions(market)
        if action is not None:
            action()
        announced.append(sum(before.get(pk) != v for pk, v in versions(market).items()))
        Market.objects.filter(pk=market.pk).update(speed=speed)
        boundary(market, at)
        result = tick(market, keep)
        done.append((result.realised, result.funded, result.accounts_touched, result.accounts_read))

    schedule_gap(market, "XBTUSDT", "1")
    step(at=28800)  # realisation and funding
    # A plain tick (at 1x): the stop-loss fires.
    step(lambda: schedule_gap(market, "ETHUSDT", "-2"), at=28801, speed=1)
    step(lambda: open_position(accounts[1], "XBTUSDT", BUY, "0.1"), at=29400)
    step(
        lambda: desk_services.margin_change(account=accounts[2], symbol="XBTUSDT", amount=D(50)),
        at=57600,
    )
    step(
        lambda: desk_services.market_mark_set(
            market=reload(market), symbol="XBTUSDT", price=D("58000")
        ),
        at=58200,
    )
    newcomer = account_on(market)
    step(lambda: open_position(newcomer, "ETHUSDT", SELL, "1"), at=86400)
    step(lambda: desk_services.account_reset(account=accounts[0], by_teacher=True), at=87000)
    step(lambda: schedule_gap(market, "XBTUSDT", "-40"), at=115200)  # liquidations, funding
    return done, announced


def a_market() -> Market:
    """A new market (its first account a learner who does not trade), quiet, at 600x, with
    funding on."""
    market = desk_services.account_create().market
    return quiet(market, speed=600, funding_enabled=True)


def test_ticks_keeping_the_accounts_write_what_ticks_reading_them_all_write() -> None:
    kept_market, read_market = a_market(), a_market()

    with_kept, announced = lesson(kept_market, KEEP_ALL)
    reading_all, _ = lesson(read_market, KEEP_NONE)

    assert stored(kept_market) == stored(read_market)
    assert [row[:3] for row in with_kept] == [row[:3] for row in reading_all]
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
    market = a_market()
    a_class(market)
    boundary(market, 28800)
    assert tick(market).accounts_read == 6
    boundary(market, 29400)

    def failing(*args: Any, **kwargs: Any) -> Any:
        desk_services.outcomes_save(*args, **kwargs)  # (written, then the tick fails)
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(live_services, "outcomes_save", failing)
    with pytest.raises(RuntimeError):
        tick(market)
    monkeypatch.undo()

    assert tick(market).accounts_read == 6


def test_another_process_ticking_the_market_makes_the_next_tick_read_everything() -> None:
    market = a_market()
    a_class(market)
    boundary(market, 28800)
    assert tick(market).accounts_read == 6
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
    market = a_market()
    accounts = a_class(market)
    boundary(market, 28800)
    tick(market)
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
    market = a_market()
    accounts = a_class(market)
    boundary(market, 28800)
    tick(market)
    PaperAccount.objects.filter(pk__in=[a.pk for a in accounts[:2]]).update(
        version=F("version") + 1
    )
    boundary(market, 29400)
    assert tick(market).accounts_read == 2
