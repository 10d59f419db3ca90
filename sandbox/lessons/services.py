"""Loading lessons: the built-in files, and a teacher's upload (validated whole first)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils.text import slugify

from sandbox.engine.lessons import parse_lesson
from sandbox.engine.scenario import ScenarioFormatError, run_scenario
from sandbox.limits import size_text

from .models import Lesson

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
