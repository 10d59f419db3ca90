"""``make bench``: measure the speed and memory targets and write bench/results.md.

Each benchmark runs against its baseline in the same run, on this machine. A missed
target is reported as missed, with its cause from the run's own figures; a client that
could not connect or a tick lost fails the run (exit status 1, said at the top of the
report and on stderr).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="sandbox-bench-"))
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "sandbox.settings",
        "SANDBOX_SQLITE_PATH": str(WORK / "bench.sqlite3"),
        "SANDBOX_LOCAL_DIR": str(WORK),
        "SANDBOX_TICKER": "off",
    }
)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

settings.ROOT_URLCONF = "bench.urls"
settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]


def machine() -> list[str]:
    import numpy

    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return [
        f"- Machine: {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}, Django {django.get_version()}, "
        f"NumPy {numpy.__version__}, SQLite {__import__('sqlite3').sqlite_version}",
        f"- Run at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
    ]


def _scaleout(work: Path) -> dict[str, Any]:
    """bench.scaleout in a process of its own (Django set up on PostgreSQL there)."""
    out = work / "scaleout.json"
    env = {k: v for k, v in os.environ.items() if k != "SANDBOX_SQLITE_PATH"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.scaleout", "--json", str(out)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
        )
    except subprocess.TimeoutExpired:
        return {"error": "it did not finish within 20 minutes"}
    if not out.exists():
        return {"error": f"it exited with {done.returncode}: {done.stderr.strip()[-1500:]}"}
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def main() -> None:
    began = time.monotonic()
    load_before = os.getloadavg()[0]
    call_command("collectstatic", "--noinput", verbosity=0)  # into WORK, for its servers
    call_command("migrate", verbosity=0)
    call_command("seed_sandbox", verbosity=0)
    from bench import report as sections
    from bench import ticks
    from bench.classroom import bell_benchmark, crash_benchmark, fanout_benchmark
    from bench.first_visit import first_visit_benchmark, first_visit_section
    from bench.interaction import interaction_benchmark
    from bench.request_memory import request_memory_benchmark, request_memory_section
    from bench.snapshot_flood import flood_benchmark, flood_section

    body: list[str] = []
    glance: list[sections.Glance] = []
    failures: list[str] = []

    def step(name: str) -> None:
        print(f"{name} ... ({time.monotonic() - began:.0f} s)", flush=True)

    step("tick benchmark")
    body += ticks.tick_section(ticks.tick_benchmark())  # (its rows say what it timed)
    step("crash benchmark")
    crash = crash_benchmark(WORK)
    failures += crash["failures"]
    step("bell benchmark")
    bell = bell_benchmark(WORK)
    failures += bell["failures"]
    step("classroom fan-out benchmark")
    fanout = fanout_benchmark(WORK)
    failures += fanout["failures"]
    step("desk under a live market")
    interaction = interaction_benchmark(WORK)
    failures += [f"desk under a live market: {e}" for e in interaction["live"]["failed"]]
    step("scale-out benchmark (PostgreSQL, Redis, three processes)")
    scale = _scaleout(WORK)
    failures += scale.get("failures", [])
    if "error" in scale:
        failures.append(f"scale-out: {scale['error'][:300]}")
    for lines, rows in (
        sections.crash_section(crash),
        sections.bell_section(bell, scale),
        sections.fanout_section(fanout),
        sections.interaction_section(interaction),
        sections.scaleout_section(scale),
    ):
        body += lines
        glance += rows
    step("oversized requests benchmark")
    body += request_memory_section(request_memory_benchmark(WORK))
    step("websocket flood benchmark")
    body += flood_section(flood_benchmark(WORK))
    step("first visit benchmark")
    body += first_visit_section(first_visit_benchmark(WORK))

    minutes = (time.monotonic() - began) / 60
    head = [
        "# Benchmarks",
        "",
        *machine(),
        f"- `make bench` took {minutes:.1f} minutes; the machine's load average (1 minute) "
        f"was {load_before:.1f} before it and {os.getloadavg()[0]:.1f} at its end, on "
        f"{os.cpu_count()} cores",
        "",
    ]
    if failures:
        head += [
            "**THE RUN FAILED** (a client could not connect, or a tick was lost):",
            "",
            *[f"- {failure}" for failure in failures],
            "",
        ]
    head += [
        "## Targets 2-6 at a glance",
        "",
        "Each figure is measured in this run, with its baseline from the same run where "
        "there is one; the sections below say how. Section 1 (the tick's database work) "
        "has its own table.",
        "",
        *sections.glance_table(glance),
    ]
    out = ROOT / "bench" / "results.md"
    out.write_text("\n".join(head + body) + "\n")
    print(out.read_text())
    if failures:
        print("\nmake bench FAILED:\n- " + "\n- ".join(failures), file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
