"""A teacher and two learners in separate browsers: the learners open leveraged positions,
the teacher crashes the price, both learners see their liquidation live, and the board
shows both, all without a reload."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import ARTIFACTS
from .screens import COUNT_LIVE_MESSAGES, TEACHER_PASSWORD, live_settled, teachers_room

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = TEACHER_PASSWORD


def new_page(browser: Any, base: str) -> Any:
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    context.add_init_script(COUNT_LIVE_MESSAGES)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.base_url = base
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    return page


def test_a_crash_liquidates_two_learners_live(browser: Any, asgi_server: str, seeded: None) -> None:
    room = teachers_room("mr-keynes", "Year 12")

    board = new_page(browser, asgi_server)
    board.goto(asgi_server + "/login/")
    board.get_by_label("Username").fill("mr-keynes")
    board.get_by_label("Password").fill(PASSWORD)
    board.get_by_role("button", name="Log in").click()
    board.goto(f"{asgi_server}/rooms/{room.code}/")
    board.wait_for_selector("#board")
    board.evaluate("window.__sameDocument = true")

    learners = []
    for name in ("Ada", "Grace"):
        page = new_page(browser, asgi_server)
        page.goto(f"{asgi_server}/join/{room.code}/")
        page.get_by_label("Your name").fill(name)
        page.get_by_role("button", name="Join").click()
        page.wait_for_selector("#ticket-form")
        assert f"You are {name}." in page.inner_text("#room-panel")
        live_settled(page)  # the connect snapshot redraws the slider: not under the keys
        # Isolated at 20x: margin 3,000 for 1 XBT at 60,000; liquidation at 57,300.
        page.get_by_label("Quantity (XBT)").fill("1")
        page.locator("#leverage-stop").focus()
        for _ in range(20):
            page.keyboard.press("ArrowRight")
        # The slider alone sets the order's leverage: its preview says so first.
        page.wait_for_selector("#order-preview >> text=isolated 20x")
        page.get_by_role("button", name="Place order").click()
        page.wait_for_selector('#positions tr[data-symbol="XBTUSDT"]')
        page.evaluate("window.__sameDocument = true")
        learners.append(page)
    board.locator('[data-learner="Grace"]').wait_for()

    # The teacher starts the market and crashes it: 10% over 3 ticks.
    board.get_by_role("button", name="Play", exact=True).click()
    board.wait_for_selector("text=The market is running.")
    board.get_by_label("Crash: fall").fill("10")
    board.get_by_label("over").fill("3")
    board.get_by_role("button", name="Crash", exact=True).click()
    board.wait_for_selector("text=XBTUSDT falls 10% over the next 3 ticks.")

    for page in learners:
        notice = page.locator('#liquidation-notices [data-liquidation="XBTUSDT"]')
        notice.wait_for()
        assert "Liquidated: your XBTUSDT long (isolated margin)" in notice.inner_text()
        assert notice.locator('[data-figure="liquidation-loss"]').inner_text() == "3,000 USDT"
        assert page.evaluate("window.__sameDocument") is True
    board.wait_for_function(
        "() => document.querySelector('[data-liquidated-count]').innerText === '2'"
    )
    feed = board.locator("[data-feed]").first.inner_text()
    assert feed.startswith("2 learners liquidated on XBTUSDT")
    assert board.locator('[data-learner="Ada"] [data-liquidations]').inner_text() == "1"
    assert board.evaluate("window.__sameDocument") is True
    ARTIFACTS.mkdir(exist_ok=True)
    board.screenshot(path=str(ARTIFACTS / "class-board.png"), full_page=True)
    for page in (board, *learners):
        assert page.errors == []
        page.context.close()
