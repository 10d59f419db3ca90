"""Django's SQLite backend, keeping the database readable by the server's user only.

SQLite creates a missing database file with the process's umask (usually 0644: every user
of the machine may read it), and its write-ahead log and shared-memory files with the
database's own mode. The database holds password hashes, so before each connection opens
it, a missing file is created 0600, and the file and its companions lose any permission
for other users (a database made before this, or copied in).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Any

from django.db.backends.sqlite3 import base

PRIVATE = 0o600
COMPANIONS = ("", "-wal", "-shm", "-journal")


def make_private(name: str) -> None:
    """Create the database file ``name`` 0600 if it is missing; take every permission for
    other users off it and its log files. Whatever cannot be done (no such directory, a
    read-only file, someone else's file) is left for SQLite to open or refuse with its own
    message."""
    if not name or name == ":memory:" or name.startswith("file:"):
        return
    if not Path(name).parent.is_dir():
        return
    with contextlib.suppress(OSError):  # exists already (or cannot be made: SQLite says)
        os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))
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
