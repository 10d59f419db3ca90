"""Load the built-in instruments, then what the other apps registered to seed (the
lessons app's lessons): run by ``make run`` and ``make test``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from sandbox.desk import seeding
from sandbox.desk.services import instruments_seed


class Command(BaseCommand):
    help = "Load or update the built-in instruments and every app's built-in data."

    def handle(self, *args: Any, **options: Any) -> None:
        loaded = [f"{instruments_seed()} built-in instruments"]
        loaded += [f"{load()} {label}" for label, load in seeding.seeders()]
        self.stdout.write(f"{' and '.join(loaded)} ready.")
