"""A class of learners as the server sees it: a room built through the services, a
teacher's browser, and many desk websockets opened with their own cookies.

Shared by the classroom benchmarks (bench.classroom) and the scale-out run
(bench.scaleout). The pure parts (what a message says, percentiles, sequences) are in
:mod:`bench.measure`.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import os
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench.measure import Arrival, parse

CLOCK = os.sysconf("SC_CLK_TCK")
TEACHER = "bench-teacher"
PASSWORD = "a long bench teacher password 42"


# ------------------------------------------------------------------------ the room


@dataclass
class Learner:
    account_id: int
    symbol: str
    cookie: str  # the Cookie header of the learner's browser


@dataclass
class Classroom:
    room_id: int
    code: str
    market_id: int
    learners: list[Learner]


def teacher_create() -> None:
    """The benchmark's teacher (once per database)."""
    from django.contrib.auth.models import User

    from sandbox.desk.roles import make_teacher

    user = User.objects.filter(username=TEACHER).first()
    if user is None:
        user = User.objects.create_user(TEACHER, password=PASSWORD)
    make_teacher(user)


def room_build(
    learners: int,
    *,
    name: str,
    leverage: Decimal,
    isolated: bool = True,
    qty: Decimal = Decimal("0.05"),
    speed: int = 1,
    tick_seconds: Decimal = Decimal("0.5"),
    mixed: bool = False,
) -> Classroom:
    """A room (leaderboard on, funding on, XBTUSDT) whose ``learners`` joined by name and
    each opened a long position through the services, as the desk does. ``mixed``: the
    learners' leverage spreads from 2x to ``leverage`` and a third use cross margin."""
    from django.contrib.auth.models import User

    from sandbox import engine
    from sandbox.classroom import services as room_services
    from sandbox.desk import services as desk_services
    from sandbox.desk.accounts import _signer, room_cookie
    from sandbox.desk.models import Market

    teacher_create()
    room = room_services.room_create(
        teacher=User.objects.get(username=TEACHER),
        name=name,
        symbols=["XBTUSDT"],
        balances={"USDT": Decimal(10000)},
        max_leverage=Decimal(100),
        fees=True,
        funding=True,
        leaderboard=True,
    )
    Market.objects.filter(pk=room.market_id).update(speed=speed, tick_seconds=tick_seconds)
    made: list[Learner] = []
    for number in range(learners):
        member = room_services.room_join(room=room, display_name=f"Learner {number:04d}")
        cross = mixed and number % 3 == 2
        lever = Decimal(2 + number % int(leverage - 1)) if mixed else leverage
        mode = engine.MarginMode.CROSS if cross else engine.MarginMode.ISOLATED
        side = engine.Side.SELL if mixed and number % 2 else engine.Side.BUY
        desk_services.order_place(
            account=member.account,
            symbol="XBTUSDT",
            side=side,
            qty=qty,
            setting=engine.MarginSetting(mode, lever),
        )
        signed = _signer().sign(member.account.browser_key)
        made.append(Learner(member.account_id, "XBTUSDT", f"{room_cookie(room.pk)}={signed}"))
    return Classroom(room.pk, room.code, room.market_id, made)


def rooms_pause(*rooms: Classroom) -> None:
    """Stop the rooms' markets, so a benchmark run after this one does not tick them."""
    from sandbox.desk.models import Market

    Market.objects.filter(pk__in=[room.market_id for room in rooms]).update(running=False)


# ------------------------------------------------------------------- the processes


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK


def cpu_seconds_fine(pid: int) -> float:
    """CPU time of a process's live threads, to the nanosecond (schedstat): for a
    single-threaded process whose few clock ticks ``cpu_seconds`` would round."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[0])
        except (OSError, ValueError, IndexError):  # a thread that just ended
            continue
    return total / 1e9


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def quiet(pids: list[int], timeout: float = 60.0) -> float:
    """Wait until the processes use under a quarter of a core over a second (the work a
    burst left queued is done; the markets' own ticks go on); the seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        before = sum(cpu_seconds(pid) for pid in pids)
        await asyncio.sleep(1.0)
        if sum(cpu_seconds(pid) for pid in pids) - before < 0.25:
            break
    return time.monotonic() - began


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


# ---------------------------------------------------------------------- the teacher


class Teacher:
    """The teacher's browser: logged in, conducting the room as its panel does (htmx)."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self._get("/login/")
        self._post("/login/", {"username": TEACHER, "password": PASSWORD})
        if not any(cookie.name == "sessionid" for cookie in self.jar):
            raise RuntimeError(f"the benchmark's teacher could not log in on {host}")

    def _get(self, path: str) -> str:
        with self.opener.open(f"http://{self.host}{path}", timeout=30) as response:
            return str(response.read().decode())

    def _csrf(self) -> str:
        for cookie in self.jar:
            if cookie.name == "csrftoken":
                return str(cookie.value)
        raise RuntimeError("no CSRF cookie")

    def _post(self, path: str, data: dict[str, str], htmx: bool = False) -> str:
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": self._csrf()}).encode()
        headers = {"HX-Request": "true"} if htmx else {}
        request = urllib.request.Request(f"http://{self.host}{path}", data=body, headers=headers)
        with self.opener.open(request, timeout=30) as response:
            return str(response.read().decode())

    def conduct(self, code: str, action: str, **fields: str) -> tuple[float, float, str]:
        """(sent, answered, answer) of one conductor action, wall-clock seconds."""
        sent = time.time()
        answer = self._post(f"/rooms/{code}/conduct/", {"action": action, **fields}, htmx=True)
        return sent, time.time(), answer


# ---------------------------------------------------------------------- the sockets


@dataclass
class Desk:
    """One learner's desk socket and what it received."""

    index: int
    url: str
    headers: dict[str, str]
    origin: str
    started: float = 0.0
    opened: float = 0.0  # the handshake answered
    snapshot: float = 0.0  # the first whole desk arrived
    error: str = ""
    error_at: float = 0.0
    arrivals: list[Arrival] = field(default_factory=list)
    socket: ClientConnection | None = None

    async def run(self, delay: float, keep: asyncio.Event) -> None:
        await asyncio.sleep(delay)
        self.started = time.time()
        try:
            async with connect(
                self.url,
                origin=self.origin,  # type: ignore[arg-type]
                additional_headers=self.headers,
                max_size=None,
                compression=None,
                open_timeout=30,
                ping_interval=None,
            ) as socket:
                self.opened = time.time()
                self.socket = socket
                async for message in socket:
                    now = time.time()
                    arrival = parse(str(message), now)
                    self.arrivals.append(arrival)
                    if not self.snapshot and arrival.whole:
                        self.snapshot = now
                    if not keep.is_set():
                        break
                if keep.is_set():
                    raise ConnectionError("the server closed the socket")
        except Exception as error:  # counted and reported: a failed handshake or a drop
            if not self.error and keep.is_set():
                self.error = f"{type(error).__name__}: {error}"[:200]
                self.error_at = time.time()
        finally:
            self.socket = None


class Crowd:
    """Many desks on a server (or spread over several), opened at a chosen pace."""

    def __init__(self, learners: list[Learner], hosts: list[str]) -> None:
        self.desks = [
            Desk(
                i,
                f"ws://{hosts[i % len(hosts)]}/ws/desk/{learner.account_id}/{learner.symbol}/",
                {"Cookie": learner.cookie},
                f"http://{hosts[i % len(hosts)]}",
            )
            for i, learner in enumerate(learners)
        ]
        self.keep = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    def open(self, over_seconds: float = 0.0, *, first: int = 0) -> None:
        """Start opening desks ``first``.. spread evenly over ``over_seconds``."""
        self.keep.set()
        chosen = self.desks[first:]
        step = over_seconds / len(chosen) if chosen else 0.0
        for n, desk in enumerate(chosen):
            self.tasks.append(asyncio.create_task(desk.run(n * step, self.keep)))

    def open_some(self, desks: list[Desk], over_seconds: float = 0.0) -> None:
        self.keep.set()
        step = over_seconds / len(desks) if desks else 0.0
        for n, desk in enumerate(desks):
            self.tasks.append(asyncio.create_task(desk.run(n * step, self.keep)))

    async def ready(self, desks: list[Desk] | None = None, timeout: float = 90.0) -> list[Desk]:
        """Wait until every desk shows its first snapshot or has failed; the failures."""
        chosen = self.desks if desks is None else desks
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(d.snapshot or d.error for d in chosen):
                break
            await asyncio.sleep(0.05)
        for desk in chosen:
            if not desk.snapshot and not desk.error:
                desk.error = f"no snapshot within {timeout:.0f} s"
        return [d for d in chosen if d.error]

    async def close(self) -> None:
        self.keep.clear()
        sockets = [d.socket for d in self.desks if d.socket is not None]
        await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def dropped(self) -> list[Desk]:
        """Desks that opened and then lost their socket while they should have kept it."""
        return [d for d in self.desks if d.opened and d.error]


async def in_thread(function: Any, *args: Any, **kwargs: Any) -> Any:
    """A blocking call (the teacher's HTTP) without stopping the sockets' event loop."""
    return await asyncio.to_thread(function, *args, **kwargs)
