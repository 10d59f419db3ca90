"""A teacher's lesson file with a task is validated whole on upload, its task included: a
task its own solution does not solve, or one solved before the learner acts, is refused
naming the line, step and field, and nothing is saved; a good one is playable."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from sandbox.lessons.models import Lesson

pytestmark = pytest.mark.django_db

STEPS: list[dict[str, Any]] = [
    {"op": "deposit", "currency": "USDT", "amount": "1000", "note": "1,000 USDT."},
    {"op": "mark", "symbol": "XBTUSDT", "price": "50000"},
    {"op": "leverage", "symbol": "XBTUSDT", "mode": "isolated", "leverage": "20"},
    {"op": "order", "symbol": "XBTUSDT", "side": "buy", "qty": "0.04", "note": "A 20x long."},
]
TASK: dict[str, Any] = {
    "prompt": "Keep the position alive through a fall to 46,000.",
    "goals": [{"figure": "positions.XBTUSDT.liquidation_price", "below": "46000"}],
    "hints": ["Each 10 USDT of margin moves it 250 lower."],
    "solution": [{"op": "add_margin", "symbol": "XBTUSDT", "amount": "80"}],
    "then": [{"symbol": "XBTUSDT", "price": "46000"}],
    "explanation": "More margin, more room.",
}


def lesson_file(task: dict[str, Any]) -> str:
    steps = json.loads(json.dumps(STEPS))
    steps[3]["task"] = task
    return json.dumps(
        {"name": "Margin room", "lesson": {"title": "Margin room"}, "steps": steps}, indent=1
    )


def upload(client: Client, text: str) -> Any:
    return client.post(
        "/lessons/upload/", {"file": SimpleUploadedFile("lesson.json", text.encode())}
    )


def test_a_lesson_with_a_good_task_is_saved_and_offers_it(teacher_client: Client) -> None:
    response = upload(teacher_client, lesson_file(TASK))
    lesson = Lesson.objects.get(title="Margin room")
    assert response["Location"] == f"/lessons/{lesson.slug}/1/"
    page = teacher_client.get(f"/lessons/{lesson.slug}/4/").content.decode()
    assert "Keep the position alive through a fall to 46,000." in page


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (
            {**TASK, "solution": [{"op": "add_margin", "symbol": "XBTUSDT", "amount": "50"}]},
            "step 3, field &#x27;task&#x27;.solution: it does not solve the task: Your XBTUSDT "
            "liquidation price is 46,500; the goal is below 46,000.",
        ),
        (
            {
                **TASK,
                "goals": [{"figure": "positions.XBTUSDT.liquidation_price", "below": "48000"}],
            },
            "step 3, field &#x27;task&#x27;: the goals are already met when the task starts",
        ),
        (
            {**TASK, "solution": [{"op": "add_margin", "symbol": "XBTUSDT", "amount": "5000"}]},
            # 1,000 less 100 of margin and the desk's 0.05% fee on 2,000
            "the engine refuses it: You can add at most 899 USDT, your available balance",
        ),
    ],
)
def test_a_bad_task_is_refused_whole_and_nothing_is_saved(
    teacher_client: Client, task: dict[str, Any], message: str
) -> None:
    text = lesson_file(task)
    starts = [n for n, line in enumerate(text.splitlines(), start=1) if line == "  {"]
    before = Lesson.objects.count()
    response = upload(teacher_client, text)
    body = response.content.decode()
    assert response.status_code == 400
    assert "The lesson was not saved." in body
    assert f"line {starts[3]}, " in body
    assert message in body
    assert Lesson.objects.count() == before
