"""Many accounts' outcomes written at once (desk.services.outcomes_save): every row is
what the engine computed, however many statements the rows are spread over."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sandbox import engine
from sandbox.desk import services
from sandbox.desk.models import LedgerEntry, PaperAccount, Position, Wallet
from sandbox.desk.selectors import engine_market, stored_accounts

pytestmark = pytest.mark.usefixtures("seeded")

D = Decimal


def test_a_funding_payment_for_more_accounts_than_a_statement_holds_writes_each_row() -> None:
    accounts = 2 * max(services.LEDGER_ROWS, services.POSITION_ROWS) + 7
    market = services.account_create().market
    traders = [services.account_create(market=market) for _ in range(accounts)]
    for n, account in enumerate(traders):
        side = engine.Side.BUY if n % 2 else engine.Side.SELL
        if n % 3 == 0:
            services.leverage_set(
                account=account, symbol="XBTUSDT", mode=engine.MarginMode.ISOLATED, leverage=D(20)
            )
        services.order_place(account=account, symbol="XBTUSDT", side=side, qty=D("0.001") * (n + 1))
    view = engine_market(market)
    before = stored_accounts([a.pk for a in traders], keys=True)
    outcomes = {
        pk: engine.pay_funding(state, view, "XBTUSDT", D("0.0001"))
        for pk, state in before.states.items()
    }
    entries = LedgerEntry.objects.count()

    services.outcomes_save(
        (
            services.Change(pk, market.pk, before.states[pk], outcome, False, before.keys[pk])
            for pk, outcome in outcomes.items()
        ),
        view,
    )

    assert LedgerEntry.objects.count() == entries + accounts
    after = stored_accounts([a.pk for a in traders], keys=True)
    for pk, outcome in outcomes.items():
        assert after.states[pk] == outcome.account
        assert after.keys[pk] == {
            symbol: tuple(columns.values())
            for symbol, columns in services.index_keys(outcome.account, view).items()
        }
        (entry,) = outcome.ledger
        last = LedgerEntry.objects.filter(account_id=pk).order_by("-id").first()
        assert last is not None
        assert (last.amount, last.reason, last.symbol) == (entry.amount, "funding", "XBTUSDT")
        assert last.balance_after == Wallet.objects.get(account_id=pk, currency="USDT").balance
    # Every account's version moved on (a write other than a tick's announces itself).
    versions = PaperAccount.objects.filter(pk__in=outcomes).values_list("version", flat=True)
    assert min(versions) >= 3  # (its deposit, its order (and setting), and the funding)
    assert Position.objects.filter(account__in=traders).count() == accounts
