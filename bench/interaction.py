"""Benchmark 5: the leverage-slider preview and the order post with 20 learners working at
once while their practice markets tick and push, against a bare Django view served by the
same servers, in the same run.

The server is ``make run``'s: one daphne process with its embedded ticker (and the
benchmark's bare view added). Each learner is a thread with its own connection and paper
account, doing what a learner at the desk does: drag the slider across a few stops (the
desk asks for a preview after the slider rests 250 ms), place an order, and think for a
second before the next round. Server time is
what each response's ``Server-Timing`` header reports: ``total``, from the request reaching
Django to its response being ready, the hand-over to the request's worker thread included
(``app`` is the same without that wait). The round trip, measured by the learner, adds
the network and daphne.

The markets are live: every learner has their desk open over a websocket, so each
learner's practice market ticks once a second and its desk is pushed every tick while the
requests are timed. The report counts the ticks committed and the pushes received in the window.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import statistics
import threading
import time
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench import crowd
from bench.hooks import read
from bench.measure import server_log
from bench.servers import free_port, start_daphne, wait_for_port

USERS = 20
SECONDS = 20
# One daphne process, with its embedded ticker: the deployment of `make run`. (Two
# processes need Redis to carry a tick from the process that ticks a market to the one
# that serves its desk: bench.scaleout measures that profile.)
PROCESSES = 1
DRAG_STOPS = 4  # previews per drag
REST = 0.25  # seconds the slider rests on a stop (the desk's debounce)
THINK = 1.0  # seconds between rounds


class Learner:
    """One browser: a keep-alive connection, its cookies, and its paper account."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies: dict[str, str] = {}
        location = self.request("GET", "/")[1]
        self.account = int(location.split("/")[2])
        self.request("GET", location)  # the desk page sets the CSRF cookie

    def request(
        self, method: str, path: str, data: dict[str, str] | None = None, htmx: bool = False
    ) -> tuple[dict[str, float], str, float]:
        """(Server-Timing metrics in ms, Location header, round-trip ms)."""
        body = urlencode(data or {})
        headers = {"Host": f"127.0.0.1:{self.port}", "Cookie": self._cookie_header()}
        if method == "GET" and body:
            path, body = f"{path}?{body}", ""
        if method == "POST":
            headers.update(
                {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-CSRFToken": self.cookies.get("csrftoken", ""),
                    "Origin": f"http://127.0.0.1:{self.port}",
                }
            )
        if htmx:
            headers["HX-Request"] = "true"
        began = time.perf_counter()
        self.connection.request(method, path, body=body or None, headers=headers)
        response = self.connection.getresponse()
        response.read()
        round_trip = (time.perf_counter() - began) * 1000
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: {response.status}")
        for value in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(value).items():
                self.cookies[name] = morsel.value
        timings = {}
        for metric in response.headers.get("Server-Timing", "").split(","):
            name, _, duration = metric.strip().partition(";dur=")
            timings[name] = float(duration)
        return timings, response.headers.get("Location", ""), round_trip

    def _cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())


class Desks(threading.Thread):
    """The learners' desks open over websockets (each on its learner's process) for as
    long as the benchmark runs, in an event loop of their own; what they received."""

    def __init__(self, learners: list[Learner]) -> None:
        super().__init__(daemon=True)
        self.crowd = crowd.Crowd(
            [crowd.Learner(x.account, "XBTUSDT", x._cookie_header()) for x in learners],
            [f"127.0.0.1:{x.port}" for x in learners[:PROCESSES]],
        )
        self.opened = threading.Event()
        self.finish = threading.Event()
        self.failed: list[str] = []

    def run(self) -> None:
        asyncio.run(self._watch())

    async def _watch(self) -> None:
        self.crowd.open()
        self.failed = [d.error for d in await self.crowd.ready(timeout=60)]
        self.opened.set()
        while not self.finish.is_set():
            await asyncio.sleep(0.1)
        self.failed += [d.error for d in self.crowd.dropped()]
        await self.crowd.close()

    def pushes(self, start: float, end: float) -> int:
        return sum(1 for d in self.crowd.desks for a in d.arrivals if start <= a.at <= end)


def _percentiles(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "p50_ms": statistics.median(ordered),
        "p95_ms": ordered[max(0, int(len(ordered) * 0.95) - 1)],
        "count": len(ordered),
    }


def interaction_benchmark(work: Path) -> dict[str, Any]:
    ports = [free_port() for _ in range(PROCESSES)]
    logs = [work / f"hooks-interaction-{n}.log" for n in range(PROCESSES)]
    log = (work / "daphne-interaction.log").open("w")
    servers = []
    for port, hooks in zip(ports, logs, strict=True):
        hooks.unlink(missing_ok=True)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "SANDBOX_TICKER": "embedded",
            "SANDBOX_BENCH_LOG": str(hooks),
        }
        servers.append(start_daphne(port, "bench.asgi:app", env, log))
    kinds = ("preview", "order", "bare")
    server_ms: dict[str, list[float]] = {kind: [] for kind in kinds}
    app_ms: dict[str, list[float]] = {kind: [] for kind in kinds}
    trip_ms: dict[str, list[float]] = {kind: [] for kind in kinds}
    lock = threading.Lock()
    try:
        for port in ports:
            wait_for_port(port)
        learners = [Learner(ports[i % PROCESSES]) for i in range(USERS)]
        desks = Desks(learners)
        desks.start()
        if not desks.opened.wait(timeout=120):
            desks.failed.append("the desks' sockets did not open within 120 s")
        time.sleep(3)  # every learner's market is ticking
        alone = _alone(learners[0])
        start = threading.Barrier(USERS)
        deadline = [0.0]

        def work_at_desk(learner: Learner, index: int) -> None:
            base = f"/desk/{learner.account}/XBTUSDT"
            mine: list[tuple[str, dict[str, float], float]] = []
            start.wait()
            time.sleep(index * (THINK / USERS))  # learners do not act in step
            round_number = 0
            while time.monotonic() < deadline[0]:
                round_number += 1
                for step in range(DRAG_STOPS):
                    stop = str(1 + (round_number * DRAG_STOPS + step) % 50)
                    data = {"stop": stop, "side": "buy", "qty": "0.1"}
                    timings, _, trip = learner.request(
                        "GET", f"{base}/leverage/preview/", data, htmx=True
                    )
                    mine.append(("preview", timings, trip))
                    time.sleep(REST)
                side = "buy" if round_number % 2 else "sell"
                data = {"side": side, "qty": "0.001"}
                timings, _, trip = learner.request("POST", f"{base}/order/", data, htmx=True)
                mine.append(("order", timings, trip))
                timings, _, trip = learner.request("GET", "/bench/bare/")
                mine.append(("bare", timings, trip))
                time.sleep(THINK)
            with lock:
                for kind, timings, trip in mine:
                    server_ms[kind].append(timings["total"])
                    app_ms[kind].append(timings["app"])
                    trip_ms[kind].append(trip)

        threads = [
            threading.Thread(target=work_at_desk, args=(learner, i))
            for i, learner in enumerate(learners)
        ]
        deadline[0] = time.monotonic() + SECONDS
        window_start = time.time()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        window_end = time.time()
        desks.finish.set()
        desks.join(timeout=60)
    finally:
        for server in servers:
            crowd.stop(server)
    commits = [
        c
        for hooks in logs
        for c in server_log(read(hooks)).commits.values()
        if window_start <= c.at <= window_end
    ]
    markets = {c.market for c in commits}
    seconds = window_end - window_start
    report: dict[str, Any] = {
        kind: {
            "server": _percentiles(server_ms[kind]),
            "app": _percentiles(app_ms[kind]),
            "round_trip": _percentiles(trip_ms[kind]),
            "per_second": len(server_ms[kind]) / SECONDS,
        }
        for kind in kinds
    }
    report["processes"] = PROCESSES
    report["alone"] = alone
    report["live"] = {
        "window_s": seconds,
        "markets": len(markets),
        "ticks_per_second": len(commits) / seconds,
        "ticks_per_market_second": len(commits) / seconds / max(len(markets), 1),
        "pushes_per_second": desks.pushes(window_start, window_end) / seconds,
        "failed": desks.failed,
    }
    report["statements_per_order"] = _statements_per_order()
    return report


def _statements_per_order() -> int:
    """The SQL statements of one order post (in this process, through Django's stack)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="localhost")
    account = int(client.get("/")["Location"].split("/")[2])
    path = f"/desk/{account}/XBTUSDT/order/"
    client.post(path, {"side": "buy", "qty": "0.001"}, headers={"HX-Request": "true"})
    with CaptureQueriesContext(connection) as statements:
        client.post(path, {"side": "buy", "qty": "0.001"}, headers={"HX-Request": "true"})
    return len(statements.captured_queries)


def _alone(learner: Learner, rounds: int = 40) -> dict[str, dict[str, float]]:
    """The same requests from one learner with no one else on the server, back to back:
    what each costs without waiting for others (server time, p50 and p95)."""
    base = f"/desk/{learner.account}/XBTUSDT"
    times: dict[str, list[float]] = {"preview": [], "order": [], "bare": []}
    for i in range(rounds):
        data = {"stop": str(1 + i % 50), "side": "buy", "qty": "0.1"}
        timings, _, _ = learner.request("GET", f"{base}/leverage/preview/", data, htmx=True)
        times["preview"].append(timings["total"])
        data = {"side": "buy" if i % 2 else "sell", "qty": "0.001"}
        timings, _, _ = learner.request("POST", f"{base}/order/", data, htmx=True)
        times["order"].append(timings["total"])
        timings, _, _ = learner.request("GET", "/bench/bare/")
        times["bare"].append(timings["total"])
    return {kind: _percentiles(values) for kind, values in times.items()}


def main() -> None:
    """``python -m bench.interaction``: this benchmark alone, on a fresh work folder, its
    report printed as JSON; fails when a desk's socket could not open or dropped."""
    import json

    from bench.servers import standalone_setup

    report = interaction_benchmark(standalone_setup())
    print(json.dumps(report, indent=1, default=str), flush=True)
    if report["live"]["failed"]:
        raise SystemExit(f"desk under a live market: {report['live']['failed']}")


if __name__ == "__main__":
    main()
