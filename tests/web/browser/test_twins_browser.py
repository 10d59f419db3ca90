"""Side by side in real Chromium, on the real server (its ticker ticking the twins'
market), at 1440x900, 1366x768 and 390x844: the equity row and why the twins differ, both
liquidation prices on the chart, and the clock after a liquidation stopped the market,
pushed live (no reload), then Start again; nothing scrolls sideways and axe-core finds
no violation of moderate impact or worse, before and after the stop."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import expect

from sandbox.desk.models import Market
from sandbox.desk.services import twins_open
from sandbox.engine import Side
from sandbox.live.services import market_gap

from .screens import SIZES, Size, axe, learner_with_position, live_settled, no_sideways_scroll

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def checked(page: Any) -> None:
    """No sideways scroll, no axe-core violation."""
    assert not no_sideways_scroll(page), no_sideways_scroll(page)
    assert not axe(page), axe(page)


@pytest.mark.parametrize("size", [pytest.param(size, id=str(size)) for size in SIZES])
def test_the_twins_compare_then_stop_on_a_liquidation_and_start_again(
    page_at: Any, size: Size
) -> None:
    page = page_at(size, bypass_csp=True)  # axe-core's script is injected
    account = learner_with_position(page)
    # 1 XBT long at 60,000: isolated 10x (margin 6,000, liquidation 54,300) and cross
    # (the wallet's 9,970 behind it, liquidation 50,330).
    twins = twins_open(
        account=account, symbol="XBTUSDT", side=Side.BUY, qty=Decimal(1), leverage=Decimal(10)
    )
    Market.objects.filter(pk=twins.pk).update(volatility=0, drift=0, jump_intensity=0)
    page.goto(f"{page.base_url}/desk/{account.pk}/twins/{twins.pk}/")
    live_settled(page)
    clock = page.locator("#twins-clock")
    expect(clock.get_by_role("button", name="Stop the market")).to_be_visible()
    expect(clock.get_by_role("button", name="Start again")).to_have_count(0)
    # The equity row: the same 30 USDT fee each (60,000 × 0.05%), nothing realised.
    expect(page.locator('[data-figure="equity-isolated"]')).to_have_text("9,970")
    expect(page.locator('[data-figure="equity-cross"]')).to_have_text("9,970")
    expect(page.locator("#twins-why")).to_contain_text("both twins are alike so far")
    page.wait_for_selector("#chart svg.chart")  # drawn from the first tick on
    checked(page)

    # The ticker's next tick takes the mark 10% down at once, to 54,000.
    market_gap(market=Market.objects.get(pk=twins.pk), symbol="XBTUSDT", percent=Decimal(-10))
    stopped = clock.locator('[data-clock="stopped"]')
    expect(stopped).to_contain_text("the isolated 10x twin was liquidated", timeout=20_000)
    expect(stopped).to_contain_text("Go on to watch the cross twin carry on, or start again.")
    expect(page.get_by_role("button", name="Stop the market")).to_have_count(0)
    expect(clock.get_by_role("button", name="Start again")).to_be_visible()
    expect(clock.get_by_role("button", name="Go on")).to_be_visible()
    expect(page.locator("#twins .live-status")).to_contain_text("stopped")
    # Each twin's equity and why: the isolated twin lost its 6,000 of margin; the cross
    # twin, 6,000 down on the same move, still holds the position.
    expect(page.locator('[data-figure="wallet-isolated"]')).to_have_text("3,970")
    expect(page.locator('[data-figure="upnl-cross"]')).to_have_text("-6,000")
    expect(page.locator('[data-figure="equity-cross"]')).to_have_text("3,970")
    why = page.locator("#twins-why")
    expect(why).to_contain_text(
        "The isolated 10x twin was liquidated at the mark 54,000 and lost 6,000 USDT"
    )
    expect(why).to_contain_text("The cross twin still holds the position")
    # Both liquidation prices drawn as lines across the chart, neither off it.
    chart = page.locator("#chart")
    expect(chart.locator("line.ref-liquidation")).to_have_count(2)
    expect(chart.locator(".ref-arrow")).to_have_count(0)
    expect(chart.locator("text.ref-label")).to_have_text(
        ["isolated 10x liquidation 54,300", "cross liquidation 50,330"]
    )
    checked(page)

    # Start again: the same order opened afresh, on a market of its own, running.
    clock.get_by_role("button", name="Start again").click()
    page.wait_for_url(re.compile(rf"/desk/{account.pk}/twins/(?!{twins.pk}/)\d+/$"))
    expect(page.locator(".messages")).to_contain_text("The same twins, opened again")
    expect(
        page.locator("#twins-clock").get_by_role("button", name="Stop the market")
    ).to_be_visible()
    expect(page.locator('[data-figure="equity-isolated"]')).to_have_text("9,970")
