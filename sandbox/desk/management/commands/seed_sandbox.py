"""Load the built-in instruments and lessons (run by ``make run`` and ``make test``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from sandbox.desk.services import instruments_seed
from sandbox.lessons.services import lessons_seed


class Command(BaseCommand):
    help = "Load or update the built-in instruments from the margin engine's table."

    def handle(self, *args: Any, **options: Any) -> None:
        count = instruments_seed()
        lessons = lessons_seed()
        self.stdout.write(f"{count} built-in instruments and {lessons} lessons ready.")
