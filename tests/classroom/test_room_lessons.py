"""Lessons a teacher assigns to a room: only the room's teacher assigns them, learners find
them on their desk, and the board and the CSV show each learner's progress."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from sandbox.classroom import services
from sandbox.classroom.models import Room, RoomLesson
from sandbox.classroom.progress import progress
from sandbox.lessons.models import Lesson, LessonProgress

from .conftest import RoomLearner, conduct, flash, join_room, lesson_slug, text


def assigned(room: Room) -> list[str]:
    return list(RoomLesson.objects.filter(room=room).values_list("lesson__slug", flat=True))


@pytest.fixture
def drill(seeded: None) -> Lesson:
    """An uploaded lesson of four steps: questions on steps 1 and 3, a task on step 2."""
    steps: list[dict[str, Any]] = [
        {"op": "deposit", "currency": "USDT", "amount": "1000"},
        {
            "op": "mark",
            "symbol": "XBTUSDT",
            "price": "50000",
            "question": {"prompt": "The wallet?", "figure": "balances.USDT.wallet_balance"},
        },
        {
            "op": "leverage",
            "symbol": "XBTUSDT",
            "mode": "isolated",
            "leverage": "20",
            "task": {
                "prompt": "Choose a leverage below 10x.",
                "goals": [{"figure": "settings.XBTUSDT.leverage", "below": "10"}],
                "hints": ["Move the slider left."],
                "solution": [
                    {"op": "leverage", "symbol": "XBTUSDT", "mode": "isolated", "leverage": "5"}
                ],
                "then": [{"symbol": "XBTUSDT", "price": "49000"}],
                "explanation": "A lower leverage needs more margin.",
            },
        },
        {
            "op": "mark",
            "symbol": "XBTUSDT",
            "price": "49000",
            "question": {"prompt": "Available?", "figure": "balances.USDT.available_balance"},
        },
    ]
    return Lesson.objects.create(
        slug="margin-drill",
        title="Margin drill",
        source=json.dumps({"name": "Margin drill", "steps": steps}),
    )


def test_the_teacher_assigns_and_unassigns_a_lesson(room: Room, teacher_client: Client) -> None:
    slug = lesson_slug(2)
    title = Lesson.objects.get(slug=slug).title

    response = conduct(teacher_client, room, "assign", lesson=slug)
    assert flash(response) == [
        ("success", f"“{title}” is assigned: learners find it on their desk.")
    ]
    assert assigned(room) == [slug]
    panel = text(teacher_client.get(f"/rooms/{room.code}/"))
    assert f'<li data-assigned="{slug}">{title}' in panel
    assert f'<option value="{slug}">' not in panel[panel.index('id="assign-lesson"') :]

    again = conduct(teacher_client, room, "assign", lesson=slug)
    assert flash(again) == [("success", f"“{title}” was already assigned.")]
    assert assigned(room) == [slug]

    gone = conduct(teacher_client, room, "unassign", lesson=slug)
    assert flash(gone) == [
        ("success", f"“{title}” is no longer assigned (progress so far is kept).")
    ]
    assert assigned(room) == []
    missing = conduct(teacher_client, room, "unassign", lesson=slug)
    assert flash(missing) == [("error", f"“{title}” is not assigned to this room.")]


@pytest.mark.parametrize("action", ["assign", "unassign"])
@pytest.mark.parametrize("slug", ["", "no-such-lesson", "x" * 5000])
def test_a_lesson_that_does_not_exist_is_refused(
    room: Room, teacher_client: Client, action: str, slug: str
) -> None:
    response = conduct(teacher_client, room, action, htmx=True, lesson=slug)
    assert response.status_code == 200
    assert "Choose a lesson to assign or take off the list." in text(response)
    assert assigned(room) == []


def test_only_the_rooms_teacher_unassigns(
    room: Room,
    anon_client: Client,
    user_client: Client,
    other_teacher_client: Client,
) -> None:
    slug = lesson_slug(1)
    services.room_assign(room=room, lesson=Lesson.objects.get(slug=slug))
    ada = join_room(room, "Ada")

    assert conduct(anon_client, room, "unassign", lesson=slug).status_code == 302
    assert conduct(ada.client, room, "unassign", lesson=slug).status_code == 302  # to log in
    assert conduct(user_client, room, "unassign", lesson=slug).status_code == 403
    assert conduct(other_teacher_client, room, "unassign", lesson=slug).status_code == 404
    assert conduct(other_teacher_client, room, "assign", lesson=lesson_slug(2)).status_code == 404
    assert assigned(room) == [slug]


def test_a_learner_finds_the_assigned_lessons_on_their_desk(room: Room, drill: Lesson) -> None:
    ada = join_room(room, "Ada")
    assert "Lessons from your teacher" not in text(ada.desk())
    one = Lesson.objects.get(slug=lesson_slug(1))
    services.room_assign(room=room, lesson=one)
    services.room_assign(room=room, lesson=drill)
    LessonProgress.objects.create(account_id=ada.member.account_id, lesson=drill, furthest_step=2)

    desk = text(ada.desk())

    account = ada.member.account_id
    assert f'<a href="/lessons/{one.slug}/0/?account={account}">{one.title}</a></li>' in desk
    assert (
        f'<a href="/lessons/margin-drill/0/?account={account}">Margin drill</a>: step 3</li>'
        in (desk)
    )


def played(learner: RoomLearner, lesson: Lesson, **fields: Any) -> None:
    LessonProgress.objects.create(account_id=learner.member.account_id, lesson=lesson, **fields)


def test_the_board_and_the_csv_show_each_learners_progress(
    room: Room, teacher_client: Client, drill: Lesson
) -> None:
    services.room_assign(room=room, lesson=drill)
    ada, bob = join_room(room, "Ada"), join_room(room, "Bob")
    join_room(room, "Cy")  # never opened it
    played(
        ada,
        drill,
        furthest_step=3,
        completed_at=timezone.now(),
        tasks_done=[2],
        questions={
            "1": {"tries": 1, "right": True, "first_try": True},
            "3": {"tries": 2, "right": True, "first_try": False},
        },
    )
    # Bob: step 2 of 4; a stray index and a question the lesson does not ask count for nothing.
    played(
        bob,
        drill,
        furthest_step=1,
        tasks_done=[7],
        questions={"1": {"tries": 1, "right": True, "first_try": True}, "2": {"first_try": True}},
    )

    board = text(teacher_client.get(f"/rooms/{room.code}/board/"))
    assert '<th scope="col">Margin drill</th>' in board
    cells = {
        "Ada": "done, 1/1 tasks, 1/2 right first time",
        "Bob": "step 2 of 4, 0/1 tasks, 1/2 right first time",
        "Cy": "not started",
    }
    for name, cell in cells.items():
        line = board[board.index(f'<tr data-learner="{name}">') :]
        assert f'<td data-lesson="margin-drill">{cell}</td></tr>' in line[: line.index("</tr>") + 5]

    rows = list(csv.reader(io.StringIO(text(teacher_client.get(f"/rooms/{room.code}/export.csv")))))
    assert rows[0][-1] == "progress: Margin drill"
    assert {row[0]: row[-1] for row in rows[1:]} == cells


def test_a_built_in_lessons_progress_counts_its_questions_and_tasks(seeded: None) -> None:
    lesson = Lesson.objects.get(slug=lesson_slug(1))
    steps = json.loads(lesson.source)["steps"]
    label = progress(lesson, None)
    assert label.summary is not None
    questions = [i for i, step in enumerate(steps) if "question" in step]
    tasks = [i for i, step in enumerate(steps) if "task" in step]
    assert questions and tasks  # lesson 1 asks questions and sets a task
    assert (label.text, label.summary.steps, label.summary.questions, label.summary.tasks) == (
        "not started",
        len(steps),
        len(questions),
        len(tasks),
    )


@pytest.mark.parametrize("source", ["", "not json", "[]", '{"steps": 3}', '{"steps": [1, 2]}'])
def test_an_unreadable_lesson_file_says_so_on_the_board(source: str) -> None:
    label = progress(Lesson(slug="broken", title="Broken", source=source), None)
    assert label.summary is None
    assert label.text == "lesson file unreadable"
