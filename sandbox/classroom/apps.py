from __future__ import annotations

from django.apps import AppConfig


class ClassroomConfig(AppConfig):
    name = "sandbox.classroom"
    label = "classroom"
    verbose_name = "Classroom"

    def ready(self) -> None:
        from sandbox.desk import screen

        from .panel import RoomPanel

        screen.register_panel(RoomPanel())
