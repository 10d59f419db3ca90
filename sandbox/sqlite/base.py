"""Django's SQLite backend, keeping the database readable by the server's user only, and
queueing its writers.

SQLite creates a missing database file with the process's umask (usually 0644: every user
of the machine may read it), and its write-ahead log and shared-memory files with the
database's own mode. The database holds password hashes, so before each connection opens
it, a missing file is created 0600; an existing one and its companions lose any
permission for other users the first time a process opens them (a database made before
this, or copied in).

SQLite has one write lock for the whole database, and a writer that finds it taken sleeps
in growing steps (1, 2, 5, 10 ... 100 ms) before it tries again, so under load a write
waits up to 100 ms longer than it had to. Every write here queues instead
(:class:`Writers`) and wakes as soon as the one before it is done: a transaction from its
``BEGIN IMMEDIATE`` to its commit or rollback, a write statement outside a transaction for
that statement. The threads of a process queue on a lock, the processes sharing the
database file on an advisory lock of a file beside it. Nothing has to ask for it: it is
this backend's, so every write of every app (and Django's own: sessions, auth) takes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import stat
import threading
import time
from typing import IO, Any

from django.db.backends.sqlite3 import base

PRIVATE = 0o600
COMPANIONS = ("", "-wal", "-shm", "-journal")
_checked: set[str] = set()  # databases whose files this process has made private


def make_private(name: str) -> None:
    """Create the database file ``name`` 0600 if it is missing; the first time a process
    opens an existing one, take every permission for other users off it and its log files.
    Whatever cannot be done (no such directory, a read-only file, someone else's file) is
    left for SQLite to open or refuse with its own message."""
    if not name or name == ":memory:" or name.startswith("file:"):
        return
    try:
        os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))
        return  # new, and private from the start (SQLite gives its log files its mode)
    except FileExistsError:
        pass
    except OSError:
        return
    if name in _checked:
        return
    _checked.add(name)
    for suffix in COMPANIONS:
        path = f"{name}{suffix}"
        with contextlib.suppress(OSError):
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if mode & ~PRIVATE:  # (a read-only file stays read-only)
                os.chmod(path, mode & PRIVATE)


LOCKED = "database is locked"  # SQLite's own words when a writer waited too long
WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class Writers:
    """The queue of a database's writers: a lock for the threads of this process, and an
    advisory lock on ``<database>.writers`` (private, like the database) for the processes
    sharing it. Whoever waits longer than the connection's ``timeout`` gets SQLite's own
    error, as SQLite would have given it."""

    def __init__(self) -> None:
        self.threads = threading.Lock()
        self.file: IO[str] | None = None
        self.path = ""

    def acquire(self, database: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        if not self.threads.acquire(timeout=max(timeout, 0)):
            raise sqlite3.OperationalError(LOCKED)
        try:
            path = f"{database}.writers"
            if self.path != path:  # (tests point the same process at other databases)
                if self.file is not None:
                    self.file.close()
                # Private like the database beside it (0600), and kept open.
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                self.file, self.path = os.fdopen(descriptor, "a"), path
            assert self.file is not None
            while True:
                try:
                    fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise sqlite3.OperationalError(LOCKED) from None
                    time.sleep(0.0005)  # another process writes: its turn ends soon
        except BaseException:
            self.threads.release()
            raise

    def release(self) -> None:
        try:
            if self.file is not None:
                fcntl.flock(self.file, fcntl.LOCK_UN)
        finally:
            self.threads.release()


WRITERS = Writers()


class DatabaseWrapper(base.DatabaseWrapper):
    """The writers' queue hooks into three of Django's private backend methods (a test,
    tests/web/test_writers.py, fails if their names or roles change): the ``BEGIN`` of a
    transaction (``_start_transaction_under_autocommit``, which Django calls on entering
    the outermost ``atomic``), its end (``_commit``, ``_rollback``; ``_close`` if the
    connection closes first), and the cursor (``create_cursor``)."""

    holds_writers = False

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        make_private(str(conn_params.get("database", "")))
        return super().get_new_connection(conn_params)

    def writers_acquire(self) -> None:
        if self.is_in_memory_db():
            return  # (one connection's own database: nobody to queue with)
        timeout = float(self.settings_dict["OPTIONS"].get("timeout", 5))
        with self.wrap_database_errors:
            WRITERS.acquire(str(self.settings_dict["NAME"]), timeout)
        self.holds_writers = True

    def writers_release(self) -> None:
        if self.holds_writers:
            self.holds_writers = False
            WRITERS.release()

    def _start_transaction_under_autocommit(self) -> None:
        self.writers_acquire()
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]
        except BaseException:
            self.writers_release()
            raise

    def _commit(self) -> None:
        try:
            super()._commit()  # type: ignore[misc]
        finally:
            self.writers_release()

    def _rollback(self) -> None:
        try:
            super()._rollback()  # type: ignore[misc]
        finally:
            self.writers_release()

    def _close(self) -> None:
        try:
            super()._close()  # type: ignore[misc]
        finally:
            self.writers_release()

    def create_cursor(self, name: str | None = None) -> Any:
        cursor = self.connection.cursor(factory=QueuedCursor)
        cursor.wrapper = self
        return cursor


class QueuedCursor(base.SQLiteCursorWrapper):
    """A write statement outside a transaction (``Model.save``, ``QuerySet.update``)
    queues for its own duration; inside one, the transaction holds the queue already."""

    wrapper: DatabaseWrapper

    def _queued(self, query: str) -> bool:
        if self.wrapper.holds_writers or self.connection.in_transaction:
            return False
        return query.lstrip()[:7].upper().startswith(WRITES)

    def execute(self, query: str, params: Any = None) -> Any:
        if not self._queued(query):
            return super().execute(query, params)
        self.wrapper.writers_acquire()
        try:
            return super().execute(query, params)
        finally:
            self.wrapper.writers_release()

    def executemany(self, query: str, param_list: Any) -> Any:
        if not self._queued(query):
            return super().executemany(query, param_list)
        self.wrapper.writers_acquire()
        try:
            return super().executemany(query, param_list)
        finally:
            self.wrapper.writers_release()
