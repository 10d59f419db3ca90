"""What a server or ticker process does before it starts: can it use its database? And, for
a server holding many sockets, glibc's allocator set to give memory back (the end of this
module).

A database that is missing, read-only, unreachable or without its migrations would make
every page answer 500; instead the process refuses to start, saying why. The web server
runs the check when ``sandbox.asgi`` is imported (daphne imports it at start), and so does
``manage.py runticker``. ``SANDBOX_DATABASE_CHECK=off`` skips it (the tests do, as they
import the ASGI application before making their own database).
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import functools
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor

MIGRATE = ".venv/bin/python manage.py migrate (make run does it)"


def _where(alias: str) -> str:
    config = connections[alias].settings_dict
    if connections[alias].vendor == "sqlite":
        return str(config["NAME"])
    host = config.get("HOST") or "localhost"
    port = f":{config['PORT']}" if config.get("PORT") else ""
    return f"{host}{port}/{config.get('NAME', '')}"


def _sqlite_file_problem(where: str) -> str | None:
    """Before connecting, which would create a missing file."""
    if where == ":memory:" or where.startswith("file:"):
        return None
    path = Path(where)
    if not path.is_file():
        return (
            f"The database at {where} cannot be used: the file does not exist. "
            f"Apply the migrations first: {MIGRATE}."
        )
    try:  # SQLite writes its log and lock files beside the database
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as error:
        return (
            f"The database at {where} cannot be written: its directory {path.parent} is "
            f"not writable ({error.strerror or error})."
        )
    return None


def _probe(alias: str) -> BaseDatabaseWrapper:
    """A connection of its own to the alias's database, outside any pool (a pool would wait
    30 s for a server that is not there), giving up on a silent server after 10 s."""
    config = copy.deepcopy(connections[alias].settings_dict)
    options = config.setdefault("OPTIONS", {})
    options.pop("pool", None)
    if connections[alias].vendor == "postgresql":
        options.setdefault("connect_timeout", 10)
    wrapper: BaseDatabaseWrapper = connections[alias].__class__(config, alias)
    return wrapper


def database_problem(alias: str = DEFAULT_DB_ALIAS) -> str | None:
    """Why the process cannot use its database, in a sentence; None when it can."""
    where = _where(alias)
    if connections[alias].vendor == "sqlite":
        problem = _sqlite_file_problem(where)
        if problem:
            return problem
    connection = _probe(alias)
    try:
        try:
            connection.ensure_connection()
        except DatabaseError as error:
            verb = "written" if connection.vendor == "sqlite" else "reached"
            return f"The database at {where} cannot be {verb}: {_first_line(error)}."
        try:
            executor = MigrationExecutor(connection)
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        except DatabaseError as error:
            return f"The database at {where} cannot be read: {_first_line(error)}."
        if plan:
            first = plan[0][0]
            return (
                f"The database at {where} cannot be used: {len(plan)} migrations are not "
                f"applied (the first is {first.app_label}.{first.name}). "
                f"Apply them: {MIGRATE}."
            )
        try:  # a real write, undone: rewrite one row with its own value
            connection.set_autocommit(False)
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE django_migrations SET applied = applied "
                    "WHERE id = (SELECT MIN(id) FROM django_migrations)"
                )
        except DatabaseError as error:
            if "database is locked" in str(error):
                return None  # another process is writing to it: it can be written
            return f"The database at {where} cannot be written: {_first_line(error)}."
        finally:
            with contextlib.suppress(DatabaseError):
                connection.rollback()
        return None
    finally:
        with contextlib.suppress(DatabaseError):
            connection.close()


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0].rstrip(".") if text else type(error).__name__


def refuse_to_start(problem: str | None) -> None:
    """Exit (status 1, ``problem`` on stderr) when there is one: a server that cannot work
    says why at once rather than answer 500 to everyone."""
    if problem:
        print(f"{problem}\nThe sandbox did not start.", file=sys.stderr, flush=True)
        raise SystemExit(1)


def check_database_or_exit(alias: str = DEFAULT_DB_ALIAS) -> None:
    """Refuse to start (exit status 1, the reason on stderr) if the database is unusable."""
    if os.environ.get("SANDBOX_DATABASE_CHECK", "on").lower() in ("off", "0", "no"):
        return
    refuse_to_start(database_problem(alias))


# ---------------------------------------------------------------------------- memory
#
# A server holding hundreds of desk sockets open grew by ~90 KB a socket, of which a third
# was the C allocator keeping memory it no longer used: glibc gives each new thread an
# arena of its own (the ticker's, the drawing threads, asgiref's, the loop's executor:
# eleven in all), each keeps the memory freed in it, and memory freed inside a heap (not
# at its top) stays in the process until ``malloc_trim``. So a server process, before it
# starts any thread, limits glibc to ``MALLOC_ARENAS`` arena, and a thread of its own
# gives the freed memory back every ``TRIM_SECONDS`` (``malloc_trim``: a fraction of a
# millisecond at a class of 300, without the GIL). Python's own small objects live in
# pymalloc's arenas, which Python returns itself when they empty. Elsewhere than glibc
# (macOS, musl) nothing is changed. ``SANDBOX_MALLOC_TUNING=off`` turns both off.

M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)
MALLOC_ARENAS = 1
TRIM_SECONDS = 1.0
TRIM_THREAD = "malloc-trim"


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library if it is glibc (the only one whose arenas and trim these are), loaded
    once (the trimming thread asks for it every second)."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "malloc_trim"):
        return None
    return libc


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Limit glibc to ``arenas`` malloc arenas; whether it was done. glibc fixes its limit
    when a thread first allocates, so call this before any thread starts."""
    libc = _glibc()
    return bool(libc is not None and libc.mallopt(M_ARENA_MAX, arenas) == 1)


def trim_malloc() -> bool:
    """Give the memory glibc holds free back to the system; whether any was given."""
    libc = _glibc()
    return bool(libc is not None and libc.malloc_trim(0) == 1)


def _trim_forever(seconds: float) -> None:
    while True:
        time.sleep(seconds)
        trim_malloc()


def start_malloc_trim(seconds: float = TRIM_SECONDS) -> threading.Thread | None:
    """A daemon thread giving freed memory back every ``seconds`` (once per process); None
    where the C library is not glibc."""
    if _glibc() is None:
        return None
    for thread in threading.enumerate():
        if thread.name == TRIM_THREAD:
            return thread
    thread = threading.Thread(target=_trim_forever, args=(seconds,), name=TRIM_THREAD, daemon=True)
    thread.start()
    return thread


def tune_memory(enabled: bool) -> bool:
    """At a server process's start, before its threads: one malloc arena and the trimming
    thread, unless ``enabled`` is false (``SANDBOX_MALLOC_TUNING=off``); whether done."""
    if not enabled or not limit_malloc_arenas():
        return False
    return start_malloc_trim() is not None
