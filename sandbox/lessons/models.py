"""Lessons: the built-in ones (from scenarios/) and those teachers upload."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from sandbox.engine.lessons import Lesson as EngineLesson
from sandbox.engine.lessons import parse_lesson


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
        return parse_lesson(self.source)
