from __future__ import annotations

from django.apps import AppConfig


class ClassroomConfig(AppConfig):
    name = "sandbox.classroom"
    label = "classroom"
    verbose_name = "Classroom"
