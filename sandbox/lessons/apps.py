from __future__ import annotations

from django.apps import AppConfig


class LessonsConfig(AppConfig):
    name = "sandbox.lessons"
    label = "lessons"
    verbose_name = "Guided lessons"

    def ready(self) -> None:
        from sandbox.desk import seeding

        from .services import lessons_seed

        seeding.register("lessons", "lessons", lessons_seed)
