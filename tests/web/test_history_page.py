"""The history page: every fill and ledger entry of an account (the desk shows the ten
latest of each and links here), and what the ledger adds up to per currency, which is
the wallet's balance. Only the account's owner may see it, and only with a GET.

XBTUSDT is linear with a taker fee of 0.05%: a fill of q at price p costs 0.0005 × q × p.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from sandbox import engine
from sandbox.desk import services
from sandbox.desk.models import LedgerEntry, Wallet
from tests.live.sockets import section
from tests.web.conftest import Learner

D = Decimal
QTYS = ["0.001", "0.002", "0.003", "0.004", "0.005", "0.006"]
_FILL = re.compile(r"<td>XBTUSDT</td><td>(?P<side>buy|sell)</td><td>(?P<qty>[^<]*)</td>")
_LEDGER = re.compile(r'<td>(?P<currency>USDT|XBT)</td><td class="(?:gain|loss|flat)">')

pytestmark = pytest.mark.django_db


def history_url(account_id: int) -> str:
    return reverse("history", kwargs={"account_id": account_id})


def fills(html: str) -> list[tuple[str, str]]:
    """(side, qty) of each fill row, in the order shown."""
    return [(m["side"], m["qty"]) for m in _FILL.finditer(html)]


def ledger_rows(html: str) -> int:
    return len(_LEDGER.findall(html))


@pytest.fixture
def traded(learner: Learner) -> Learner:
    """Twelve orders: six buys at 60,000 (0.001 to 0.006 XBTUSDT), the mark set to 61,000,
    then six sells of the same sizes, newest last. Fees 0.63 + 0.6405, PnL 0.021 × 1,000."""
    account = learner.account
    for qty in QTYS:
        services.order_place(account=account, symbol="XBTUSDT", side=engine.Side.BUY, qty=D(qty))
    services.mark_set(account=account, symbol="XBTUSDT", price=D(61000))
    for qty in QTYS:
        services.order_place(account=account, symbol="XBTUSDT", side=engine.Side.SELL, qty=D(qty))
    return learner


def test_the_history_page_lists_every_fill_newest_first(traded: Learner) -> None:
    response = traded.client.get(history_url(traded.account.pk))

    assert response.status_code == 200
    html = response.content.decode()
    assert f"History of paper account {traded.account.pk}" in html
    expected = [("sell", q) for q in reversed(QTYS)] + [("buy", q) for q in reversed(QTYS)]
    assert fills(html) == expected
    # Every ledger entry: two deposits, twelve fees, six realised PnLs.
    assert LedgerEntry.objects.filter(account=traded.account).count() == 20
    assert ledger_rows(html) == 20
    assert html.count("<td>taker fee</td>") == 12
    assert html.count("<td>PnL realised by an order</td>") == 6
    assert html.count("<td>deposit</td>") == 2
    assert f'href="/desk/{traded.account.pk}/XBTUSDT/"' in html  # back to the desk


def test_the_desk_shows_the_ten_latest_and_links_to_the_page(traded: Learner) -> None:
    response = traded.get("desk")

    assert response.status_code == 200
    history = section(response.content.decode(), "history")
    # The six sells, then the four latest buys.
    expected = [("sell", q) for q in reversed(QTYS)] + [
        ("buy", q) for q in ["0.006", "0.005", "0.004", "0.003"]
    ]
    assert fills(history) == expected
    assert ("buy", "0.001") not in fills(history)
    assert ("buy", "0.002") not in fills(history)
    assert ledger_rows(history) == 10
    assert "<td>deposit</td>" not in history  # the oldest entries are left to the page
    link = f'<a href="{history_url(traded.account.pk)}">All fills and ledger entries</a>'
    assert link in history
    assert "The 10 most recent of each." in history


def test_the_ledger_adds_up_to_the_wallet(traded: Learner) -> None:
    html = traded.client.get(history_url(traded.account.pk)).content.decode()

    # 10,000 − 0.63 − 0.6405 + 21 = 10,019.7295
    usdt = Wallet.objects.get(account=traded.account, currency="USDT").balance
    assert usdt == D("10019.7295")
    assert (
        "<li>USDT: the ledger's entries add up to <strong>10,019.7295 USDT</strong>; "
        'the wallet holds <strong data-figure="wallet-USDT">10,019.7295 USDT</strong>.</li>'
    ) in html
    assert (
        "<li>XBT: the ledger's entries add up to <strong>1 XBT</strong>; "
        'the wallet holds <strong data-figure="wallet-XBT">1 XBT</strong>.</li>'
    ) in html
    # The desk's balances say the same.
    desk = traded.get("desk").content.decode()
    assert '<td data-figure="wallet-USDT">10,019.7295</td>' in desk


def test_a_new_account_has_its_deposits_only(learner: Learner) -> None:
    html = learner.client.get(history_url(learner.account.pk)).content.decode()

    assert fills(html) == []
    assert "No fills yet." in html
    assert ledger_rows(html) == 2
    assert 'data-figure="wallet-USDT">10,000 USDT</strong>' in html
    assert "add up to <strong>10,000 USDT</strong>" in html


def test_another_learners_history_is_not_found(learner: Learner, other_learner: Learner) -> None:
    services.order_place(
        account=other_learner.account, symbol="XBTUSDT", side=engine.Side.BUY, qty=D("0.01")
    )

    response = learner.client.get(history_url(other_learner.account.pk))

    assert response.status_code == 404
    assert "0.01" not in response.content.decode()
    # Their own page is theirs.
    assert other_learner.client.get(history_url(other_learner.account.pk)).status_code == 200


@pytest.mark.parametrize("account_id", [0, 999_999])
def test_an_unknown_account_is_not_found(learner: Learner, account_id: int) -> None:
    assert learner.client.get(history_url(account_id)).status_code == 404


def test_a_browser_without_an_account_is_not_found(learner: Learner) -> None:
    assert Client().get(history_url(learner.account.pk)).status_code == 404


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_anything_but_a_get_is_refused(learner: Learner, method: str) -> None:
    before = LedgerEntry.objects.count()

    response = getattr(learner.client, method)(history_url(learner.account.pk))

    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert LedgerEntry.objects.count() == before


def test_a_post_to_another_learners_history_is_refused(
    learner: Learner, other_learner: Learner
) -> None:
    response = learner.client.post(history_url(other_learner.account.pk), {"x": "1"})

    assert response.status_code == 405


def test_the_latest_rows_of_many_accounts_come_in_one_query(
    learner: Learner, other_learner: Learner
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from sandbox.desk.models import Fill
    from sandbox.desk.selectors import recent_by_account

    for _ in range(3):
        services.order_place(
            account=learner.account, symbol="XBTUSDT", side=engine.Side.BUY, qty=Decimal("0.1")
        )
    services.order_place(
        account=other_learner.account, symbol="XBTUSDT", side=engine.Side.SELL, qty=Decimal(1)
    )
    ids = [learner.account.pk, other_learner.account.pk]

    with CaptureQueriesContext(connection) as queries:
        latest = recent_by_account(Fill, ids, limit=2)

    assert len(queries.captured_queries) == 1
    mine = list(Fill.objects.filter(account=learner.account).order_by("-id")[:2])
    assert latest[learner.account.pk] == mine
    assert [f.side for f in latest[other_learner.account.pk]] == ["sell"]
