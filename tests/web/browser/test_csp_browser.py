"""The Content-Security-Policy in real Chromium: every page of the sandbox, with its htmx
swaps, dialogs and websockets at work, runs without one violation of the policy."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

from sandbox import engine
from sandbox.desk import services
from sandbox.desk.models import Market, MarkPrice, PaperAccount
from sandbox.lessons.services import lessons_seed
from sandbox.security import CONTENT_SECURITY_POLICY

from .screens import TEACHER_PASSWORD, teachers_room

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = TEACHER_PASSWORD

# Every violation the page sees, as the browser reports it to the page (the listener is
# added by Playwright, which the policy does not apply to).
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sample}`);
});
"""


class Watched:
    """A browser context whose pages report every policy violation, from the page's
    `securitypolicyviolation` events and from Chromium's console."""

    def __init__(self, browser: Any, base: str) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 1100})
        self.context.add_init_script(WATCH)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.base = base
        self.console: list[str] = []
        self.errors: list[str] = []
        self.seen: dict[str, list[str]] = {}
        self.page.on(
            "console",
            lambda message: (
                self.console.append(message.text)
                if "Content Security Policy" in message.text
                else None
            ),
        )
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def goto(self, path: str) -> Any:
        response = self.page.goto(self.base + path)
        assert response is not None and response.ok, path
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        return response

    def check(self, where: str) -> None:
        """Note what the page in front of us reported (events are per document)."""
        self.page.wait_for_load_state("load")
        self.seen[where] = list(self.page.evaluate("window.__violations || []"))

    def violations(self) -> dict[str, list[str]]:
        found = {where: seen for where, seen in self.seen.items() if seen}
        if self.console:
            found["console"] = self.console
        return found


def login(watched: Watched, name: str) -> None:
    watched.goto("/login/")
    watched.check("login")
    watched.page.get_by_label("Username").fill(name)
    watched.page.get_by_label("Password").fill(PASSWORD)
    watched.page.get_by_role("button", name="Log in").click()
    watched.page.wait_for_load_state("load")


def test_no_page_violates_the_policy(browser: Any, asgi_server: str, seeded: None) -> None:
    lessons_seed()
    room = teachers_room("ms-robinson", "Year 13")
    learner = Watched(browser, asgi_server)
    teacher_view = Watched(browser, asgi_server)
    page = learner.page

    # The desk, live: an isolated position opened through the ticket, the margin dialog,
    # and ticks pushed over the websocket.
    learner.goto("/")
    page.wait_for_selector("#ticket-form")
    account = PaperAccount.objects.get()
    Market.objects.filter(pk=account.market_id).update(running=False)
    MarkPrice.objects.filter(market_id=account.market_id, instrument_id="XBTUSDT").update(
        price=Decimal(60000)
    )
    services.leverage_set(
        account=account, symbol="XBTUSDT", mode=engine.MarginMode.ISOLATED, leverage=Decimal(10)
    )
    page.reload()
    page.get_by_label("Quantity (XBT)").fill("0.5")
    page.get_by_role("button", name="Place order").click()
    position = page.locator('#positions tr[data-symbol="XBTUSDT"]')
    position.wait_for()
    position.get_by_role("link", name="Margin…").click()
    page.locator("#margin-dialog[open] #margin-amount").wait_for()
    page.keyboard.press("Escape")
    sequence = int(page.get_attribute("#live-status", "data-sequence") or 0)
    Market.objects.filter(pk=account.market_id).update(running=True, tick_seconds=Decimal("0.5"))
    # (A function, not a string: Playwright evaluates a string with eval, which the
    # policy refuses.)
    page.wait_for_function(
        "(after) => Number(document.querySelector('#live-status').dataset.sequence) > after",
        arg=sequence + 1,
    )
    learner.check("desk with a position, margin dialog, live ticks")

    # Side by side: the twins page, itself live.
    page.locator("details.twins-open summary").click()
    page.get_by_label("Quantity (XBT)").fill("0.1")
    page.get_by_role("button", name="Open the twins").click()
    page.wait_for_url(re.compile(r"/twins/\d+/$"))
    ticked = (
        "(after) => Number(document.querySelector('#twins .live-status').dataset.sequence) > after"
    )
    start = int(page.get_attribute("#twins .live-status", "data-sequence") or 0)
    page.wait_for_function(ticked, arg=start + 1)  # pushed over the twins' websocket
    learner.check("twins")

    learner.goto(f"/desk/{account.pk}/history/")
    learner.check("history")
    learner.goto("/lessons/")
    learner.check("lessons")
    page.locator("main a[href^='/lessons/']").first.click()
    page.wait_for_selector("#step-counter")
    page.get_by_role("link", name="Next").click()  # an htmx swap of the player
    page.wait_for_selector("#step-counter >> text=Step 2")
    learner.check("lesson player")
    learner.goto("/signup/")
    learner.check("signup")

    # The teacher: rooms, a new room's form, the room's panel with its board live.
    login(teacher_view, "ms-robinson")
    teacher_view.goto("/rooms/")
    teacher_view.check("rooms")
    teacher_view.goto("/rooms/new/")
    teacher_view.check("new room")
    teacher_view.goto("/lessons/upload/")
    teacher_view.check("lesson upload")
    teacher_view.goto(f"/rooms/{room.code}/")
    teacher_view.page.wait_for_selector("#board")

    # A learner joins (the QR code and join page), and the board shows them.
    learner.goto(f"/join/{room.code}/")
    learner.check("join")
    page.get_by_label("Your name").fill("Ada")
    page.get_by_role("button", name="Join").click()
    page.wait_for_selector("#room-panel")
    learner.check("room desk")
    teacher_view.page.locator('[data-learner="Ada"]').wait_for()
    teacher_view.page.get_by_role("button", name="Play", exact=True).click()
    teacher_view.page.wait_for_selector("text=The market is running.")
    teacher_view.check("room panel, board live")

    violations = {**learner.violations(), **teacher_view.violations()}
    errors = learner.errors + teacher_view.errors
    learner.context.close()
    teacher_view.context.close()
    assert not violations, violations
    assert not errors, errors


def test_the_watch_sees_a_violation(browser: Any, asgi_server: str, seeded: None) -> None:
    """The test above would notice one: an inline style is refused and reported."""
    watched = Watched(browser, asgi_server)
    watched.goto("/login/")

    watched.page.evaluate(
        "document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">x</p>')"
    )
    watched.page.wait_for_function("() => window.__violations.length > 0")
    watched.check("login with an injected style")
    watched.context.close()

    assert "style-src-attr" in watched.violations()["login with an injected style"][0]
