"""Lessons: the built-in ones (from scenarios/) and those teachers upload."""

from __future__ import annotations

import functools

from django.conf import settings
from django.db import models
from django.utils import timezone

from sandbox.desk.models import PaperAccount
from sandbox.engine.lessons import Lesson as EngineLesson
from sandbox.engine.lessons import parse_lesson


@functools.lru_cache(maxsize=64)
def _parsed(source: str) -> EngineLesson:
    """A lesson file read once per process (the parsed lesson is immutable)."""
    return parse_lesson(source)


class Lesson(models.Model):
    slug = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    number = models.PositiveSmallIntegerField(null=True, blank=True)  # built-in order
    source = models.TextField()  # the lesson file itself (JSON text, numbers as written)
    built_in = models.BooleanField(default=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-built_in", "number", "title"]

    def __str__(self) -> str:
        return self.title

    def parsed(self) -> EngineLesson:
        return _parsed(self.source)


class LessonProgress(models.Model):
    """How far one learner (their paper account: a room learner's is the room's) got in a
    lesson: the furthest step seen, the tasks done, and each question's tries."""

    account = models.ForeignKey(
        PaperAccount, on_delete=models.CASCADE, related_name="lesson_progress"
    )
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="progress")
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    furthest_step = models.PositiveIntegerField(default=0)
    completed_at = models.DateTimeField(null=True, blank=True)
    tasks_done = models.JSONField(default=list, blank=True)  # step indexes
    # {"<step>": {"tries": 2, "right": true, "first_try": false}}
    questions = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "lesson"], name="one_progress_per_lesson")
        ]

    def __str__(self) -> str:
        return f"{self.lesson} for {self.account}"


class TaskAccount(models.Model):
    """A lesson task played on the learner's own desk: a paper account of its own (a child
    of the learner's, ``learner``) on a lesson market set up as the task starts, for one
    step of one lesson. Started again, it is set back to the task's start."""

    account = models.OneToOneField(
        PaperAccount, on_delete=models.CASCADE, related_name="lesson_task"
    )
    learner = models.ForeignKey(PaperAccount, on_delete=models.CASCADE, related_name="lesson_tasks")
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="task_accounts")
    step = models.PositiveIntegerField()  # 0-based index of the task's step
    hints_shown = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)  # set again on a restart
    # When the task's "then" moves were played on its market (None: not yet).
    moved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["learner", "lesson", "step"], name="one_task_account_per_step"
            )
        ]

    def __str__(self) -> str:
        return f"{self.lesson}, step {self.step + 1}, for {self.learner}"
