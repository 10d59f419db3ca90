"""A class's afternoon on a market, shared by the tests of the kept accounts and of the
tick helper: a class of learners, ticks of every kind with their actions between them,
and every row they write."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

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

D = Decimal
KEEP_ALL = {"SANDBOX_KEEP_ACCOUNTS_FROM": 0}
KEEP_NONE = {"SANDBOX_KEEP_ACCOUNTS_FROM": 10**9}


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
            LedgerEntry,
            "currency",
            "amount",
            "balance_after",
            "reason",
            "symbol",
            # (Each account's in the order written: a tick shared with its helper writes
            # the helper's accounts after the ticker's own.)
            order=("account_id", "id"),
        ),
        "fills": rows(
            Fill, "symbol", "side", "qty", "price", "fee", "trigger", order=("account_id", "id")
        ),
        "records": rows(
            LiquidationRecord, "symbol", "loss", "sequence", order=("account_id", "id")
        ),
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


def two_afternoons() -> tuple[list[tuple[Any, ...]], list[int], list[tuple[Any, ...]]]:
    """The same afternoon on two markets: one keeping its accounts between ticks (and so,
    with a helper running, sharing its ledger ticks), one reading them all each tick. Both
    write the very same rows and their ticks computed the same accounts. Each tick of the
    first (realised, funded, computed, read), how many accounts were announced before each
    of its ticks, and the second's ticks."""
    kept_market, read_market = a_market(), a_market()
    kept, announced = lesson(kept_market, KEEP_ALL)
    reading_all, _ = lesson(read_market, KEEP_NONE)
    assert stored(kept_market) == stored(read_market)
    assert [row[:3] for row in kept] == [row[:3] for row in reading_all]
    return kept, announced, reading_all


def a_class_after_its_first_funding() -> tuple[Market, list[PaperAccount]]:
    """A class on a new market (see :func:`a_market`, :func:`a_class`) after its first
    funding tick, which read every account: none was kept yet."""
    market = a_market()
    accounts = a_class(market)
    boundary(market, 28800)
    assert tick(market).accounts_read == 6  # (the five and the market's first learner)
    return market, accounts
