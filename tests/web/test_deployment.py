"""How the server is deployed: database connections under daphne, and the locked
dependencies `make run` and `make test` install."""

from __future__ import annotations

import gc
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from tests.web.asgi import http_scope

ROOT = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------- connections under ASGI


def open_connections(name: str) -> int:
    """How many connections to the database ``name`` are open in this process, in any
    thread, the garbage included."""
    return sum(
        1
        for found in gc.get_objects()
        if type(found).__name__ == "DatabaseWrapper"
        and found.settings_dict.get("NAME") == name
        and found.connection is not None
    )


def open_files(name: str) -> int:
    """How many of this process's file descriptors are the database file ``name``."""
    target = os.path.realpath(name)
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == target:
                count += 1
        except OSError:
            continue
    return count


async def get(path: str) -> int:
    """A GET through the handler daphne runs Django with; its status."""
    from asgiref.testing import ApplicationCommunicator

    from sandbox.handlers import SandboxASGIHandler

    communicator = ApplicationCommunicator(SandboxASGIHandler(), http_scope("GET", path))
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(10)
    await communicator.receive_output(10)  # the body
    await communicator.wait(10)
    status: int = start["status"]
    return status


@pytest.fixture
def no_garbage_collection() -> Iterator[None]:
    """Connections left behind are closed when the garbage collector finds them: keep it
    from running, so that what the requests leave open stays countable."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()
    gc.collect()


@pytest.mark.django_db(transaction=True)
async def test_requests_through_the_asgi_handler_leave_no_connection_open(
    no_garbage_collection: None,
) -> None:
    name = str(connection.settings_dict["NAME"])
    connections_before, files_before = open_connections(name), open_files(name)

    statuses = [await get("/lessons/") for _ in range(20)]

    assert statuses == [200] * 20
    # Each request ran in a new thread with a connection of its own; none is left open.
    assert open_connections(name) == connections_before
    # (SQLite keeps the file of a closed connection open while another connection of the
    # process holds a lock on it, and reuses it: one more at most, not one a request.)
    assert open_files(name) <= files_before + 1


def test_each_request_runs_in_a_thread_of_its_own() -> None:
    """What the settings and the README say: Django's ASGI handler gives every request a
    new worker thread (a thread-sensitive context of its own), so a connection kept past
    one request would never serve another."""
    import asyncio
    import threading

    from asgiref.sync import ThreadSensitiveContext, sync_to_async

    async def one_request() -> threading.Thread:
        async with ThreadSensitiveContext():
            return await sync_to_async(threading.current_thread, thread_sensitive=True)()

    async def two_requests() -> list[threading.Thread]:
        return [await one_request(), await one_request()]

    # (Thread objects, not idents: a finished thread's ident may be given to the next.)
    first, second = asyncio.run(two_requests())

    assert first is not second
    assert threading.main_thread() not in (first, second)


def test_sqlite_and_postgresql_close_each_requests_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.conf import settings

    from sandbox.settings import _database

    monkeypatch.setenv("SANDBOX_DB_POOL_SIZE", "12")
    postgresql = _database("postgres://sandbox:secret@db.example:5433/sandbox?sslmode=require")

    assert settings.DATABASES["default"]["CONN_MAX_AGE"] == 0
    assert postgresql["CONN_MAX_AGE"] == 0
    assert postgresql["OPTIONS"] == {
        "sslmode": "require",
        "pool": {"min_size": 2, "max_size": 12},
    }


@pytest.mark.parametrize("size", ["0", "1", "ten", "١٢", "99999", ""])
def test_a_bad_pool_size_is_refused_with_a_sentence(
    monkeypatch: pytest.MonkeyPatch, size: str
) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from sandbox.settings import _database

    monkeypatch.setenv("SANDBOX_DB_POOL_SIZE", size)

    with pytest.raises(ImproperlyConfigured, match="SANDBOX_DB_POOL_SIZE must be a whole number"):
        _database("postgres://sandbox@localhost/sandbox")


# ---------------------------------------------------------------- locked dependencies

PIN = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+)", re.MULTILINE)
HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")
TOOLS = {"pytest", "pytest-django", "playwright", "mypy", "ruff", "numpy", "hypothesis"}


def locked(lock: str) -> dict[str, tuple[str, frozenset[str]]]:
    """Each package of a lock file: its version and hashes."""
    text = (ROOT / lock).read_text()
    starts = list(PIN.finditer(text))
    packages = {}
    for found, after in zip(starts, [*starts[1:], None], strict=True):
        block = text[found.start() : after.start() if after else len(text)]
        packages[found[1].lower()] = (found[2], frozenset(HASH.findall(block)))
    return packages


def test_the_runtime_lock_holds_the_server_only() -> None:
    runtime = locked("requirements.lock")

    assert {"django", "daphne", "channels", "psycopg", "psycopg-pool"} <= runtime.keys()
    assert not TOOLS & runtime.keys()
    assert all(hashes for _, hashes in runtime.values())


def test_the_development_lock_adds_the_tools_to_the_same_runtime() -> None:
    runtime = locked("requirements.lock")
    development = locked("requirements-dev.lock")

    assert development.keys() >= runtime.keys() | TOOLS
    for name, pinned in runtime.items():
        assert development[name] == pinned, name
    assert all(hashes for _, hashes in development.values())


def planned(target: str, tmp_path: Path) -> str:
    """What ``make TARGET`` would run in a fresh clone (make -n: nothing is run)."""
    for name in ("Makefile", "requirements.lock", "requirements-dev.lock"):
        shutil.copy(ROOT / name, tmp_path / name)
    done = subprocess.run(
        ["make", "-n", target], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    return done.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
def test_make_run_installs_the_runtime_lock_only(tmp_path: Path) -> None:
    plan = planned("run", tmp_path)

    assert "-r requirements.lock" in plan
    assert "requirements-dev.lock" not in plan


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
@pytest.mark.parametrize("target", ["test", "lint", "bench"])
def test_make_test_lint_and_bench_install_both_locks(tmp_path: Path, target: str) -> None:
    plan = planned(target, tmp_path)

    assert plan.index("-r requirements.lock") < plan.index("-r requirements-dev.lock")
