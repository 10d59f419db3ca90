"""Benchmarks 2-4 on a real classroom, one daphne process with its embedded ticker.

- ``crash``: 300 room learners long at 20x isolated; the teacher crashes XBTUSDT 30% in one
  tick. From the liquidating tick's commit (the server's own timestamp, bench.hooks) to
  each learner's liquidation notice arriving; how late the next tick came.
- ``bell``: a room of 300 opens its desks within 2 s: failed handshakes, time to the first
  snapshot, ticks lost afterwards; and the cost of one socket's accept and snapshot in a
  room of 30 and in a room of 300.
- ``fanout``: 300 room members (leaderboard on), the market at 60x (a realisation tick
  every 10th tick), 2 ticks a second, teacher actions during a steady window: tick to
  screen, the achieved tick rate, delivered versus expected updates, sequences per client,
  server CPU per delivered update against a raw ``websockets.broadcast`` server sending the
  same bytes to the same number of clients over a window of the same kind, memory per
  connected learner, teacher action to the last learner.

``python -m bench.classroom crash|bell|fanout`` runs one on a fresh database and prints its
figures; ``make bench`` runs them all (bench/run.py). Each returns a dict whose
``failures`` list the run's loud problems (a client that could not connect, a tick lost);
a non-empty list makes the run exit non-zero.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.crowd import (
    Classroom,
    Crowd,
    Teacher,
    cpu_seconds,
    cpu_seconds_fine,
    in_thread,
    quiet,
    room_build,
    rooms_pause,
    rss_kb,
    stop,
)
from bench.hooks import read
from bench.measure import (
    Commit,
    delivery,
    first_after,
    percentile,
    server_log,
    tick_rate,
)
from bench.servers import free_port, start_daphne, wait_for_port

LEARNERS = 300
INTERVAL = 0.5  # seconds between ticks: 2 a second
WINDOW = 20.0  # seconds of the fan-out's steady window
SMALL = 30  # the small class of the bell's accept-cost comparison
SEQUENTIAL = 20  # desks opened one at a time in each class for that comparison
BELL_SECONDS = 2.0


class Server:
    """One daphne with the embedded ticker and the benchmark's hooks."""

    def __init__(self, work: Path, name: str) -> None:
        self.log_path = work / f"hooks-{name}.log"
        self.log_path.unlink(missing_ok=True)
        self.port = free_port()
        env = {
            **os.environ,
            "SANDBOX_TICKER": "embedded",
            "SANDBOX_BENCH_LOG": str(self.log_path),
        }
        output = (work / f"daphne-{name}.log").open("w")
        self.process = start_daphne(self.port, "bench.asgi:app", env, output)
        wait_for_port(self.port)
        self.host = f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        stop(self.process)

    def log(self) -> Any:
        return server_log(read(self.log_path))


def ms(seconds: float) -> float:
    return seconds * 1000


def spread(values: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else float("nan"),
        "count": len(values),
        "sum": sum(values),
    }


def gaps(commits: list[Commit]) -> list[float]:
    return [b.at - a.at for a, b in zip(commits, commits[1:], strict=False)]


# ---------------------------------------------------------------------------- crash


def crash_benchmark(work: Path, learners: int = LEARNERS) -> dict[str, Any]:
    room = room_build(learners, name="Crash", leverage=Decimal(20), qty=Decimal("0.05"))
    server = Server(work, "crash")
    try:
        return asyncio.run(_crash(room, server))
    finally:
        server.stop()
        rooms_pause(room)


async def _crash(room: Classroom, server: Server) -> dict[str, Any]:
    teacher = await in_thread(Teacher, server.host)
    await in_thread(teacher.conduct, room.code, "play")
    crowd = Crowd(room.learners, [server.host])
    crowd.open(over_seconds=3)
    failed = await crowd.ready()
    await asyncio.sleep(3)
    sent, answered, _ = await in_thread(
        teacher.conduct, room.code, "crash", symbol="XBTUSDT", percent="30", ticks="1"
    )
    live = [d for d in crowd.desks if not d.error]
    deadline = time.time() + 60
    while time.time() < deadline:
        if all(first_after(d.arrivals, sent, "notice") is not None for d in live):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(3)  # the ticks after
    await crowd.close()
    log = server.log()
    commits = log.market_commits(room.market_id)
    failures = [f"{len(failed)} of {len(crowd.desks)} desks could not connect"] if failed else []
    liquidating = next((c for c in commits if c.at >= sent and c.liquidated), None)
    report: dict[str, Any] = {
        "learners": len(room.learners),
        "connected": len(live),
        "connect_errors": sorted({d.error for d in failed})[:3],
        "crash_answered_ms": ms(answered - sent),
        "interval_ms": ms(INTERVAL),
        "gaps_before_ms": spread([ms(g) for g in gaps([c for c in commits if c.at < sent])]),
    }
    if liquidating is None:
        failures.append("no tick liquidated anyone after the crash")
        report["failures"] = failures
        return report
    following = next((c for c in commits if c.sequence == liquidating.sequence + 1), None)
    notices = [first_after(d.arrivals, sent, "notice") for d in live]
    latencies = [ms(at - liquidating.at) for at in notices if at is not None]
    missing = sum(1 for at in notices if at is None)
    if missing:
        failures.append(f"{missing} learners never received their liquidation notice")
    tick = next((t for t in log.ticks if t[1] == liquidating.sequence), None)
    last_notice = max((at for at in notices if at is not None), default=liquidating.at)
    renders = [r for r in log.renders if liquidating.at <= r[0] <= last_notice]
    draws = [d for d in log.draws if liquidating.at <= d[2] <= last_notice]
    wholes = [w for w in log.wholes if liquidating.at <= w[2] <= last_notice]
    report.update(
        {
            "liquidated": liquidating.liquidated,
            "sequence": liquidating.sequence,
            "notice_ms": spread(latencies),
            "notices_missing": missing,
            "next_gap_ms": ms(following.at - liquidating.at) if following else float("nan"),
            "next_late_ms": ms(following.at - liquidating.at - INTERVAL)
            if following
            else float("nan"),
            "tick_ms": ms(tick[3]) if tick else float("nan"),
            "renders": len(renders),
            "render_ms_total": ms(sum(r[1] for r in renders)),
            "draw_ms_total": ms(sum(d[3] for d in draws)),
            "whole_passes": len(wholes),
            "whole_desks": sum(w[1] for w in wholes),
            "whole_ms_total": ms(sum(w[3] for w in wholes)),
            "hooks_missing": log.missing,
            "failures": failures,
        }
    )
    return report


# ----------------------------------------------------------------------------- bell


def bell_benchmark(work: Path, learners: int = LEARNERS) -> dict[str, Any]:
    big = room_build(learners, name="Bell", leverage=Decimal(10), qty=Decimal("0.01"), mixed=True)
    small = room_build(
        SMALL, name="Bell small", leverage=Decimal(10), qty=Decimal("0.01"), mixed=True
    )
    server = Server(work, "bell")
    try:
        return asyncio.run(_bell(big, small, server))
    finally:
        server.stop()
        rooms_pause(big, small)


def _opening(crowd: Crowd) -> dict[str, Any]:
    desks = [d for d in crowd.desks if d.started]
    return {
        "handshake_ms": spread([ms(d.opened - d.started) for d in desks if d.opened]),
        "snapshot_ms": spread([ms(d.snapshot - d.started) for d in desks if d.snapshot]),
    }


async def _bell(big: Classroom, small: Classroom, server: Server) -> dict[str, Any]:
    teacher = await in_thread(Teacher, server.host)
    await in_thread(teacher.conduct, big.code, "play")
    await in_thread(teacher.conduct, small.code, "play")
    # A learner of the small class first, alone: what the process sets up once is done.
    warm = Crowd(small.learners[-1:], [server.host])
    warm.open()
    await warm.ready()
    await warm.close()
    await asyncio.sleep(2)
    # The bell: the whole class opens its desks within BELL_SECONDS.
    crowd = Crowd(big.learners, [server.host])
    began = time.time()
    crowd.open(over_seconds=BELL_SECONDS)
    failed = await crowd.ready(timeout=60)
    ready = time.time()
    await asyncio.sleep(5)
    watched_until = time.time()
    dropped = crowd.dropped()
    await crowd.close()
    quiet_after = await quiet([server.pid])  # the burst's work done: one socket at a time
    log = server.log()
    settled = ready + 1.0  # from a second after the last snapshot
    commits = log.market_commits(big.market_id, settled, watched_until - 1.0)
    connected = [d for d in crowd.desks if not d.error]
    after = delivery([d.arrivals for d in connected], commits)
    handshakes_failed = [d for d in crowd.desks if not d.opened]
    wholes = [w for w in log.wholes if began <= w[2] <= ready]
    renders = [r for r in log.renders if began <= r[0] <= ready]
    report: dict[str, Any] = {
        "learners": len(big.learners),
        "seconds": BELL_SECONDS,
        "handshakes_failed": len(handshakes_failed),
        "no_snapshot": len([d for d in failed if d.opened]),
        "dropped": len(dropped),
        "errors": sorted({d.error for d in failed + dropped})[:3],
        "all_ready_s": ready - began,
        "quiet_after_s": quiet_after,
        **_opening(crowd),
        "after_expected": after.expected,
        "after_delivered": after.delivered,
        "after_lost": after.lost,
        "after_out_of_order": after.out_of_order,
        "after_tick_rate": tick_rate(commits, settled, watched_until - 1.0),
        "bell_whole_passes": len(wholes),
        "bell_whole_desks": sum(w[1] for w in wholes),
        "bell_whole_ms": ms(sum(w[3] for w in wholes)),
        "bell_renders": len(renders),
        "bell_render_ms": ms(sum(r[1] for r in renders)),
        "hooks_missing": log.missing,
    }
    # One socket at a time, in the class of 30 and in the class of 300.
    for label, room in (("small", small), ("big", big)):
        alone = Crowd(room.learners[:SEQUENTIAL], [server.host])
        phase = time.time()
        for desk in alone.desks:
            alone.open_some([desk])
            await alone.ready([desk], timeout=30)
            await asyncio.sleep(0.2)
        # The server's own drawing of each snapshot (no network, no client), from its log.
        drawn = server.log()
        snapshots = [w[3] for w in drawn.wholes if w[0] == room.market_id and w[2] >= phase]
        snapshots += [r[1] for r in drawn.renders if r[0] >= phase]
        report[f"{label}_members"] = len(room.learners)
        report[f"{label}_alone"] = {
            **_opening(alone),
            "drawn_ms": spread([ms(x) for x in snapshots]),
        }
        report[f"{label}_alone_failed"] = sorted(d.error for d in alone.desks if d.error)
        await alone.close()
    failures = []
    if handshakes_failed or failed or dropped:
        failures.append(
            f"bell: {len(handshakes_failed)} handshakes failed, "
            f"{report['no_snapshot']} desks got no snapshot, {len(dropped)} dropped"
        )
    if not after.expected:
        failures.append("bell: no tick committed while the class watched its desks")
    if after.lost or after.out_of_order:
        failures.append(
            f"bell: {after.worst_lost()} ticks lost, {after.out_of_order} out of order "
            "after the class connected"
        )
    report["failures"] = failures
    return report


# --------------------------------------------------------------------------- fan-out

ACTIONS = (  # (seconds into the window, action, fields, what the learners then show)
    (3.0, "close", {}, "close"),
    (6.0, "open", {}, "open"),
    (9.0, "hide_board", {}, "hide_board"),
    (12.0, "show_board", {}, "show_board"),
    (15.0, "price", {}, "price"),
    (17.0, "crash", {"symbol": "XBTUSDT", "percent": "2", "ticks": "2"}, ""),
)


def fanout_benchmark(work: Path, learners: int = LEARNERS) -> dict[str, Any]:
    room = room_build(
        learners,
        name="Fan-out",
        leverage=Decimal(5),
        qty=Decimal("0.01"),
        speed=60,
        mixed=True,
    )
    server = Server(work, "fanout")
    try:
        report = asyncio.run(_fanout(room, server))
    finally:
        server.stop()
        rooms_pause(room)
    sizes = report.pop("sizes")
    report["raw"] = raw_baseline(work, sizes, report["connected"])
    raw_cpu = report["raw"]["cpu_per_update_ms"]
    report["cpu_ratio"] = report["cpu_per_update_ms"] / raw_cpu if raw_cpu else float("nan")
    if report["raw"]["failed"]:
        report["failures"].append(f"raw baseline: {report['raw']['failed']} clients failed")
    return report


def _hand_price(market_id: int) -> tuple[str, str]:
    """A price 0.3% over the room's mark, and how the desk shows it."""
    from sandbox.desk.models import MarkPrice
    from sandbox.desk.templatetags.figures import price
    from sandbox.engine.pricepath import round_to_tick

    mark = MarkPrice.objects.select_related("instrument").get(
        market_id=market_id, instrument_id="XBTUSDT"
    )
    value = round_to_tick(mark.price * Decimal("1.003"), mark.instrument.tick_size)
    return format(value, "f"), price(value, "XBTUSDT")


RSS_EVERY = 0.5  # seconds between two readings of the server's resident size


async def _readings(pid: int, *, seconds: float, into: list[int] | None = None) -> list[int]:
    """The process's resident size (KB), read every ``RSS_EVERY`` s for ``seconds``."""
    readings = [] if into is None else into
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        readings.append(rss_kb(pid))
        await asyncio.sleep(RSS_EVERY)
    return readings


def _memory(idle: list[int], connected: list[int], end: int, desks: int) -> dict[str, Any]:
    """Memory per connected learner: the median resident size while every desk is
    connected (read through the steady window) less the median with one desk, over the
    other desks; beside it, the same from the window's highest reading and from its last.
    (One reading alone depends on what the process holds at that instant: a tick's
    pushes on their way out to 300 sockets.)"""
    others = max(desks - 1, 1)
    rss_idle = statistics.median(idle)
    rss_connected = statistics.median(connected) if connected else end
    return {
        "rss_idle_kb": rss_idle,
        "rss_connected_kb": rss_connected,
        "rss_readings": len(connected),
        "rss_max_kb": max(connected, default=end),
        "rss_end_kb": end,
        "kb_per_learner": (rss_connected - rss_idle) / others,
        "kb_per_learner_max": (max(connected, default=end) - rss_idle) / others,
        "kb_per_learner_end": (end - rss_idle) / others,
    }


async def _fanout(room: Classroom, server: Server) -> dict[str, Any]:
    teacher = await in_thread(Teacher, server.host)
    await in_thread(teacher.conduct, room.code, "play")
    crowd = Crowd(room.learners, [server.host])
    # The first learner comes alone and watches a few ticks, so that what the process sets
    # up once (code, templates, the market's feed) is in place before memory is read.
    crowd.open_some(crowd.desks[:1])
    await crowd.ready(crowd.desks[:1])
    await asyncio.sleep(2.5)
    idle = await _readings(server.pid, seconds=2.5)
    crowd.open_some(crowd.desks[1:], over_seconds=len(crowd.desks) / 100)
    failed = await crowd.ready(timeout=90)
    await asyncio.sleep(2)
    # The steady window: every desk connected, the teacher acting now and then.
    start = time.time()
    cpu_start = cpu_seconds(server.pid)
    connected_rss: list[int] = []  # the process's resident size through the window
    sampling = asyncio.create_task(_readings(server.pid, seconds=WINDOW, into=connected_rss))
    actions: list[tuple[str, float, float, str]] = []
    for at, action, fields, test in ACTIONS:
        await asyncio.sleep(max(0.0, start + at - time.time()))
        mark = ""
        if action == "price":
            value, mark = await in_thread(_hand_price, room.market_id)
            fields = {"symbol": "XBTUSDT", "price": value}
        sent, answered, _ = await in_thread(teacher.conduct, room.code, action, **fields)
        actions.append((test, sent, answered, mark))
    await asyncio.sleep(max(0.0, start + WINDOW - time.time()))
    end = time.time()
    cpu = cpu_seconds(server.pid) - cpu_start
    rss_end = rss_kb(server.pid)
    sampling.cancel()
    await asyncio.sleep(3)  # the window's last ticks reach the screens
    dropped = crowd.dropped()
    await crowd.close()
    log = server.log()
    commits = log.market_commits(room.market_id, start, end)
    connected = [d for d in crowd.desks if not d.error]
    result = delivery([d.arrivals for d in connected], commits)
    in_window = [a for d in connected for a in d.arrivals if start <= a.at <= end]
    delivered_window = len(in_window)
    reached: dict[str, dict[str, Any]] = {}
    for test, sent, answered, mark in actions:
        if not test:
            continue
        seen = [first_after(d.arrivals, sent, test, mark) for d in connected]
        arrived = [ms(at - sent) for at in seen if at is not None]
        reached[test] = {
            "answered_ms": ms(answered - sent),
            "last_ms": max(arrived) if arrived else float("nan"),
            "p50_ms": percentile(arrived, 50),
            "missing": sum(1 for at in seen if at is None),
        }
    draws = [d for d in log.draws if d[0] == room.market_id and start <= d[2] <= end]
    wholes = [w for w in log.wholes if w[0] == room.market_id and start <= w[2] <= end]
    ticks = sorted(
        (t for t in log.ticks if t[0] == room.market_id and start <= t[2] <= end),
        key=lambda t: t[2],
    )
    ledger_ticks = {c.sequence for c in commits if c.ledger}
    ledger_latency = [
        ms(a.at - log.commits[(room.market_id, a.sequence)].at)
        for d in connected
        for a in d.arrivals
        if a.sequence in ledger_ticks and start <= a.at
    ]
    # The longest drawing by the feed around each lost tick (its commit ± one tick).
    lost_draws = {}
    for sequence in sorted(result.lost_by_sequence):
        near = [
            commit.at
            for n in (sequence - 1, sequence + 1)
            if (commit := log.commits.get((room.market_id, n))) is not None
        ]
        if near:
            lost_draws[sequence] = max(
                (ms(d[3]) for d in log.draws if min(near) <= d[2] <= max(near)), default=0.0
            )
    failures = []
    if failed or dropped:
        failures.append(
            f"fan-out: {len(failed)} of {len(crowd.desks)} desks could not connect, "
            f"{len(dropped)} dropped ({sorted({d.error for d in failed + dropped})[:2]})"
        )
    if not result.expected:
        failures.append("fan-out: no tick committed in the steady window")
    if result.lost or result.out_of_order:
        failures.append(
            f"fan-out: {result.worst_lost()} ticks lost, {result.out_of_order} out of order"
        )
    return {
        "learners": len(room.learners),
        "connected": len(connected),
        "rate": 1 / INTERVAL,
        "speed": 60,
        "window_s": end - start,
        "ticks": len(commits),
        "gap_ms": spread([ms(g) for g in gaps(commits)]),
        "ledger_ticks": len(ledger_ticks),
        "tick_rate": tick_rate(commits, start, end),
        "expected": result.expected,
        "delivered": result.delivered,
        "lost": result.lost,
        "lost_ticks": result.lost_by_sequence,
        "lost_draw_ms": lost_draws,
        "out_of_order": result.out_of_order,
        "latency_ms": spread(result.latencies_ms),
        "ledger_latency_ms": spread(ledger_latency),
        "messages_window": delivered_window,
        "bytes_per_update": statistics.mean(a.size for a in in_window) if in_window else 0,
        "sizes": [a.size for a in in_window],
        "cpu_s": cpu,
        "cpu_per_update_ms": ms(cpu) / max(delivered_window, 1),
        **_memory(idle, connected_rss, rss_end, len(connected)),
        "actions": reached,
        "draw_ms": spread([ms(d[3]) for d in draws]),
        "draw_desks": max((d[1] for d in draws), default=0),
        "whole_ms": spread([ms(w[3]) for w in wholes]),
        "whole_desks": sum(w[1] for w in wholes),
        "tick_ms": spread([ms(t[3]) for t in ticks]),
        "start_gap_ms": spread([ms(b[2] - a[2]) for a, b in zip(ticks, ticks[1:], strict=False)]),
        "hooks_missing": log.missing,
        "failures": failures,
    }


RAW_SERVER = """
import asyncio, sys
from websockets.asyncio.server import serve, broadcast
payload = open(sys.argv[2]).read()
clients = set()
async def handler(ws):
    clients.add(ws)
    try:
        await ws.wait_closed()
    finally:
        clients.discard(ws)
async def main():
    async with serve(handler, "127.0.0.1", int(sys.argv[1]), compression=None):
        sequence = 0
        while True:
            await asyncio.sleep(1 / float(sys.argv[3]))
            sequence += 1
            broadcast(clients, payload.replace("__SEQ__", str(sequence)))
asyncio.run(main())
"""


def raw_baseline(work: Path, sizes: list[int], clients: int) -> dict[str, Any]:
    """A bare ``websockets`` server broadcasting a message of the fan-out's mean size to
    as many clients at the same rate; CPU per delivered message over a steady window that
    starts once every client has its first message and ends before any disconnects."""
    from bench.crowd import Learner

    size = int(statistics.mean(sizes)) if sizes else 4000
    head = '<p id="live-status" data-sequence="__SEQ__"></p><i id="balances"></i>'
    payload = work / "payload.html"
    payload.write_text(head + "x" * max(0, size - len(head)))
    port = free_port()
    script = work / "raw_server.py"
    script.write_text(RAW_SERVER)
    server = subprocess.Popen(
        [sys.executable, str(script), str(port), str(payload), str(1 / INTERVAL)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)

        async def measured() -> dict[str, Any]:
            crowd = Crowd([Learner(0, "", "") for _ in range(clients)], [f"127.0.0.1:{port}"])
            for desk in crowd.desks:
                desk.url = f"ws://127.0.0.1:{port}/"
                desk.headers = {}
            crowd.open(over_seconds=clients / 100)
            failed = await crowd.ready(timeout=60)
            await asyncio.sleep(2)
            # (One thread: its CPU to the nanosecond, not in clock ticks of 10 ms.)
            start, cpu_start = time.time(), cpu_seconds_fine(server.pid)
            await asyncio.sleep(WINDOW)
            end, cpu = time.time(), cpu_seconds_fine(server.pid) - cpu_start
            await crowd.close()
            got = sum(1 for d in crowd.desks for a in d.arrivals if start <= a.at <= end)
            return {
                "clients": clients,
                "bytes": size,
                "failed": len(failed),
                "messages": got,
                "cpu_s": cpu,
                "cpu_per_update_ms": ms(cpu) / max(got, 1),
                "window_s": end - start,
            }

        return asyncio.run(measured())
    finally:
        stop(server)


# ---------------------------------------------------------------------------- main

BENCHMARKS = {"crash": crash_benchmark, "bell": bell_benchmark, "fanout": fanout_benchmark}


def main() -> None:
    args = sys.argv[1:]
    learners = LEARNERS
    if "--learners" in args:  # a smaller class, to try the harness quickly
        at = args.index("--learners")
        learners = int(args[at + 1])
        del args[at : at + 2]
    out = None
    if "--json" in args:  # the reports, for bench/report.py's sections
        at = args.index("--json")
        out = Path(args[at + 1])
        del args[at : at + 2]
    names = args or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"usage: python -m bench.classroom [{'|'.join(BENCHMARKS)}] ...")
    from bench.servers import standalone_setup

    work = standalone_setup()
    failures: list[str] = []
    reports = {}
    for name in names:
        print(f"{name} ...", flush=True)
        report = reports[name] = BENCHMARKS[name](work, learners)
        print(json.dumps(report, indent=1, default=str), flush=True)
        failures += report.get("failures", [])
    if out is not None:
        out.write_text(json.dumps(reports, default=str))
    if failures:
        print("\nFAILED:\n- " + "\n- ".join(failures), file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
