"""Django's SQLite backend, keeping the database readable by the server's user only.

SQLite creates a missing database file with the process's umask (usually 0644: every user
of the machine may read it), and its write-ahead log and shared-memory files with the
database's own mode. The database holds password hashes, so before each connection opens
it, a missing file is created 0600; an existing one and its companions lose any
permission for other users the first time a process opens them (a database made before
this, or copied in).
"""

from __future__ import annotations

import contextlib
import os
import stat
from typing import Any

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


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        make_private(str(conn_params.get("database", "")))
        return super().get_new_connection(conn_params)
