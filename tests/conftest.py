from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.staticfiles import handlers as staticfiles_handlers
from django.contrib.staticfiles.handlers import StaticFilesHandler
from hypothesis import settings

# The property tests explore the same examples on every run, so a CI result can be
# reproduced here; run with HYPOTHESIS_PROFILE=explore to search new ground.
settings.register_profile("sandbox", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "sandbox"))

# Tests import sandbox.asgi before pytest-django makes their database: no startup check of
# the real one (tests/test_startup.py runs the check itself).
os.environ.setdefault("SANDBOX_DATABASE_CHECK", "off")


def _collect_static_files() -> Path:
    """The pages link their static files by hashed names, which only a collection makes:
    one per run, in a folder of its own (two runs at once never share it), before any test
    imports the ASGI application (its middleware lists the files when it is made). The
    servers the tests start find it through SANDBOX_STATIC_ROOT."""
    from django.conf import settings as django_settings
    from django.core.management import call_command

    root = Path(tempfile.mkdtemp(prefix="sandbox-static-"))
    os.environ["SANDBOX_STATIC_ROOT"] = str(root)
    django_settings.STATIC_ROOT = root
    call_command("collectstatic", "--noinput", verbosity=0)
    return root


STATIC_ROOT = _collect_static_files()


class _NoStaticFilesHandler(StaticFilesHandler):  # type: ignore[misc]
    """pytest-django's live server would answer /static/ from the apps' folders, where
    there are no hashed names: the requests go on to WhiteNoise, as in production."""

    def _should_handle(self, path: str) -> bool:
        return False


@pytest.fixture(scope="session", autouse=True)
def collected_static_files() -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(staticfiles_handlers, "StaticFilesHandler", _NoStaticFilesHandler)
        yield STATIC_ROOT
    shutil.rmtree(STATIC_ROOT, ignore_errors=True)


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
