"""What a learner clicks: the desk in real Chromium."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sandbox.desk.models import PaperAccount, Position

from .conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def figure(page: Any, name: str) -> str:
    return str(page.locator(f'[data-figure="{name}"]').first.inner_text()).strip()


def test_slider_order_and_margin_dialog(page: Any) -> None:
    page.goto(page.base_url + "/")
    page.wait_for_selector("#ticket-form")
    account = PaperAccount.objects.get()

    # Prepare an order, then move the slider with the keyboard: the liquidation price
    # of the order being prepared follows the leverage.
    page.get_by_label("Quantity (XBT)").fill("1")
    page.wait_for_selector('[data-figure="order-value"]')
    assert figure(page, "order-value") == "60,000 USDT"
    slider = page.get_by_label(re.compile("Leverage: far left is Cross"))
    slider.focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    # The ticket's one preview follows the slider: the order at isolated 10x.
    page.wait_for_function(
        "() => document.querySelector('[data-figure=\"order-liquidation-price\"]')"
        " && document.querySelector('[data-figure=\"order-liquidation-price\"]')"
        ".innerText.trim() === '54,300'"
    )
    assert page.locator("#leverage-value").inner_text() == "Isolated 10x"
    assert figure(page, "order-bankruptcy-price") == "54,000"
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(
        "() => document.querySelector('[data-figure=\"order-liquidation-price\"]')"
        ".innerText.trim() === '53,633.3'"  # at XBTUSDT's tick (0.5): one decimal
    )
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "() => document.querySelector('[data-figure=\"order-liquidation-price\"]')"
        ".innerText.trim() === '54,300'"
    )

    # Open the position at the slider's 10x (no Apply): the figures before confirming.
    assert figure(page, "order-initial-margin") == "6,000 USDT"
    assert figure(page, "order-fee") == "30 USDT"
    page.get_by_role("button", name="Place order").click()
    page.wait_for_selector("text=Bought 1 XBTUSDT at 60,000.")
    row = page.locator('#positions tr[data-symbol="XBTUSDT"]')
    assert row.locator('[data-figure="liquidation-price"]').inner_text() == "54,300"
    assert row.locator('[data-figure="position-margin"]').inner_text() == "6,000"
    assert figure(page, "available-USDT") == "3,970"

    # Add margin in the dialog, with the keyboard: the preview shows the new figures.
    row.get_by_role("link", name="Margin…").focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#margin-dialog")
    dialog.wait_for(state="visible")
    assert page.evaluate("document.getElementById('margin-dialog').open")
    assert "up to 3,970 USDT" in dialog.inner_text()
    # The dialog puts the keyboard in its amount field: type there, as a keyboard user would.
    page.wait_for_function(
        "() => document.activeElement && document.activeElement.id === 'margin-amount'"
    )
    page.keyboard.type("500")
    page.wait_for_selector('[data-figure="margin-new"]')
    assert figure(page, "margin-new") == "6,500 USDT"
    assert figure(page, "margin-leverage") == "9.23x"
    assert figure(page, "margin-liquidation-price") == "53,800"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "margin-dialog.png"))
    dialog.get_by_role("button", name="Confirm").click()
    page.wait_for_function("() => !document.getElementById('margin-dialog').open")
    page.wait_for_selector("text=Added 500 USDT of margin on XBTUSDT.")
    assert row.locator('[data-figure="position-margin"]').inner_text() == "6,500"
    assert row.locator('[data-figure="liquidation-price"]').inner_text() == "53,800"
    assert figure(page, "available-USDT") == "3,470"

    position = Position.objects.get(account=account)
    assert position.position_margin == 6500
    # (The README's screenshots are taken by test_screen_browser.py.)
    page.screenshot(path=str(ARTIFACTS / "desk.png"), full_page=True)


def test_refused_order_shows_reason_and_changes_nothing(page: Any) -> None:
    page.goto(page.base_url + "/")
    page.get_by_label("Quantity (XBT)").fill("-1")
    page.get_by_role("button", name="Place order").click()
    page.wait_for_selector("text=Enter a quantity above zero.")
    page.get_by_label("Quantity (XBT)").fill("100")
    page.get_by_role("button", name="Place order").click()
    page.wait_for_selector("text=Not enough available balance")
    assert figure(page, "available-USDT") == "10,000"
    assert not Position.objects.exists()
