"""A learner answers a lesson's question in real Chromium: the figure it asks for waits
for the answer; an answer written with a decimal comma is refused with a sentence saying
how to write it, the focus on the field; the right answer, typed with a thousands
separator as the app prints it, shows the hidden figures in place. At a small laptop's and
a phone's size: nothing scrolls sideways, and the page is axe-clean before and after."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.lessons.models import Lesson
from sandbox.lessons.services import lessons_seed

from .screens import PHONE, SMALL_LAPTOP, Size, axe, no_sideways_scroll

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("size", [SMALL_LAPTOP, PHONE], ids=str)
def test_a_question_hides_its_answer_until_it_is_answered(page_at: Any, size: Size) -> None:
    lessons_seed()
    primer = Lesson.objects.get(number=5, built_in=True)
    page = page_at(size, bypass_csp=True)  # (only so that axe-core can run)
    page.goto(page.base_url + "/")  # a browser with its own paper account
    page.goto(page.base_url + f"/lessons/{primer.slug}/4/")
    page.wait_for_selector("#question")
    # "At what price would the whole 100 USDT be gone?": the bankruptcy price waits.
    hidden = page.locator('[data-stated="positions.XBTUSDT.bankruptcy_price"]')
    assert "Hidden until you answer the question" in hidden.inner_text()
    assert page.locator("#lesson-positions").count() == 0
    assert "47,500" not in page.inner_text("#player")
    assert no_sideways_scroll(page) == []
    assert axe(page) == []

    field = page.get_by_label("Your answer")
    field.fill("47500,0")
    page.get_by_role("button", name="Check").click()
    error = page.locator("#answer-error")
    error.wait_for()
    assert "A comma here looks like a decimal point: write 47500.0" in error.inner_text()
    page.wait_for_function("() => document.activeElement?.id === 'answer'")  # back on the field
    assert page.locator("#lesson-positions").count() == 0  # nothing shown yet

    field.fill("47,500")
    page.get_by_role("button", name="Check").click()
    page.locator('[data-answer="right"]').wait_for()
    page.locator("#lesson-positions").wait_for()
    assert "47,500" in page.locator('tr[data-symbol="XBTUSDT"]').first.inner_text()
    shown = page.locator('[data-stated="positions.XBTUSDT.bankruptcy_price"]').inner_text()
    assert "47,500" in shown and "Hidden" not in shown
    # The focus is on the answer's verdict (announced as a status too); it is moved there
    # once the swap has settled, so it is waited for (a timeout fails the test).
    page.wait_for_function("() => document.activeElement?.dataset.answer === 'right'")
    assert no_sideways_scroll(page) == []
    assert axe(page) == []

    # Visited again, the answered step shows everything.
    page.goto(page.base_url + f"/lessons/{primer.slug}/4/")
    page.wait_for_selector("#lesson-positions")
    assert page.locator("[data-hidden]").count() == 0
