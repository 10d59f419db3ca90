"""History rows are rendered once and kept: a fill or a ledger entry never changes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from sandbox import engine
from sandbox.desk import services
from sandbox.desk.models import LedgerEntry
from sandbox.desk.templatetags import history
from tests.web.conftest import Learner

pytestmark = pytest.mark.django_db


@pytest.fixture
def fee_entry(learner: Learner) -> LedgerEntry:
    """The taker fee of buying 1 XBTUSDT at 60,000: the learner's latest ledger entry."""
    services.order_place(
        account=learner.account, symbol="XBTUSDT", side=engine.Side.BUY, qty=Decimal(1)
    )
    entry = LedgerEntry.objects.filter(account=learner.account).first()
    assert entry is not None
    return entry


def test_a_row_is_rendered_once_then_taken_from_the_kept_rows(fee_entry: LedgerEntry) -> None:
    entry = fee_entry
    first = history.history_row("ledger", entry)
    assert first.startswith("<tr><td><time datetime=")
    assert f"<td>{entry.get_reason_display()}</td>" in first
    assert '<td class="loss">-30</td>' in first  # the taker fee: 1 XBT at 60,000 × 0.05%
    # Kept: even a changed object (which a real entry never is) shows the kept row.
    entry.amount = Decimal(-999)
    assert history.history_row("ledger", entry) == first


def test_a_row_with_the_same_id_but_another_time_is_another_row(
    fee_entry: LedgerEntry,
) -> None:
    entry = fee_entry
    first = history.history_row("ledger", entry)

    # A database rolled back and written again (as between tests) reuses ids.
    entry.created_at = entry.created_at + timedelta(seconds=1)
    entry.amount = Decimal(-999)
    again = history.history_row("ledger", entry)

    assert again != first
    assert "-999" in again


def test_only_so_many_rows_are_kept(learner: Learner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "KEPT", 2)
    monkeypatch.setattr(history, "_rows", type(history._rows)())
    for _ in range(3):
        services.order_place(
            account=learner.account, symbol="XBTUSDT", side=engine.Side.BUY, qty=Decimal(1)
        )
    for entry in LedgerEntry.objects.filter(account=learner.account):
        history.history_row("ledger", entry)

    assert len(history._rows) == 2
