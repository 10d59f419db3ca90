"""A learner plays a lesson task on their own desk in real Chromium, with the desk's own
controls: adds too little margin through the Margin dialog and reads the engine's
"what is still missing", asks for a hint, adds enough, lets the market move on and sees
the crash liquidate the position anyway, with the explanation. At a small laptop's and a
phone's size: nothing scrolls sideways, and the task panel is axe-clean."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.lessons.models import LessonProgress, TaskAccount
from tests.lessons.task_lessons import CRASH, HINTS, TASK_STEP, task_lesson

from .screens import (
    PHONE,
    SMALL_LAPTOP,
    Size,
    axe,
    in_first_screen,
    no_sideways_scroll,
    screenshot,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def add_margin(page: Any, amount: str) -> None:
    """The position row's Margin… control, its dialog, the amount, Confirm."""
    row = page.locator('#positions tr[data-symbol="XBTUSDT"]')
    row.get_by_role("link", name="Margin…").click()
    page.locator("#margin-dialog[open] #margin-amount").wait_for()
    page.locator("#margin-dialog #margin-amount").fill(amount)
    page.locator("#margin-dialog").get_by_role("button", name="Confirm").click()


@pytest.mark.parametrize("size", [SMALL_LAPTOP, PHONE], ids=str)
def test_a_learner_fails_then_completes_a_task_and_sees_the_crash(page_at: Any, size: Size) -> None:
    lesson = task_lesson(f"add-margin-{size.width}", CRASH)
    page = page_at(size, bypass_csp=True)  # (only so that axe-core can run)
    page.goto(page.base_url + "/")  # a browser with its own paper account
    page.goto(page.base_url + f"/lessons/{lesson.slug}/{TASK_STEP + 1}/")
    page.get_by_role("button", name="Do it on your desk").click()
    panel = page.locator("#task-panel")
    panel.wait_for()
    assert "Add margin until your liquidation price is below 47,000." in panel.inner_text()
    assert panel.get_attribute("data-task-done") == "no"
    if not size.phone:  # the panel heads the ticket column, beside the positions
        page.evaluate("() => window.scrollTo(0, 0)")
        assert in_first_screen(panel.locator("[data-task-prompt]"))
        assert in_first_screen(page.locator('#positions tr[data-symbol="XBTUSDT"]'))

    # Too little: the panel says what is still missing, in the engine's words.
    add_margin(page, "20")
    missing = panel.locator("[data-missing]")
    page.wait_for_function(
        "() => document.querySelector('#task-panel [data-missing]')?.innerText.includes('47,250')"
    )
    assert (
        missing.inner_text()
        == "Your XBTUSDT liquidation price is 47,250; the goal is below 47,000."
    )
    # A hint, in place.
    page.locator("#task-panel").get_by_role("button", name="Hint").click()
    page.locator("#task-panel .task-hints li").first.wait_for()
    assert page.locator("#task-panel .task-hints li").first.inner_text() == HINTS[0]
    # The keyboard focus moves to the hint just shown (the panel was drawn anew).
    page.wait_for_function("() => document.activeElement?.id === 'task-hint-new'")
    assert not no_sideways_scroll(page), no_sideways_scroll(page)
    assert not axe(page), axe(page)

    # Enough: every goal met.
    add_margin(page, "30")
    page.wait_for_selector('#task-panel[data-task-done="yes"]')
    assert "now 46,500" in page.locator("#task-panel").inner_text()
    screenshot(page, f"lesson-task-{size.name.replace(' ', '-')}.png", full_page=True)

    # The market moves on: 48,000, then a crash to 46,000 through the new price.
    page.locator("#task-panel").get_by_role("button", name="Let the market move on").click()
    consequence = page.locator("#task-panel [data-consequence]")
    consequence.wait_for()
    assert consequence.get_attribute("data-consequence") == "liquidated"
    text = consequence.inner_text()
    assert "XBTUSDT mark 48,000, then XBTUSDT mark 46,000." in text
    assert "Margin you add pushes the liquidation price away." in text
    assert page.locator('#positions tr[data-symbol="XBTUSDT"]').count() == 0  # taken over
    assert not no_sideways_scroll(page), no_sideways_scroll(page)
    assert not axe(page), axe(page)
    row = TaskAccount.objects.get(lesson=lesson)
    assert LessonProgress.objects.get(account=row.learner, lesson=lesson).tasks_done == [TASK_STEP]
    # Back to the lesson, at the step after the task.
    page.locator("#task-panel").get_by_role("link", name="Back to the lesson").click()
    page.wait_for_selector("#step-counter")
    assert page.locator("#step-counter").inner_text() == "Step 5 of 5"
