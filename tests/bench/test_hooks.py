"""The benchmark's server hooks (bench.hooks) find what they time in today's code: a
tick's commit and push are logged, the feed's drawing is wrapped, nothing is missing.
Run in a process of its own, as a benchmark's server would (the hooks replace module
attributes for the life of the process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.hooks import read

ROOT = Path(__file__).resolve().parents[2]

SERVER = """
import django
django.setup()
from bench import hooks
hooks.install()
from decimal import Decimal
from sandbox.live import feed, services
assert hasattr(feed._draw, "__wrapped__"), "the feed's drawing is not timed"
services.broadcast_tick(services.TickResult(7, 42, {"XBTUSDT": Decimal("60000")}))
"""


def test_the_hooks_log_a_tick_and_find_the_drawing(tmp_path: Path) -> None:
    log = tmp_path / "hooks.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "sandbox.settings",
        "SANDBOX_BENCH_LOG": str(log),
        "SANDBOX_LOCAL_DIR": str(tmp_path),
        "SANDBOX_SQLITE_PATH": str(tmp_path / "unused.sqlite3"),
    }
    env.pop("REDIS_URL", None)  # the in-memory channel layer: the push goes nowhere

    done = subprocess.run(
        [sys.executable, "-c", SERVER], cwd=ROOT, env=env, capture_output=True, text=True
    )

    assert done.returncode == 0, done.stderr
    rows = read(log)
    kinds = [row[0] for row in rows]
    assert kinds == ["process", "commit", "pushed"], rows
    assert rows[1][1:3] == ["7", "42"]
    assert rows[1][4:] == ["0", "0"]  # nobody liquidated, not a ledger tick
    assert float(rows[2][3]) >= float(rows[1][3])
