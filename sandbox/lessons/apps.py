from __future__ import annotations

from django.apps import AppConfig


class LessonsConfig(AppConfig):
    name = "sandbox.lessons"
    label = "lessons"
    verbose_name = "Guided lessons"

    def ready(self) -> None:
        from sandbox.desk import screen, seeding
        from sandbox.desk import selectors as desk_selectors
        from sandbox.desk.models import Market

        from .desk_panel import TaskPanel
        from .services import lesson_market_terms, lessons_seed

        seeding.register("lessons", "lessons", lessons_seed)
        # A lesson's desk: its task panel, and its market under the lesson's terms.
        screen.register_panel(TaskPanel())
        desk_selectors.register_terms(Market.Kind.LESSON, lesson_market_terms)
