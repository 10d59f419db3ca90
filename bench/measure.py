"""The pure parts of the classroom benchmarks: what a pushed message says, percentiles,
tick logs and per-client sequence checks. No Django, no sockets (tested in tests/bench)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

SEQUENCE = re.compile(r'id="live-status"[^>]*data-sequence="(\d+)"')
NOTICE = re.compile(r'id="liquidation-\d+"')
MARK = re.compile(r'id="mark-price"[^>]*>([^<]*)<')
HAND = re.compile(r"Mark set by hand to ([^<]*?) after tick")


@dataclass(frozen=True)
class Arrival:
    """One message a desk received: when, how big, and what it shows."""

    at: float
    size: int
    sequence: int | None  # the tick its status line shows, if it has one
    whole: bool  # whole sections (a snapshot, the account's own news): balances drawn
    notice: bool  # a liquidation notice
    closed: bool  # says trading is closed
    opened: bool  # says trading is open (the room panel)
    panel: bool  # the room panel
    board: bool  # the room panel's leaderboard
    mark: str | None  # the mark price as shown
    hands: tuple[str, ...] = ()  # marks set by hand, as the chart's description names them


def parse(text: str, at: float) -> Arrival:
    found = SEQUENCE.search(text)
    mark = MARK.search(text)
    return Arrival(
        at=at,
        size=len(text.encode()),
        sequence=int(found.group(1)) if found else None,
        whole='id="balances"' in text,
        notice=NOTICE.search(text) is not None,
        closed="trading closed" in text or "Trading is closed" in text,
        opened="Trading is open." in text,
        panel='id="room-panel"' in text,
        board='class="leaderboard"' in text,
        mark=mark.group(1).strip() if mark else None,
        hands=tuple(HAND.findall(text)),
    )


def percentile(values: Iterable[float], p: float) -> float:
    """The nearest-rank percentile (p from 0 to 100); NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Commit:
    market: int
    sequence: int
    at: float
    liquidated: int
    ledger: bool  # a realisation or funding tick


@dataclass
class ServerLog:
    """What a server's hooks (bench.hooks) wrote."""

    commits: dict[tuple[int, int], Commit] = field(default_factory=dict)
    # (market, sequence, began, seconds) of each tick applied
    ticks: list[tuple[int, int, float, float]] = field(default_factory=list)
    # (market, sequence, seconds) of handing each tick to the channel layer
    pushes: list[tuple[int, int, float]] = field(default_factory=list)
    # (market, desks, began, seconds) of each feed pass: a tick's pushes, desks drawn whole
    draws: list[tuple[int, int, float, float]] = field(default_factory=list)
    wholes: list[tuple[int, int, float, float]] = field(default_factory=list)
    # (began, seconds) of each desk drawn alone by its own socket
    renders: list[tuple[float, float]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def market_commits(
        self, market: int, start: float = -math.inf, end: float = math.inf
    ) -> list[Commit]:
        return sorted(
            (c for c in self.commits.values() if c.market == market and start <= c.at <= end),
            key=lambda c: c.sequence,
        )


def server_log(rows: Iterable[Sequence[str]]) -> ServerLog:
    log = ServerLog()
    for row in rows:
        kind = row[0]
        if kind == "commit":
            commit = Commit(int(row[1]), int(row[2]), float(row[3]), int(row[4]), row[5] == "1")
            log.commits[(commit.market, commit.sequence)] = commit
        elif kind == "tick" and int(row[2]) >= 0:
            log.ticks.append((int(row[1]), int(row[2]), float(row[3]), float(row[4])))
        elif kind == "pushed":
            log.pushes.append((int(row[1]), int(row[2]), float(row[4])))
        elif kind == "draw":
            log.draws.append((int(row[1]), int(row[2]), float(row[3]), float(row[4])))
        elif kind == "whole":
            log.wholes.append((int(row[1]), int(row[2]), float(row[3]), float(row[4])))
        elif kind == "render":
            log.renders.append((float(row[3]), float(row[4])))
        elif kind == "missing":
            log.missing.append(row[1])
    return log


def tick_rate(commits: Sequence[Commit], start: float, end: float) -> float:
    """Ticks committed a second over [start, end]."""
    inside = [c for c in commits if start <= c.at <= end]
    return len(inside) / (end - start) if end > start else math.nan


@dataclass
class Delivery:
    """Ticks to clients: who saw which, how late, in what order."""

    expected: int = 0  # clients × ticks committed in the window
    delivered: int = 0  # of those, (client, tick) pairs that arrived
    lost: int = 0  # expected pairs that never arrived
    clients_losing: int = 0
    out_of_order: int = 0  # messages showing an older tick than one already shown
    latencies_ms: list[float] = field(default_factory=list)  # commit → first arrival
    lost_by_sequence: dict[int, int] = field(default_factory=dict)  # tick → clients without

    def worst_lost(self) -> str:
        ticks = ", ".join(
            f"tick {sequence} at {clients}"
            for sequence, clients in sorted(self.lost_by_sequence.items())[:5]
        )
        more = " …" if len(self.lost_by_sequence) > 5 else ""
        return (
            f"{self.lost} of {self.expected} ({self.clients_losing} clients"
            + (f"; {ticks}{more}" if ticks else "")
            + ")"
        )


def delivery(clients: Sequence[Sequence[Arrival]], commits: Sequence[Commit]) -> Delivery:
    """For the ticks ``commits`` (one market's, in a window), what each client received."""
    result = Delivery()
    wanted = {c.sequence: c.at for c in commits}
    for arrivals in clients:
        first: dict[int, float] = {}
        highest = -1
        for arrival in arrivals:
            if arrival.sequence is None:
                continue
            if arrival.sequence < highest:
                result.out_of_order += 1
            highest = max(highest, arrival.sequence)
            first.setdefault(arrival.sequence, arrival.at)
        missing = 0
        for sequence, committed in wanted.items():
            result.expected += 1
            if sequence in first:
                result.delivered += 1
                result.latencies_ms.append((first[sequence] - committed) * 1000)
            else:
                missing += 1
                result.lost_by_sequence[sequence] = result.lost_by_sequence.get(sequence, 0) + 1
        result.lost += missing
        result.clients_losing += 1 if missing else 0
    return result


def first_after(
    arrivals: Sequence[Arrival], after: float, test: str, mark: str = ""
) -> float | None:
    """When a client first showed what ``test`` names, after ``after``."""
    for arrival in arrivals:
        if arrival.at < after:
            continue
        if (
            (test == "notice" and arrival.notice)
            or (test == "close" and arrival.closed)
            or (test == "open" and arrival.opened)
            or (test == "hide_board" and arrival.panel and not arrival.board)
            or (test == "show_board" and arrival.board)
            or (test == "price" and (arrival.mark == mark or mark in arrival.hands))
        ):
            return arrival.at
    return None
