"""Benchmarks 2 and 4: 300 learners on one daphne process at 2 ticks a second, against a
raw ``websockets.broadcast`` server sending the same bytes to the same clients."""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from bench.servers import free_port, start_daphne, wait_for_port
from sandbox import engine
from sandbox.desk import services
from sandbox.desk.accounts import COOKIE, _signer
from sandbox.desk.models import Market, MarkPrice
from sandbox.live.models import MarkTick

LEARNERS = 300
RATE = 2  # ticks a second
SECONDS = 15
SEQUENCE = re.compile(r'id="live-status"[^>]*data-sequence="(\d+)"')

CLOCK = os.sysconf("SC_CLK_TCK")

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


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _clients(urls: list[tuple[str, dict[str, str]]], seconds: float, origin: str) -> Any:
    """Connect every client, then record (client, sequence, arrival) for ``seconds``."""
    received: list[tuple[int, int, float]] = []
    sizes: list[int] = []
    ready = asyncio.Event()
    stop = asyncio.Event()

    async def one(index: int, url: str, headers: dict[str, str]) -> None:
        async with connect(
            url,
            origin=origin,
            additional_headers=headers,
            max_size=None,
            compression=None,
            open_timeout=60,
        ) as ws:  # type: ignore[arg-type]
            while not stop.is_set():
                try:
                    message = await asyncio.wait_for(ws.recv(), timeout=1)
                except TimeoutError:
                    continue
                if ready.is_set():
                    found = SEQUENCE.search(str(message))
                    if found:
                        received.append((index, int(found.group(1)), time.time()))
                        sizes.append(len(message))

    tasks = [asyncio.create_task(one(i, u, h)) for i, (u, h) in enumerate(urls)]
    await asyncio.sleep(min(20, 2 + len(urls) / 50))  # let every client connect
    ready.set()
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return received, sizes


def fanout_benchmark(work: Path) -> dict[str, Any]:
    market = Market.objects.create(
        name="bench fan-out", kind=Market.Kind.ROOM, running=False, tick_seconds=Decimal(1) / RATE
    )
    MarkPrice.objects.create(market=market, instrument_id="XBTUSDT", price=Decimal(60000))
    learners = []
    for _ in range(LEARNERS):
        account = services.account_create(market=market)
        services.order_place(
            account=account, symbol="XBTUSDT", side=engine.Side.BUY, qty=Decimal("0.05")
        )
        learners.append(account)
    port = free_port()
    log = (work / "daphne-bench.log").open("w")
    env = {**os.environ, "SANDBOX_TICKER": "embedded"}
    server = start_daphne(port, "sandbox.asgi:application", env, log)
    try:
        wait_for_port(port)
        Market.objects.filter(pk=market.pk).update(running=True)
        urls = [
            (
                f"ws://127.0.0.1:{port}/ws/desk/{a.pk}/XBTUSDT/",
                {"Cookie": f"{COOKIE}={_signer().sign(a.browser_key)}"},
            )
            for a in learners
        ]
        origin = f"http://127.0.0.1:{port}"
        cpu_start = [0.0]
        rss = [0, 0]

        async def measured() -> Any:
            # The first learner comes alone and watches a few ticks, so that what the
            # process sets up once (code, templates, the market's feed) is in place before
            # memory is measured; the other learners then connect, and the figures are theirs.
            first = asyncio.create_task(_clients(urls[:1], SECONDS + 60, origin))
            await asyncio.sleep(5)
            rss[0] = _rss_kb(server.pid)
            task = asyncio.create_task(_clients(urls[1:], SECONDS, origin))
            await asyncio.sleep(min(20, 2 + len(urls) / 50))
            cpu_start[0] = _cpu_seconds(server.pid)
            result = await task
            rss[1] = _rss_kb(server.pid)
            first.cancel()
            return result

        received, sizes = asyncio.run(measured())
        cpu = _cpu_seconds(server.pid) - cpu_start[0]
        rss_before, rss_after = rss
    finally:
        server.terminate()
        server.wait(timeout=20)
        Market.objects.filter(pk=market.pk).update(running=False)
    commits = {
        row.sequence: row.created_at.timestamp()
        for row in MarkTick.objects.filter(market=market, symbol="XBTUSDT")
    }
    latencies = sorted(
        (arrival - commits[seq]) * 1000 for _, seq, arrival in received if seq in commits
    )
    per_client: dict[int, list[int]] = {}
    for index, seq, _ in received:
        per_client.setdefault(index, []).append(seq)
    disorder = sum(
        sum(1 for a, b in zip(seqs, seqs[1:], strict=False) if b != a + 1)
        for seqs in per_client.values()
    )
    delivered = len(received)
    raw = _raw_baseline(work, sizes, len(urls))
    cpu_per = cpu * 1000 / max(delivered, 1)
    return {
        "learners": LEARNERS,
        "rate": RATE,
        "seconds": SECONDS,
        "delivered": delivered,
        # Every client should have every tick that any client received in the window.
        "expected": (LEARNERS - 1) * len({seq for _, seq, _ in received}),
        "bytes_per_update": statistics.mean(sizes) if sizes else 0,
        "disorder": disorder,
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan"),
        "cpu_per_update_ms": cpu_per,
        "raw_cpu_per_update_ms": raw,
        "cpu_ratio": cpu_per / raw if raw else float("nan"),
        "kb_per_learner": (rss_after - rss_before) / (LEARNERS - 1),
    }


def _raw_baseline(work: Path, sizes: list[int], clients: int) -> float:
    """CPU per delivered message of a bare websockets server broadcasting the same size."""
    size = int(statistics.mean(sizes)) if sizes else 4000
    payload = work / "payload.html"
    payload.write_text('<p id="live-status" data-sequence="__SEQ__"></p>' + "x" * size)
    port = free_port()
    script = work / "raw_server.py"
    script.write_text(RAW_SERVER)
    server = subprocess.Popen(
        [sys.executable, str(script), str(port), str(payload), str(RATE)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        urls = [(f"ws://127.0.0.1:{port}/", {}) for _ in range(clients)]
        start = [0.0]

        async def measured() -> Any:
            task = asyncio.create_task(_clients(urls, SECONDS, f"http://127.0.0.1:{port}"))
            await asyncio.sleep(min(20, 2 + len(urls) / 50))
            start[0] = _cpu_seconds(server.pid)
            return await task

        received, _ = asyncio.run(measured())
        cpu = _cpu_seconds(server.pid) - start[0]
    finally:
        server.terminate()
        server.wait(timeout=20)
    return cpu * 1000 / max(len(received), 1)
