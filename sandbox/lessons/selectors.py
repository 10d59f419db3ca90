"""Read queries of the lessons app: a learner's progress in each lesson."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sandbox.desk.models import PaperAccount
from sandbox.engine.scenario import ScenarioFormatError

from .models import Lesson, LessonProgress


@dataclass(frozen=True)
class Progress:
    """How far a learner got in one lesson, in the words the lessons list uses."""

    steps: int
    furthest: int  # 1-based number of the furthest step seen
    done: bool
    tasks: int  # tasks the lesson has
    tasks_done: int
    questions: int  # questions the lesson asks
    answered: int  # questions answered (right or not)
    right_first_time: int

    @property
    def started(self) -> bool:
        return self.furthest > 0


def progress_from(lesson: Lesson, row: LessonProgress | None) -> Progress | None:
    """One lesson's progress summary (None when the lesson file no longer reads)."""
    try:
        parsed = lesson.parsed()
    except ScenarioFormatError:
        return None
    tasks = set(getattr(parsed, "tasks", {}))
    questions = set(parsed.questions)
    if row is None:
        return Progress(parsed.steps, 0, False, len(tasks), 0, len(questions), 0, 0)
    answers = {int(k): v for k, v in row.questions.items() if str(k).isdigit()}
    return Progress(
        steps=parsed.steps,
        furthest=min(row.furthest_step, parsed.steps - 1) + 1,
        done=row.completed_at is not None,
        tasks=len(tasks),
        tasks_done=len(tasks & set(row.tasks_done)),
        questions=len(questions),
        answered=sum(1 for step in answers if step in questions),
        right_first_time=sum(
            1 for step, entry in answers.items() if step in questions and entry.get("first_try")
        ),
    )


def lessons_progress(
    account: PaperAccount | None, lessons: Iterable[Lesson]
) -> dict[int, Progress]:
    """Each lesson's progress for ``account`` (by lesson id), read in one query."""
    rows: dict[int, LessonProgress] = {}
    if account is not None:
        rows = {row.lesson_id: row for row in LessonProgress.objects.filter(account=account)}
    found = {}
    for lesson in lessons:
        summary = progress_from(lesson, rows.get(lesson.pk))
        if summary is not None:
            found[lesson.pk] = summary
    return found


def furthest_step(account: PaperAccount | None, lesson: Lesson) -> int:
    """The 0-based index of the furthest step the learner saw (0 if none)."""
    if account is None:
        return 0
    row = LessonProgress.objects.filter(account=account, lesson=lesson).first()
    return row.furthest_step if row else 0
