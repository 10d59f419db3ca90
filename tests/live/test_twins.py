"""Side by side: the same position opened isolated and cross, on one price path."""

from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from sandbox import engine
from sandbox.asgi import router
from sandbox.desk import services as desk_services
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
        # Digits int() reads but the form does not offer: Arabic-Indic and fullwidth five.
        ({"side": "buy", "qty": "1", "twin_leverage": "\u0665"}, "from 1x to 100x"),
        ({"side": "buy", "qty": "1", "twin_leverage": "\uff15"}, "from 1x to 100x"),
        # More digits than int() reads (4,300): refused with the range, not a 500.
        ({"side": "buy", "qty": "1", "twin_leverage": "9" * 10_000}, "from 1x to 100x"),
        ({"side": "buy", "qty": "1", "twin_leverage": "101"}, "from 1x to 100x"),
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


def refused_twins(learner: Learner, data: dict[str, str], message: str) -> None:
    """A twins post that must be refused with ``message`` and create nothing."""
    markets, accounts = Market.objects.count(), PaperAccount.objects.count()
    for htmx in (False, True):
        response = learner.post("twins_open", data, htmx=htmx)
        assert response.status_code == (200 if htmx else 400)
        assert html.escape(message) in response.content.decode()
    assert (Market.objects.count(), PaperAccount.objects.count()) == (markets, accounts)


def as_room(learner: Learner, **terms: object) -> None:
    """The learner's market made a classroom's (capped at 50x, XBTUSDT and ETHUSDT)."""
    changes = {"kind": Market.Kind.ROOM, "max_leverage_cap": D(50), "symbols": ["XBTUSDT"]}
    Market.objects.filter(pk=learner.account.market_id).update(**{**changes, **terms})


@pytest.mark.parametrize("leverage", ["10", "50", "51", "100"])
def test_a_room_learner_cannot_open_twins_past_the_rooms_terms(
    learner: Learner, leverage: str
) -> None:
    """The twins used to open 100x cross and 50x+ isolated on a market of their own,
    whatever the room's cap: they are refused in a classroom, with the reason."""
    as_room(learner)
    refused_twins(
        learner,
        {"side": "buy", "qty": "0.1", "twin_leverage": leverage},
        "The twins were not opened: Side by side opens only from your own practice market: "
        "in a classroom you trade on your teacher",
    )


def test_twins_are_refused_while_a_room_is_closed_to_trading(learner: Learner) -> None:
    as_room(learner, trading_open=False)
    refused_twins(
        learner,
        {"side": "buy", "qty": "0.1", "twin_leverage": "10"},
        "The twins were not opened: Trading is closed in this room for now",
    )


def test_the_twins_service_goes_through_the_markets_terms(learner: Learner) -> None:
    """The same check as an order's: closed trading first, then no twins off a practice
    market (a classroom's, a lesson's, or the twins' own)."""
    market = learner.account.market
    markets = Market.objects.count()
    Market.objects.filter(pk=market.pk).update(trading_open=False)
    with pytest.raises(engine.Rejected, match="Trading is closed"):
        desk_services.twins_open(
            account=PaperAccount.objects.get(pk=learner.account.pk),
            symbol="XBTUSDT",
            side=engine.Side.BUY,
            qty=D("0.1"),
            leverage=D(10),
        )
    for kind in (Market.Kind.ROOM, Market.Kind.LESSON, Market.Kind.TWINS):
        Market.objects.filter(pk=market.pk).update(trading_open=True, kind=kind)
        with pytest.raises(engine.Rejected, match="only from your own practice market"):
            desk_services.twins_open(
                account=PaperAccount.objects.get(pk=learner.account.pk),
                symbol="XBTUSDT",
                side=engine.Side.BUY,
                qty=D("0.1"),
                leverage=D(10),
            )
    assert Market.objects.count() == markets
    assert not PaperAccount.objects.filter(parent=learner.account).exists()


def test_twins_of_an_instrument_the_market_does_not_trade_are_not_found(
    learner: Learner,
) -> None:
    """It used to draw the desk for an instrument the market has no price for: a 500."""
    as_room(learner)
    learner.client.raise_request_exception = False
    response = learner.post(
        "twins_open", {"side": "buy", "qty": "1", "twin_leverage": "5"}, "SOLUSDT"
    )
    assert response.status_code == 404
    assert not PaperAccount.objects.filter(parent=learner.account).exists()


def test_the_twins_market_keeps_the_sources_terms(learner: Learner) -> None:
    Market.objects.filter(pk=learner.account.market_id).update(
        fees_enabled=False, funding_enabled=False
    )
    market = open_twins(learner, qty="0.5", leverage="5")
    assert (market.fees_enabled, market.funding_enabled) == (False, False)
    for twin in PaperAccount.objects.filter(parent=learner.account):
        assert twin.wallets.get(currency="USDT").balance == D(10000)  # no taker fee


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


def test_the_twins_chart_draws_a_mark_set_by_hand_as_a_point(learner: Learner) -> None:
    market = quiet(open_twins(learner))
    schedule_gap(market, "XBTUSDT", "1")
    assert services.market_tick(market_id=market.pk) is not None  # 60,600
    desk_services.market_mark_set(market=market, symbol="XBTUSDT", price=D(61000))

    page = learner.client.get(f"/desk/{learner.account.pk}/twins/{market.pk}/").content.decode()

    assert '<path d="M0,-61000h0" class="hand-dot"' in page


def test_each_twin_shows_the_desks_own_positions_and_balances_sections(
    learner: Learner,
) -> None:
    market = open_twins(learner)
    page = learner.client.get(f"/desk/{learner.account.pk}/twins/{market.pk}/").content.decode()
    for number in (1, 2):
        assert f'<section id="twin-{number}-positions" class="card"' in page
        assert f'<section id="twin-{number}-balances" class="card"' in page
    assert page.count('<tr data-symbol="XBTUSDT">') == 2
    assert page.count('<tr data-currency="USDT">') == 2
    assert "Close</button>" not in page and "Reset account" not in page
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # two twins, no id twice
