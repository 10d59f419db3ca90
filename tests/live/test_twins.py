"""Side by side: the same position opened isolated and cross, on one price path."""

from __future__ import annotations

from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from sandbox.asgi import router
from sandbox.desk.models import LiquidationRecord, Market, PaperAccount
from sandbox.live import services

from .conftest import Learner, quiet, schedule_gap

D = Decimal
pytestmark = pytest.mark.django_db(transaction=True)


def open_twins(learner: Learner, qty: str = "1", leverage: str = "20") -> Market:
    response = learner.post("twins_open", {"side": "buy", "qty": qty, "twin_leverage": leverage})
    assert response.status_code == 302, response.content
    market_id = int(response["Location"].rstrip("/").split("/")[-1])
    return Market.objects.get(pk=market_id)


def test_twins_open_the_same_order_isolated_and_cross(learner: Learner) -> None:
    market = open_twins(learner)
    assert market.kind == Market.Kind.TWINS and market.stop_on_liquidation
    isolated, cross = PaperAccount.objects.filter(parent=learner.account).order_by("pk")
    assert (isolated.label, cross.label) == ("isolated 20x", "cross")
    assert isolated.market_id == cross.market_id == market.pk
    # The learner's own account is untouched.
    assert not learner.account.positions.exists()
    page = learner.client.get(f"/desk/{learner.account.pk}/twins/{market.pk}/").content.decode()
    assert "Isolated 20x" in page and "Cross" in page
    assert "57,300" in page  # the isolated twin: 60,000 − 3,000 + 300
    assert "50,330" in page  # the cross twin: 9,970 behind it


def test_a_gap_liquidates_the_isolated_twin_and_stops_the_market(learner: Learner) -> None:
    market = quiet(open_twins(learner))
    schedule_gap(market, "XBTUSDT", "-10")
    result = services.market_tick(market_id=market.pk)
    assert result is not None and len(result.liquidated) == 1
    record = LiquidationRecord.objects.get()
    assert record.account.label == "isolated 20x"
    assert record.loss == D(-3000)
    market.refresh_from_db()
    assert not market.running
    page = learner.client.get(f"/desk/{learner.account.pk}/twins/{market.pk}/").content.decode()
    assert "One twin was liquidated." in page
    assert "lost 3,000 USDT" in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"side": "buy", "qty": "1", "twin_leverage": "0"}, "from 1x to 100x"),
        ({"side": "buy", "qty": "1", "twin_leverage": "²"}, "from 1x to 100x"),
        ({"side": "buy", "qty": "-1", "twin_leverage": "10"}, "Enter a quantity above zero."),
        ({"side": "buy", "qty": "100", "twin_leverage": "10"}, "Not enough available balance"),
    ],
)
def test_bad_twins_are_refused_and_create_nothing(
    learner: Learner, data: dict[str, str], message: str
) -> None:
    markets = Market.objects.count()
    response = learner.post("twins_open", data, htmx=True)
    assert message in response.content.decode()
    assert Market.objects.count() == markets
    assert not PaperAccount.objects.filter(parent=learner.account).exists()


def test_another_learners_twins_are_not_found(learner: Learner, other_learner: Learner) -> None:
    market = open_twins(learner)
    response = other_learner.client.get(f"/desk/{learner.account.pk}/twins/{market.pk}/")
    assert response.status_code == 404
    twin = PaperAccount.objects.filter(parent=learner.account).first()
    assert twin is not None
    assert other_learner.client.get(f"/desk/{twin.pk}/XBTUSDT/").status_code == 404
    assert learner.client.get(f"/desk/{twin.pk}/XBTUSDT/").status_code == 200


async def test_the_twins_socket_pushes_both_twins_on_a_tick(learner: Learner) -> None:
    market = await database_sync_to_async(open_twins)(learner)
    cookie = "sandbox_account=" + learner.client.cookies["sandbox_account"].value
    headers = [
        (b"origin", b"http://localhost"),
        (b"host", b"localhost"),
        (b"cookie", cookie.encode()),
    ]
    path = f"/ws/twins/{learner.account.pk}/{market.pk}/"
    communicator = WebsocketCommunicator(router, path, headers=headers)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    snapshot = await communicator.receive_from(timeout=10)
    assert 'id="twins" hx-swap-oob="true"' in snapshot and "Isolated 20x" in snapshot
    await database_sync_to_async(services.market_tick)(market_id=market.pk)
    update = await communicator.receive_from(timeout=10)
    assert "Tick 1" in update
    await communicator.send_to(text_data="give me everything")
    assert "That message was refused" in await communicator.receive_from(timeout=10)
    await communicator.disconnect()
    stranger = WebsocketCommunicator(router, path, headers=headers[:2])
    connected, _ = await stranger.connect(timeout=10)
    assert not connected
    await stranger.disconnect()


def test_twins_are_engine_accounts_like_any_other(learner: Learner) -> None:
    market = open_twins(learner, qty="0.5", leverage="5")
    for twin in PaperAccount.objects.filter(parent=learner.account):
        position = twin.positions.get()
        assert position.qty == D("0.5")
        wallet = twin.wallets.get(currency="USDT").balance
        assert wallet == D(10000) - D("15")  # 30,000 × 0.05% taker fee
    assert market.kind == Market.Kind.TWINS
