"""The learner's trading screen (#12) in real Chromium, at 1440x900, 1366x768 and on a
phone (390x844): nothing scrolls sideways, the figures that matter are in the first screen,
the leverage slider drives the order, liquidation notices come live and go, the keyboard
focus lands where the action answered, the margin dialog fits a phone, and axe-core finds no
violation of moderate impact or worse.

What the tests ask of the desk's markup (stable selectors, not layout):

- the mark: ``#mark-price``; the chart: ``#chart`` with its ``svg``;
- the order ticket: ``#ticket`` holding ``#ticket-form``, its leverage control (the
  ``slider`` role, labelled "Leverage…") and its "Place order" button;
- the open position: an element with ``data-symbol="XBTUSDT"`` inside ``#positions`` (a
  table row or a card), holding elements with these ``data-figure`` attributes:
  ``side``, ``qty``, ``avg-cost-price``, ``mark``, ``liquidation-price``,
  ``bankruptcy-price``, ``upnl``, ``position-margin`` and ``mode`` (e.g. "Isolated 10x"),
  and a "Close" button; the other figures may sit one click away;
- the order preview: ``#order-preview``, naming the margin mode and leverage the order
  will use ("isolated 10x");
- a liquidation notice: ``#liquidation-notices [data-liquidation="XBTUSDT"]`` with its
  breakdown and a "Dismiss" button;
- the margin dialog: ``#margin-dialog``, opened by the row's "Margin…" control, which
  carries ``data-margin-open``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import expect

from sandbox.classroom.models import Room
from sandbox.desk.models import LiquidationRecord, Market, Position
from sandbox.desk.services import leverage_set, market_mark_set, twins_open
from sandbox.engine import MarginMode, Side
from sandbox.lessons.services import lessons_seed

from .screens import (
    ARTIFACTS,
    LAPTOP,
    LAPTOPS,
    PHONE,
    SIZES,
    TEACHER_PASSWORD,
    Size,
    account_of,
    axe,
    learner_with_position,
    live_settled,
    no_sideways_scroll,
    outside_first_screen,
    screenshot,
    small_inputs,
    small_targets,
    teachers_room,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = TEACHER_PASSWORD
POSITION = '#positions [data-symbol="XBTUSDT"]'


def sizes(among: tuple[Size, ...] = SIZES) -> list[Any]:
    """The sizes as parameters, each named by its size."""
    return [pytest.param(size, id=str(size)) for size in among]


def a_room() -> Room:
    """A teacher's room. Its code is the widest one can be (WWWWWWWW), so the pages that
    show it are measured at their worst, the same on every run."""
    room = teachers_room("ms-robinson", "Year 13")
    Room.objects.filter(pk=room.pk).update(code="WWWWWWWW")
    room.refresh_from_db()
    return room


def log_in(page: Any) -> None:
    page.goto(page.base_url + "/login/")
    page.get_by_label("Username").fill("ms-robinson")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("load")


def open_lesson_step(page: Any) -> None:
    lessons_seed()
    page.goto(page.base_url + "/lessons/")
    page.locator("main a[href^='/lessons/']").first.click()
    page.wait_for_selector("#step-counter")


# The pages a learner or a teacher sees, each opened at the size of the page given.
def show_desk(page: Any) -> None:
    learner_with_position(page)


def show_lessons(page: Any) -> None:
    lessons_seed()
    page.goto(page.base_url + "/lessons/")


def show_lesson_step(page: Any) -> None:
    open_lesson_step(page)


def show_join(page: Any) -> None:
    page.goto(f"{page.base_url}/join/{a_room().code}/")
    page.get_by_label("Your name").wait_for()


def show_room_panel(page: Any) -> None:
    room = a_room()
    log_in(page)
    page.goto(f"{page.base_url}/rooms/{room.code}/")
    page.wait_for_selector("#board")


def show_twins(page: Any) -> None:
    account = learner_with_position(page)
    twins = twins_open(
        account=account, symbol="XBTUSDT", side=Side.BUY, qty=Decimal("0.1"), leverage=Decimal(10)
    )
    page.goto(f"{page.base_url}/desk/{account.pk}/twins/{twins.pk}/")
    page.wait_for_selector("#twins")


def show_history(page: Any) -> None:
    account = learner_with_position(page)
    page.goto(f"{page.base_url}/desk/{account.pk}/history/")


PAGES = {
    "desk": show_desk,
    "lessons": show_lessons,
    "lesson step": show_lesson_step,
    "join": show_join,
    "room panel": show_room_panel,
    "twins": show_twins,
    "history": show_history,
}


@pytest.mark.parametrize(
    ("where", "size"),
    [pytest.param(where, size, id=f"{where}-{size}") for where in PAGES for size in SIZES],
)
def test_no_page_scrolls_sideways(page_at: Any, where: str, size: Size) -> None:
    page = page_at(size)
    PAGES[where](page)
    page.wait_for_load_state("load")
    problems = no_sideways_scroll(page)
    assert not problems, problems


@pytest.mark.parametrize("size", sizes(among=LAPTOPS))
def test_the_figures_that_matter_are_in_the_first_screen(page_at: Any, size: Size) -> None:
    page = page_at(size)
    learner_with_position(page)
    ticket = page.locator("#ticket")
    row = page.locator(POSITION)
    shown = {
        "mark": page.locator("#mark-price"),
        "chart": page.locator("#chart"),
        "ticket": ticket.locator("#ticket-form"),
        "leverage control on the ticket": ticket.get_by_role("slider"),
        "Place order": ticket.get_by_role("button", name="Place order"),
        **{
            figure: row.locator(f'[data-figure="{figure}"]')
            for figure in (
                "side",
                "qty",
                "avg-cost-price",
                "mark",
                "liquidation-price",
                "bankruptcy-price",
                "upnl",
                "position-margin",
            )
        },
        "Close": row.get_by_role("button", name="Close"),
    }
    problems = outside_first_screen(shown)
    assert not problems, problems
    # The figures are the position's (1 XBT long, isolated 10x, at 60,000).
    figure = {name: shown[name].first.inner_text() for name in shown if name.islower()}
    assert "Long" in figure["side"]
    assert "60,000" in figure["avg-cost-price"]
    assert "60,000" in figure["mark"]
    assert "54,300" in figure["liquidation-price"]
    assert "54,000" in figure["bankruptcy-price"]
    assert "6,000" in figure["position-margin"]


@pytest.mark.parametrize("size", sizes(among=(LAPTOP, PHONE)))
def test_slider_at_isolated_10x_then_the_order_opens_isolated_10x(page_at: Any, size: Size) -> None:
    """No Apply: the slider alone sets the leverage of the next order, and the order's
    preview says so before it is placed."""
    page = page_at(size)
    page.goto(page.base_url + "/")
    page.wait_for_selector("#ticket-form")
    account = account_of(page)
    Market.objects.filter(pk=account.market_id).update(running=False)
    market_mark_set(market=account.market, symbol="XBTUSDT", price=Decimal(60000))
    page.reload()
    live_settled(page)
    page.get_by_label("Quantity (XBT)").fill("1")
    slider = page.get_by_role("slider", name=re.compile("Leverage"))
    slider.focus()
    page.keyboard.press("Home")
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    preview = page.locator("#order-preview")
    expect(preview).to_contain_text(re.compile("isolated 10x", re.IGNORECASE))
    expect(preview.locator('[data-figure="order-liquidation-price"]')).to_have_text("54,300")
    page.get_by_role("button", name="Place order").click()
    row = page.locator(POSITION)
    expect(row.locator('[data-figure="mode"]')).to_have_text(re.compile("Isolated 10x"))
    position = Position.objects.get(account=account)
    assert position.mode == "isolated"
    assert position.leverage == 10


def liquidated(page: Any) -> LiquidationRecord:
    """The learner's position liquidated by a mark set by hand below its liquidation price,
    arranged on the server; the page is reloaded to show the notice."""
    account = learner_with_position(page)
    market_mark_set(market=account.market, symbol="XBTUSDT", price=Decimal(54000))
    record = LiquidationRecord.objects.get(account=account)
    page.reload()
    live_settled(page)
    return record


def test_a_liquidation_by_set_mark_shows_its_notice_live(page_at: Any) -> None:
    page = page_at(LAPTOP)
    account = learner_with_position(page)
    page.evaluate("() => { window.__sameDocument = true; }")
    page.get_by_label("Set the mark price by hand").fill("54000")
    page.get_by_role("button", name="Set mark").click()
    notice = page.locator('#liquidation-notices [data-liquidation="XBTUSDT"]')
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Liquidated: your XBTUSDT long (isolated margin)")
    # The breakdown, not only a sentence.
    expect(notice).to_contain_text("54,300")  # the liquidation price
    expect(notice).to_contain_text("54,000")  # the bankruptcy price
    expect(notice.locator('[data-figure="liquidation-loss"]')).to_contain_text("6,000")
    assert page.evaluate("() => window.__sameDocument") is True
    assert LiquidationRecord.objects.filter(account=account).count() == 1


def test_dismiss_removes_a_notice_that_came_live(page_at: Any) -> None:
    """A notice pushed over the websocket (rendered without a request) dismisses too."""
    page = page_at(LAPTOP)
    account = learner_with_position(page)
    page.evaluate("() => { window.__sameDocument = true; }")
    # A steady fall of about 1.5% a tick (no randomness) liquidates at 54,300 in a few ticks.
    Market.objects.filter(pk=account.market_id).update(
        running=True, volatility=Decimal(0), drift=Decimal(-1577), speed=600
    )
    notice = page.locator('#liquidation-notices [data-liquidation="XBTUSDT"]')
    expect(notice).to_be_visible(timeout=30_000)
    assert page.evaluate("() => window.__sameDocument") is True
    Market.objects.filter(pk=account.market_id).update(running=False)
    record = LiquidationRecord.objects.get(account=account)
    with page.expect_response(re.compile(r"/dismiss/$")) as answer:
        notice.get_by_role("button", name="Dismiss").click()
    assert answer.value.status < 400
    expect(notice).to_have_count(0)
    record.refresh_from_db()
    assert record.acknowledged


def test_dismiss_removes_the_notice(page_at: Any) -> None:
    """Once the socket has sent its snapshot, the notice on the page is the one it drew."""
    page = page_at(LAPTOP)
    record = liquidated(page)
    notice = page.locator('#liquidation-notices [data-liquidation="XBTUSDT"]')
    expect(notice).to_be_visible()
    with page.expect_response(re.compile(r"/dismiss/$")) as answer:
        notice.get_by_role("button", name="Dismiss").click()
    assert answer.value.status < 400
    expect(notice).to_have_count(0)
    record.refresh_from_db()
    assert record.acknowledged


def test_dismiss_works_without_javascript(page_at: Any) -> None:
    page = page_at(LAPTOP, javascript=False)
    record = liquidated(page)
    notice = page.locator('#liquidation-notices [data-liquidation="XBTUSDT"]')
    expect(notice).to_be_visible()
    with page.expect_navigation() as answer:
        notice.get_by_role("button", name="Dismiss").click()
    assert answer.value is not None and answer.value.ok, "Dismiss without JavaScript"
    assert page.locator("#liquidation-notices [data-liquidation]").count() == 0
    record.refresh_from_db()
    assert record.acknowledged


FOCUSED = """() => {
  const el = document.activeElement;
  return el ? {tag: el.tagName, id: el.id, text: (el.innerText || '').trim().slice(0, 100),
    role: el.getAttribute('role'), section: el.closest('section') && el.closest('section').id,
    opener: el.hasAttribute('data-margin-open'),
    row: el.closest('[data-symbol]') && el.closest('[data-symbol]').dataset.symbol} : null;
}"""


def focused(page: Any) -> dict[str, Any]:
    """Where the keyboard focus is once it has settled: htmx moves it after its settle
    delay, and the live push that follows an action (the account's own news) comes after
    the answer and must not take it away."""
    page.wait_for_function(
        "() => document.activeElement && document.activeElement !== document.body",
        timeout=3000,
    )
    page.wait_for_timeout(700)  # the push: it redraws the sections around the focus
    return dict(page.evaluate(FOCUSED) or {})


def test_focus_after_an_order_is_on_the_ticket(page_at: Any) -> None:
    page = page_at(LAPTOP)
    page.goto(page.base_url + "/")
    live_settled(page)
    page.get_by_label("Quantity (XBT)").fill("1")
    page.get_by_role("button", name="Place order").focus()
    page.keyboard.press("Enter")
    page.locator(POSITION).first.wait_for()
    expect(page.locator("#ticket")).to_contain_text("Bought 1 XBTUSDT")
    now = focused(page)
    assert now.get("section") == "ticket", now
    assert now["text"] == "Place order" or "Bought 1 XBTUSDT" in now["text"], now


def test_focus_after_a_close_is_on_the_positions_message(page_at: Any) -> None:
    page = page_at(LAPTOP)
    learner_with_position(page)
    page.locator(POSITION).get_by_role("button", name="Close").focus()
    page.keyboard.press("Enter")
    expect(page.locator(POSITION)).to_have_count(0)
    now = focused(page)
    assert now.get("section") == "positions", now
    assert "XBTUSDT" in now["text"], now


def test_a_live_push_redrawing_the_slider_leaves_the_focus_on_it(page_at: Any) -> None:
    page = page_at(LAPTOP)
    account = learner_with_position(page)
    page.locator("#leverage-stop").focus()
    # The market moves on its own: a 20% gap on the next tick liquidates the 10x long, and
    # the push of that news redraws the slider (no position any more) while it has focus.
    Market.objects.filter(pk=account.market_id).update(
        running=True, volatility=0, drift=0, pending_gaps={"XBTUSDT": ["-20"]}
    )
    expect(page.locator("#leverage-rule")).to_contain_text(
        "Your next XBTUSDT position will use", timeout=15_000
    )
    page.wait_for_timeout(300)  # the focus is put back as the push settles
    assert page.evaluate("() => document.activeElement.id") == "leverage-stop"


class HeldSocket:
    """The desk's socket routed through the test: the server's messages are held until
    the test sends them on, so the connect snapshot arrives when the test says, as it does
    on a slow connection or a busy server. Set up before the page is opened."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.sockets: list[Any] = []
        self.held: list[str] = []
        page.route_web_socket(re.compile(r"/ws/desk/"), self._route)

    def _route(self, socket: Any) -> None:
        self.sockets.append(socket)
        server = socket.connect_to_server()
        server.on_message(lambda message: self.held.append(message))

    def snapshot_waiting(self) -> None:
        for _ in range(200):
            if self.held:
                return
            self.page.wait_for_timeout(50)  # (Playwright takes the messages meanwhile)
        raise AssertionError("the desk's socket sent no snapshot")

    def release(self) -> None:
        for message in self.held:
            self.sockets[-1].send(message)
        self.held.clear()
        self.page.wait_for_function("() => window.__liveMessages > 0")


def test_a_slider_moved_before_the_connect_snapshot_keeps_its_stop(page_at: Any) -> None:
    page = page_at(LAPTOP)
    socket = HeldSocket(page)
    page.goto(page.base_url + "/")
    slider = page.locator("#leverage-stop")
    drawn = int(slider.input_value())
    socket.snapshot_waiting()
    # The learner drags the slider while the snapshot is still on its way; it then
    # arrives, redrawing the section around the slider with the same setting.
    slider.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    moved = str(drawn + 3)
    assert slider.input_value() == moved
    socket.release()
    expect(page.locator("#leverage-value")).to_have_text(f"Isolated {moved}x")
    assert slider.input_value() == moved
    expect(page.locator("#leverage-rule")).to_contain_text(f"isolated margin at {moved}x")
    assert page.evaluate("() => document.activeElement.id") == "leverage-stop"
    # The order preview speaks of the learner's stop, not of the one first drawn.
    page.get_by_label("Quantity (XBT)").fill("0.1")
    expect(page.locator("#order-preview")).to_contain_text(f"isolated {moved}x")


def test_a_snapshot_bringing_a_new_setting_moves_a_held_slider_to_it(page_at: Any) -> None:
    page = page_at(LAPTOP)
    page.goto(page.base_url + "/")
    account = account_of(page)
    Market.objects.filter(pk=account.market_id).update(running=False)
    socket = HeldSocket(page)
    page.reload()
    slider = page.locator("#leverage-stop")
    assert slider.input_value() == "0"  # (a new learner's next order: cross margin)
    socket.snapshot_waiting()
    socket.release()
    slider.focus()
    page.keyboard.press("ArrowRight")
    assert slider.input_value() == "1"
    # Another tab sets isolated 7x; then the connection drops (the server restarting) and
    # the desk reconnects: its new snapshot brings the new setting, which the slider shows.
    leverage_set(account=account, symbol="XBTUSDT", mode=MarginMode.ISOLATED, leverage=Decimal(7))
    socket.sockets[-1].close(code=1012, reason="restarting")
    page.wait_for_function("() => document.getElementById('live-connection').hidden === false")
    page.evaluate("() => { window.__liveMessages = 0; }")
    socket.snapshot_waiting()
    socket.release()
    expect(page.locator("#leverage-value")).to_have_text("Isolated 7x")
    expect(slider).to_have_value("7")


@pytest.mark.parametrize("how", ["Escape", "Cancel", "Confirm"])
def test_focus_after_the_margin_dialog_is_on_its_opener(page_at: Any, how: str) -> None:
    page = page_at(LAPTOP)
    learner_with_position(page)
    page.locator(POSITION).locator("[data-margin-open]").focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#margin-dialog")
    page.locator("#margin-dialog[open] #margin-amount").wait_for()
    if how == "Escape":
        page.keyboard.press("Escape")
    elif how == "Cancel":
        dialog.get_by_role("button", name="Cancel").click()
    else:
        page.keyboard.type("500")
        dialog.get_by_role("button", name="Confirm").click()
    page.wait_for_function("() => !document.getElementById('margin-dialog').open")
    now = focused(page)
    assert now.get("opener") and now.get("row") == "XBTUSDT", now


def test_the_margin_dialog_fits_a_phone(page_at: Any) -> None:
    page = page_at(PHONE)
    learner_with_position(page)
    page.locator(POSITION).locator("[data-margin-open]").click()
    dialog = page.locator("#margin-dialog")
    page.locator("#margin-dialog[open] #margin-amount").wait_for()
    problems = outside_first_screen({"dialog": dialog})
    assert not problems, problems
    problems = small_inputs(dialog)
    assert not problems, problems
    problems = small_targets(dialog)
    assert not problems, problems


def test_the_desk_is_made_for_fingers_on_a_phone(page_at: Any) -> None:
    page = page_at(PHONE)
    learner_with_position(page)
    body = page.locator("body")
    problems = small_inputs(body)
    assert not problems, problems
    problems = small_targets(body)
    assert not problems, problems


# The pages axe-core checks (the list).
AXE_PAGES = ("desk", "lesson step", "join", "room panel")


@pytest.mark.parametrize(
    ("where", "size"),
    [pytest.param(where, size, id=f"{where}-{size}") for where in AXE_PAGES for size in SIZES],
)
def test_axe_finds_no_violation(page_at: Any, where: str, size: Size) -> None:
    page = page_at(size, bypass_csp=True)
    PAGES[where](page)
    page.wait_for_load_state("load")
    problems = axe(page)
    assert not problems, problems


def test_axe_is_on_guard(page_at: Any) -> None:
    """The check above would see a violation: an image without a text alternative."""
    page = page_at(LAPTOP, bypass_csp=True)
    page.goto(page.base_url + "/login/")
    page.evaluate(
        "() => document.querySelector('main').insertAdjacentHTML('beforeend',"
        " '<img src=\"/static/favicon.ico\">')"
    )
    assert [violation["id"] for violation in axe(page)] == ["image-alt"]


def test_the_readme_screenshots(page_at: Any) -> None:
    """The README's screenshots: the desk with a position, on a laptop and on a phone,
    as the first screen shows it. Into test-artifacts/ (git-ignored) unless
    SANDBOX_SCREENSHOTS=1 (``make screenshots``) sends them to docs/."""
    for size, name in ((LAPTOP, "desk-laptop.png"), (PHONE, "desk-phone.png")):
        page = page_at(size)
        account = learner_with_position(page)
        # Some ticks for the chart to draw, then the market stops for the picture.
        Market.objects.filter(pk=account.market_id).update(
            running=True, speed=60, tick_seconds=Decimal("0.2")
        )
        page.wait_for_function(
            "() => Number(document.querySelector('#live-status').dataset.sequence) >= 30"
        )
        Market.objects.filter(pk=account.market_id).update(running=False)
        path = screenshot(page, name)
        assert path.stat().st_size > 10_000


def test_screenshots_land_in_an_ignored_folder_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`make test` leaves no tracked file modified: without SANDBOX_SCREENSHOTS=1 a
    screenshot goes to test-artifacts/, which git ignores."""
    import subprocess

    monkeypatch.delenv("SANDBOX_SCREENSHOTS", raising=False)

    class Page:
        def screenshot(self, path: str) -> None:
            self.path = path

    page = Page()
    written = screenshot(page, "desk-laptop.png")
    assert written.parent == ARTIFACTS
    assert page.path == str(ARTIFACTS / "desk-laptop.png")
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(written)], cwd=ARTIFACTS.parent, check=False
    )
    assert ignored.returncode == 0, "test-artifacts/ must be git-ignored"
