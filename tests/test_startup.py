"""The startup check: daphne (and ``runticker``) refuse to start on a database they cannot
use, saying why, instead of answering 500 everywhere. Real processes, real files."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.startup import database_problem

ROOT = Path(__file__).resolve().parents[1]
ROOT_USER = os.geteuid() == 0
CAPS = ("inh-caps", "bounding-set")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with every migration applied, to copy."""
    path = tmp_path_factory.mktemp("migrated") / "db.sqlite3"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=ROOT,
        env={**os.environ, "SANDBOX_SQLITE_PATH": str(path), "SANDBOX_SECRET_KEY": "k" * 50},
        check=True,
        timeout=120,
    )
    return path


@pytest.fixture
def place(tmp_path: Path) -> Iterator[Path]:
    """A directory for one database (and one for the process's local files)."""
    directory = tmp_path / "data"
    directory.mkdir()
    (tmp_path / "local").mkdir()
    yield directory
    for path in tmp_path.rglob("*"):  # undo read-only modes so pytest can clean up
        os.chmod(path, 0o700)


def start(
    command: list[str], database: Path | None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run a sandbox process that file modes bind (root's would not: it runs without the
    capabilities that override them)."""
    user = (
        ["setpriv", *[f"--{s}=-dac_override,-dac_read_search" for s in CAPS]] if ROOT_USER else []
    )
    environment = {
        **os.environ,
        "SANDBOX_DATABASE_CHECK": "on",
        "SANDBOX_SECRET_KEY": "k" * 50,
        "SANDBOX_TICKER": "off",
        **env,
    }
    if database is not None:
        environment["SANDBOX_SQLITE_PATH"] = str(database)
        environment["SANDBOX_LOCAL_DIR"] = str(database.parent.parent / "local")
    return subprocess.run(
        [*user, "--", *command] if user else command,
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,  # "promptly": it exits before it ever listens
    )


def daphne(database: Path | None, **env: str) -> subprocess.CompletedProcess[str]:
    port = str(free_port())
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", port]
    return start([*command, "sandbox.asgi:application"], database, **env)


def assert_refused(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 1, result.stderr
    assert message in result.stderr, result.stderr
    assert "The sandbox did not start." in result.stderr
    assert "Traceback" not in result.stderr


def test_daphne_refuses_a_missing_database_and_does_not_create_it(place: Path) -> None:
    database = place / "db.sqlite3"
    result = daphne(database)
    assert_refused(
        result,
        f"The database at {database} cannot be used: the file does not exist. "
        "Apply the migrations first: .venv/bin/python manage.py migrate",
    )
    assert not database.exists()


def test_daphne_refuses_a_read_only_database(place: Path, migrated: Path) -> None:
    database = place / "db.sqlite3"
    shutil.copy(migrated, database)
    os.chmod(database, 0o444)
    result = daphne(database)
    assert_refused(
        result, f"The database at {database} cannot be written: attempt to write a readonly"
    )


def test_daphne_refuses_a_database_whose_directory_is_read_only(
    place: Path, migrated: Path
) -> None:
    database = place / "db.sqlite3"
    shutil.copy(migrated, database)
    os.chmod(place, 0o555)
    result = daphne(database)
    assert_refused(
        result,
        f"The database at {database} cannot be written: its directory {place} is not writable",
    )


def test_daphne_refuses_a_database_without_its_migrations(place: Path) -> None:
    database = place / "db.sqlite3"
    sqlite3.connect(database).close()  # an empty database file
    result = daphne(database)
    assert_refused(result, f"The database at {database} cannot be used: ")
    assert "migrations are not applied (the first is contenttypes.0001_initial)" in result.stderr


def test_daphne_refuses_a_postgresql_server_it_cannot_reach(place: Path) -> None:
    port = free_port()  # nothing listens there
    result = daphne(
        None,
        DATABASE_URL=f"postgres://sandbox@127.0.0.1:{port}/sandbox",
        SANDBOX_LOCAL_DIR=str(place.parent / "local"),
    )
    assert_refused(result, f"The database at 127.0.0.1:{port}/sandbox cannot be reached: ")


def test_runticker_refuses_a_missing_database(place: Path) -> None:
    database = place / "db.sqlite3"
    result = start([sys.executable, "manage.py", "runticker"], database)
    assert_refused(result, f"The database at {database} cannot be used: the file does not exist")
    assert not database.exists()


@pytest.mark.django_db(transaction=True)  # no transaction of the test's own holding the lock
def test_a_usable_database_has_no_problem() -> None:
    assert database_problem() is None


def test_a_database_another_process_is_writing_to_is_usable(place: Path, migrated: Path) -> None:
    """Busy is not read-only: the check does not refuse a database that is locked."""
    database = place / "db.sqlite3"
    shutil.copy(migrated, database)
    writer = sqlite3.connect(database, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # holds the write lock while the check runs
    try:
        result = start(
            [sys.executable, "-c", PROBLEM],
            database,
            DJANGO_SETTINGS_MODULE="sandbox.settings",
        )
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "None"


PROBLEM = (
    "import django; django.setup(); "
    "from django.db import connections; "
    "connections['default'].settings_dict['OPTIONS']['timeout'] = 0.2; "
    "from sandbox.startup import database_problem; print(database_problem())"
)
