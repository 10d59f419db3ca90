"""What ``manage.py seed_sandbox`` loads besides the instruments: each app registers its
own built-in data here when Django starts (the lessons app, its lessons), so the desk's
command runs them without importing the apps built on it."""

from __future__ import annotations

from collections.abc import Callable

# (what it loads, in a few words; the loader, which answers how many it loaded)
Seeder = tuple[str, Callable[[], int]]

_seeders: dict[str, Seeder] = {}


def register(name: str, label: str, load: Callable[[], int]) -> None:
    """Run ``load`` on every seed (once however often it is registered under ``name``)."""
    _seeders[name] = (label, load)


def seeders() -> list[Seeder]:
    return list(_seeders.values())
