"""Benchmark 6 (and the bell on the scale-out profile): PostgreSQL and Redis on this
machine, two daphne processes (``SANDBOX_TICKER=off``) and one ticker process
(``manage.py runticker``, with the benchmark's timestamps), every process started and
stopped here, as tests/scale does.

- The bell: a room of 300 opens its desks within 2 s, spread over the two processes.
- 1,000 learners in four rooms open their desks at 50 a second, then a steady window:
  failed handshakes, ticks lost or out of order, tick to screen (p50/p99), and the CPU of
  every process (web, ticker, Redis, PostgreSQL) with Redis's commands and PostgreSQL's
  transactions over the window.
- From those measured costs, what 10,000 learners in 300 rooms at 2 ticks a second need.

Run on its own: ``python -m bench.scaleout [--json FILE]`` (``make bench`` runs it as a
subprocess: it needs Django set up on PostgreSQL). Without PostgreSQL's or Redis's
binaries it writes ``{"skipped": why}``.
"""

from __future__ import annotations

import asyncio
import glob
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.servers import ROOT, free_port, wait_for_port

ROOMS = (300, 300, 200, 200)  # 1,000 learners; the first room rings the bell
CONNECTS_PER_SECOND = 50
BELL_SECONDS = 2.0
WINDOW = 20.0
INTERVAL = 0.5
TARGET_LEARNERS = 10_000
TARGET_ROOMS = 300
CORE_SHARE = 0.7  # the most of a core one process is planned to use


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_postgres(command: list[str]) -> list[str]:
    """Root may not run the PostgreSQL server; Debian's postgres user can."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class Cluster:
    """PostgreSQL, Redis and the sandbox's processes, all on loopback."""

    work: Path
    pg: Path
    redis_bin: str
    pg_port: int = 0
    redis_port: int = 0
    env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    hosts: list[str] = field(default_factory=list)

    def start(self) -> None:
        data = self.work / "pgdata"
        self.pg_port, self.redis_port = free_port(), free_port()
        subprocess.run(
            _as_postgres(
                [str(self.pg / "initdb"), "-D", str(data), "-A", "trust", "-U", "sandbox"]
            ),
            check=True,
            capture_output=True,
        )
        options = (
            f"-p {self.pg_port} -k {self.work} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=200"
        )
        subprocess.run(
            _as_postgres(
                [
                    str(self.pg / "pg_ctl"),
                    "-D",
                    str(data),
                    "-o",
                    options,
                    "-l",
                    str(self.work / "postgres.log"),
                    "-w",
                    "start",
                ]  # fmt: skip
            ),
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
        subprocess.run(
            [
                str(self.pg / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.pg_port),
                "-U",
                "sandbox",
                "sandbox",
            ],  # fmt: skip
            check=True,
            capture_output=True,
        )
        self.processes["redis"] = subprocess.Popen(
            [
                self.redis_bin,
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.redis_port)
        self.env = {
            **os.environ,
            "DATABASE_URL": f"postgres://sandbox@127.0.0.1:{self.pg_port}/sandbox",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "SANDBOX_TICKER": "off",
            "SANDBOX_LEASE_SECONDS": "5",
            "SANDBOX_LOCAL_DIR": str(self.work / "local"),
            "SANDBOX_SECRET_KEY": "bench-scale-out-key-" + "x" * 40,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
        }

    def start_web(self, name: str) -> None:
        port = free_port()
        env = {**self.env, "SANDBOX_BENCH_LOG": str(self.work / f"hooks-{name}.log")}
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
        self._spawn(name, [*command, "bench.asgi:app"], env)
        try:
            wait_for_port(port)
        except RuntimeError:
            tail = (self.work / f"{name}.log").read_text()[-2000:]
            raise RuntimeError(f"{name} did not start:\n{tail}") from None
        self.hosts.append(f"127.0.0.1:{port}")

    def start_ticker(self, name: str) -> None:
        env = {**self.env, "SANDBOX_BENCH_LOG": str(self.work / f"hooks-{name}.log")}
        self._spawn(name, [sys.executable, "-m", "bench.ticker"], env)

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log = (self.work / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )

    def postgres_pids(self) -> list[int]:
        """The postmaster and its children (the backends, the background workers)."""
        head = (self.work / "pgdata" / "postmaster.pid").read_text().split()
        master = int(head[0])
        children = []
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                children.append(int(Path(stat).parent.name))
        return [master, *children]

    def stop(self) -> None:
        from bench.crowd import stop

        for name in sorted(self.processes, key=lambda n: n == "redis"):  # Redis last
            stop(self.processes.pop(name))
        subprocess.run(
            _as_postgres(
                [
                    str(self.pg / "pg_ctl"),
                    "-D",
                    str(self.work / "pgdata"),
                    "-m",
                    "immediate",
                    "stop",
                ]  # fmt: skip
            ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )


def _cpu_with_children(pid: int) -> float:
    """CPU of a process and of its children that have exited (PostgreSQL's backends)."""
    from bench.crowd import CLOCK

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLOCK


class Meter:
    """CPU seconds of every process of the cluster, Redis's commands and PostgreSQL's
    committed transactions, read at the start and the end of a window."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def read(self) -> dict[str, float]:
        import psycopg
        import redis

        from bench.crowd import cpu_seconds

        cluster = self.cluster
        values = {
            name: cpu_seconds(process.pid)
            for name, process in cluster.processes.items()
            if process.poll() is None
        }
        pids = cluster.postgres_pids()
        values["postgres"] = _cpu_with_children(pids[0]) + sum(_safe_cpu(pid) for pid in pids[1:])
        client = redis.Redis(port=cluster.redis_port)
        values["redis_commands"] = float(client.info("stats")["total_commands_processed"])
        client.close()
        with psycopg.connect(cluster.env["DATABASE_URL"]) as connection:
            row = connection.execute(
                "select xact_commit from pg_stat_database where datname = 'sandbox'"
            ).fetchone()
        values["postgres_commits"] = float(row[0]) if row else 0.0
        return values


def _safe_cpu(pid: int) -> float:
    from bench.crowd import cpu_seconds

    try:
        return cpu_seconds(pid)
    except OSError:  # a backend that ended between the listing and the read
        return 0.0


def scaleout_benchmark() -> dict[str, Any]:
    pg = _postgres_bin()
    redis_bin = shutil.which("redis-server")
    if pg is None or redis_bin is None:
        missing = " and ".join(
            name for name, ok in (("PostgreSQL", pg), ("redis-server", redis_bin)) if not ok
        )
        return {
            "skipped": f"not measured: {missing} not installed here (Debian's postgresql "
            "and redis-server packages; `make test-packages` installs them as root)"
        }
    work = Path(tempfile.mkdtemp(prefix="sandbox-scaleout-"))
    os.chmod(work, 0o777)
    cluster = Cluster(work, pg, redis_bin)
    try:
        cluster.start()
        os.environ.update({k: v for k, v in cluster.env.items() if k != "DJANGO_SETTINGS_MODULE"})
        os.environ["DJANGO_SETTINGS_MODULE"] = "sandbox.settings"
        import django
        from django.core.management import call_command

        django.setup()
        call_command("collectstatic", "--noinput", verbosity=0)  # for its servers
        call_command("migrate", verbosity=0)
        call_command("seed_sandbox", verbosity=0)
        from bench.crowd import room_build

        built = time.time()
        rooms = [
            room_build(
                size,
                name=f"Scale {n}",
                leverage=Decimal(5),
                qty=Decimal("0.01"),
                mixed=True,
            )
            for n, size in enumerate(ROOMS)
        ]
        build_seconds = time.time() - built
        from django.db import connections

        connections.close_all()
        cluster.start_web("web-a")
        cluster.start_web("web-b")
        cluster.start_ticker("ticker")
        report = asyncio.run(_scaleout(cluster, rooms))
        report["build_s"] = build_seconds
        report["logs"] = str(work)
        return report
    finally:
        cluster.stop()
        # The processes' logs stay (named in the report); the database goes.
        shutil.rmtree(work / "pgdata", ignore_errors=True)


async def _scaleout(cluster: Cluster, rooms: list[Any]) -> dict[str, Any]:
    from bench.crowd import Crowd, Teacher, in_thread, quiet
    from bench.hooks import read
    from bench.measure import delivery, percentile, server_log, tick_rate

    teacher = await in_thread(Teacher, cluster.hosts[0])
    for room in rooms:
        await in_thread(teacher.conduct, room.code, "play")
    await asyncio.sleep(3)  # the ticker has claimed the rooms
    report: dict[str, Any] = {"processes": "2 daphne (web), 1 runticker, PostgreSQL, Redis"}
    failures: list[str] = []

    # The bell: the first room opens its desks within BELL_SECONDS, over both processes.
    bell = Crowd(rooms[0].learners, cluster.hosts)
    began = time.time()
    bell.open(over_seconds=BELL_SECONDS)
    failed = await bell.ready(timeout=60)
    report["bell"] = {
        "learners": len(bell.desks),
        "handshakes_failed": sum(1 for d in bell.desks if not d.opened),
        "no_snapshot": sum(1 for d in failed if d.opened),
        "all_ready_s": time.time() - began,
        "snapshot_ms": _spread([(d.snapshot - d.started) * 1000 for d in bell.desks if d.snapshot]),
        "errors": sorted({d.error for d in failed})[:3],
    }
    await asyncio.sleep(3)
    await bell.close()
    if failed:
        failures.append(f"scale-out bell: {len(failed)} of {len(bell.desks)} desks failed")
    web = [cluster.processes[name].pid for name in ("web-a", "web-b")]
    report["bell"]["quiet_after_s"] = await quiet(web)

    # 1,000 learners at CONNECTS_PER_SECOND, then the steady window.
    crowds = [Crowd(room.learners, cluster.hosts) for room in rooms]
    total = sum(len(c.desks) for c in crowds)
    offset = 0.0
    for crowd in crowds:
        crowd.keep.set()
        for n, desk in enumerate(crowd.desks):
            crowd.tasks.append(
                asyncio.create_task(desk.run(offset + n / CONNECTS_PER_SECOND, crowd.keep))
            )
        offset += len(crowd.desks) / CONNECTS_PER_SECOND
    failed = []
    for crowd in crowds:
        failed += await crowd.ready(timeout=offset + 60)
    await asyncio.sleep(2)
    meter = Meter(cluster)
    start, before = time.time(), await in_thread(meter.read)
    await asyncio.sleep(WINDOW)
    end, after = time.time(), await in_thread(meter.read)
    await asyncio.sleep(3)
    dropped = [d for crowd in crowds for d in crowd.dropped()]
    for crowd in crowds:
        await crowd.close()
    ticker = server_log(read(cluster.work / "hooks-ticker.log"))
    latencies: list[float] = []
    expected = delivered = lost = disorder = ticks = 0
    rates = []
    losses: list[str] = []
    for room, crowd in zip(rooms, crowds, strict=True):
        commits = ticker.market_commits(room.market_id, start, end)
        ticks += len(commits)
        rates.append(tick_rate(commits, start, end))
        result = delivery([d.arrivals for d in crowd.desks if not d.error], commits)
        expected += result.expected
        delivered += result.delivered
        lost += result.lost
        disorder += result.out_of_order
        if result.lost:
            losses.append(f"room of {len(crowd.desks)}: {result.worst_lost()}")
        latencies += result.latencies_ms
    seconds = end - start
    # What the web processes' feeds drew in the window (bench.hooks, in each process).
    web_draws = [
        d
        for name in ("web-a", "web-b")
        for d in server_log(read(cluster.work / f"hooks-{name}.log")).draws
        if start <= d[2] <= end
    ]
    cpu = {name: after[name] - before[name] for name in before if name in after}
    web_cpu = cpu.get("web-a", 0.0) + cpu.get("web-b", 0.0)
    updates = sum(
        1 for crowd in crowds for d in crowd.desks for a in d.arrivals if start <= a.at <= end
    )
    report["thousand"] = {
        "learners": total,
        "rooms": len(rooms),
        "connects_per_second": CONNECTS_PER_SECOND,
        "handshakes_failed": sum(1 for d in failed if not d.opened),
        "no_snapshot": sum(1 for d in failed if d.opened),
        "dropped": len(dropped),
        "errors": sorted({d.error for d in failed + dropped})[:3],
        "window_s": seconds,
        "ticks": ticks,
        "tick_rate_per_room": min(rates) if rates else math.nan,
        "expected": expected,
        "delivered": delivered,
        "lost": lost,
        "losses": losses,
        "out_of_order": disorder,
        "latency_ms": _spread(latencies),
        "web_draw_ms": _spread([d[3] * 1000 for d in web_draws]),
        "web_draw_desks": max((d[1] for d in web_draws), default=0),
        "web_drawing_share": sum(d[3] for d in web_draws) / (2 * seconds),
        "updates": updates,
        "cpu_s": cpu,
        "web_cpu_per_update_ms": web_cpu * 1000 / max(updates, 1),
        "ticker_cpu_per_tick_ms": cpu.get("ticker", 0.0) * 1000 / max(ticks, 1),
        "postgres_cpu_per_tick_ms": cpu.get("postgres", 0.0) * 1000 / max(ticks, 1),
        "redis_cpu_per_tick_ms": cpu.get("redis", 0.0) * 1000 / max(ticks, 1),
        "redis_commands_per_tick": cpu.get("redis_commands", 0.0) / max(ticks, 1),
        "postgres_commits_per_tick": cpu.get("postgres_commits", 0.0) / max(ticks, 1),
        "p99_ms": percentile(latencies, 99),
    }
    if failed or dropped:
        failures.append(
            f"scale-out: {len(failed)} of {total} desks could not connect, {len(dropped)} dropped"
        )
    if lost or disorder or not expected:
        failures.append(
            f"scale-out: {lost} of {expected} tick deliveries lost, {disorder} out of order"
        )
    report["projection"] = projection(report["thousand"])
    report["failures"] = failures
    return report


def _spread(values: list[float]) -> dict[str, float]:
    from bench.measure import percentile

    return {
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values) if values else math.nan,
        "count": len(values),
    }


def projection(measured: dict[str, Any]) -> dict[str, Any]:
    """What TARGET_LEARNERS in TARGET_ROOMS at 2 ticks a second need, from this run's own
    costs: web CPU per delivered update, ticker CPU per tick, and PostgreSQL's and
    Redis's CPU, transactions and commands per tick (measured with this run's larger
    rooms, so an upper bound for rooms of ~33)."""
    updates = TARGET_LEARNERS / INTERVAL
    ticks = TARGET_ROOMS / INTERVAL
    web_cores = updates * measured["web_cpu_per_update_ms"] / 1000
    ticker_cores = ticks * measured["ticker_cpu_per_tick_ms"] / 1000
    return {
        "learners": TARGET_LEARNERS,
        "rooms": TARGET_ROOMS,
        "updates_per_second": updates,
        "ticks_per_second": ticks,
        "web_cores": web_cores,
        "web_processes": math.ceil(web_cores / CORE_SHARE),
        "ticker_cores": ticker_cores,
        "ticker_processes": math.ceil(ticker_cores / CORE_SHARE),
        "postgres_cores": ticks * measured["postgres_cpu_per_tick_ms"] / 1000,
        "postgres_commits_per_second": ticks * measured["postgres_commits_per_tick"],
        "redis_cores": ticks * measured["redis_cpu_per_tick_ms"] / 1000,
        "redis_commands_per_second": ticks * measured["redis_commands_per_tick"],
        "core_share": CORE_SHARE,
    }


def main() -> None:
    out = None
    if "--json" in sys.argv:
        out = Path(sys.argv[sys.argv.index("--json") + 1])
    report = scaleout_benchmark()
    text = json.dumps(report, indent=1, default=str)
    if out is not None:
        out.write_text(text)
    print(text, flush=True)
    if report.get("failures"):
        print("\nFAILED:\n- " + "\n- ".join(report["failures"]), file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
