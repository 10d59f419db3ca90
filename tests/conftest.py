from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

# The property tests explore the same examples on every run, so a CI result can be
# reproduced here; run with HYPOTHESIS_PROFILE=explore to search new ground.
settings.register_profile("sandbox", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "sandbox"))

# Tests import sandbox.asgi before pytest-django makes their database: no startup check of
# the real one (tests/test_startup.py runs the check itself).
os.environ.setdefault("SANDBOX_DATABASE_CHECK", "off")


@pytest.fixture(autouse=True)
def fresh_instrument_cache() -> Iterator[None]:
    """A test's database is rolled back without signals: forget the cached instruments."""
    from sandbox.desk import selectors

    selectors._instruments = None
    yield
    selectors._instruments = None


@pytest.fixture(scope="session", autouse=True)
def no_writer_lock_left_behind() -> Iterator[None]:
    """Beside an SQLite database lie its write-ahead log and the writers' lock file; the
    test database goes at the end of the run, and so do they."""
    yield
    from pathlib import Path

    from django.conf import settings as django_settings

    name = django_settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if name:
        for suffix in (".writers", "-wal", "-shm"):
            Path(f"{name}{suffix}").unlink(missing_ok=True)
