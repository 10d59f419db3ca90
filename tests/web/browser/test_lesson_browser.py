"""A learner plays lesson 3 (Karen) through in real Chromium: every figure shows its tick."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.lessons.services import lessons_seed

from .conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_karen_lesson_played_through(page: Any) -> None:
    lessons_seed()
    page.goto(page.base_url + "/lessons/")
    page.get_by_role("link", name="Profit realisation: avg cost price and avg entry price").click()
    page.wait_for_selector("#step-counter")
    page.evaluate("window.__sameDocument = true")  # Next and Back swap the player in place
    ticks = 0
    for number in range(1, 13):
        counter = page.locator("#step-counter")
        assert counter.inner_text() == f"Step {number} of 12"
        rows = page.locator("[data-stated]")
        for i in range(rows.count()):
            row = rows.nth(i)
            assert row.get_attribute("data-agrees") == "yes", row.inner_text()
            assert "✓ agrees" in row.inner_text()
            ticks += 1
        if number == 4:
            # The first question: realisation does not move the liquidation price.
            page.get_by_label("Your answer").fill("510")
            page.get_by_role("button", name="Check").click()
            page.wait_for_selector('[data-answer="right"]')
        if number == 10:
            page.get_by_label("Your answer").fill("16000")
            page.get_by_role("button", name="Check").click()
            wrong = page.locator('[data-answer="wrong"]')
            wrong.wait_for()
            assert "the engine says 16,420" in wrong.inner_text()
            assert "Before: 4,420; after: 16,420." in wrong.inner_text()
        if number == 12:
            assert "The end of the lesson." in page.inner_text("#player")
            break
        page.get_by_role("link", name="Next").click()
        page.wait_for_function(
            "(step) => document.getElementById('step-counter').innerText === step",
            arg=f"Step {number + 1} of 12",
        )
    # Every figure the document states for Karen, with its tick.
    assert ticks >= 40
    assert page.evaluate("window.__sameDocument") is True
    assert page.url.endswith("/12/")
    page.get_by_role("link", name="Back").click()
    page.wait_for_function(
        "() => document.getElementById('step-counter').innerText === 'Step 11 of 12'"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "lesson.png"), full_page=True)
