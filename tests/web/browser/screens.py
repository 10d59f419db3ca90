"""Helpers for the screen tests (#12): the sizes a learner uses, pages opened at them, and
the checks a screen must pass there (no sideways scroll, what is in the first screen,
axe-core, touch targets, input font size). Plain functions and one factory class; the
``page_at`` fixture in conftest.py hands the factory to the tests."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User

from sandbox import engine
from sandbox.classroom.models import Room
from sandbox.classroom.services import room_create
from sandbox.desk import services
from sandbox.desk.models import Market, MarkPrice, PaperAccount
from sandbox.desk.roles import make_teacher

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
AXE = HERE / "vendor" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts"
DOCS = ROOT / "docs"


@dataclass(frozen=True)
class Size:
    name: str
    width: int
    height: int
    phone: bool = False

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


LAPTOP = Size("laptop", 1440, 900)
SMALL_LAPTOP = Size("small laptop", 1366, 768)
PHONE = Size("phone", 390, 844, phone=True)
SIZES = (LAPTOP, SMALL_LAPTOP, PHONE)
LAPTOPS = (LAPTOP, SMALL_LAPTOP)


# Counts the messages the desk's websocket delivers (htmx's websocket extension fires an
# event for each); added by Playwright, so the page's policy does not apply to it.
COUNT_LIVE_MESSAGES = """
window.__liveMessages = 0;
document.addEventListener("htmx:wsAfterMessage", () => { window.__liveMessages += 1; });
"""


def live_settled(page: Any) -> None:
    """Wait until the desk's socket has delivered its first message (the snapshot sent on
    connect), so it redraws nothing under the test's feet afterwards."""
    if getattr(page, "javascript", True):  # (a page not opened by Screens runs scripts)
        page.wait_for_function("() => window.__liveMessages > 0")


class Screens:
    """Opens pages on the real server at a given size, each in a browser context of its
    own, and checks when the test ends that none of them had a JavaScript error or sent a
    request to another host."""

    def __init__(self, browser: Any, base: str) -> None:
        self.browser = browser
        self.base = base
        self.contexts: list[Any] = []
        self.errors: list[str] = []
        self.outside: list[str] = []

    def open(self, size: Size, *, bypass_csp: bool = False, javascript: bool = True) -> Any:
        """A new page at ``size``: a phone is a touch screen at twice the pixel density.
        ``bypass_csp`` only for axe-core runs (it injects a script the policy refuses)."""
        options: dict[str, Any] = {
            "viewport": {"width": size.width, "height": size.height},
            "bypass_csp": bypass_csp,
            "java_script_enabled": javascript,
        }
        if size.phone:
            options.update(is_mobile=True, has_touch=True, device_scale_factor=2)
        context = self.browser.new_context(**options)
        context.add_init_script(COUNT_LIVE_MESSAGES)
        self.contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on(
            "request",
            lambda request: (
                None if request.url.startswith(self.base) else self.outside.append(request.url)
            ),
        )
        page.base_url = self.base
        page.size = size
        page.javascript = javascript
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        assert not self.errors, f"JavaScript errors: {self.errors}"
        assert not self.outside, f"requests left the server: {self.outside}"


def account_of(page: Any) -> PaperAccount:
    """The paper account of the desk the page shows (its address says which)."""
    found = re.search(r"/desk/(\d+)/", page.url)
    assert found, page.url
    return PaperAccount.objects.get(pk=int(found.group(1)))


def learner_with_position(page: Any, *, path: str = "/") -> PaperAccount:
    """A new learner whose desk shows one open position: 1 XBT long on XBTUSDT, isolated
    at 10x, bought at 60,000 (margin 6,000 USDT, liquidation 54,300, bankruptcy 54,000).
    The learner's market is stopped, so the figures stay put."""
    page.goto(page.base_url + path)
    page.wait_for_selector("#ticket-form")
    account = account_of(page)
    Market.objects.filter(pk=account.market_id).update(running=False)
    MarkPrice.objects.filter(market_id=account.market_id, instrument_id="XBTUSDT").update(
        price=Decimal(60000)
    )
    services.leverage_set(
        account=account, symbol="XBTUSDT", mode=engine.MarginMode.ISOLATED, leverage=Decimal(10)
    )
    services.order_place(account=account, symbol="XBTUSDT", side=engine.Side.BUY, qty=Decimal(1))
    page.reload()
    page.locator('#positions [data-symbol="XBTUSDT"]').first.wait_for()
    live_settled(page)
    return account


_WIDE = """
(width) => {
  const out = [];
  const root = document.scrollingElement || document.documentElement;
  if (root.scrollWidth > width) out.push(`the page is ${root.scrollWidth}px wide`);
  // Whether a box that scrolls by itself holds the element in: an ancestor with overflow
  // auto or scroll that is, or contains, the element's containing block (an absolutely
  // positioned element escapes a scroll box that is not positioned; a fixed one, all).
  const scrolledWithin = (el) => {
    const own = getComputedStyle(el).position;
    if (own === 'fixed') return false;
    let escaping = own === 'absolute';
    for (let up = el.parentElement; up && up !== document.documentElement; up = up.parentElement) {
      const style = getComputedStyle(up);
      if (escaping && style.position === 'static' && style.transform === 'none') continue;
      escaping = false;
      if (style.overflowX === 'auto' || style.overflowX === 'scroll') return true;
      if (style.position === 'fixed') return false;
      if (style.position === 'absolute') escaping = true;
    }
    return false;
  };
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + (el.classList.length ? '.' + [...el.classList].join('.') : '');
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    const right = Math.round(box.right + window.scrollX);
    if (right <= width) continue;
    if (!scrolledWithin(el)) out.push(`${name(el)} ends at ${right}px`);
    if (out.length > 10) break;
  }
  return out;
}
"""


def no_sideways_scroll(page: Any) -> list[str]:
    """What makes the page wider than its viewport: empty when the page cannot scroll
    sideways and no element reaches past the right edge, except inside a box that
    scrolls by itself (overflow auto or scroll) and really holds it in."""
    width = page.viewport_size["width"]
    return list(page.evaluate(_WIDE, width))


_BOX = """
(el) => {
  const box = el.getBoundingClientRect();
  return {left: box.left + window.scrollX, top: box.top + window.scrollY,
          right: box.right + window.scrollX, bottom: box.bottom + window.scrollY,
          width: box.width, height: box.height};
}
"""


def in_first_screen(locator: Any) -> bool:
    """Whether the (first) element is shown whole in the first screen: inside 0..width
    and 0..height of the viewport with the page not scrolled."""
    if locator.count() == 0:
        return False
    element = locator.first
    box = element.evaluate(_BOX)
    viewport = element.page.viewport_size
    return bool(
        element.is_visible()
        and box["width"] > 0
        and box["height"] > 0
        and box["left"] >= 0
        and box["top"] >= 0
        and box["right"] <= viewport["width"] + 0.5
        and box["bottom"] <= viewport["height"] + 0.5
    )


def outside_first_screen(locators: dict[str, Any]) -> list[str]:
    """The names of the locators whose element is missing or not whole in the first screen."""
    return [name for name, locator in locators.items() if not in_first_screen(locator)]


SERIOUS = ("moderate", "serious", "critical")


def axe(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations of moderate impact or worse on the page as it is now (the
    page must come from a context with ``bypass_csp=True``: the policy refuses the script)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => {
          const result = await axe.run(document, {resultTypes: ['violations']});
          return result.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' '))}));
        }"""
    )
    return [violation for violation in found if violation["impact"] in SERIOUS]


_TARGETS = """
(root) => {
  const out = [];
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary,'
    + ' [role=button], [role=slider], [tabindex]:not([tabindex="-1"])';
  for (const el of root.querySelectorAll(selector)) {
    if (!el.checkVisibility()) continue;
    const style = getComputedStyle(el);
    // A link inside a sentence is exempt (WCAG 2.5.8, "inline").
    if (el.tagName === 'A' && style.display === 'inline' && el.closest('p, li, dd, td')) continue;
    // A radio button or checkbox is tapped through the label around it.
    let target = el;
    if (el.matches('input[type=radio], input[type=checkbox]') && el.closest('label')) {
      target = el.closest('label');
    }
    const box = target.getBoundingClientRect();
    if (box.width < 24 || box.height < 24) {
      const text = (el.innerText || el.value || el.getAttribute('aria-label') || '').trim();
      out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''} "${text.slice(0, 30)}"`
        + ` is ${Math.round(box.width)}x${Math.round(box.height)}`);
    }
  }
  return out;
}
"""


def small_targets(locator: Any) -> list[str]:
    """The controls inside the element smaller than 24x24 CSS pixels (WCAG 2.5.8)."""
    return list(locator.evaluate(_TARGETS))


_FONTS = """
(root) => {
  const out = [];
  for (const el of root.querySelectorAll('input, select, textarea')) {
    if (!el.checkVisibility()) continue;
    if (['hidden', 'radio', 'checkbox', 'range', 'submit', 'button'].includes(el.type)) continue;
    const size = parseFloat(getComputedStyle(el).fontSize);
    if (size < 16) out.push(`${el.tagName.toLowerCase()}#${el.id || el.name} at ${size}px`);
  }
  return out;
}
"""


def small_inputs(locator: Any) -> list[str]:
    """The text fields inside the element whose font is under 16 px, which a phone zooms
    into when they get the focus."""
    return list(locator.evaluate(_FONTS))


def screenshot(page: Any, name: str, **options: Any) -> Path:
    """Takes a screenshot into test-artifacts/ (git-ignored); with SANDBOX_SCREENSHOTS=1
    (``make screenshots``) into docs/, where the README shows it."""
    folder = DOCS if os.environ.get("SANDBOX_SCREENSHOTS") == "1" else ARTIFACTS
    folder.mkdir(exist_ok=True)
    path = folder / name
    page.screenshot(path=str(path), **options)
    return path


TEACHER_PASSWORD = "a long teacher password 42"


def teachers_room(username: str, name: str) -> Room:
    """A new teacher (``username``, :data:`TEACHER_PASSWORD`) and their room on XBTUSDT:
    10,000 USDT each, up to 50x, fees on, funding off, the leaderboard shown."""
    teacher = User.objects.create_user(username, password=TEACHER_PASSWORD)
    make_teacher(teacher)
    return room_create(
        teacher=teacher,
        name=name,
        symbols=["XBTUSDT"],
        balances={"USDT": Decimal(10000)},
        max_leverage=Decimal(50),
        fees=True,
        funding=False,
        leaderboard=True,
    )
