"""The SQLite writers' queue (``sandbox.sqlite``): every write of every app waits its turn
there, a transaction from its BEGIN to its end, a statement outside one for that
statement, so no writer ever finds SQLite's write lock taken."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection, connections, transaction
from django.db.backends.base import base as django_base
from django.db.backends.sqlite3 import base as django_sqlite
from django.test import Client

from sandbox import engine
from sandbox.classroom import services as classroom
from sandbox.desk import services
from sandbox.desk.models import LedgerEntry, Market, PaperAccount, Wallet
from sandbox.live import services as live
from sandbox.sqlite import base as queued

pytestmark = pytest.mark.django_db(transaction=True)  # transactions of their own

D = Decimal
BUY, SELL = engine.Side.BUY, engine.Side.SELL
WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "BEGIN")


def test_django_still_calls_the_private_hooks_the_queue_uses() -> None:
    """The queue overrides Django's private backend methods: if Django renames them or
    stops calling them where it does today, this fails (and the queue would be bypassed
    without a word)."""
    assert "_start_transaction_under_autocommit" in vars(django_sqlite.DatabaseWrapper)
    assert "create_cursor" in vars(django_sqlite.DatabaseWrapper)
    for name in ("_commit", "_rollback", "_close"):
        assert name in vars(django_base.BaseDatabaseWrapper), name
    assert {"execute", "executemany"} <= set(vars(django_sqlite.SQLiteCursorWrapper))
    assert connection.settings_dict["ENGINE"] == "sandbox.sqlite"

    connection.ensure_connection()
    assert not connection.holds_writers
    with transaction.atomic():
        assert connection.holds_writers and queued.WRITERS.threads.locked()
        with transaction.atomic():  # a savepoint: the same turn goes on
            assert connection.holds_writers
    assert not connection.holds_writers and not queued.WRITERS.threads.locked()
    with pytest.raises(RuntimeError), transaction.atomic():
        raise RuntimeError("rolled back")
    assert not connection.holds_writers and not queued.WRITERS.threads.locked()
    assert isinstance(connection.cursor().cursor, queued.QueuedCursor)


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, bool]]]:
    """Every statement SQLite runs from now on, on any connection, and whether its
    connection held the writers' queue at that moment."""
    seen: list[tuple[str, bool]] = []
    lock = threading.Lock()
    opened = queued.DatabaseWrapper.get_new_connection

    def with_trace(self: queued.DatabaseWrapper, params: dict[str, Any]) -> Any:
        raw = opened(self, params)

        def trace(sql: str) -> None:
            with lock:
                seen.append((sql, self.holds_writers))

        raw.set_trace_callback(trace)
        return raw

    connection.close()
    monkeypatch.setattr(queued.DatabaseWrapper, "get_new_connection", with_trace)
    yield seen
    connection.close()


def writes(seen: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    return [(sql, held) for sql, held in seen if sql.lstrip()[:7].upper().startswith(WRITES)]


def test_every_write_of_every_app_waits_its_turn_in_the_queue(
    seeded: None, traced: list[tuple[str, bool]]
) -> None:
    # Django's own: a session and a user (sign-up), a desk page and an order through views.
    browser = Client()
    browser.get("/")
    browser.post(
        "/signup/", {"username": "q", "password1": "pw-Queue-1", "password2": "pw-Queue-1"}
    )
    mine = PaperAccount.objects.get(user__username="q")
    browser.post(f"/desk/{mine.pk}/XBTUSDT/order/", {"side": "buy", "qty": "0.1"})
    # The desk's services, in transactions and (account_create's market) outside them.
    account = services.account_create()
    services.leverage_set(
        account=account, symbol="XBTUSDT", mode=engine.MarginMode.ISOLATED, leverage=D(10)
    )
    services.order_place(account=account, symbol="XBTUSDT", side=BUY, qty=D("0.1"))
    services.margin_change(account=account, symbol="XBTUSDT", amount=D(10))
    services.triggers_set(account=account, symbol="XBTUSDT", stop_loss=D(50000), take_profit=None)
    services.mark_set(account=account, symbol="XBTUSDT", price=D(59000))
    services.twins_open(account=account, symbol="ETHUSDT", side=SELL, qty=D(1), leverage=D(5))
    services.position_close(account=account, symbol="XBTUSDT")
    services.account_reset(account=account)
    # The live market: controls are single statements outside a transaction.
    market = account.market
    live.market_watched(market_id=market.pk)
    live.leases_claim("ticker-q")
    live.market_speed(market=market, speed=600)
    live.market_gap(market=market, symbol="XBTUSDT", percent=D(-1))
    assert live.market_tick(market_id=market.pk, owner="ticker-q") is not None
    live.market_run(market=market, running=False)
    live.leases_release("ticker-q")
    # A classroom: made and joined outside any transaction.
    teacher = User.objects.create_user("teacher-q", password="pw-Teacher-1")
    room = classroom.room_create(
        teacher=teacher,
        name="Queue",
        symbols=["XBTUSDT"],
        balances={"USDT": D(1000)},
        max_leverage=D(20),
        fees=True,
        funding=True,
        leaderboard=False,
    )
    classroom.room_join(room=room, display_name="Ada")
    classroom.room_play(room=room, running=True)

    written = writes(traced)
    assert [sql for sql, held in written if not held] == []
    assert len(written) > 100
    autocommit = [sql for sql, _ in written if sql.startswith("UPDATE") and "last_watched" in sql]
    assert autocommit  # (the walk did reach writes outside a transaction)
    assert any("django_session" in sql for sql, _ in written)


def _file_database(tmp_path: Path) -> str:
    """A private file copy of the test database, for threads with their own connections."""
    path = tmp_path / "writers.sqlite3"
    connection.ensure_connection()
    target = sqlite3.connect(path)
    connection.connection.backup(target)
    target.close()
    return str(path)


def _in_threads(*works: Callable[[], None]) -> list[str]:
    """Run each function in a thread of its own (its own connection); what failed."""
    failures: list[str] = []

    def run(work: Callable[[], None]) -> None:
        try:
            work()
        except Exception as error:
            failures.append(repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(work,)) for work in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return failures


@pytest.fixture
def impatient_sqlite(seeded: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The threads' database, where SQLite itself refuses a writer that finds its lock
    taken at once (busy timeout 0): only the queue stands between two writers."""
    monkeypatch.setitem(
        connections.settings,
        "default",
        {**connections.settings["default"], "NAME": _file_database(tmp_path)},
    )
    opened = queued.DatabaseWrapper.get_new_connection

    def without_patience(self: queued.DatabaseWrapper, params: dict[str, Any]) -> Any:
        raw = opened(self, params)
        raw.execute("PRAGMA busy_timeout = 0")
        return raw

    monkeypatch.setattr(queued.DatabaseWrapper, "get_new_connection", without_patience)


def test_a_writer_meeting_a_transaction_waits_for_its_end_instead_of_failing(
    impatient_sqlite: None,
) -> None:
    inside, arriving = threading.Event(), threading.Event()
    order: list[str] = []
    market_ids: list[int] = []

    def long_transaction() -> None:
        with transaction.atomic():
            market_ids.append(Market.objects.create(name="first").pk)
            inside.set()
            arriving.wait(timeout=30)
            threading.Event().wait(0.2)  # (the other writer reaches the queue meanwhile)
            order.append("transaction")

    def single_statement() -> None:
        inside.wait(timeout=30)
        arriving.set()
        Market.objects.filter(pk=market_ids[0]).update(name="second")  # outside a transaction
        order.append("statement")

    assert _in_threads(long_transaction, single_statement) == []
    assert order == ["transaction", "statement"]

    def read() -> None:
        order.append(Market.objects.get(pk=market_ids[0]).name)

    assert _in_threads(read) == []
    assert order[-1] == "second"


def test_ticks_orders_and_controls_at_once_never_find_the_database_locked(
    impatient_sqlite: None,
) -> None:
    made: list[PaperAccount] = []

    def setup() -> None:
        market = Market.objects.create(name="busy", kind=Market.Kind.ROOM, speed=600)
        for symbol, price in (("XBTUSDT", D(60000)), ("ETHUSDT", D(3000))):
            market.marks.create(instrument_id=symbol, price=price)
        for number in range(4):
            account = services.account_create(market=market)
            side = BUY if number % 2 else SELL
            services.order_place(account=account, symbol="ETHUSDT", side=side, qty=D(1))
            made.append(account)

    assert _in_threads(setup) == []  # (in the threads' database)
    accounts, market = made, made[0].market
    ticks: list[int] = []

    def ticker() -> None:
        for _ in range(12):  # every tick at 600x crosses ten minutes: a realisation tick
            result = live.market_tick(market_id=market.pk)
            assert result is not None and result.realised
            ticks.append(result.sequence)

    def learner(account: PaperAccount) -> Callable[[], None]:
        def trade() -> None:
            for number in range(8):
                side = BUY if number % 2 else SELL
                services.order_place(account=account, symbol="XBTUSDT", side=side, qty=D("0.01"))
                live.market_watched(market_id=market.pk)

        return trade

    assert _in_threads(ticker, *(learner(a) for a in accounts)) == []

    assert ticks == list(range(1, 13))
    totals: list[tuple[Decimal, Decimal]] = []
    fills: list[int] = []

    def check() -> None:
        for account in accounts:
            for currency, balance in Wallet.objects.filter(account=account).values_list(
                "currency", "balance"
            ):
                entries = LedgerEntry.objects.filter(account=account, currency=currency)
                totals.append((sum((e.amount for e in entries), D(0)), balance))
            fills.append(account.fills.count())

    assert _in_threads(check) == []
    assert totals and all(ledger == wallet for ledger, wallet in totals)
    assert fills == [1 + 8] * 4
