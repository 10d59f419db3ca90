"""Redis stopped for real in the middle of a class, then started again on the same port:
actions that were saved say so, pages render with a "retrying" notice, the ticker goes on,
and the learner's open desk is told, then catches up and hears the ticks again."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from websockets.sync.client import connect

from .conftest import SEQUENCE, Browser, Cluster

pytestmark = pytest.mark.scale
PASSWORD = "a long teacher password 42"
NOTICE = re.compile(r'<p id="live-connection"[^>]*>')


def notice_shown(html: str) -> bool:
    """Whether the page (or pushed fragment) shows "Live updates are unavailable"."""
    found = NOTICE.search(html)
    assert found, "no live-connection notice in the page"
    return " hidden" not in found.group(0)


def receive_until(socket: Any, seconds: float, wanted: Any) -> list[str]:
    """Messages received until one satisfies ``wanted`` (the last one) or time runs out."""
    seen: list[str] = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        try:
            message = socket.recv(timeout=max(0.1, until - time.monotonic()))
        except TimeoutError:
            break
        seen.append(message)
        if wanted(message):
            return seen
    raise AssertionError(f"not received in {seconds} s; got {[m[:120] for m in seen]}")


def ticks(messages: list[str]) -> list[int]:
    return [int(found.group(1)) for m in messages if (found := SEQUENCE.search(m))]


def room_sequence(cluster: Cluster) -> int:
    return int(cluster.query("select sequence from desk_market where kind = 'room'")[0][0])


def fills_of(cluster: Cluster, account: str) -> int:
    return int(cluster.query("select count(*) from desk_fill where account_id = %s", account)[0][0])


def test_a_redis_outage_saves_actions_tells_the_desk_and_catches_up(cluster: Cluster) -> None:
    web = cluster.start_web("web")
    cluster.start_ticker("ticker")
    cluster.manage(
        "create_teacher", "ms-outage", "--password-from-env", "PW", extra={"PW": PASSWORD}
    )
    teacher = Browser(web)
    teacher.post("/login/", {"username": "ms-outage", "password": PASSWORD})
    url, _ = teacher.post(
        "/rooms/new/",
        {"name": "Outage", "symbols": "XBTUSDT", "usdt": "10000", "max_leverage": "50"},
    )
    room = re.search(r"/rooms/([A-Z0-9]+)/", url).group(1)  # type: ignore[union-attr]
    teacher.post(f"/rooms/{room}/conduct/", {"action": "play"}, page=f"/rooms/{room}/")

    learner = Browser(web)
    desk_url, page = learner.post("/join/", {"code": room, "name": "Ada"}, page=f"/join/{room}/")
    assert not notice_shown(page)  # Redis is there: no notice
    account, symbol = re.search(r"/desk/(\d+)/(\w+)/", desk_url).groups()  # type: ignore[union-attr]
    desk = f"/desk/{account}/{symbol}/"
    with connect(
        f"ws://{web}/ws/desk/{account}/{symbol}/",
        origin=f"http://{web}",  # type: ignore[arg-type]
        additional_headers={"Cookie": learner.cookie_header()},
    ) as socket:
        before = ticks(receive_until(socket, 20, lambda m: len(ticks([m])) and "Tick" in m))
        assert before

        cluster.stop_redis()

        # The open desk is told, over its socket, within a few seconds.
        told = receive_until(socket, 15, lambda m: 'id="live-connection"' in m)
        assert notice_shown(told[-1])

        # An order: saved, and the answer says it was done (not a 500).
        fills = fills_of(cluster, account)
        landed, page = learner.post(f"{desk}order/", {"side": "buy", "qty": "0.01"}, page=desk)
        assert landed.endswith(desk)
        assert "Bought 0.01 XBTUSDT at" in page
        assert fills_of(cluster, account) == fills + 1

        # The desk page and joining a room render, with the notice.
        _, page = learner.get(desk)
        assert notice_shown(page)
        other = Browser(web)
        joined, page = other.post("/join/", {"code": room, "name": "Bo"}, page=f"/join/{room}/")
        assert re.search(r"/desk/\d+/XBTUSDT/$", joined), joined
        assert notice_shown(page)

        # The ticker goes on ticking (in the database) while nothing can be pushed.
        during = room_sequence(cluster)
        deadline = time.monotonic() + 15
        while room_sequence(cluster) < during + 3 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert room_sequence(cluster) >= during + 3

        cluster.start_redis()

        # The open desk catches up (a snapshot, the notice hidden), then hears ticks again.
        back = receive_until(
            socket, 20, lambda m: 'id="live-connection"' in m and not notice_shown(m)
        )
        caught_up = ticks(back)
        assert caught_up and caught_up[-1] > before[-1] + 3, caught_up
        later = ticks(receive_until(socket, 15, lambda m: len(ticks([m])) and "Tick" in m))
        more = ticks(receive_until(socket, 15, lambda m: len(ticks([m])) and "Tick" in m))
        assert caught_up[-1] <= later[-1] < more[-1], (caught_up, later, more)

    # A desk opened after the outage hears the ticks from the start, notice hidden.
    _, page = other.get(joined.split(web, 1)[1])
    assert not notice_shown(page)
    bo, bo_symbol = re.search(r"/desk/(\d+)/(\w+)/", joined).groups()  # type: ignore[union-attr]
    with connect(
        f"ws://{web}/ws/desk/{bo}/{bo_symbol}/",
        origin=f"http://{web}",  # type: ignore[arg-type]
        additional_headers={"Cookie": other.cookie_header()},
    ) as socket:
        first = ticks(receive_until(socket, 10, lambda m: len(ticks([m])) > 0))
        second = ticks(receive_until(socket, 10, lambda m: len(ticks([m])) > 0))
        assert first[-1] < second[-1]

    assert cluster.processes["ticker"].poll() is None  # never stopped
    assert cluster.processes["web"].poll() is None
