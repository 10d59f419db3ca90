"""Load the built-in instruments (run by ``make run`` and ``make test``; idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from sandbox.desk.services import instruments_seed


class Command(BaseCommand):
    help = "Load or update the built-in instruments from the margin engine's table."

    def handle(self, *args: Any, **options: Any) -> None:
        count = instruments_seed()
        self.stdout.write(f"{count} built-in instruments ready.")
