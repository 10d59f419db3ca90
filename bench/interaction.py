"""Benchmark 3: the leverage-slider preview and the order post under 20 concurrent users,
against a bare Django view through the same middleware, in the same run."""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

from django.test import Client
from django.urls import reverse

USERS = 20
REQUESTS = 40  # per user and kind


def _learner() -> tuple[Client, int]:
    client = Client(HTTP_HOST="localhost")
    response = client.get("/")
    account = int(response["Location"].split("/")[2])
    return client, account


def _p95(times: list[float]) -> float:
    times = sorted(times)
    return times[max(0, int(len(times) * 0.95) - 1)]


def interaction_benchmark() -> dict[str, Any]:
    learners = [_learner() for _ in range(USERS)]
    results: dict[str, list[float]] = {"preview": [], "order": [], "bare": []}
    lock = threading.Lock()
    start = threading.Barrier(USERS)

    def user(client: Client, account: int) -> None:
        preview = reverse("leverage_preview", kwargs={"account_id": account, "symbol": "XBTUSDT"})
        order = reverse("order_submit", kwargs={"account_id": account, "symbol": "XBTUSDT"})
        mine: dict[str, list[float]] = {"preview": [], "order": [], "bare": []}
        start.wait()
        for i in range(REQUESTS):
            calls = (
                (
                    "preview",
                    client.get,
                    preview,
                    {"stop": str(5 + i % 40), "side": "buy", "qty": "0.1"},
                ),
                ("order", client.post, order, {"side": "buy" if i % 2 else "sell", "qty": "0.001"}),
                ("bare", client.get, "/bench/bare/", {}),
            )
            for kind, method, url, data in calls:
                began = time.perf_counter()
                response = method(url, data, headers={"HX-Request": "true"})
                mine[kind].append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200, (kind, response.status_code)
        with lock:
            for kind, times in mine.items():
                results[kind].extend(times)

    threads = [threading.Thread(target=user, args=learner) for learner in learners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        kind: {"p50_ms": statistics.median(times), "p95_ms": _p95(times), "count": len(times)}
        for kind, times in results.items()
    }
