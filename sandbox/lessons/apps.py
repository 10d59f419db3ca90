from __future__ import annotations

from django.apps import AppConfig


class LessonsConfig(AppConfig):
    name = "sandbox.lessons"
    label = "lessons"
    verbose_name = "Guided lessons"
