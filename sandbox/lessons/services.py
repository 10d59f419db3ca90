"""Loading lessons: the built-in files, and a teacher's upload (validated whole first)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from sandbox.desk.models import PaperAccount
from sandbox.desk.services import writer
from sandbox.engine.lessons import parse_lesson
from sandbox.engine.scenario import ScenarioFormatError, run_scenario
from sandbox.limits import size_text

from .models import Lesson, LessonProgress

BUILT_IN_FOLDER = Path(settings.BASE_DIR) / "scenarios"
MAX_UPLOAD_BYTES: int = settings.SANDBOX_MAX_LESSON_FILE_BYTES
MAX_TITLE_LENGTH = Lesson._meta.get_field("title").max_length or 200


def lessons_seed() -> int:
    """Load every file of scenarios/ that carries a "lesson" block (idempotent)."""
    count = 0
    for path in sorted(BUILT_IN_FOLDER.glob("*.json")):
        text = path.read_text(encoding="utf-8")
        try:
            lesson = parse_lesson(text)
        except ScenarioFormatError:
            continue
        if lesson.number is None:
            continue
        Lesson.objects.update_or_create(
            slug=f"{lesson.number:02d}-{slugify(lesson.title)[:60]}",
            defaults={
                "title": lesson.title,
                "summary": lesson.summary,
                "number": lesson.number,
                "source": text,
                "built_in": True,
            },
        )
        count += 1
    return count


def too_large_message() -> str:
    return f"The file is larger than {size_text(MAX_UPLOAD_BYTES)}, the most a lesson file may be."


class UploadRefused(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass
class Uploaded:
    lesson: Lesson
    warnings: list[str]  # stated figures the engine does not agree with


def lesson_upload(*, data: bytes, user: User) -> Uploaded:
    """Validate a lesson file whole, then save it; nothing is saved if anything is wrong."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadRefused([too_large_message()])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UploadRefused(["The file is not UTF-8 text: save it as UTF-8 JSON."]) from None
    try:
        lesson = parse_lesson(text)
    except ScenarioFormatError as problem:
        raise UploadRefused(problem.errors) from None
    if len(lesson.title) > MAX_TITLE_LENGTH:
        raise UploadRefused(
            [
                f"field 'lesson.title': the title has {len(lesson.title)} characters; a "
                f"lesson title may have at most {MAX_TITLE_LENGTH}. Shorten it."
            ]
        )
    run = run_scenario(lesson.scenario)
    warnings = [
        f"step {m.index} ({m.op}): the file states {m.figure} = {m.expected}; the engine "
        f"shows {m.actual}"
        for m in run.mismatches
    ]
    base = slugify(lesson.title)[:60] or "lesson"
    with transaction.atomic():
        slug, n = base, 1
        while Lesson.objects.filter(slug=slug).exists():
            n += 1
            slug = f"{base}-{n}"
        saved = Lesson.objects.create(
            slug=slug,
            title=lesson.title,
            summary=lesson.summary,
            source=text,
            uploaded_by=user,
        )
    return Uploaded(saved, warnings)


# ------------------------------------------------------------------------------ progress


def _progress_locked(account: PaperAccount, lesson: Lesson) -> LessonProgress:
    """The learner's progress row in this lesson, locked for the change (made if new)."""
    progress, _ = LessonProgress.objects.select_for_update().get_or_create(
        account=account, lesson=lesson
    )
    return progress


def progress_step_seen(*, account: PaperAccount, lesson: Lesson, index: int) -> LessonProgress:
    """The learner saw step ``index`` (0-based): the furthest step moves on, and the lesson
    is completed when its last step is reached."""
    steps = lesson.parsed().steps
    if not 0 <= index < steps:
        raise ValueError(f"the lesson has steps 0 to {steps - 1}")
    with writer(), transaction.atomic():
        progress = _progress_locked(account, lesson)
        fields = ["updated_at"]
        if index > progress.furthest_step:
            progress.furthest_step = index
            fields.append("furthest_step")
        if index == steps - 1 and progress.completed_at is None:
            progress.completed_at = timezone.now()
            fields.append("completed_at")
        progress.save(update_fields=fields)
        return progress


def progress_answer(
    *, account: PaperAccount, lesson: Lesson, step: int, correct: bool
) -> LessonProgress:
    """An answer to the question of step ``step`` (0-based): one more try until the first
    right one; ``first_try`` says the first try was right. Tries after a right answer
    change nothing."""
    if step not in lesson.parsed().questions:
        raise ValueError(f"step {step} asks no question")
    with writer(), transaction.atomic():
        progress = _progress_locked(account, lesson)
        entry = dict(progress.questions.get(str(step)) or {})
        if entry.get("right"):
            return progress
        tries = int(entry.get("tries", 0)) + 1
        entry = {"tries": tries, "right": correct, "first_try": correct and tries == 1}
        progress.questions = {**progress.questions, str(step): entry}
        progress.save(update_fields=["questions", "updated_at"])
        return progress


def progress_task_done(*, account: PaperAccount, lesson: Lesson, step: int) -> LessonProgress:
    """The learner met every goal of the task of step ``step`` (0-based)."""
    with writer(), transaction.atomic():
        progress = _progress_locked(account, lesson)
        if step not in progress.tasks_done:
            progress.tasks_done = sorted([*progress.tasks_done, step])
            progress.save(update_fields=["tasks_done", "updated_at"])
        return progress
