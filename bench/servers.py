"""Servers the benchmarks start on loopback: a free port, daphne on it, and the wait for
it to listen."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listening on {port}")


def start_daphne(
    port: int, application: str, env: dict[str, str], log: IO[str]
) -> subprocess.Popen[bytes]:
    """daphne serving ``application`` on 127.0.0.1:``port``, run from the project's root."""
    return subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), application],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def standalone_setup() -> Path:
    """For a benchmark run on its own (``python -m bench.<name>``): a fresh work folder
    holding its database, secret key and collected static files, Django set up on it, the
    migrations applied and the instruments and lessons loaded. Returns the folder."""
    work = Path(tempfile.mkdtemp(prefix="sandbox-bench-"))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "sandbox.settings",
            "SANDBOX_SQLITE_PATH": str(work / "bench.sqlite3"),
            "SANDBOX_LOCAL_DIR": str(work),
            "SANDBOX_TICKER": "off",
        }
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("collectstatic", "--noinput", verbosity=0)  # into work, for its servers
    call_command("migrate", verbosity=0)
    call_command("seed_sandbox", verbosity=0)
    return work
