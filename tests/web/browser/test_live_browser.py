"""The live market in real Chromium: the price falls, the learner sees the margin call,
then the liquidation notice, all pushed over the websocket without a reload."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from sandbox import engine
from sandbox.desk import services
from sandbox.desk.models import LiquidationRecord, Market, MarkPrice, PaperAccount

from .conftest import ARTIFACTS
from .screens import live_settled

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_falling_price_warns_then_liquidates_without_reload(live_page: Any) -> None:
    page = live_page
    page.goto(page.base_url + "/")
    page.wait_for_selector("#ticket-form")
    account = PaperAccount.objects.get()
    # Stop the market while the position is set up (it may have ticked since the page
    # loaded, so the mark is put back to 60,000): 1 XBT long, isolated at 10x.
    Market.objects.filter(pk=account.market_id).update(running=False)
    MarkPrice.objects.filter(market_id=account.market_id, instrument_id="XBTUSDT").update(
        price=Decimal(60000)
    )
    services.leverage_set(
        account=account, symbol="XBTUSDT", mode=engine.MarginMode.ISOLATED, leverage=Decimal(10)
    )
    services.order_place(account=account, symbol="XBTUSDT", side=engine.Side.BUY, qty=Decimal(1))
    page.reload()
    row = page.locator('#positions tr[data-symbol="XBTUSDT"]')
    assert row.locator('[data-figure="liquidation-price"]').inner_text() == "54,300"

    # From here on, nothing reloads the page: a marker set now must survive to the end.
    page.evaluate("window.__sameDocument = true")
    # A steady fall of about 1.5% a tick (no randomness), two ticks a second.
    Market.objects.filter(pk=account.market_id).update(
        running=True,
        volatility=Decimal(0),
        drift=Decimal(-1577),
        speed=600,
        tick_seconds=Decimal("0.5"),
    )
    warning = page.locator('#margin-alerts [data-alert="XBTUSDT"]')
    warning.wait_for()
    assert "from its liquidation price 54,300" in warning.inner_text()
    assert page.get_attribute("#margin-alerts", "aria-live") == "assertive"

    notice = page.locator('#liquidation-notices [data-liquidation="XBTUSDT"]')
    notice.wait_for()
    text = notice.inner_text()
    assert "Liquidated: your XBTUSDT long (isolated margin)" in text
    assert "A liquidation is final" in text
    assert notice.locator('[data-figure="liquidation-loss"]').inner_text() == "6,000 USDT"
    assert page.locator('#positions tr[data-symbol="XBTUSDT"]').count() == 0
    assert page.evaluate("window.__sameDocument") is True
    page.locator("#chart svg .liq-marker").first.wait_for()

    record = LiquidationRecord.objects.get(account=account)
    assert record.loss == Decimal(-6000)
    assert record.liquidation_price == Decimal(54300)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "liquidation.png"), full_page=True)


def test_ticks_move_the_figures_and_the_price_line_in_place(live_page: Any) -> None:
    """A plain tick swaps in the figures that moved and the price line (an SVG frame),
    by id, without redrawing the tables; the browser reports no error doing so."""
    page = live_page
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page.base_url + "/")
    page.wait_for_selector("#ticket-form")
    account = PaperAccount.objects.get()
    Market.objects.filter(pk=account.market_id).update(running=False)
    services.order_place(account=account, symbol="XBTUSDT", side=engine.Side.BUY, qty=Decimal(1))
    page.reload()
    live_settled(page)  # (the connect snapshot redraws the tables whole: not a tick's work)
    # A steady rise of about 0.1% a tick (no randomness), two ticks a second; at 60x a
    # tick is 30 simulated seconds, so no profit realisation comes for 20 ticks.
    Market.objects.filter(pk=account.market_id).update(
        running=True,
        volatility=Decimal(0),
        drift=Decimal(1000),
        speed=60,
        tick_seconds=Decimal("0.5"),
    )
    page.wait_for_selector("#chart-plot polyline", state="attached")
    page.evaluate(
        "window.__table = document.querySelector('#positions table');"
        "window.__line = document.querySelector('#chart-plot polyline').getAttribute('points')"
    )
    page.wait_for_function(
        "() => document.querySelector('#chart-plot polyline').getAttribute('points')"
        " !== window.__line"
    )
    # Tick by tick, the table shows the mark the market shows: the same cells, new text.
    page.wait_for_function(
        "() => document.getElementById('pos-XBTUSDT-mark').textContent"
        " === document.getElementById('mark-price').textContent"
        " && document.getElementById('pos-XBTUSDT-mark').textContent !== '60,000'"
    )
    assert page.evaluate("document.querySelector('#positions table') === window.__table")
    upnl = page.locator("#pos-XBTUSDT-upnl")
    assert upnl.inner_text().startswith("+")
    assert upnl.get_attribute("class") == "gain"
    assert page.evaluate("document.getElementById('chart-plot') instanceof SVGSVGElement")
    assert page.evaluate(
        "document.querySelector('#chart-plot polyline') instanceof SVGPolylineElement"
    )
    assert page.locator("#chart-plot").get_attribute("viewBox")
    assert errors == []
