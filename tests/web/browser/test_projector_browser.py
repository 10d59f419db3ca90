"""The projector in a real browser: a teacher, a projector window (the read-only link on
another machine, 1920x1080) and two learners whose positions sit at different liquidation
prices. The teacher crashes the price; the projector shows each liquidation live (its
marker in the strip turns filled and crossed, the feed lists it, the counts move), all
without a reload. The projector never scrolls at 1920x1080, 1366x768 or 1280x720, and
axe-core finds nothing wrong with it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from sandbox import engine
from sandbox.classroom.models import Room, RoomMember
from sandbox.classroom.services import room_join
from sandbox.desk import services
from sandbox.desk.models import Market, MarkPrice

from .screens import (
    PHONE,
    TEACHER_PASSWORD,
    Size,
    axe,
    no_sideways_scroll,
    outside_first_screen,
    screenshot,
    teachers_room,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROJECTOR = Size("projector", 1920, 1080)
SMALL_PROJECTOR = Size("small projector", 1280, 720)
LAPTOP = Size("small laptop", 1366, 768)
D = Decimal

# How many markers of the strip's liquidation column are lit (liquidated), or open.
LIQUIDATED = """document.querySelectorAll(
  '[data-strip="liquidation"] [data-state^="liquidated"]').length"""
OPEN_MARKS = """document.querySelectorAll(
  '[data-strip="liquidation"] [data-state="isolated"]').length"""


def quiet_room(username: str) -> Room:
    """The teacher's room on XBTUSDT at 60,000, paused, with no drift or diffusion: the
    price moves only when the teacher moves it."""
    room = teachers_room(username, "Year 12 risk")
    Market.objects.filter(pk=room.market_id).update(volatility=D(0), drift=D(0))
    MarkPrice.objects.filter(market_id=room.market_id).update(price=D(60000))
    return room


def sign_in(page: Any, username: str) -> None:
    page.goto(page.base_url + "/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(TEACHER_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login/" not in url)


def join(page: Any, room: Room, name: str, leverage: int) -> None:
    """``name`` joins from their own browser and holds 1 XBT long, isolated at
    ``leverage``x, bought at 60,000."""
    page.goto(f"{page.base_url}/join/{room.code}/")
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Join").click()
    page.wait_for_selector("#ticket-form")
    member = RoomMember.objects.select_related("account").get(room=room, display_name=name)
    services.leverage_set(
        account=member.account,
        symbol="XBTUSDT",
        mode=engine.MarginMode.ISOLATED,
        leverage=D(leverage),
    )
    services.order_place(account=member.account, symbol="XBTUSDT", side=engine.Side.BUY, qty=D(1))


def fits(page: Any) -> list[str]:
    """What keeps the projector from fitting its screen: scrolling either way, or a part
    not whole in the first screen."""
    problems = no_sideways_scroll(page)
    height = page.evaluate("() => document.scrollingElement.scrollHeight")
    if height > page.viewport_size["height"]:
        problems.append(f"the page is {height}px tall")
    parts = {
        name: page.locator(selector)
        for name, selector in {
            "chart": ".projector-svg",
            "QR code": ".projector-qr svg",
            "join code": "[data-room-code]",
            "counts": "#projector-counts",
            "feed": "#projector-feed",
            "leaderboard": "#projector-board table",
            "mark": ".projector-mark",
        }.items()
    }
    return problems + [f"{name} is not whole on screen" for name in outside_first_screen(parts)]


def test_a_crash_lights_up_each_liquidation_on_the_projector(page_at: Any) -> None:
    room = quiet_room("ms-projector")
    teacher = page_at(PROJECTOR)
    sign_in(teacher, "ms-projector")
    teacher.goto(f"{teacher.base_url}/rooms/{room.code}/")
    teacher.get_by_role("button", name="Make a read-only link").click()
    address = teacher.locator(".projector-key-link").get_attribute("href")
    assert address.startswith(f"/rooms/{room.code}/projector/")

    # Ada at 20x (liquidation 57,300), Grace at 10x (54,300), each from a browser.
    join(page_at(LAPTOP), room, "Ada", 20)
    join(page_at(LAPTOP), room, "Grace", 10)

    projector = page_at(PROJECTOR)  # the classroom's computer: no login, the link
    projector.goto(projector.base_url + address)
    projector.wait_for_function(f"() => {OPEN_MARKS} === 2")
    projector.evaluate("window.__sameDocument = true")
    assert projector.locator("[data-room-code]").inner_text() == room.code
    assert projector.locator('[data-count="open"]').inner_text() == "2"
    assert projector.locator("#projector-feed").inner_text() == "No liquidation yet."
    assert fits(projector) == []
    screenshot(projector, "projector-before.png")

    # The teacher plays the market and crashes it: 15% over 6 ticks, so the price passes
    # Ada's liquidation price two ticks before Grace's.
    teacher.get_by_role("button", name="Play", exact=True).click()
    teacher.wait_for_selector("text=The market is running.")
    teacher.get_by_label("Crash: fall").fill("15")
    teacher.get_by_label("over").fill("6")
    teacher.get_by_role("button", name="Crash", exact=True).click()
    teacher.wait_for_selector("text=XBTUSDT falls 15% over the next 6 ticks.")

    # Ada first: her marker lit, Grace's still open, the feed naming one learner.
    projector.wait_for_function(f"() => {LIQUIDATED} === 1 && {OPEN_MARKS} === 1")
    first = projector.locator("[data-feed]").first.inner_text()
    assert first.startswith("1 learner at ")
    assert first.endswith("(liquidation price 57,300)")
    # Then Grace.
    projector.wait_for_function(f"() => {LIQUIDATED} === 2 && {OPEN_MARKS} === 0")
    projector.wait_for_function(
        "() => document.querySelector('[data-count=\"liquidated\"]').innerText === '2'"
    )
    assert projector.locator('[data-count="open"]').inner_text() == "0"
    feed = projector.locator("[data-feed]").all_inner_texts()
    assert [
        line.endswith(f"(liquidation price {price})")
        for line, price in zip(feed, ("54,300", "57,300"), strict=True)
    ] == [True, True]
    # Said in words as well: the hidden table lists where they were.
    levels = projector.locator("tr[data-level]").all_inner_texts()
    assert any(row.startswith("57,300") and "1 liquidated" in row for row in levels)
    assert any(row.startswith("54,300") and "1 liquidated" in row for row in levels)
    assert projector.evaluate("window.__sameDocument") is True
    assert fits(projector) == []
    screenshot(projector, "projector-after.png")


@pytest.mark.parametrize("size", [PROJECTOR, LAPTOP, SMALL_PROJECTOR], ids=str)
def test_the_teachers_projector_fits_the_screen_and_passes_axe(page_at: Any, size: Size) -> None:
    """A full screen: seven learners, four liquidations at four prices (the feed's four
    lines), five places on the leaderboard, positions isolated and cross."""
    room = quiet_room(f"mr-projector-{size.width}")
    isolated, cross = engine.MarginMode.ISOLATED, engine.MarginMode.CROSS
    for name, mode, leverage in (
        ("Ada", isolated, 20),
        ("Grace", isolated, 10),
        ("Hedy", cross, 10),
        ("Katherine Johnson-Goble", isolated, 25),
        ("Alan", isolated, 30),
        ("Barbara", isolated, 40),
        ("Edsger", isolated, 50),
    ):
        member = room_join(room=room, display_name=name)
        account = RoomMember.objects.select_related("account").get(pk=member.pk).account
        services.leverage_set(account=account, symbol="XBTUSDT", mode=mode, leverage=D(leverage))
        services.order_place(account=account, symbol="XBTUSDT", side=engine.Side.BUY, qty=D(1))
    market = Market.objects.get(pk=room.market_id)
    for price in (59000, 58700, 58200, 57800):  # past 50x, 40x, 30x and 25x, one at a time
        services.market_mark_set(market=market, symbol="XBTUSDT", price=D(price))
    page = page_at(size, bypass_csp=True)
    sign_in(page, f"mr-projector-{size.width}")
    page.goto(f"{page.base_url}/rooms/{room.code}/projector/")
    page.wait_for_function(f"() => {OPEN_MARKS} === 2")
    assert page.locator('[data-strip="liquidation"] [data-state="cross"]').count() == 1
    assert page.locator("[data-feed]").count() == 3  # the latest three of four
    assert page.locator("#projector-board tbody tr").count() == 5
    page.wait_for_function("() => window.__liveMessages > 0")

    screenshot(page, f"projector-{size}.png")
    assert fits(page) == []
    assert axe(page) == []
    # Read from the back of the room: the figures are large.
    mark = page.locator(".projector-mark strong").evaluate(
        "(el) => parseFloat(getComputedStyle(el).fontSize)"
    )
    assert mark >= size.height * 0.035


def test_the_read_only_link_on_the_panel_fits_a_phone(page_at: Any) -> None:
    room = quiet_room("ms-phone")
    page = page_at(PHONE)
    sign_in(page, "ms-phone")
    page.goto(f"{page.base_url}/rooms/{room.code}/")
    page.get_by_role("button", name="Make a read-only link").click()
    link = page.locator(".projector-key-link")
    link.wait_for()

    right = link.evaluate("(el) => el.getBoundingClientRect().right")
    assert right <= PHONE.width
    assert link.inner_text().endswith(f"/rooms/{room.code}/projector/{room_key(room)}/")
    page.get_by_role("button", name="Revoke the read-only link").click()
    page.wait_for_selector("text=The read-only projector link no longer works.")
    assert page.locator(".projector-key-link").count() == 0


def room_key(room: Room) -> str:
    return Room.objects.values_list("projector_key", flat=True).get(pk=room.pk)
