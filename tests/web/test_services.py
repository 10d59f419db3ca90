"""The services directly: the ledger adds up, refusals write nothing, no double spend."""

from __future__ import annotations

import decimal
import sqlite3
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections

from sandbox import engine
from sandbox.desk import selectors, services
from sandbox.desk.fields import stored_text
from sandbox.desk.models import (
    Fill,
    InsuranceFund,
    LedgerEntry,
    LiquidationRecord,
    MarginSettingRow,
    Market,
    MarkPrice,
    PaperAccount,
    Position,
    Wallet,
)
from sandbox.desk.selectors import KEY_COLUMNS, engine_market, stored_accounts
from tests.web.desks import snapshot

D = Decimal
BUY, SELL = engine.Side.BUY, engine.Side.SELL
ISOLATED, CROSS = engine.MarginMode.ISOLATED, engine.MarginMode.CROSS


def assert_ledger_adds_up(account: PaperAccount) -> None:
    """Each wallet is the sum of its ledger entries, and every entry's balance_after is
    the running total, so the last one equals the wallet."""
    wallets = dict(Wallet.objects.filter(account=account).values_list("currency", "balance"))
    currencies = set(LedgerEntry.objects.filter(account=account).values_list("currency", flat=True))
    assert currencies == set(wallets)
    for currency, balance in wallets.items():
        entries = list(
            LedgerEntry.objects.filter(account=account, currency=currency).order_by("id")
        )
        running = D(0)
        for entry in entries:
            running += entry.amount
            assert entry.balance_after == running, (currency, entry.reason, entry.amount)
        assert running == balance, currency
        assert entries[-1].balance_after == balance


def reasons(account: PaperAccount, since: int) -> list[tuple[str, str, Decimal]]:
    return list(
        LedgerEntry.objects.filter(account=account, id__gt=since)
        .order_by("id")
        .values_list("currency", "reason", "amount")
    )


def last_id() -> int:
    entry = LedgerEntry.objects.order_by("-id").first()
    return entry.pk if entry else 0


def test_a_new_account_has_its_starting_balances_as_deposits(seeded: None) -> None:
    account = services.account_create()

    assert reasons(account, 0) == [("USDT", "deposit", D("10000")), ("XBT", "deposit", D("1"))]
    assert_ledger_adds_up(account)


def test_the_ledger_adds_up_through_a_sequence_of_actions(seeded: None) -> None:
    account = services.account_create()
    usdt = D("10000")

    # Isolated 10x long of 1 XBTUSDT at 60,000: a fee of 30.
    services.leverage_set(account=account, symbol="XBTUSDT", mode=ISOLATED, leverage=D("10"))
    mark = last_id()
    services.order_place(account=account, symbol="XBTUSDT", side=BUY, qty=D("1"))
    assert reasons(account, mark) == [("USDT", "taker_fee", D("-30"))]
    usdt -= 30
    assert_ledger_adds_up(account)

    # Half of it sold at 61,000: PnL +500, a fee of 15.25.
    services.mark_set(account=account, symbol="XBTUSDT", price=D("61000"))
    mark = last_id()
    services.order_place(account=account, symbol="XBTUSDT", side=SELL, qty=D("0.5"))
    assert reasons(account, mark) == [
        ("USDT", "trade_pnl", D("500")),
        ("USDT", "taker_fee", D("-15.25")),
    ]
    usdt += D("500") - D("15.25")
    assert_ledger_adds_up(account)
    assert Position.objects.get(account=account).position_margin == D("3000")

    # Margin added and removed moves nothing in the wallet.
    mark = last_id()
    services.margin_change(account=account, symbol="XBTUSDT", amount=D("250.5"))
    services.margin_change(account=account, symbol="XBTUSDT", amount=D("-250.5"))
    assert reasons(account, mark) == []

    # The mark falls through the liquidation price (54,300): the margin of 3,000 is lost.
    mark = last_id()
    outcomes = services.mark_set(account=account, symbol="XBTUSDT", price=D("50000"))
    events = outcomes[account.pk].events
    assert [type(event) for event in events] == [engine.LiquidationEvent]
    assert events[0].loss == D("-3000")
    assert reasons(account, mark) == [("USDT", "liquidation", D("-3000"))]
    usdt -= 3000
    assert_ledger_adds_up(account)
    assert not Position.objects.filter(account=account).exists()
    assert InsuranceFund.objects.get(market_id=account.market_id).balance == D("-2000")

    # An inverse trade settles in XBT: 1,000 USD long at 60,000, closed at 66,000.
    mark = last_id()
    services.order_place(account=account, symbol="XBTUSD", side=BUY, qty=D("1000"))
    services.mark_set(account=account, symbol="XBTUSD", price=D("66000"))
    services.position_close(account=account, symbol="XBTUSD")
    # Fee 1000/60000 × 0.0005 = 0.00000833… → 0.00000834 (rounded up);
    # PnL 1000/60000 − 1000/66000 = 0.00151515… → 0.00151515 (rounded down);
    # fee 1000/66000 × 0.0005 = 0.00000757… → 0.00000758.
    assert reasons(account, mark) == [
        ("XBT", "taker_fee", D("-0.00000834")),
        ("XBT", "trade_pnl", D("0.00151515")),
        ("XBT", "taker_fee", D("-0.00000758")),
    ]
    assert_ledger_adds_up(account)
    assert Wallet.objects.get(account=account, currency="XBT").balance == D("1.00149923")
    assert Wallet.objects.get(account=account, currency="USDT").balance == usdt == D("7454.75")

    # Reset: one entry per currency that changed, back to the start.
    mark = last_id()
    services.leverage_set(account=account, symbol="ETHUSDT", mode=ISOLATED, leverage=D("5"))
    services.order_place(account=account, symbol="ETHUSDT", side=SELL, qty=D("1"))
    services.account_reset(account=account)
    assert reasons(account, mark)[-2:] == [
        ("USDT", "reset", D("10000") - (usdt - D("1.5"))),
        ("XBT", "reset", D("-0.00149923")),
    ]
    assert_ledger_adds_up(account)
    state = snapshot(account)
    assert state["wallets"] == {"USDT": D("10000"), "XBT": D("1")}
    assert state["positions"] == []
    assert state["settings"] == []


def test_fills_record_each_execution(seeded: None) -> None:
    account = services.account_create()
    services.leverage_set(account=account, symbol="XBTUSDT", mode=ISOLATED, leverage=D("10"))
    services.order_place(account=account, symbol="XBTUSDT", side=BUY, qty=D("1"))
    services.mark_set(account=account, symbol="XBTUSDT", price=D("54300"))

    rows = list(
        Fill.objects.filter(account=account)
        .order_by("id")
        .values_list("side", "qty", "price", "fee", "realised_pnl", "liquidation")
    )
    assert rows == [
        ("buy", D("1"), D("60000"), D("30"), D("0"), False),
        ("sell", D("1"), D("54000"), D("0"), D("-6000"), True),
    ]


Refusal = Callable[[PaperAccount], object]

REFUSALS: list[tuple[str, Refusal, str]] = [
    (
        "order beyond the balance",
        lambda a: services.order_place(account=a, symbol="XBTUSDT", side=BUY, qty=D("100")),
        "Not enough available balance: this order needs 53,315 USDT more",
    ),
    (
        "order off the quantity step",
        lambda a: services.order_place(account=a, symbol="XBTUSDT", side=BUY, qty=D("0.0005")),
        "XBTUSDT trades in steps of 0.001 XBT; 0.0005 is not a whole number of steps.",
    ),
    (
        "order of nothing",
        lambda a: services.order_place(account=a, symbol="XBTUSDT", side=SELL, qty=D("0")),
        "Enter a quantity above zero.",
    ),
    (
        "order on an unknown symbol",
        lambda a: services.order_place(account=a, symbol="DOGEUSDT", side=BUY, qty=D("1")),
        "There is no instrument called 'DOGEUSDT' in this market.",
    ),
    (
        "leverage above the maximum",
        lambda a: services.leverage_set(
            account=a, symbol="ETHUSDT", mode=ISOLATED, leverage=D("51")
        ),
        "Leverage on ETHUSDT must be from 1x to 50x; 51x is outside that.",
    ),
    (
        "leverage the balance cannot carry",
        lambda a: services.leverage_set(
            account=a, symbol="XBTUSDT", mode=ISOLATED, leverage=D("1")
        ),
        "switching XBTUSDT to isolated margin at 1x needs 20,015 USDT more",
    ),
    (
        "margin on a cross position",
        lambda a: services.margin_change(account=a, symbol="XBTUSDT", amount=D("10")),
        engine.CROSS_MARGIN_IS_SHARED,
    ),
    (
        "margin with no position",
        lambda a: services.margin_change(account=a, symbol="ETHUSDT", amount=D("10")),
        "You have no open ETHUSDT position to add margin to.",
    ),
    (
        "closing no position",
        lambda a: services.position_close(account=a, symbol="SOLUSDT"),
        "You have no open SOLUSDT position to close.",
    ),
    (
        "a mark of zero",
        lambda a: services.mark_set(account=a, symbol="XBTUSDT", price=D("0")),
        "A mark price must be above zero; 0 is not a price.",
    ),
    (
        "a negative mark",
        lambda a: services.mark_set(account=a, symbol="XBTUSDT", price=D("-1")),
        "A mark price must be above zero; -1 is not a price.",
    ),
]


@pytest.mark.parametrize(
    ("refusal", "message"),
    [(call, message) for _, call, message in REFUSALS],
    ids=[name for name, _, _ in REFUSALS],
)
def test_a_refused_service_call_writes_nothing(
    seeded: None, refusal: Refusal, message: str
) -> None:
    account = services.account_create()
    # Something to refuse against: a cross long of 0.5 XBTUSDT (fee 15).
    services.order_place(account=account, symbol="XBTUSDT", side=BUY, qty=D("0.5"))
    before = snapshot(account)
    ledger = LedgerEntry.objects.count()

    with pytest.raises(engine.Rejected) as refused:
        refusal(account)

    assert message in refused.value.message
    assert snapshot(account) == before
    assert LedgerEntry.objects.count() == ledger
    assert_ledger_adds_up(account)


def test_removing_isolated_margin_while_a_cross_loss_holds_available_below_zero(
    seeded: None,
) -> None:
    account = services.account_create()
    # Isolated 10x long of 0.1 XBTUSDT at 60,000 (margin 600, fee 3), with 1,000 added.
    services.leverage_set(account=account, symbol="XBTUSDT", mode=ISOLATED, leverage=D("10"))
    services.order_place(account=account, symbol="XBTUSDT", side=BUY, qty=D("0.1"))
    services.margin_change(account=account, symbol="XBTUSDT", amount=D("1000"))
    # Cross long of 20 ETHUSDT at 1,000 (initial margin 400 at 50x, fee 10). At 595 the
    # loss of 8,100 takes available to 9,987 − 400 − 8,100 − 1,600 = −113, while the
    # cross position keeps 9,987 − 1,600 − 8,100 = 287 above its maintenance of 200.
    services.mark_set(account=account, symbol="ETHUSDT", price=D("1000"))
    services.order_place(account=account, symbol="ETHUSDT", side=BUY, qty=D("20"))
    services.mark_set(account=account, symbol="ETHUSDT", price=D("595"))
    assert Position.objects.filter(account=account).count() == 2
    ledger = LedgerEntry.objects.count()

    outcome = services.margin_change(account=account, symbol="XBTUSDT", amount=D("-100"))

    figures = engine.account_figures(outcome.account, engine_market(account.market))
    assert figures.balances["USDT"].available_internal == -13
    assert Position.objects.get(account=account, instrument="XBTUSDT").position_margin == 1500
    assert Wallet.objects.get(account=account, currency="USDT").balance == D("9987")
    assert LedgerEntry.objects.count() == ledger  # margin moves no money
    # Adding it back needs available balance, which there is none of.
    with pytest.raises(engine.Rejected, match="You can add at most 0 USDT"):
        services.margin_change(account=account, symbol="XBTUSDT", amount=D("100"))
    assert_ledger_adds_up(account)


def test_two_orders_that_together_exceed_the_balance(seeded: None) -> None:
    account = services.account_create()

    # Cross 100x: 10 XBT is worth 600,000; IM 6,000 and fee 300 fit in 10,000 once.
    services.order_place(account=account, symbol="XBTUSDT", side=BUY, qty=D("10"))
    before = snapshot(account)
    with pytest.raises(engine.Rejected) as refused:
        services.order_place(account=account, symbol="XBTUSDT", side=BUY, qty=D("10"))

    assert refused.value.message == (
        "Not enough available balance: this order needs 2,600 USDT more than you have available."
    )
    assert snapshot(account) == before
    assert Position.objects.get(account=account).qty == D("10")
    assert Fill.objects.filter(account=account).count() == 1
    assert Wallet.objects.get(account=account, currency="USDT").balance == D("9700")
    assert_ledger_adds_up(account)


def test_a_service_holding_a_stale_account_object_sees_the_saved_balance(seeded: None) -> None:
    """Two tabs hold the same account row: the second order reads what the first left."""
    account = services.account_create()
    tab_one = PaperAccount.objects.get(pk=account.pk)
    tab_two = PaperAccount.objects.get(pk=account.pk)

    services.order_place(account=tab_one, symbol="XBTUSDT", side=BUY, qty=D("10"))
    with pytest.raises(engine.Rejected):
        services.order_place(account=tab_two, symbol="XBTUSDT", side=BUY, qty=D("10"))

    assert Fill.objects.filter(account=account).count() == 1


def _file_database(tmp_path: Path) -> str:
    """Copy the test database into a private file for the threads to race on.

    A file database with IMMEDIATE transactions (settings.DATABASES) is what the sandbox
    runs on: the second writer waits for the first. SQLite's shared-cache in-memory test
    database would instead fail the second writer at once with "database table is
    locked", and the shared test file may be in use by other test runs.
    """
    path = tmp_path / "race.sqlite3"
    connection.ensure_connection()
    target = sqlite3.connect(path)
    connection.connection.backup(target)
    target.close()
    return str(path)


def _in_threads(*works: Callable[[], None]) -> None:
    """Run each function in its own thread, with its own database connection."""

    def run(work: Callable[[], None]) -> None:
        try:
            work()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(work,)) for work in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)


def _race(account: PaperAccount) -> list[str]:
    """Two threads place the same order at the same moment; what each was told."""
    results: list[str] = []
    start = threading.Barrier(2)

    def place() -> None:
        start.wait()
        try:
            services.order_place(account=account, symbol="XBTUSDT", side=BUY, qty=D("10"))
        except engine.Rejected as refusal:
            results.append(refusal.message)
        except Exception as error:
            results.append(repr(error))
        else:
            results.append("placed")

    _in_threads(place, place)
    return sorted(results)


def _settle(account: PaperAccount) -> dict[str, object]:
    """What the race left (read in a thread, from the file database), then a reset."""
    seen: dict[str, object] = {}

    def check_and_reset() -> None:
        seen["fills"] = Fill.objects.filter(account=account).count()
        seen["qty"] = Position.objects.get(account=account).qty
        seen["usdt"] = Wallet.objects.get(account=account, currency="USDT").balance
        assert_ledger_adds_up(account)
        seen["ledger adds up"] = True
        services.account_reset(account=account)
        Fill.objects.filter(account=account).delete()

    _in_threads(check_and_reset)
    return seen


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_orders_cannot_double_spend(
    seeded: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = services.account_create()
    # Threads open their own connections: point them at a file copy of the database.
    monkeypatch.setitem(
        connections.settings,
        "default",
        {**connections.settings["default"], "NAME": _file_database(tmp_path)},
    )

    # Cross 100x: one order of 10 XBT (IM 6,000, fee 300) fits in 10,000; two do not.
    for _ in range(3):
        assert _race(account) == [
            "Not enough available balance: this order needs 2,600 USDT more than you have "
            "available.",
            "placed",
        ]
        assert _settle(account) == {
            "fills": 1,
            "qty": D("10"),
            "usdt": D("9700"),
            "ledger adds up": True,
        }


# ---------------------------------------------------------------- the ticket's slider (#12)


def test_an_order_with_the_sliders_setting_opens_the_position_under_it(seeded: None) -> None:
    """No Apply: one service call saves the setting and opens the position under it."""
    account = services.account_create()
    setting = engine.MarginSetting(ISOLATED, D(10))

    services.order_place(account=account, symbol="XBTUSDT", side=BUY, qty=D(1), setting=setting)

    position = Position.objects.get(account=account)
    assert (position.mode, position.leverage, position.position_margin) == (
        "isolated",
        D("10"),
        D("6000"),
    )
    assert snapshot(account)["settings"] == [("XBTUSDT", "isolated", D("10"))]
    assert_ledger_adds_up(account)


def test_an_order_the_setting_cannot_carry_writes_nothing(seeded: None) -> None:
    """Isolated 1x sets 60,000 aside: refused, and the setting is not saved either."""
    account = services.account_create()
    before = snapshot(account)

    with pytest.raises(engine.Rejected):
        services.order_place(
            account=account,
            symbol="XBTUSDT",
            side=BUY,
            qty=D(1),
            setting=engine.MarginSetting(ISOLATED, D(1)),
        )

    assert snapshot(account) == before


def test_an_order_on_an_open_position_keeps_its_setting_unless_applied(seeded: None) -> None:
    account = services.account_create()
    ten = engine.MarginSetting(ISOLATED, D(10))
    services.order_place(account=account, symbol="XBTUSDT", side=BUY, qty=D(1), setting=ten)
    before = snapshot(account)

    with pytest.raises(engine.Rejected) as refused:
        services.order_place(
            account=account,
            symbol="XBTUSDT",
            side=BUY,
            qty=D("0.1"),
            setting=engine.MarginSetting(ISOLATED, D(20)),
        )

    assert refused.value.message == (
        "Your XBTUSDT position uses isolated 10x, not isolated 20x: apply the new leverage "
        "first, or move the slider back, then place the order."
    )
    assert snapshot(account) == before
    # The position's own setting (or none given) is accepted.
    services.order_place(account=account, symbol="XBTUSDT", side=BUY, qty=D("0.1"), setting=ten)
    services.order_place(account=account, symbol="XBTUSDT", side=BUY, qty=D("0.1"))
    assert Position.objects.get(account=account).qty == D("1.2")


def test_cross_is_one_stop_whatever_leverage_it_is_figured_at(seeded: None) -> None:
    assert services.same_setting(
        engine.MarginSetting(CROSS, D(100)), engine.MarginSetting(CROSS, D(50))
    )
    assert not services.same_setting(
        engine.MarginSetting(ISOLATED, D(10)), engine.MarginSetting(ISOLATED, D(20))
    )
    assert not services.same_setting(None, engine.MarginSetting(CROSS, D(100)))


def test_a_mark_set_by_hand_tells_the_accounts_it_liquidated(
    seeded: None, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    """Their desks redraw whole (the liquidation notice with its breakdown), as after a
    tick that liquidates; the market hears a tick that skips them."""
    sent: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr(
        services.broadcast, "send", lambda group, message: sent.append((group, message))
    )
    account = services.account_create()
    bystander = services.account_create(market=account.market)
    services.order_place(
        account=account,
        symbol="XBTUSDT",
        side=BUY,
        qty=D(1),
        setting=engine.MarginSetting(ISOLATED, D(10)),
    )
    sent.clear()

    with django_capture_on_commit_callbacks(execute=True):
        services.mark_set(account=account, symbol="XBTUSDT", price=D(54000))

    market = account.market
    assert sent == [
        (
            f"market-{market.pk}",
            {
                "type": "market.tick",
                "sequence": market.sequence,
                "ledger": True,
                "changed": [account.pk],
                "booked": [account.pk],
            },
        ),
        (f"account-{account.pk}", {"type": "account.changed", "sequence": market.sequence}),
    ]
    assert bystander.pk not in sent[0][1]["changed"]  # type: ignore[operator]


def test_a_mark_set_by_hand_computes_every_account_at_once_and_writes_what_changed(
    seeded: None, django_assert_max_num_queries: Any
) -> None:
    """The whole class in one read per table and one write per kind of row: the account
    the mark liquidates is written with its ledger and record, a cross-linked account's
    band is rebased on the new mark, an untouched isolated one keeps its rows, and an
    account with no position has nothing to compute."""
    liquidated = services.account_create()
    market = liquidated.market
    linked = services.account_create(market=market)
    calm = services.account_create(market=market)
    empty = services.account_create(market=market)
    ten = engine.MarginSetting(ISOLATED, D(10))
    services.order_place(account=liquidated, symbol="XBTUSDT", side=BUY, qty=D(1), setting=ten)
    services.order_place(account=linked, symbol="XBTUSDT", side=BUY, qty=D("0.1"))  # cross
    services.order_place(account=linked, symbol="ETHUSDT", side=SELL, qty=D(1))  # cross
    services.order_place(
        account=calm,
        symbol="XBTUSDT",
        side=SELL,
        qty=D("0.1"),
        setting=engine.MarginSetting(ISOLATED, D(2)),
    )
    calm_rows = list(Position.objects.filter(account=calm).values())
    wallets = {a.pk: dict(a.wallets.values_list("currency", "balance")) for a in (calm, empty)}

    with django_assert_max_num_queries(30):  # (one account at a time: 34, and more each)
        outcomes = services.market_mark_set(market=market, symbol="XBTUSDT", price=D(54000))

    assert set(outcomes) == {liquidated.pk, linked.pk, calm.pk}
    assert [type(e) for e in outcomes[liquidated.pk].events] == [engine.LiquidationEvent]
    assert not Position.objects.filter(account=liquidated).exists()
    assert LiquidationRecord.objects.get(account=liquidated).mark_price == D(54000)
    assert_ledger_adds_up(liquidated)
    moved = engine_market(Market.objects.get(pk=market.pk))
    assert moved.marks["XBTUSDT"] == D(54000)
    for account in (linked, calm):
        state = services.engine_account(account)
        assert state == outcomes[account.pk].account
        expected = services.index_keys(state, moved)
        for row in Position.objects.filter(account=account):
            stored = {name: getattr(row, name) for name in services.KEY_FIELDS}
            assert stored == expected[row.instrument_id], (account, row.instrument_id)
    band = Position.objects.get(account=linked, instrument_id="XBTUSDT").band_low_key
    assert band is not None and band < 54000 * services.KEY_SCALE
    assert list(Position.objects.filter(account=calm).values()) == calm_rows
    for account in (calm, empty):
        assert dict(account.wallets.values_list("currency", "balance")) == wallets[account.pk]


# ------------------------------------------------------------- what an outcome writes


def test_an_open_positions_mode_and_margin_change_is_written_as_computed(seeded: None) -> None:
    account = services.account_create()
    services.order_place(account=account, symbol="XBTUSDT", side=BUY, qty=D("0.1"))  # cross

    outcome = services.leverage_set(
        account=account, symbol="XBTUSDT", mode=ISOLATED, leverage=D(10)
    )

    row = Position.objects.get(account=account)
    assert (row.mode, row.leverage, row.market_id) == ("isolated", D(10), account.market_id)
    assert row.position_margin == outcome.account.positions["XBTUSDT"].position_margin > 0
    assert services.engine_account(account) == outcome.account
    keys = services.index_keys(outcome.account, engine_market(account.market))["XBTUSDT"]
    assert {name: getattr(row, name) for name in services.KEY_FIELDS} == keys
    assert_ledger_adds_up(account)


# ------------------------------------------------------------- a room closed: reduce-only


def closed(account: PaperAccount, *, reduce_only: bool = True) -> PaperAccount:
    """The account's market closed to trading by its teacher (reduce-only, or frozen)."""
    Market.objects.filter(pk=account.market_id).update(
        trading_open=False, closed_reduce_only=reduce_only
    )
    return PaperAccount.objects.select_related("market").get(pk=account.pk)


@pytest.fixture
def long_10x(seeded: None) -> PaperAccount:
    """An isolated 10x long of 1 XBTUSDT at 60,000 (margin 6,000, fee 30), then the room
    closes to trading: reduce-only."""
    account = services.account_create()
    services.leverage_set(account=account, symbol="XBTUSDT", mode=ISOLATED, leverage=D(10))
    services.order_place(account=account, symbol="XBTUSDT", side=BUY, qty=D(1))
    return closed(account)


def position(account: PaperAccount) -> tuple[Decimal, str, Decimal, Decimal]:
    row = Position.objects.get(account=account, instrument_id="XBTUSDT")
    return row.qty, row.mode, row.leverage, row.position_margin


def test_reduce_only_lets_a_learner_lower_their_risk(long_10x: PaperAccount) -> None:
    account = long_10x

    services.order_place(account=account, symbol="XBTUSDT", side=SELL, qty=D("0.4"))
    assert position(account) == (D("0.6"), "isolated", D(10), D(3600))
    services.margin_change(account=account, symbol="XBTUSDT", amount=D(400))
    assert position(account) == (D("0.6"), "isolated", D(10), D(4000))
    services.leverage_set(account=account, symbol="XBTUSDT", mode=ISOLATED, leverage=D(5))
    assert position(account) == (D("0.6"), "isolated", D(5), D(7200))  # 36,000 / 5
    services.triggers_set(
        account=account, symbol="XBTUSDT", stop_loss=D(55000), take_profit=D(70000)
    )
    services.triggers_set(account=account, symbol="XBTUSDT", stop_loss=None, take_profit=None)
    services.position_close(account=account, symbol="XBTUSDT")

    assert not Position.objects.filter(account=account).exists()
    assert Fill.objects.filter(account=account).count() == 3  # opened, reduced, closed
    assert_ledger_adds_up(account)


REDUCE_ONLY_REFUSALS: list[tuple[str, Refusal, str]] = [
    (
        "add to the position",
        lambda a: services.order_place(account=a, symbol="XBTUSDT", side=BUY, qty=D("0.1")),
        "this would add to your XBTUSDT position",
    ),
    (
        "an opposite order larger than the position",
        lambda a: services.order_place(account=a, symbol="XBTUSDT", side=SELL, qty=D("1.5")),
        "this would close your XBTUSDT position and open one on the other side (an order no "
        "larger than the position only reduces it)",
    ),
    (
        "a new position",
        lambda a: services.order_place(account=a, symbol="ETHUSDT", side=SELL, qty=D(1)),
        "this would open a new ETHUSDT position",
    ),
    (
        "a new position under the slider's setting",
        lambda a: services.order_place(
            account=a,
            symbol="ETHUSDT",
            side=BUY,
            qty=D(1),
            setting=engine.MarginSetting(ISOLATED, D(5)),
        ),
        "this would open a new ETHUSDT position",
    ),
    (
        "raise the leverage",
        lambda a: services.leverage_set(account=a, symbol="XBTUSDT", mode=ISOLATED, leverage=D(20)),
        "this would raise the leverage of your XBTUSDT position",
    ),
    (
        "switch to cross",
        lambda a: services.leverage_set(account=a, symbol="XBTUSDT", mode=CROSS, leverage=D(10)),
        "this would switch your XBTUSDT position to cross margin",
    ),
    (
        "remove margin",
        lambda a: services.margin_change(account=a, symbol="XBTUSDT", amount=D(-100)),
        "this would take margin from your XBTUSDT position",
    ),
    (
        "open the twins",
        lambda a: services.twins_open(
            account=a, symbol="XBTUSDT", side=BUY, qty=D("0.1"), leverage=D(10)
        ),
        "the twins would open two new positions",
    ),
]


@pytest.mark.parametrize(
    ("refusal", "reason"),
    [(call, reason) for _, call, reason in REDUCE_ONLY_REFUSALS],
    ids=[name for name, _, _ in REDUCE_ONLY_REFUSALS],
)
def test_reduce_only_refuses_what_adds_risk_and_says_why(
    long_10x: PaperAccount, refusal: Refusal, reason: str
) -> None:
    before = snapshot(long_10x)
    ledger, markets = LedgerEntry.objects.count(), Market.objects.count()

    with pytest.raises(engine.Rejected) as refused:
        refusal(long_10x)

    assert refused.value.message == services.REDUCE_ONLY.format(reason=reason)
    assert "reduce-only" in refused.value.message
    assert snapshot(long_10x) == before
    assert (LedgerEntry.objects.count(), Market.objects.count()) == (ledger, markets)


def test_reduce_only_lets_a_leverage_be_chosen_for_no_position(long_10x: PaperAccount) -> None:
    """Choosing the leverage of a symbol with no position opens nothing."""
    services.leverage_set(account=long_10x, symbol="ETHUSDT", mode=ISOLATED, leverage=D(25))
    row = MarginSettingRow.objects.get(account=long_10x, instrument_id="ETHUSDT")
    assert (row.mode, row.leverage) == ("isolated", D(25))
    assert not Position.objects.filter(account=long_10x, instrument_id="ETHUSDT").exists()


def test_a_frozen_room_refuses_even_a_close(long_10x: PaperAccount) -> None:
    account = closed(long_10x, reduce_only=False)
    before = snapshot(account)

    for action in (
        lambda: services.position_close(account=account, symbol="XBTUSDT"),
        lambda: services.order_place(account=account, symbol="XBTUSDT", side=SELL, qty=D("0.1")),
        lambda: services.margin_change(account=account, symbol="XBTUSDT", amount=D(100)),
        lambda: services.triggers_set(
            account=account, symbol="XBTUSDT", stop_loss=D(55000), take_profit=None
        ),
    ):
        with pytest.raises(engine.Rejected) as refused:
            action()
        assert refused.value.message == services.TRADING_CLOSED
        assert "frozen" in refused.value.message

    assert snapshot(account) == before


def test_a_teachers_reset_goes_through_a_closed_room(long_10x: PaperAccount) -> None:
    services.account_reset(account=long_10x, balances={"USDT": D(10000)}, by_teacher=True)
    assert not Position.objects.filter(account=long_10x).exists()
    assert Wallet.objects.get(account=long_10x, currency="USDT").balance == D(10000)


def test_an_exact_figure_is_written_as_its_column_stores_it() -> None:
    # The tick writes its figures with ``stored_text``: the field's own text for a Decimal,
    # in plain digits whatever the exponent, sign or trailing zeros.
    field = Wallet._meta.get_field("balance")
    for value in (D("1E+3"), D("-0.00000001"), D("0E-8"), D("123.4500"), D("-7"), D(10) ** 30):
        assert stored_text(value) == field.get_prep_value(value)
    assert (stored_text(D("1E+3")), stored_text(D("1.5E-7")), stored_text(None)) == (
        "1000",
        "0.00000015",
        None,
    )


@pytest.mark.parametrize("capitals", [1, 0])
def test_an_exact_figure_is_written_in_plain_digits_whatever_its_size(capitals: int) -> None:
    # ``stored_text`` takes ``str`` where it writes plain digits (``format``'s "f" is
    # slower): the same text as ``format`` for every sign, size and number of digits, and
    # whatever the context writes an exponent with.
    values = [
        D(sign + digits).scaleb(exponent)
        for sign in ("", "-")
        for digits in ("0", "1", "7", "10", "123456789", "1" * 49 + "9")
        for exponent in range(-60, 12)
    ]
    with decimal.localcontext(decimal.Context(capitals=capitals)):
        for value in values:
            assert stored_text(value) == format(value, "f"), value


def test_the_tick_reads_accounts_and_their_index_back_as_written(seeded: None) -> None:
    """``stored_accounts`` reads the rows' text itself (not through Django's converters):
    every figure back exactly, and each position's index columns in ``KEY_COLUMNS``' order,
    as the writes computed them."""
    account = services.account_create()
    services.order_place(account=account, symbol="XBTUSDT", side=BUY, qty=D("0.123"))
    services.order_place(account=account, symbol="ETHUSDT", side=engine.Side.SELL, qty=D("1.7"))
    services.triggers_set(
        account=account, symbol="XBTUSDT", stop_loss=D("50000.5"), take_profit=None
    )
    services.leverage_set(account=account, symbol="ETHUSDT", mode=ISOLATED, leverage=D(7))
    account.refresh_from_db()

    stored = stored_accounts([account.pk], keys=True)

    state = stored.states[account.pk]
    assert state == services.engine_account(account)
    assert state.positions["XBTUSDT"].stop_loss == D("50000.5")
    rows = Position.objects.filter(account=account)
    assert {row.instrument_id: row.position_margin for row in rows} == {
        symbol: position.position_margin for symbol, position in state.positions.items()
    }
    expected = services.index_keys(state, engine_market(account.market))
    assert stored.keys[account.pk] == {
        symbol: tuple(columns[name] for name in KEY_COLUMNS) for symbol, columns in expected.items()
    }
    assert stored.keys[account.pk]["XBTUSDT"][0] is True  # (is_long, as a bool)


def test_reads_of_a_few_accounts_by_a_kept_statement_match_djangos_own(seeded: None) -> None:
    """The statements of one account's reads (or a few, or a market's) are built once and
    kept: each reads exactly the rows the queryset it was built from reads, for whichever
    ids are given, and a long list of ids is read by a statement built for it."""
    accounts = [services.account_create() for _ in range(3)]
    for n, account in enumerate(accounts):
        services.order_place(account=account, symbol="XBTUSDT", side=BUY, qty=D("0.01") * (n + 1))
    columns = ("account_id", "instrument_id", "qty")
    for chosen in (
        {"account_id__in": [accounts[1].pk]},
        {"account_id__in": [accounts[2].pk, accounts[0].pk]},
        {"account_id__in": [a.pk for a in accounts] * 10},  # more than _FEW: expanded
        {"market_id": accounts[0].market_id},
    ):
        expected = Position.objects.filter(**chosen).order_by().values_list(*columns)
        assert sorted(selectors._rows(Position, chosen, columns)) == sorted(
            (a, s, stored_text(q)) for a, s, q in expected
        )
    sql, places = selectors._statement(Position, columns, "account_id__in", 2) or ("", [])
    assert sql.count("%s") == 2 and sorted(places) == [0, 1]
    sql, places = selectors._expanded(Position, columns, "account_id__in", 40) or ("", [])
    assert sql.count("%s") == 40 and places == list(range(40))
    # A filter whose parameters are not just the values is not kept (built each time).
    assert selectors._statement(Position, columns, "instrument_id", None) is None
    assert engine_market(accounts[0].market).marks == {
        row.instrument_id: row.price for row in MarkPrice.objects.filter(market=accounts[0].market)
    }
    assert stored_accounts([accounts[1].pk]).states[accounts[1].pk] == services.engine_account(
        accounts[1]
    )


def test_the_desks_latest_fills_and_ledger_entries_are_djangos_own(seeded: None) -> None:
    """The desk's latest fills and ledger entries, read by statements built once, are the
    rows (every field, converted as Django converts them) of Django's own query, newest
    first; the history page's full list is still that query."""
    account = services.account_create()
    other = services.account_create()
    for n in range(13):
        side = BUY if n % 2 else SELL
        services.order_place(account=account, symbol="XBTUSDT", side=side, qty=D("0.001"))
    services.order_place(account=other, symbol="XBTUSDT", side=BUY, qty=D("0.002"))
    for model, read in ((Fill, selectors.recent_fills), (LedgerEntry, selectors.recent_ledger)):
        expected = list(model.objects.filter(account=account)[: selectors.RECENT])
        found = read(account)
        assert isinstance(found, list) and len(found) == selectors.RECENT
        assert [row.pk for row in found] == [row.pk for row in expected]
        fields = [field.attname for field in model._meta.concrete_fields]
        assert [[getattr(row, name) for name in fields] for row in found] == [
            [getattr(row, name) for name in fields] for row in expected
        ]
        assert [row.pk for row in read(account, limit=3)] == [row.pk for row in expected[:3]]
        assert list(read(account, limit=None)) == list(model.objects.filter(account=account))
    fill = selectors.recent_fills(other)[0]
    assert (fill.qty, fill.side, fill.liquidation) == (D("0.002"), "buy", False)
    assert fill.created_at.tzinfo is not None
