"""Several processes on PostgreSQL and Redis: ticks made by a ticker process reach a
learner on one web process; a teacher's action on another web process reaches the same
learner; killing the ticker hands its markets to another, with no tick lost or repeated."""

from __future__ import annotations

import re
import time

import pytest
from websockets.sync.client import connect

from .conftest import SEQUENCE, Browser, Cluster

pytestmark = pytest.mark.scale
PASSWORD = "a long teacher password 42"


def sequences(socket: object, until: float, want: int) -> list[int]:
    """Tick numbers of the pushes received, until ``want`` of them or the deadline."""
    seen: list[int] = []
    while len(seen) < want and time.monotonic() < until:
        try:
            message = socket.recv(timeout=max(0.1, until - time.monotonic()))  # type: ignore[attr-defined]
        except TimeoutError:
            break
        found = SEQUENCE.search(message)
        if found:
            seen.append(int(found.group(1)))
    return seen


def test_ticks_actions_and_failover_across_processes(cluster: Cluster) -> None:
    web_a = cluster.start_web("web-a")
    web_b = cluster.start_web("web-b")
    cluster.start_ticker("ticker-1")
    cluster.start_ticker("ticker-2")
    cluster.manage(
        "create_teacher", "ms-ticks", "--password-from-env", "PW", extra={"PW": PASSWORD}
    )

    # The teacher works on process B: logs in, creates a room.
    teacher = Browser(web_b)
    teacher.post("/login/", {"username": "ms-ticks", "password": PASSWORD})
    url, page = teacher.post(
        "/rooms/new/",
        {
            "name": "Scale",
            "symbols": "XBTUSDT",
            "usdt": "10000",
            "max_leverage": "50",
            "funding": "on",
            "leaderboard": "on",
        },
    )
    code = re.search(r"/rooms/([A-Z0-9]+)/", url)
    assert code, url
    room = code.group(1)

    # The learner joins on process A and watches their desk over a websocket on A.
    learner = Browser(web_a)
    desk_url, _ = learner.post("/join/", {"code": room, "name": "Ada"}, page=f"/join/{room}/")
    account, symbol = re.search(r"/desk/(\d+)/(\w+)/", desk_url).groups()  # type: ignore[union-attr]
    with connect(
        f"ws://{web_a}/ws/desk/{account}/{symbol}/",
        origin=f"http://{web_a}",  # type: ignore[arg-type]
        additional_headers={"Cookie": learner.cookie_header()},
    ) as socket:
        snapshot = socket.recv(timeout=10)
        assert 'id="balances"' in snapshot

        # Play, on B: the ticker process ticks the room; A pushes each tick to the learner.
        teacher.post(f"/rooms/{room}/conduct/", {"action": "play"}, page=f"/rooms/{room}/")
        first = sequences(socket, time.monotonic() + 20, 4)
        assert len(first) >= 4, first
        assert first == list(range(first[0], first[0] + len(first))), first

        # A teacher action on B reaches the learner on A at once.
        teacher.post(f"/rooms/{room}/conduct/", {"action": "close"}, page=f"/rooms/{room}/")
        deadline = time.monotonic() + 10
        closed = False
        while time.monotonic() < deadline and not closed:
            closed = "trading closed" in socket.recv(timeout=10)
        assert closed

        # Kill the ticker holding the room's lease: the other takes the market over.
        (owner,) = cluster.query("select lease_owner from desk_market where kind = 'room'")[0]
        holder = next(
            name
            for name, process in cluster.processes.items()
            if name.startswith("ticker") and f":{process.pid}:" in owner
        )
        cluster.kill(holder)
        after = sequences(socket, time.monotonic() + 20, 6)
        assert len(after) >= 3, after
        new_owner = cluster.query("select lease_owner from desk_market where kind = 'room'")[0][0]
        assert new_owner != owner

    # Every tick exists exactly once in the database, with none missing.
    ticks = [
        row[0]
        for row in cluster.query(
            "select t.sequence from live_marktick t join desk_market m on m.id = t.market_id "
            "where m.kind = 'room' order by t.sequence"
        )
    ]
    assert ticks == list(range(1, len(ticks) + 1))
    (sequence,) = cluster.query("select sequence from desk_market where kind = 'room'")[0]
    assert sequence == len(ticks)
