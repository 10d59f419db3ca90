"""A market tick: marks, liquidations, realisation and funding in one transaction; the
lease that lets one ticker tick a market; the liquidation index; the ticker's schedule.

Prices are controlled exactly: a quiet market (no volatility, no drift) moves only by a
scheduled gap, or by a drift chosen so that one simulated second multiplies by e^0.001.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from sandbox import engine
from sandbox.desk import services as desk_services
from sandbox.desk.models import (
    Fill,
    InsuranceFund,
    LedgerEntry,
    LiquidationRecord,
    Market,
    MarkPrice,
    PaperAccount,
    Position,
)
from sandbox.live import services
from sandbox.live.models import MarkTick
from sandbox.live.services import TickResult
from sandbox.live.ticker import Ticker

from .conftest import (
    BUY,
    ISOLATED,
    SELL,
    Learner,
    account_on,
    last_ledger_id,
    ledger,
    marks,
    open_position,
    quiet,
    reload,
    schedule_gap,
    snapshot,
    wallet,
)

D = Decimal
START = {"ETHUSDT": D("3000"), "SOLUSDT": D("150"), "XBTUSD": D("60000"), "XBTUSDT": D("60000")}


def tick(market: Market, owner: str | None = None) -> TickResult:
    result = services.market_tick(market_id=market.pk, owner=owner)
    assert result is not None
    return result


# ------------------------------------------------------------------------- one tick


def test_a_tick_moves_the_marks_saves_them_and_counts_once(learner: Learner) -> None:
    # drift 31536 a year is 0.001 a simulated second: each 1 s tick multiplies by e^0.001.
    market = quiet(learner.account.market, drift=D(31536))
    assert marks(market) == START

    first = tick(market)

    expected = {
        "ETHUSDT": D("3003.00"),  # 3003.0015…
        "SOLUSDT": D("150.15"),  # 150.15007…
        "XBTUSD": D("60060.0"),  # 60060.03…
        "XBTUSDT": D("60060.0"),
    }
    assert first.sequence == 1
    assert first.marks == expected
    assert (first.realised, first.funded, first.liquidated) == (False, False, {})
    assert marks(market) == expected
    market = reload(market)
    assert (market.sequence, market.sim_seconds) == (1, D(1))
    rows = list(MarkTick.objects.filter(market=market).values_list("sequence", "symbol", "price"))
    assert sorted(rows) == sorted((1, s, p) for s, p in expected.items())
    assert set(MarkTick.objects.values_list("sim_seconds", flat=True)) == {D(1)}

    second = tick(market)

    assert second.sequence == 2
    assert second.marks["XBTUSDT"] == D("60120.0")  # 60060 × e^0.001 = 60120.09…
    assert second.marks["ETHUSDT"] == D("3006.00")  # 3003 × e^0.001 = 3006.0045…
    market = reload(market)
    assert (market.sequence, market.sim_seconds) == (2, D(2))
    assert MarkTick.objects.filter(market=market).count() == 8
    assert MarkTick.objects.filter(market=market, sequence=2).count() == 4


def test_a_quiet_market_holds_its_prices_and_still_counts_the_tick(learner: Learner) -> None:
    market = quiet(learner.account.market, speed=60)

    result = tick(market)

    assert result.marks == START
    assert marks(market) == START
    assert (reload(market).sequence, reload(market).sim_seconds) == (1, D(60))


def test_a_gap_applies_once_and_is_cleared(learner: Learner) -> None:
    market = quiet(learner.account.market)
    schedule_gap(market, "ETHUSDT", "-10")
    assert reload(market).pending_gaps == {"ETHUSDT": ["-10"]}

    assert tick(market).marks["ETHUSDT"] == D("2700.00")
    assert reload(market).pending_gaps == {}
    assert tick(market).marks["ETHUSDT"] == D("2700.00")


def test_the_tick_uses_the_markets_own_seed_and_price_process(learner: Learner) -> None:
    market = learner.account.market
    Market.objects.filter(pk=market.pk).update(seed=424242, speed=10)
    expected = {
        symbol: engine.pricepath.next_price(
            engine.pricepath.PriceProcess(),
            seed=424242,
            symbol=symbol,
            tick=1,
            price=price,
            seconds=D(10),
            tick_size=D("0.5") if symbol.startswith("XBT") else D("0.01"),
        )
        for symbol, price in START.items()
    }

    assert tick(market).marks == expected
    assert marks(market) == expected


# ------------------------------------------------------------------------- liquidation


def isolated_long(learner: Learner) -> Market:
    """0.1 XBTUSDT long at 60000, isolated 10x: margin 600, maintenance 30, fee 3.

    Liquidation price 60000 − (600 − 30) / 0.1 = 54300; bankruptcy 60000 − 600 / 0.1 = 54000.
    """
    market = quiet(learner.account.market)
    open_position(learner.account, "XBTUSDT", BUY, "0.1", ISOLATED, "10")
    position = Position.objects.get(account=learner.account)
    assert position.position_margin == D("600")
    assert wallet(learner.account) == D("9997")
    assert position.liquidation_key == 54300 * 10**8
    return market


def test_a_mark_short_of_the_liquidation_price_liquidates_nothing(learner: Learner) -> None:
    market = isolated_long(learner)
    schedule_gap(market, "XBTUSDT", "-9")  # 54600: margin left 600 − 540 = 60 > 30

    result = tick(market)

    assert result.marks["XBTUSDT"] == D("54600.0")
    assert result.liquidated == {}
    assert Position.objects.filter(account=learner.account).exists()
    assert LiquidationRecord.objects.count() == 0


def test_an_isolated_position_is_taken_over_at_its_bankruptcy_price(learner: Learner) -> None:
    account = learner.account
    market = isolated_long(learner)
    since = last_ledger_id()
    schedule_gap(market, "XBTUSDT", "-9.5")  # exactly 54300, the liquidation price

    result = tick(market)

    assert result.marks["XBTUSDT"] == D("54300.0")
    record = LiquidationRecord.objects.get(account=account)
    assert result.liquidated == {account.pk: [record.pk]}
    assert (record.symbol, record.settle, record.margin_mode) == ("XBTUSDT", "USDT", "isolated")
    assert record.qty == D("0.1")
    assert record.avg_entry_price == D("60000")
    assert record.funds == D("600")
    assert record.maintenance_margin == D("30")
    assert record.liquidation_price == D("54300")
    assert record.bankruptcy_price == D("54000")
    assert record.mark_price == D("54300")
    # The trader loses exactly the position margin; the fund gains PnL from bankruptcy to
    # the mark: 0.1 × (54300 − 54000) = 30.
    assert record.loss == D("-600")
    assert record.insurance_fund_change == D("30")
    assert record.sequence == 1
    assert not record.gapped
    assert ledger(account, since) == [("USDT", "liquidation", D("-600"), "XBTUSDT")]
    assert wallet(account) == D("9397")
    assert not Position.objects.filter(account=account).exists()
    assert InsuranceFund.objects.get(market=market, currency="USDT").balance == D("30")
    fill = Fill.objects.get(account=account, liquidation=True)
    assert (fill.symbol, fill.side, fill.qty, fill.price) == ("XBTUSDT", "sell", D("0.1"), D(54000))
    assert (fill.value, fill.fee, fill.realised_pnl) == (D("5400"), D(0), D("-600"))


def test_a_gap_through_the_bankruptcy_price_is_paid_by_the_insurance_fund(
    learner: Learner,
) -> None:
    account = learner.account
    market = isolated_long(learner)
    since = last_ledger_id()
    schedule_gap(market, "XBTUSDT", "-20")  # 48000, far through 54000

    result = tick(market)

    assert result.marks["XBTUSDT"] == D("48000.0")
    record = LiquidationRecord.objects.get(account=account)
    assert record.mark_price == D("48000")
    assert record.bankruptcy_price == D("54000")
    assert record.liquidation_price == D("54300")
    # Still exactly the margin for the trader; the fund pays 0.1 × (54000 − 48000) = 600.
    assert record.loss == D("-600")
    assert record.insurance_fund_change == D("-600")
    assert record.gapped
    assert ledger(account, since) == [("USDT", "liquidation", D("-600"), "XBTUSDT")]
    assert wallet(account) == D("9397")
    assert InsuranceFund.objects.get(market=market, currency="USDT").balance == D("-600")


def test_a_cross_position_gapped_through_leaves_the_account_at_zero_not_in_debt(
    learner: Learner,
) -> None:
    # 1.5 XBTUSDT cross at 100x: fee 45, wallet 9955, funds 9955 → bankruptcy 53363.33…
    account = learner.account
    market = quiet(account.market)
    open_position(account, "XBTUSDT", BUY, "1.5")
    assert wallet(account) == D("9955")
    schedule_gap(market, "XBTUSDT", "-20")  # 48000: PnL −18000, twice the funds

    result = tick(market)

    record = LiquidationRecord.objects.get(account=account)
    assert result.liquidated == {account.pk: [record.pk]}
    assert record.margin_mode == "cross"
    assert record.funds == D("9955")
    assert record.loss == D("-9955")
    assert record.insurance_fund_change == D("-8045")  # −18000 + 9955
    assert wallet(account) == D("0")
    assert InsuranceFund.objects.get(market=market, currency="USDT").balance == D("-8045")


# ------------------------------------------------------------ realisation and funding


def test_profit_is_realised_when_simulated_time_crosses_ten_minutes(learner: Learner) -> None:
    account = learner.account
    market = quiet(account.market, speed=600)  # 600 simulated seconds a tick
    open_position(account, "XBTUSDT", BUY, "0.1")  # cross, fee 3
    since = last_ledger_id()
    schedule_gap(market, "XBTUSDT", "1")  # 60600: 0.1 × 600 = 60 of profit

    result = tick(market)

    assert (result.realised, result.funded) == (True, False)
    assert reload(market).sim_seconds == D(600)
    assert ledger(account, since) == [("USDT", "profit_realisation", D("60"), "XBTUSDT")]
    assert wallet(account) == D("10057")
    position = Position.objects.get(account=account)
    assert position.entry_value == D("6060")  # avg entry moved to the mark
    assert position.cost_value == D("6000")  # avg cost did not

    # The next tick crosses 1200 s: realisation again, of the new profit only.
    since = last_ledger_id()
    schedule_gap(market, "XBTUSDT", "1")  # 61206: 0.1 × 606 = 60.6
    result = tick(market)

    assert result.realised
    assert ledger(account, since) == [("USDT", "profit_realisation", D("60.6"), "XBTUSDT")]
    assert wallet(account) == D("10117.6")


def test_no_realisation_until_a_ten_minute_boundary_is_crossed(learner: Learner) -> None:
    account = learner.account
    market = quiet(account.market, speed=300)
    open_position(account, "XBTUSDT", BUY, "0.1")
    since = last_ledger_id()
    schedule_gap(market, "XBTUSDT", "1")

    first = tick(market)  # 0 → 300 s

    assert not first.realised
    assert ledger(account, since) == []

    second = tick(market)  # 300 → 600 s

    assert second.realised
    assert ledger(account, since) == [("USDT", "profit_realisation", D("60"), "XBTUSDT")]


def test_a_realisation_tick_computes_only_the_accounts_with_cross_profit(
    learner: Learner,
) -> None:
    market = quiet(learner.account.market, speed=600)
    profit = learner.account
    loss, isolated, mixed = account_on(market), account_on(market), account_on(market)
    open_position(profit, "XBTUSDT", BUY, "0.1")  # cross long: 60 of profit at +1%
    open_position(loss, "XBTUSDT", SELL, "0.1")  # cross short: a loss
    open_position(isolated, "XBTUSDT", BUY, "0.1", ISOLATED, "10")  # profit, isolated
    open_position(mixed, "XBTUSDT", BUY, "0.1", ISOLATED, "10")  # the same...
    open_position(mixed, "ETHUSDT", BUY, "1")  # ...and a cross long whose mark stays
    since = last_ledger_id()
    schedule_gap(market, "XBTUSDT", "1")  # 60600

    result = tick(market)

    assert result.realised
    assert (result.accounts_touched, result.booked) == (1, [profit.pk])
    assert ledger(profit, since) == [("USDT", "profit_realisation", D("60"), "XBTUSDT")]
    for account in (loss, isolated, mixed):
        assert ledger(account, since) == []


def funding_market(learner: Learner, **changes: Any) -> tuple[Market, list[PaperAccount]]:
    """Three accounts, 0.1 XBTUSDT each at 60000: a cross long (the learner), a cross
    short and an isolated 10x long. Ten minutes before the first 8-hour funding."""
    market = quiet(learner.account.market, speed=600, sim_seconds=D(28200), **changes)
    short, isolated = account_on(market), account_on(market)
    open_position(learner.account, "XBTUSDT", BUY, "0.1")
    open_position(short, "XBTUSDT", SELL, "0.1")
    open_position(isolated, "XBTUSDT", BUY, "0.1", ISOLATED, "10")
    schedule_gap(market, "XBTUSDT", "1")  # 60600
    return market, [learner.account, short, isolated]


def test_funding_is_paid_when_simulated_time_crosses_eight_hours(learner: Learner) -> None:
    market, (long, short, isolated) = funding_market(learner)
    assert desk_services.Instrument.objects.get(symbol="XBTUSDT").funding_rate == D("0.0001")
    since = {a.pk: last_ledger_id() for a in (long, short, isolated)}

    result = tick(market)  # 28200 → 28800 s: realisation and funding

    assert (result.realised, result.funded) == (True, True)
    assert result.accounts_touched == 3
    # Funding at the mark: |0.1 × 60600| × 0.0001 = 0.606, after the realisation.
    assert ledger(long, since[long.pk]) == [
        ("USDT", "profit_realisation", D("60"), "XBTUSDT"),
        ("USDT", "funding", D("-0.606"), "XBTUSDT"),
    ]
    assert ledger(short, since[short.pk]) == [("USDT", "funding", D("0.606"), "XBTUSDT")]
    # An isolated position is not realised, and pays from its position margin.
    assert ledger(isolated, since[isolated.pk]) == [("USDT", "funding", D("-0.606"), "XBTUSDT")]
    assert Position.objects.get(account=isolated).position_margin == D("599.394")
    assert wallet(long) == D("10056.394")
    assert wallet(short) == D("9997.606")
    assert wallet(isolated) == D("9996.394")

    # The next funding is 8 hours later: the following tick pays none.
    since_next = last_ledger_id()
    assert not tick(market).funded
    assert [r for a in (long, short, isolated) for r in ledger(a, since_next)] == []


def many_accounts(market: Market) -> list[PaperAccount]:
    """Twelve accounts of every kind: isolated longs and shorts, one cross position, two
    cross positions sharing funds (cross-linked), a stop and a target, and a position far
    (isolated ETH longs at 20x) to be taken over on a fall of 5%."""
    accounts = [account_on(market) for _ in range(12)]
    for number, account in enumerate(accounts):
        side = BUY if number % 2 else SELL
        if number % 4 == 0:
            open_position(account, "XBTUSDT", side, "0.1", ISOLATED, "10")
            open_position(account, "ETHUSDT", SELL if number % 8 else BUY, "1", ISOLATED, "5")
        elif number % 4 == 1:
            open_position(account, "XBTUSDT", side, "0.2")
        elif number % 4 == 2:
            open_position(account, "XBTUSDT", side, "0.1")
            open_position(account, "ETHUSDT", SELL if number % 8 == 2 else BUY, "2")
        else:
            open_position(account, "ETHUSDT", BUY, "3", ISOLATED, "20")
            stop = D(2950) if number == 3 else D(2000)
            desk_services.triggers_set(
                account=account, symbol="ETHUSDT", stop_loss=stop, take_profit=D(3100)
            )
    return accounts


@pytest.mark.parametrize("seconds", [D(1200), D(28200)], ids=["realisation", "funding"])
def test_a_tick_over_many_accounts_writes_what_the_engine_computed_for_each(
    learner: Learner, seconds: Decimal
) -> None:
    market = quiet(learner.account.market, speed=600, sim_seconds=seconds)
    accounts = many_accounts(market)
    assert set(PaperAccount.objects.filter(cross_linked=True)) == set(accounts[2::4])
    before = {a.pk: desk_services.engine_account(a) for a in accounts}
    columns = ("account_id", "instrument_id", *desk_services.KEY_FIELDS)
    old_keys = set(Position.objects.values_list(*columns))
    schedule_gap(market, "ETHUSDT", "-2")  # 2940: past the one stop at 2950

    result = tick(market)

    assert result.realised and result.funded == (seconds == D(28200))
    moved = desk_services.engine_market(reload(market))
    rates = {s: moved.instruments[s].funding_rate for s in moved.marks} if result.funded else {}
    for account in accounts:
        # What the engine makes of the account on this tick, account by account...
        expected = engine.tick_account(
            before[account.pk], moved, moved.marks.keys(), realise=True, funding_rates=rates
        )
        # ...is what the tick wrote, however many it wrote at once: the state, the index,
        # the ledger (adding up to the wallets), the fills.
        assert desk_services.engine_account(account) == expected.account
        rows = Position.objects.filter(account=account)
        assert {r.market_id for r in rows} <= {market.pk}
        keys = desk_services.index_keys(expected.account, moved)
        stored = {
            r.instrument_id: {name: getattr(r, name) for name in desk_services.KEY_FIELDS}
            for r in rows
        }
        if expected.account != before[account.pk]:
            assert stored == keys  # written with its new index
        else:  # left alone, its index still holds (a linked account's bands are kept)
            assert set(rows.values_list(*columns)) <= old_keys
        linked = any(k["band_high_key"] is not None or k["band_low_key"] for k in keys.values())
        assert reload_account(account).cross_linked == linked
        for currency, balance in expected.account.wallets.items():
            entries = LedgerEntry.objects.filter(account=account, currency=currency)
            assert sum((e.amount for e in entries), D(0)) == balance
            assert entries.order_by("-id")[0].balance_after == balance
        fills = Fill.objects.filter(account=account, trigger__in=["stop_loss", "take_profit"])
        assert fills.count() == sum(1 for f in expected.fills if f.trigger)
    reasons = set(LedgerEntry.objects.filter(account__in=accounts).values_list("reason", flat=True))
    assert "profit_realisation" in reasons
    assert ("funding" in reasons) == result.funded
    assert result.triggered == []  # (a ledger tick redraws every desk whole)


def test_funding_is_off_when_the_market_disables_it(learner: Learner) -> None:
    market, (long, short, isolated) = funding_market(learner, funding_enabled=False)
    since = last_ledger_id()

    result = tick(market)

    assert (result.realised, result.funded) == (True, False)
    assert ledger(long, since) == [("USDT", "profit_realisation", D("60"), "XBTUSDT")]
    assert ledger(short, since) == []
    assert ledger(isolated, since) == []
    assert Position.objects.get(account=isolated).position_margin == D("600")


def test_a_funding_payment_can_liquidate_an_isolated_position(learner: Learner) -> None:
    # 0.1 XBTUSDT isolated 100x: margin 60, maintenance 30. At a rate of 0.5% the payment
    # is 0.1 × 60000 × 0.005 = 30, leaving 30 = the maintenance margin: taken over.
    account = learner.account
    market = quiet(account.market, speed=600, sim_seconds=D(28200))
    desk_services.Instrument.objects.filter(symbol="XBTUSDT").update(funding_rate=D("0.005"))
    open_position(account, "XBTUSDT", BUY, "0.1", ISOLATED, "100")
    since = last_ledger_id()

    result = tick(market)

    assert result.marks["XBTUSDT"] == D("60000")
    assert result.funded
    record = LiquidationRecord.objects.get(account=account)
    assert result.liquidated == {account.pk: [record.pk]}
    assert ledger(account, since) == [
        ("USDT", "funding", D("-30"), "XBTUSDT"),
        ("USDT", "liquidation", D("-30"), "XBTUSDT"),
    ]
    assert (record.funds, record.loss, record.insurance_fund_change) == (D(30), D(-30), D(30))
    assert record.bankruptcy_price == D("59700")
    assert record.liquidation_price == D("60000")
    assert not Position.objects.filter(account=account).exists()


# ---------------------------------------------------------------- all or nothing


@pytest.mark.django_db(transaction=True)
def test_a_tick_that_fails_midway_changes_nothing_and_the_next_is_the_same(
    learner: Learner, monkeypatch: pytest.MonkeyPatch
) -> None:
    market = learner.account.market
    Market.objects.filter(pk=market.pk).update(seed=987654321, speed=600)
    second = account_on(market)
    open_position(learner.account, "XBTUSDT", BUY, "0.1")
    open_position(second, "XBTUSDT", SELL, "0.1")
    schedule_gap(market, "ETHUSDT", "-5")
    before = snapshot(market)

    real = services.gathered_save
    written: list[int] = []

    def fails_once_everything_is_written(*args: Any, **kw: Any) -> Any:
        real(*args, **kw)
        written.append(LedgerEntry.objects.filter(account__market=market).count())
        raise RuntimeError("the tick failed after its writes")

    monkeypatch.setattr(services, "gathered_save", fails_once_everything_is_written)
    with pytest.raises(RuntimeError, match="after its writes"):
        services.market_tick(market_id=market.pk)

    # The long or the short is in profit (XBTUSDT moved): its realisation was written...
    assert written == [before.ledger + 1]
    assert snapshot(market) == before  # and are undone, with everything else
    assert MarkTick.objects.count() == 0

    monkeypatch.setattr(services, "gathered_save", real)
    result = tick(market)

    # A fresh market with the same seed, ticked once, gives the same prices.
    fresh = desk_services.account_create().market
    Market.objects.filter(pk=fresh.pk).update(seed=987654321, speed=600)
    schedule_gap(fresh, "ETHUSDT", "-5")
    twin = tick(fresh)
    assert result.sequence == twin.sequence == 1
    assert result.marks == twin.marks
    assert result.marks["ETHUSDT"] == D("2850.00")
    assert result.marks["XBTUSDT"] != D("60000")  # it did move
    assert result.realised
    # The engine looked at the one in profit; the other had nothing to realise and the
    # marks reached none of its positions.
    assert result.accounts_touched == 1
    after = reload(market)
    assert (after.sequence, after.sim_seconds, after.pending_gaps) == (1, D(600), {})
    assert MarkTick.objects.filter(market=market).count() == 4


# -------------------------------------------------------------------------- leases


def room(name: str, **fields: Any) -> Market:
    """A classroom market (ticks whenever it runs, watched or not) with the usual marks."""
    market = Market.objects.create(name=name, kind=Market.Kind.ROOM, **fields)
    for symbol, price in START.items():
        MarkPrice.objects.create(market=market, instrument_id=symbol, price=price)
    return market


def claimed(owner: str) -> set[int]:
    return {pk for pk, _ in services.leases_claim(owner)}


def test_an_owner_without_the_lease_cannot_tick(seeded: None) -> None:
    market = room("Room A")

    assert services.market_tick(market_id=market.pk, owner="ticker-a") is None
    assert reload(market).sequence == 0

    assert services.leases_claim("ticker-a") == [(market.pk, D("1"))]
    assert services.market_tick(market_id=market.pk, owner="ticker-b") is None
    assert reload(market).sequence == 0
    result = services.market_tick(market_id=market.pk, owner="ticker-a")
    assert result is not None and result.sequence == 1


def test_two_owners_never_hold_the_same_market(seeded: None) -> None:
    one, two = room("Room 1"), room("Room 2", tick_seconds=D("2.5"))

    assert set(services.leases_claim("ticker-a")) == {(one.pk, D("1")), (two.pk, D("2.5"))}
    assert claimed("ticker-b") == set()
    assert claimed("ticker-a") == {one.pk, two.pk}  # renewing keeps them
    assert reload(one).lease_owner == "ticker-a"

    # ticker-a dies: its lease on Room 1 runs out and ticker-b takes it over.
    Market.objects.filter(pk=one.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert services.market_tick(market_id=one.pk, owner="ticker-a") is None  # expired
    assert claimed("ticker-b") == {one.pk}
    assert claimed("ticker-a") == {two.pk}
    assert services.market_tick(market_id=one.pk, owner="ticker-a") is None
    assert tick(one, owner="ticker-b").sequence == 1

    services.leases_release("ticker-b")
    assert (reload(one).lease_owner, reload(one).lease_until) == ("", None)
    assert claimed("ticker-a") == {one.pk, two.pk}


def test_a_paused_market_is_not_ticked_by_an_owner(seeded: None) -> None:
    market = room("Room P")
    assert claimed("ticker-a") == {market.pk}

    services.market_run(market=market, running=False)

    assert services.market_tick(market_id=market.pk, owner="ticker-a") is None
    assert reload(market).sequence == 0
    assert claimed("ticker-a") == set()

    services.market_run(market=market, running=True)
    assert claimed("ticker-a") == {market.pk}
    assert tick(market, owner="ticker-a").sequence == 1


def test_a_practice_market_ticks_only_while_watched(learner: Learner) -> None:
    market = learner.account.market
    assert market.kind == Market.Kind.PRACTICE
    assert reload(market).last_watched is None

    assert claimed("ticker-a") == set()

    services.market_watched(market_id=market.pk)
    assert reload(market).last_watched is not None
    assert claimed("ticker-a") == {market.pk}

    # Watched 31 s ago (the setting is 30): no longer claimed, not even renewed.
    Market.objects.filter(pk=market.pk).update(last_watched=timezone.now() - timedelta(seconds=31))
    assert claimed("ticker-a") == set()
    assert claimed("ticker-b") == set()


# ----------------------------------------------------------------- the liquidation index


def reload_account(account: PaperAccount) -> PaperAccount:
    return PaperAccount.objects.get(pk=account.pk)


def crowd(market: Market, count: int) -> list[PaperAccount]:
    """``count`` accounts far from liquidation: isolated 2x, half long, half short.

    Long liquidation 60000 − (3000 − 30) / 0.1 = 30300; short 89700.
    """
    accounts = []
    for n in range(count):
        account = account_on(market)
        open_position(account, "XBTUSDT", BUY if n % 2 else SELL, "0.1", ISOLATED, "2")
        accounts.append(account)
    return accounts


def test_a_small_move_touches_only_the_accounts_it_may_liquidate(learner: Learner) -> None:
    market = quiet(learner.account.market)
    far = crowd(market, 40)
    # Two isolated 100x longs: margin 60, liquidation 60000 − 30 / 0.1 = 59700.
    close = [account_on(market), account_on(market)]
    for account in close:
        open_position(account, "XBTUSDT", BUY, "0.1", ISOLATED, "100")
    assert set(
        Position.objects.filter(account__in=close).values_list("liquidation_key", flat=True)
    ) == {5970000000000}
    assert not PaperAccount.objects.filter(cross_linked=True).exists()
    far_before = snapshot(market).positions

    schedule_gap(market, "XBTUSDT", "1")  # up to 60600: nobody's liquidation price
    up = tick(market)

    assert up.accounts_touched == 0
    assert up.liquidated == {}

    schedule_gap(market, "XBTUSDT", "-1.5")  # down to 59691: past 59700 only
    down = tick(market)

    assert down.marks["XBTUSDT"] == D("59691.0")
    assert services._candidates(market, {"XBTUSDT": D("59691")}) == []  # already gone
    assert down.accounts_touched == 2
    assert set(down.liquidated) == {a.pk for a in close}
    assert not Position.objects.filter(account__in=close).exists()
    remaining = [p for p in snapshot(market).positions if p[0] not in {a.pk for a in close}]
    assert remaining == [p for p in far_before if p[0] in {a.pk for a in far}]
    assert len(remaining) == 40


def test_the_candidates_are_the_positions_whose_indexed_price_the_mark_reached(
    learner: Learner,
) -> None:
    market = quiet(learner.account.market)
    far = crowd(market, 4)
    long_close, short_close = account_on(market), account_on(market)
    open_position(long_close, "XBTUSDT", BUY, "0.1", ISOLATED, "100")  # liquidation 59700
    open_position(short_close, "XBTUSDT", SELL, "0.1", ISOLATED, "100")  # liquidation 60300
    assert far

    def candidates(price: str) -> list[int]:
        return services._candidates(market, {"XBTUSDT": D(price)})

    assert candidates("60000") == []
    assert candidates("59700.5") == []
    assert candidates("59700") == [long_close.pk]  # exactly at the price counts
    assert candidates("60299.5") == []
    assert candidates("60300") == [short_close.pk]
    assert candidates("30300") == sorted([long_close.pk] + [a.pk for a in far[1::2]])
    assert candidates("89700") == sorted([short_close.pk] + [a.pk for a in far[0::2]])
    # Another symbol's mark does not reach XBTUSDT positions.
    assert services._candidates(market, {"ETHUSDT": D("1")}) == []


def test_an_inverse_short_is_found_by_the_index_too(learner: Learner) -> None:
    # XBTUSD short 6000 contracts isolated 100x: value 0.1 XBT, margin 0.001, maintenance
    # 0.00035 → liquidation 6000 / (0.1 − 0.00065) = 60392.55…
    market = quiet(learner.account.market)
    crowd(market, 6)
    account = account_on(market)
    open_position(account, "XBTUSD", SELL, "6000", ISOLATED, "100")

    schedule_gap(market, "XBTUSD", "0.5")  # 60300: not yet
    assert tick(market).accounts_touched == 0
    schedule_gap(market, "XBTUSD", "0.5")  # 60601.5: through it
    result = tick(market)

    assert result.accounts_touched == 1
    assert list(result.liquidated) == [account.pk]
    record = LiquidationRecord.objects.get(account=account)
    assert (record.settle, record.loss) == ("XBT", D("-0.001"))


def test_linked_cross_accounts_are_touched_only_when_a_mark_leaves_their_band(
    learner: Learner,
) -> None:
    market = quiet(learner.account.market)
    crowd(market, 20)
    linked = [account_on(market), account_on(market)]
    for account in linked:
        # 6,000 of XBT and 6,000 of ETH, cross, behind about 9,900 USDT of cushion shared
        # between the two: ETH's band reaches about 2,476 below its mark of 3,000.
        open_position(account, "XBTUSDT", BUY, "0.1")
        open_position(account, "ETHUSDT", BUY, "2")
    single = account_on(market)
    open_position(single, "XBTUSDT", BUY, "0.01")  # one cross position: not linked
    assert set(PaperAccount.objects.filter(cross_linked=True)) == set(linked)
    band = Position.objects.get(account=linked[0], instrument_id="ETHUSDT")
    assert band.band_low_key is not None and band.band_high_key is not None
    assert 500 * 10**8 < band.band_low_key < 600 * 10**8
    assert band.band_high_key > 5000 * 10**8

    assert tick(market).accounts_touched == 0  # nothing moves at all
    schedule_gap(market, "SOLUSDT", "-50")  # a symbol none of them holds
    assert tick(market).accounts_touched == 0

    # A mark far outside the band: both linked accounts are looked at (and rebased), and
    # the engine finds them clear of liquidation.
    schedule_gap(market, "ETHUSDT", "-90")
    result = tick(market)
    assert result.accounts_touched == 2
    assert result.liquidated == {}
    rebased = Position.objects.get(account=linked[0], instrument_id="ETHUSDT")
    assert rebased.band_high_key is not None and rebased.band_high_key < 3000 * 10**8
    assert tick(market).accounts_touched == 0  # rebased on the new marks

    # Closing one of the two positions unlinks the account and drops its band.
    desk_services.position_close(account=linked[0], symbol="ETHUSDT")
    assert not reload_account(linked[0]).cross_linked
    assert Position.objects.get(account=linked[0]).band_high_key is None


# ------------------------------------------------------------------------- the ticker


class Clock:
    """The ticker's notion of now, moved by the test (no real time is waited for)."""

    def __init__(self, now: str) -> None:
        self.now = D(now)

    def __call__(self) -> Decimal:
        return self.now


@pytest.fixture
def two_markets(learner: Learner) -> Iterator[tuple[int, int]]:
    """The learner's practice market (watched, ticks every 1 s) and a classroom market
    that ticks every 3 s."""
    services.market_watched(market_id=learner.account.market_id)
    other = room("Room T", tick_seconds=D(3))
    yield learner.account.market_id, other.pk


@database_sync_to_async
def sequences(*market_ids: int) -> list[int]:
    return [Market.objects.get(pk=pk).sequence for pk in market_ids]


@pytest.mark.django_db(transaction=True)
async def test_the_ticker_applies_due_ticks_at_each_markets_interval(
    two_markets: tuple[int, int],
) -> None:
    fast, slow = two_markets
    ticker = Ticker("ticker-test")
    clock = Clock("100")
    ticker._now = clock  # type: ignore[method-assign]

    assert await ticker.step() == 2  # both due at once
    assert ticker.markets == {fast: D(1), slow: D(3)}
    clock.now = D("100.5")
    assert await ticker.step() == 0  # neither is due yet
    clock.now = D("101")
    assert await ticker.step() == 1  # the 1 s market
    clock.now = D("102")
    assert await ticker.step() == 1
    clock.now = D("103")
    assert await ticker.step() == 2  # both again
    assert await sequences(fast, slow) == [4, 2]

    # Paused: the lease is not renewed and the market is not ticked.
    await database_sync_to_async(Market.objects.filter(pk=slow).update)(running=False)
    clock.now = D("106")
    assert await ticker.step() == 1
    assert slow not in ticker.markets
    assert await sequences(fast, slow) == [5, 2]

    await database_sync_to_async(services.leases_release)("ticker-test")
    assert (
        await database_sync_to_async(
            lambda: list(Market.objects.exclude(lease_owner="").values_list("pk", flat=True))
        )()
        == []
    )


@pytest.mark.django_db(transaction=True)
async def test_a_failing_market_does_not_stop_the_others(
    two_markets: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, slow = two_markets
    real = services.market_tick

    def broken_for_fast(*, market_id: int, owner: str | None = None) -> TickResult | None:
        if market_id == fast:
            raise RuntimeError("broken market")
        return real(market_id=market_id, owner=owner)

    monkeypatch.setattr(services, "market_tick", broken_for_fast)
    ticker = Ticker("ticker-test")
    ticker._now = Clock("50")  # type: ignore[method-assign]

    assert await ticker.step() == 1
    assert await sequences(fast, slow) == [0, 1]


@pytest.mark.django_db(transaction=True)
async def test_a_ticker_does_not_tick_a_market_another_ticker_holds(
    two_markets: tuple[int, int],
) -> None:
    fast, slow = two_markets
    first, second = Ticker("ticker-one"), Ticker("ticker-two")
    first._now = second._now = Clock("10")  # type: ignore[method-assign]

    assert await first.step() == 2
    assert await second.step() == 0
    assert second.markets == {}
    assert await sequences(fast, slow) == [1, 1]


# ------------------------------------------------------- the collector during a tick


def collector_while_computing(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether the collector was on each time a tick computed an account, from now on."""
    during: list[bool] = []
    real = engine.tick_accounts

    def watched(*args: Any, **kwargs: Any) -> Iterator[tuple[int, engine.Outcome]]:
        for computed in real(*args, **kwargs):
            during.append(gc.isenabled())
            yield computed

    monkeypatch.setattr(services.engine, "tick_accounts", watched)
    return during


def test_a_tick_runs_with_the_collector_paused_and_leaves_it_as_it_was(
    learner: Learner, monkeypatch: pytest.MonkeyPatch
) -> None:
    market = quiet(learner.account.market, speed=600)  # a realisation every tick
    open_position(learner.account, "XBTUSDT", BUY, "0.1")  # cross
    schedule_gap(market, "XBTUSDT", "1")  # profit to realise: the account is computed
    during = collector_while_computing(monkeypatch)
    assert gc.isenabled()

    tick(market)

    assert during == [False]  # (the learner's account, computed with the collector off)
    assert gc.isenabled()
    gc.disable()
    try:
        schedule_gap(market, "XBTUSDT", "1")
        tick(market)
        assert not gc.isenabled()  # (off before: left off)
    finally:
        gc.enable()


def test_a_small_plain_tick_leaves_the_collector_running(
    learner: Learner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One account reached, no realisation nor funding: far below PAUSE_REACH.
    market = isolated_long(learner)
    schedule_gap(market, "XBTUSDT", "-9.5")  # the liquidation price: the account is computed
    during = collector_while_computing(monkeypatch)

    result = tick(market)

    assert (result.realised, result.funded, list(result.liquidated)) == (
        False,
        False,
        [learner.account.pk],
    )
    assert during == [True]
    assert services.PAUSE_REACH == 1000


def test_overlapping_pauses_enable_the_collector_once_the_last_ends() -> None:
    first_in, second_out = threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with services.CollectorPause() as pause:
            pause.start()
            first_in.set()
            second_out.wait(5)
            seen.append(gc.isenabled())  # the second ended: still paused for this one

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(5)
    with services.CollectorPause() as pause:
        pause.start()
        seen.append(gc.isenabled())
    second_out.set()
    thread.join(5)

    assert seen == [False, False]
    assert gc.isenabled()
