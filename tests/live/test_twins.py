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
from sandbox.desk.models import LiquidationRecord, Market, MarkPrice, PaperAccount
from sandbox.live import services
from sandbox.live.chart import build_chart

from .conftest import Learner, quiet, schedule_gap
from .sockets import oob, section

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


# ------------------------------------------------------- equity side by side, and why


def page_of(learner: Learner, market: Market) -> str:
    response = learner.client.get(f"/desk/{learner.account.pk}/twins/{market.pk}/")
    assert response.status_code == 200
    return str(response.content.decode())


def text(html_part: str) -> str:
    """What a reader reads of some markup: its text, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", html_part)).split())


def figures_of(page: str) -> dict[str, str]:
    """The equity table's figures, by their data-figure name."""
    table = section(page, "twins-compare")
    found = re.findall(r'data-figure="([a-z-]+)"[^>]*>(.*?)</td>', table, flags=re.S)
    return {name: text(value) for name, value in found}


def why(page: str) -> str:
    return text(section(page, "twins-why"))


def realising(market: Market, percent: str, symbol: str = "XBTUSDT") -> None:
    """The next tick moves the mark by ``percent`` and realises profit (600x speed: ten
    simulated minutes a tick)."""
    Market.objects.filter(pk=market.pk).update(speed=600)
    schedule_gap(market, symbol, percent)
    assert services.market_tick(market_id=market.pk) is not None


def test_the_twins_equity_is_alike_before_any_realisation(learner: Learner) -> None:
    market = quiet(open_twins(learner))  # 1 XBT long at 60,000; 30 USDT taker fee each
    page = page_of(learner, market)
    assert figures_of(page) == {
        "wallet-isolated": "9,970",
        "wallet-cross": "9,970",
        "upnl-isolated": "0",
        "upnl-cross": "0",
        "equity-isolated": "9,970",
        "equity-cross": "9,970",
    }
    assert 'data-gap="alike"' in page
    assert why(page).startswith(
        "At the same mark both twins are alike so far: the same wallet, the same unrealised "
        "PnL, so the same equity, 9,970 USDT."
    )
    assert "every 10 simulated minutes the cross twin's profit is moved" in why(page)


def test_a_realisation_moves_the_cross_twins_profit_into_its_wallet(learner: Learner) -> None:
    market = quiet(open_twins(learner))
    realising(market, "1")  # 60,600: +600 each; the cross twin's is realised
    page = page_of(learner, market)
    assert figures_of(page) == {
        "wallet-isolated": "9,970",
        "wallet-cross": "10,570",
        "upnl-isolated": "+600",
        "upnl-cross": "0",
        "equity-isolated": "10,570",
        "equity-cross": "10,570",
    }
    assert "Equity side by side at the mark 60,600" in text(section(page, "twins-compare"))
    assert 'data-gap="realised"' in page
    assert why(page) == (
        "At the same mark both twins have the same equity, 10,570 USDT, but hold it "
        "differently: the cross twin's wallet is 600 USDT higher and its unrealised PnL "
        "600 USDT lower. Every 10 simulated minutes the exchange realises a cross "
        "position's profit: it moves into the wallet, and the position's avg entry price "
        "moves to that moment's mark (60,600 now, against the isolated twin's 60,000), so "
        "its unrealised PnL counts only what came after. The isolated twin's profit stays "
        "unrealised until the position is closed."
    )

    # Down 2% (59,388) at 1x, no realisation: the 600 stays in the cross twin's wallet.
    Market.objects.filter(pk=market.pk).update(speed=1)
    schedule_gap(market, "XBTUSDT", "-2")
    assert services.market_tick(market_id=market.pk) is not None
    page = page_of(learner, market)
    figures = figures_of(page)
    assert (figures["upnl-isolated"], figures["upnl-cross"]) == ("-612", "-1,212")
    assert figures["equity-isolated"] == figures["equity-cross"] == "9,358"
    assert "the cross twin's wallet is 600 USDT higher and its unrealised PnL 600 USDT lower" in (
        why(page)
    )


def test_both_liquidation_prices_are_on_the_chart(learner: Learner) -> None:
    """The scale reaches both: 57,300 (isolated 20x) and 50,330 (cross), a tick of 1%
    away from the mark; before, the cross line was an arrow off the chart."""
    market = quiet(open_twins(learner))
    schedule_gap(market, "XBTUSDT", "1")
    assert services.market_tick(market_id=market.pk) is not None
    chart = section(page_of(learner, market), "chart")
    assert "ref-arrow" not in chart and "↓" not in chart
    assert chart.count('class="ref ref-liquidation"') == 2
    assert "isolated 20x liquidation 57,300" in chart
    assert "cross liquidation 50,330" in chart
    axis = re.search(r"Price axis from ([\d,.]+) to ([\d,.]+)\.", chart)
    assert axis is not None
    low, high = (D(figure.replace(",", "")) for figure in axis.groups())
    assert low < D(50330) and high > D(60600)


def test_after_a_liquidation_the_clock_shows_the_stop_and_offers_to_start_again(
    learner: Learner,
) -> None:
    market = quiet(open_twins(learner))
    schedule_gap(market, "XBTUSDT", "-10")  # 54,000: the isolated 20x twin is liquidated
    assert services.market_tick(market_id=market.pk) is not None
    page = page_of(learner, market)
    clock = text(section(page, "twins-clock"))
    assert clock.startswith(
        "Stopped at tick 1 : the isolated 20x twin was liquidated. Go on to watch the cross "
        "twin carry on, or start again."
    )
    assert "Stop the market" not in page
    assert re.search(
        r'<button type="submit" id="twins-run" name="action" value="go"[^>]*>Go on</button>', page
    )
    assert f'formaction="/desk/{learner.account.pk}/twins/{market.pk}/again/"' in page
    # The equity row and the reason, in the twins' own figures.
    figures = figures_of(page)
    assert (figures["wallet-isolated"], figures["equity-isolated"]) == ("6,970", "6,970")
    assert (figures["upnl-cross"], figures["equity-cross"]) == ("-6,000", "3,970")
    assert 'data-gap="liquidated"' in page
    assert why(page).startswith(
        "The isolated 20x twin was liquidated at the mark 54,000 and lost 3,000 USDT: its "
        "equity is now 6,970 USDT, all of it in its wallet. The cross twin still holds the "
        "position, with an equity of 3,970 USDT and its liquidation price at 50,330."
    )
    # The chart keeps where the isolated twin was liquidated.
    chart = section(page, "chart")
    assert "isolated 20x liquidation 57,300" in chart and "cross liquidation 50,330" in chart


def test_start_again_opens_the_same_twins_afresh(learner: Learner) -> None:
    market = quiet(open_twins(learner, qty="0.5", leverage="10"))
    schedule_gap(market, "XBTUSDT", "-10")
    assert services.market_tick(market_id=market.pk) is not None
    response = learner.client.post(f"/desk/{learner.account.pk}/twins/{market.pk}/again/")
    assert response.status_code == 302
    again = Market.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))
    assert again.pk != market.pk and again.kind == Market.Kind.TWINS and again.running
    isolated, cross = PaperAccount.objects.filter(market=again).order_by("pk")
    assert (isolated.label, cross.label) == ("isolated 10x", "cross")
    for twin, mode in ((isolated, "isolated"), (cross, "cross")):
        position = twin.positions.get()
        assert (position.instrument_id, position.qty, position.mode) == ("XBTUSDT", D("0.5"), mode)
    assert isolated.positions.get().leverage == 10
    page = learner.client.get(response["Location"]).content.decode()
    assert "The same twins, opened again from your desk&#x27;s prices" in page


def test_start_again_is_refused_with_the_reason_and_opens_nothing(learner: Learner) -> None:
    market = quiet(open_twins(learner))
    as_room(learner)
    markets, accounts = Market.objects.count(), PaperAccount.objects.count()
    response = learner.client.post(
        f"/desk/{learner.account.pk}/twins/{market.pk}/again/", follow=True
    )
    assert response.redirect_chain == [(f"/desk/{learner.account.pk}/twins/{market.pk}/", 302)]
    assert "The twins were not opened again: Side by side opens only from your own" in (
        html.unescape(response.content.decode())
    )
    assert (Market.objects.count(), PaperAccount.objects.count()) == (markets, accounts)


def test_another_learner_cannot_start_someone_elses_twins_again(
    learner: Learner, other_learner: Learner
) -> None:
    market = open_twins(learner)
    markets = Market.objects.count()
    other_learner.client.raise_request_exception = False
    for account_id in (learner.account.pk, other_learner.account.pk):
        response = other_learner.client.post(f"/desk/{account_id}/twins/{market.pk}/again/")
        assert response.status_code == 404
    assert (
        learner.client.get(f"/desk/{learner.account.pk}/twins/{market.pk}/again/").status_code
        == 405
    )
    assert Market.objects.count() == markets


async def test_a_push_redraws_the_clock_only_when_what_it_offers_changes(
    learner: Learner,
) -> None:
    market = await database_sync_to_async(lambda: quiet(open_twins(learner)))()
    cookie = "sandbox_account=" + learner.client.cookies["sandbox_account"].value
    headers = [
        (b"origin", b"http://localhost"),
        (b"host", b"localhost"),
        (b"cookie", cookie.encode()),
    ]
    communicator = WebsocketCommunicator(
        router, f"/ws/twins/{learner.account.pk}/{market.pk}/", headers=headers
    )
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    first = await communicator.receive_from(timeout=10)
    assert oob(first, "twins") and oob(first, "twins-clock")  # the snapshot: everything
    assert "Stop the market" in section(first, "twins-clock")
    await database_sync_to_async(schedule_gap)(market, "XBTUSDT", "1")
    await database_sync_to_async(services.market_tick)(market_id=market.pk)
    update = await communicator.receive_from(timeout=10)
    assert oob(update, "twins") and "twins-clock" not in update  # nothing changed there
    await database_sync_to_async(schedule_gap)(market, "XBTUSDT", "-10")
    await database_sync_to_async(services.market_tick)(market_id=market.pk)
    update = await communicator.receive_from(timeout=10)
    clock = section(update, "twins-clock")
    assert oob(update, "twins-clock") and "Stopped at tick 2" in clock
    assert "Start again" in clock and "Go on" in clock and "Stop the market" not in clock
    await communicator.disconnect()


def test_a_chart_scale_includes_the_prices_it_is_given() -> None:
    """Without ``include`` a line ten times the prices' range away is an arrow off the
    chart; with it, the scale reaches it and it is a line."""
    points = [(1, D(60000)), (2, D(60600))]
    lines = [("liquidation", "cross liquidation", D(50330))]
    plain = build_chart(points, lines)
    assert plain is not None and plain.off_chart == (("cross liquidation", D(50330)),)
    chart = build_chart(points, lines, include=[D(50330)])
    assert chart is not None and chart.off_chart == ()
    assert chart.low < D(50330) and chart.high > D(60600)
    assert [line.arrow for line in chart.lines] == [""]


def test_inverse_twins_compare_in_xbt(learner: Learner) -> None:
    """XBTUSD settles in XBT: the equity row is in XBT, from each twin's 1 XBT."""
    Market.objects.filter(pk=learner.account.market_id).update(volatility=D(0), drift=D(0))
    MarkPrice.objects.filter(market_id=learner.account.market_id, instrument_id="XBTUSD").update(
        price=D(50000)
    )
    response = learner.post(
        "twins_open", {"side": "buy", "qty": "10000", "twin_leverage": "10"}, "XBTUSD"
    )
    assert response.status_code == 302, response.content
    market = quiet(Market.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1])))
    realising(market, "1", "XBTUSD")  # 50,500: 10,000 × (1/50,000 − 1/50,500) XBT each
    page = page_of(learner, market)
    compare = section(page, "twins-compare")
    assert '<th scope="col">XBT</th>' in compare
    figures = figures_of(page)
    # 10,000 × (1/50,000 − 1/50,500) = 0.00198019801… XBT (shown 0.0019802); the fee
    # 10,000/50,000 × 0.05% =
    # 0.0001 XBT each.
    assert figures["upnl-isolated"] == "+0.0019802"
    # Realisation moves whole minor units (0.00198019): the rest, 0.0000000080…, stays
    # unrealised.
    assert figures["upnl-cross"] == "+0.00000001"
    assert figures["wallet-cross"] == "1.00188019"  # 1 − 0.0001 + 0.00198019 (rounded down)
    assert figures["equity-isolated"] == figures["equity-cross"]
    assert 'data-gap="realised"' in page
    assert "wallet is 0.00198019 XBT higher and its unrealised PnL 0.00198019 XBT lower" in why(
        page
    )


def test_go_on_after_the_stop_moves_the_surviving_twin_and_can_be_stopped_again(
    learner: Learner,
) -> None:
    """The clock's plain form, posted from the page, answers back on the page."""
    market = quiet(open_twins(learner))
    schedule_gap(market, "XBTUSDT", "-10")
    assert services.market_tick(market_id=market.pk) is not None
    isolated = PaperAccount.objects.filter(market=market).order_by("pk").first()
    assert isolated is not None
    here = f"/desk/{learner.account.pk}/twins/{market.pk}/"
    clock_url = f"/desk/{isolated.pk}/XBTUSDT/clock/"
    response = learner.client.post(clock_url, {"action": "go", "next": here}, follow=True)
    assert response.redirect_chain == [(here, 302)]
    market.refresh_from_db()
    assert market.running
    page = response.content.decode()
    assert "The market is moving again." in page
    clock = text(section(page, "twins-clock"))
    assert clock.startswith("Start again Stop the market Speed")
    response = learner.client.post(clock_url, {"action": "pause", "next": here}, follow=True)
    market.refresh_from_db()
    assert not market.running
    assert "The market is stopped. Prices hold until you go on." in response.content.decode()
    # A next page that is not this site's desk is not followed: the desk's own answer.
    response = learner.client.post(clock_url, {"action": "go", "next": "https://example.com/"})
    assert response.status_code == 302 and response["Location"] == f"/desk/{isolated.pk}/XBTUSDT/"
