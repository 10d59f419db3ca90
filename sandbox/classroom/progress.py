"""The lessons a teacher assigned to a room, and how far each learner got in them.

Progress is read from :class:`sandbox.lessons.models.LessonProgress` (recorded by the
lesson player for the learner's room account: steps seen, tasks done, questions answered),
in bulk: one query for a room's assignments, one for its learners' progress.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.lessons.models import Lesson, LessonProgress

from .models import RoomLesson


@dataclass(frozen=True)
class Outline:
    """What a lesson holds: its steps, and the steps that ask a question or set a task."""

    steps: int
    questions: frozenset[int]
    tasks: frozenset[int]


def _steps(data: Any) -> list[Any]:
    steps = data.get("steps") if isinstance(data, dict) else None
    return steps if isinstance(steps, list) else []


@functools.lru_cache(maxsize=64)
def outline(source: str) -> Outline:
    """The outline of a lesson file (read once per process and source). Numbers are kept
    as text: nothing here reads a figure."""
    try:
        data = json.loads(source, parse_float=str, parse_int=str, parse_constant=str)
    except ValueError:
        data = None
    steps = _steps(data)
    return Outline(
        steps=len(steps),
        questions=frozenset(
            i for i, s in enumerate(steps) if isinstance(s, dict) and "question" in s
        ),
        tasks=frozenset(i for i, s in enumerate(steps) if isinstance(s, dict) and "task" in s),
    )


def assigned_lessons(
    room_ids: Collection[int], *, with_source: bool = False
) -> dict[int, list[Lesson]]:
    """The lessons assigned to each room, in the lessons' order (one query)."""
    rows = RoomLesson.objects.filter(room_id__in=list(room_ids)).select_related("lesson")
    if not with_source:
        rows = rows.defer("lesson__source")
    found: dict[int, list[Lesson]] = {pk: [] for pk in room_ids}
    for row in rows.order_by("lesson__number", "lesson__title", "lesson_id"):
        found.setdefault(row.room_id, []).append(row.lesson)
    return found


def progress_of(
    account_ids: Collection[int], lessons: Mapping[int, list[Lesson]]
) -> dict[tuple[int, int], LessonProgress]:
    """Each account's progress in the given lessons, by (account id, lesson id) (one
    query; none when no lesson is assigned)."""
    lesson_ids = {lesson.pk for listed in lessons.values() for lesson in listed}
    if not account_ids or not lesson_ids:
        return {}
    rows = LessonProgress.objects.filter(account_id__in=list(account_ids), lesson_id__in=lesson_ids)
    return {(row.account_id, row.lesson_id): row for row in rows}


def lesson_label(lesson: Lesson) -> str:
    """ "Lesson 2: Leverage and margin" (a built-in lesson), or an uploaded one's title."""
    return f"Lesson {lesson.number}: {lesson.title}" if lesson.number else lesson.title


@dataclass(frozen=True)
class Progress:
    """One learner's progress in one lesson, as the board and the CSV say it."""

    lesson: Lesson
    started: bool
    done: bool
    step: int  # the furthest step seen, counted from 1
    steps: int
    tasks_done: int
    tasks: int
    first_try: int  # questions answered right at the first try
    questions: int

    @property
    def text(self) -> str:
        """ "done, 2/2 tasks, 1/2 right first time", "step 3 of 9, ..." or "not started"."""
        if not self.started:
            return "not started"
        parts = ["done" if self.done else f"step {self.step} of {self.steps}"]
        if self.tasks:
            parts.append(f"{self.tasks_done}/{self.tasks} tasks")
        if self.questions:
            parts.append(f"{self.first_try}/{self.questions} right first time")
        return ", ".join(parts)


def _first_tries(questions: Any, asked: frozenset[int]) -> int:
    if not isinstance(questions, dict):
        return 0
    right = 0
    for key, answer in questions.items():
        index = int(key) if isinstance(key, str) and key.isdecimal() and len(key) < 6 else None
        if index in asked and isinstance(answer, dict) and answer.get("first_try") is True:
            right += 1
    return right


def progress(lesson: Lesson, row: LessonProgress | None) -> Progress:
    """What ``row`` (None: never opened) says of ``lesson``, against the lesson's outline:
    only its own steps, tasks and questions count."""
    shape = outline(lesson.source)
    tasks_done = row.tasks_done if row is not None and isinstance(row.tasks_done, list) else []
    return Progress(
        lesson=lesson,
        started=row is not None,
        done=row is not None and row.completed_at is not None,
        step=min(row.furthest_step + 1, shape.steps) if row is not None else 0,
        steps=shape.steps,
        tasks_done=len({i for i in tasks_done if isinstance(i, int)} & shape.tasks),
        tasks=len(shape.tasks),
        first_try=_first_tries(row.questions, shape.questions) if row is not None else 0,
        questions=len(shape.questions),
    )


def room_progress(
    room_id: int, account_ids: Collection[int]
) -> tuple[list[Lesson], dict[int, list[Progress]]]:
    """The room's assigned lessons, and each account's progress in each, in that order."""
    lessons = assigned_lessons([room_id], with_source=True)
    rows = progress_of(account_ids, lessons)
    listed = lessons.get(room_id, [])
    return listed, {
        account_id: [progress(lesson, rows.get((account_id, lesson.pk))) for lesson in listed]
        for account_id in account_ids
    }
