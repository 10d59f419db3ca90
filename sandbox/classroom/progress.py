"""The lessons a teacher assigned to a room, and how far each learner got in them.

Progress is read from :class:`sandbox.lessons.models.LessonProgress` (recorded by the
lesson player for the learner's room account: steps seen, tasks done, questions answered),
in bulk: one query for a room's assignments, one for its learners' progress; each is
summed up by the lessons app's own summary (``lessons.selectors.progress_from``, which
reads the lesson file once per process).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sandbox.lessons.models import Lesson, LessonProgress
from sandbox.lessons.selectors import Progress as Summary
from sandbox.lessons.selectors import progress_from

from .models import RoomLesson


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
    """One learner's progress in one lesson, as the board and the CSV say it (the lessons
    app's summary, counted against the lesson file's own steps, tasks and questions)."""

    lesson: Lesson
    summary: Summary | None  # None: the lesson file no longer reads

    @property
    def text(self) -> str:
        """ "done, 2/2 tasks, 1/2 right first time", "step 3 of 9, ..." or "not started"."""
        summary = self.summary
        if summary is None:
            return "lesson file unreadable"
        if not summary.started:
            return "not started"
        parts = ["done" if summary.done else f"step {summary.furthest} of {summary.steps}"]
        if summary.tasks:
            parts.append(f"{summary.tasks_done}/{summary.tasks} tasks")
        if summary.questions:
            parts.append(f"{summary.right_first_time}/{summary.questions} right first time")
        return ", ".join(parts)


def progress(lesson: Lesson, row: LessonProgress | None) -> Progress:
    """What ``row`` (None: never opened) says of ``lesson``."""
    return Progress(lesson, progress_from(lesson, row))


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
