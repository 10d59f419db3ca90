"""Benchmark 1: ticks persisted and committed (SQLite), against NumPy in memory.

Every timed tick is a real one: ``market_tick`` as the ticker calls it, its transaction
committed. Between runs the data is advanced (untimed) so that each run is the same kind
of tick: a tick that reaches no position (a small move back and forth), a tick whose fall
liquidates a few positions (new ones opened just above their liquidation price before
each run), a realisation tick (the clock set ten simulated minutes before a boundary,
XBTUSDT 0.1% up and ETHUSDT 0.1% down) and a funding tick (the same, ten minutes before
an 8-hour boundary: funding for every position, and realisation).

Wall time is what the ticker waits for; the process's CPU time is reported beside it (the
machine may be shared: CPU time is what the tick itself cost).
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from functools import partial
from types import MappingProxyType
from typing import Any

import numpy as np
from django.db import connection

if __name__ == "__main__":  # on its own (python -m bench.ticks): Django first
    from bench.servers import standalone_setup

    standalone_setup()

from bench.data import MARKS, add_near, build_market  # noqa: E402
from sandbox.desk.models import LedgerEntry, Market, Position  # noqa: E402
from sandbox.live import kept as keeping  # noqa: E402
from sandbox.live import shares  # noqa: E402
from sandbox.live.models import MarkTick  # noqa: E402
from sandbox.live.services import TickResult, candidates_query, market_tick  # noqa: E402

QUIET = {"volatility": Decimal(0), "drift": Decimal(0), "speed": 1}
MOVING = {"volatility": Decimal(0), "drift": Decimal(0), "speed": 600}  # (moves scripted)
NO_REACH_SIZES = (1000, 10000, 100000)
BIG, HUGE = 10000, 100000
NO_REACH_RUNS, LIQUIDATING_RUNS = 21, 9
REALISATION_RUNS = {BIG: 9, HUGE: 5}
FUNDING_RUNS = {BIG: 7, HUGE: 3}
NEAR = 6
FALL = "-0.8"


def _tick(market: Market, prepare: Callable[[], None]) -> dict[str, Any]:
    """``prepare`` (untimed), then one committed tick, timed."""
    prepare()
    entries = LedgerEntry.objects.count()
    wall, cpu = time.perf_counter(), time.process_time()
    result: TickResult | None = market_tick(market_id=market.pk)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert result is not None
    # The tick runs with the collector paused: the full collection that may follow it, on
    # what the process holds once the tick is over, is timed apart (untimed in the tick).
    collected = time.perf_counter()
    gc.collect()
    collected = time.perf_counter() - collected
    return {
        "wall_ms": wall * 1000,
        "cpu_ms": cpu * 1000,
        "collect_ms": collected * 1000,
        "touched": result.accounts_touched,
        "read": result.accounts_read,
        "shared": result.shared,
        "liquidated": sum(len(r) for r in result.liquidated.values()),
        "ledger": LedgerEntry.objects.count() - entries,
        "realised": result.realised,
        "funded": result.funded,
    }


def _summary(runs: list[dict[str, Any]], what: str, positions: int) -> dict[str, Any]:
    walls = sorted(r["wall_ms"] for r in runs)
    return {
        "what": what,
        "positions": positions,
        "runs": len(runs),
        "p50_ms": statistics.median(walls),
        "p95_ms": walls[min(len(walls) - 1, round(0.95 * (len(walls) - 1)))],
        "cpu_p50_ms": statistics.median(r["cpu_ms"] for r in runs),
        "collect_p50_ms": statistics.median(r["collect_ms"] for r in runs),
        "touched": statistics.median(r["touched"] for r in runs),
        "read": statistics.median(r["read"] for r in runs),
        "shared": sum(r["shared"] for r in runs),
        "first_ms": runs[0]["wall_ms"],
        "first_read": runs[0]["read"],
        "liquidated": statistics.median(r["liquidated"] for r in runs),
        "ledger": statistics.median(r["ledger"] for r in runs),
        "kinds": sorted({(r["realised"], r["funded"]) for r in runs}),
        "each": [(round(r["wall_ms"]), r["touched"], r["ledger"]) for r in runs],
    }


def _settle() -> None:
    """Untimed, after building: the write-ahead log copied into the database file, so a
    timed tick's commit does not pay for the build's pages."""
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _set(market: Market, **fields: Any) -> None:
    Market.objects.filter(pk=market.pk).update(**fields)


def no_reach(market: Market, positions: int) -> dict[str, Any]:
    """A tick that moves XBTUSDT by 0.01% (up, then down: back and forth) and reaches no
    position; no realisation nor funding is due."""
    _set(market, **QUIET, sim_seconds=Decimal(1))
    runs = []
    for number in range(NO_REACH_RUNS):
        move = "0.01" if number % 2 == 0 else "-0.01"
        runs.append(_tick(market, partial(_set, market, pending_gaps={"XBTUSDT": [move]})))
    assert all(r["touched"] == 0 for r in runs), "a no-reach tick reached a position"
    row = _summary(runs, "tick reaching no position (0.01% move)", positions)
    row["plan"] = candidates_query(market.pk, dict(MARKS)).explain()
    return row


def liquidating(market: Market, positions: int) -> dict[str, Any]:
    """A tick whose 0.8% fall liquidates the positions opened just above their
    liquidation price before it (6 new isolated 95x longs a run); after it, untimed, the
    price goes back up and the next run's positions are opened."""
    _set(market, **QUIET, sim_seconds=Decimal(1))

    def prepare() -> None:
        add_near(market, NEAR)
        _set(market, pending_gaps={"XBTUSDT": [FALL]})

    runs = []
    for _ in range(LIQUIDATING_RUNS):
        runs.append(_tick(market, prepare))
        _set(market, pending_gaps={"XBTUSDT": ["0.8"]})
        market_tick(market_id=market.pk)  # back up (untimed)
    return _summary(runs, "tick liquidating the positions a 0.8% fall reaches", positions)


def ledger_tick(market: Market, positions: int, *, funding: bool, runs: int) -> dict[str, Any]:
    """A realisation tick (every 10 simulated minutes; at 60x every 10th tick) or a
    funding tick (every 8 simulated hours, with realisation). Each run moves XBTUSDT up
    0.1% and ETHUSDT down 0.1% (scripted, so every run finds the same share of cross
    positions in profit: XBT longs and ETH shorts; a random walk may leave every cross
    position short of its last realisation for a while, and time a tick with nothing to
    realise)."""
    start = Decimal(28200 if funding else 600)
    _set(market, **MOVING, funding_enabled=True)
    # The tick helper ready, as a ticker has it from its first large ledger tick on (it
    # starts one then, and shares the ticks once it is ready).
    assert shares.start(wait_seconds=120), "the tick helper did not start"
    moves = {"XBTUSDT": ["0.1"], "ETHUSDT": ["-0.1"]}
    done = [
        _tick(market, partial(_set, market, sim_seconds=start, pending_gaps=moves))
        for _ in range(runs)
    ]
    assert all(r["realised"] and r["funded"] == funding for r in done)
    what = (
        "funding tick (funding for every position, and realisation)"
        if funding
        else "realisation tick (profit of cross positions)"
    )
    return _summary(done, what, positions) | {
        "ours": shares.split_of(market.pk, funding=funding).ours,
        "kept_mb": kept_bytes(market) / 2**20,
        "helper_mb": helper_rss() / 2**20,
    }


def helper_rss() -> int:
    """The tick helper process's resident memory, in bytes (0: none runs)."""
    helper = shares._helper
    if helper is None or not helper.alive():
        return 0
    with open(f"/proc/{helper.process.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def kept_bytes(market: Market) -> int:
    """The memory the ticker keeps for the market's accounts between ticks (see
    sandbox.live.kept): every object reachable from them, each counted once (the
    instruments' symbols and the mode enums, shared with everything else, not counted)."""
    kept = keeping.take(market.pk, Market.objects.get(pk=market.pk).sequence)
    seen: set[int] = set()
    total = 0
    todo: list[Any] = [kept.accounts]
    while todo:
        item = todo.pop()
        if id(item) in seen or isinstance(item, (str, bool, Enum)) or item is None:
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, (dict, MappingProxyType)):
            todo += [*item.keys(), *item.values()]
        elif isinstance(item, tuple):
            todo += item
        elif hasattr(item, "__slots__"):
            todo += [getattr(item, name) for name in item.__slots__]
        elif hasattr(item, "__dict__"):
            todo += list(vars(item).values())
    keeping.keep(market.pk, kept, kept.sequence)
    return total


def tick_benchmark() -> dict[str, Any]:
    """Every row says what was timed; ``sizes`` and ``numpy`` as before (the liquidating
    tick at 10,000 positions, and its baseline)."""
    rows: list[dict[str, Any]] = []
    markets: dict[int, Market] = {}
    for size in NO_REACH_SIZES:
        started = time.perf_counter()
        markets[size] = build_market(size, near=NEAR)
        built = time.perf_counter() - started
        _settle()
        rows.append(no_reach(markets[size], size) | {"build_s": built})
    small, large = rows[0], rows[-1]
    big, huge = markets[BIG], markets[HUGE]
    rows.append(liquidating(big, BIG))
    for size, market in ((BIG, big), (HUGE, huge)):
        rows.append(ledger_tick(market, size, funding=False, runs=REALISATION_RUNS[size]))
        rows.append(ledger_tick(market, size, funding=True, runs=FUNDING_RUNS[size]))
    baseline = numpy_baseline(big)
    # (The helper process and the kept accounts go with the markets: the sections after
    # this one measure servers of their own, and should not share the machine with them.)
    shares.stop()
    keeping.forget()
    liquidation = rows[len(NO_REACH_SIZES)]
    return {
        "rows": rows,
        "no_reach_ratio": large["p50_ms"] / small["p50_ms"],
        "no_reach_cpu_ratio": large["cpu_p50_ms"] / small["cpu_p50_ms"],
        "numpy": baseline,
        "mark_ticks": MarkTick.objects.count(),
        "sizes": {BIG: liquidation},
    }


def numpy_baseline(market: Market) -> dict[str, float]:
    """The same check over every position, vectorised, in integers (no floats):
    values in 1e-8 units; isolated positions against their margin, cross positions
    against their account's shared funds. In memory: nothing read nor persisted."""
    rows = list(
        Position.objects.filter(market=market).values_list(
            "account_id",
            "instrument_id",
            "qty",
            "entry_value",
            "position_margin",
            "mode",
            "cost_value",
            "leverage",
        )
    )
    scale = Decimal(10) ** 8
    account = np.array([r[0] for r in rows], dtype=np.int64)
    qty = np.array([int(r[2] * 1000) for r in rows], dtype=np.int64)  # 1e-3 units
    entry = np.array([int(r[3] * scale) for r in rows], dtype=np.int64)
    margin = np.array([int(r[4] * scale) for r in rows], dtype=np.int64)
    cross = np.array([r[5] == "cross" for r in rows])
    cost = np.abs(np.array([int(r[6] * scale) for r in rows], dtype=np.int64))
    initial = cost // np.array([int(r[7]) for r in rows], dtype=np.int64)
    maintenance = cost * 5 // 1000
    is_xbt = np.array([r[1] == "XBTUSDT" for r in rows])
    wallet = np.full(int(account.max()) + 1, 10_000 * 10**8, dtype=np.int64)
    marks = {True: int(Decimal(60000) * Decimal("0.992") * 100), False: 3000 * 100}  # cents
    mark = np.where(is_xbt, marks[True], marks[False]).astype(np.int64)
    times = []
    for _ in range(NO_REACH_RUNS):
        started = time.perf_counter()
        pnl = qty * mark * 1000 - entry  # qty(1e-3) × mark(1e-2) → 1e-5; to 1e-8: × 1000
        loss = np.minimum(pnl, 0)
        available = wallet.copy()
        np.add.at(available, account[cross], -initial[cross] + loss[cross])
        np.add.at(available, account[~cross], -margin[~cross])
        funds = np.where(cross, available[account] + initial - loss, margin)
        through = pnl + funds <= maintenance
        int(through.sum())
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"p50_ms": statistics.median(times), "positions": float(len(rows))}


# (target, at positions) for the rows that have one
TARGETS = {
    ("realisation tick (profit of cross positions)", BIG): 300.0,
    ("funding tick (funding for every position, and realisation)", BIG): 300.0,
    ("realisation tick (profit of cross positions)", HUGE): 3000.0,
    ("funding tick (funding for every position, and realisation)", HUGE): 3000.0,
}


def _verdict(value: float, target: float) -> str:
    return "met" if value <= target else "**missed**"


def tick_section(report: dict[str, Any]) -> list[str]:
    """The report's section 1, from this run's figures."""
    rows = report["rows"]
    numpy_p50 = report["numpy"]["p50_ms"]
    lines = [
        "## 1. Ticks, persisted and committed (SQLite)",
        "",
        "Each row times `market_tick` as the ticker calls it: one transaction (marks, the "
        "candidate query, the engine for each account reached, the writes, the market's "
        "sequence) and its commit; the push to browsers after the commit is not timed "
        "(sections 2-4 time it). Between runs the data is advanced, untimed, so each run is "
        "the same kind of tick. Markets: half as many accounts as positions; a third of "
        "the accounts hold two isolated positions, a third one cross and one isolated, a "
        "third two cross positions sharing funds. Wall time is what the ticker waits for; "
        "CPU is this process's own time for the tick (the machine may be shared).",
        "",
        "| tick | positions | runs | p50 | p95 | CPU p50 | accounts computed | accounts read "
        "| liquidated | ledger entries | target |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        target = TARGETS.get((row["what"], row["positions"]))
        verdict = (
            f"p50 ≤ {target:,.0f} ms: {_verdict(row['p50_ms'], target)}"
            if target is not None
            else ""
        )
        lines.append(
            f"| {row['what']} | {row['positions']:,} | {row['runs']} | {row['p50_ms']:.1f} ms "
            f"| {row['p95_ms']:.1f} ms | {row['cpu_p50_ms']:.1f} ms | {row['touched']:,.0f} | "
            f"{row['read']:,.0f} | {row['liquidated']:,.0f} | {row['ledger']:,.0f} | {verdict} |"
        )
    reach = [r for r in rows if r["what"].startswith("tick reaching no position")]
    ratio = report["no_reach_ratio"]
    lines += [
        "",
        f"**Reach**: a tick that reaches no position takes {reach[0]['p50_ms']:.1f} ms at "
        f"{reach[0]['positions']:,} positions and {reach[-1]['p50_ms']:.1f} ms at "
        f"{reach[-1]['positions']:,}: {ratio:.2f}x (target within 1.5x: "
        f"{_verdict(ratio, 1.5)}); in CPU time {reach[0]['cpu_p50_ms']:.1f} ms and "
        f"{reach[-1]['cpu_p50_ms']:.1f} ms: {report['no_reach_cpu_ratio']:.2f}x. Markets built in "
        + ", ".join(f"{r['build_s']:.0f} s ({r['positions']:,})" for r in reach)
        + ". The candidate query is a UNION of index range scans, one per condition "
        "and symbol; SQLite's plan at 100,000 positions:",
        "",
        "```",
        *reach[-1]["plan"].splitlines(),
        "```",
        "",
        f"Baseline: the liquidation check over all {report['numpy']['positions']:,.0f} "
        f"positions of the 10,000-position market with NumPy, in memory, nothing read nor "
        f"persisted: p50 {numpy_p50:.2f} ms.",
        "",
    ]
    for row in rows:
        target = TARGETS.get((row["what"], row["positions"]))
        if target is not None and row["p50_ms"] > target:
            share = row["cpu_p50_ms"] / row["p50_ms"] if row["p50_ms"] else 0
            lines.append(
                f"- Missed: {row['what']} at {row['positions']:,} positions, p50 "
                f"{row['p50_ms']:.0f} ms against {target:,.0f} ms; its own CPU time was "
                f"{row['cpu_p50_ms']:.0f} ms ({share:.0%} of the wall time) for "
                f"{row['touched']:,.0f} accounts computed by the engine and "
                f"{row['ledger']:,.0f} ledger entries written: "
                f"{row['cpu_p50_ms'] / max(row['touched'], 1) * 1000:.0f} µs an account."
            )
    ledger = [r for r in rows if r["what"] in {what for what, _ in TARGETS}]
    lines += [
        "",
        "How a realisation or funding tick is done (the design these rows measure): a "
        "market this large shares it with a helper process (`sandbox.live.shares`): the "
        "helper computes a share of the accounts (by their id) and sends their writes, "
        "gathered, a part at a time, while the ticker computes and writes its own; the "
        "ticker writes the helper's in its one transaction. The split follows each tick (the "
        "ticker writes everything, so it computes less than half); after these runs the "
        "ticker computed "
        + ", ".join(
            f"{r['ours']}/{shares.SHARES} ({r['what'].split(' (')[0]}, {r['positions']:,})"
            for r in rows
            if "ours" in r
        )
        + " of the accounts. Each process "
        "keeps its share of the market's accounts in memory between ticks (`sandbox.live.kept`) and"
        " reads again only those written since by something other than a tick (their "
        "`version` moved: orders, teacher actions; a tick's own writes are told by the "
        "market's sequence); those it reads are read in one query per table, as rows of "
        "stored text (no model instances); the engine computes each account once "
        "(`tick_account`; an account the candidate query did not find starts at its "
        "realisation and funding, the marks having reached none of its stops or liquidation "
        "prices); the positions' index is written from the engine's liquidation prices and "
        "margins left (`liquidation_cushions`), not from each account's whole figures; every "
        "kind of row is written set-based (one `executemany` per table and set of changed "
        "columns); Python's cyclic garbage collector is paused for the tick. A full "
        "collection after a tick, on what the process then holds, is timed apart (not in the "
        "rows): p50 "
        + ", ".join(
            f"{r['collect_p50_ms']:.0f} ms after a {r['what'].split(' (')[0]} at {r['positions']:,}"
            for r in ledger
        )
        + ".",
        "",
        "The rows' p50 is a running market's tick, its accounts kept since the tick before. "
        "The first realisation tick after the market was built had nothing kept and read "
        "every account: "
        + ", ".join(
            f"{r['first_ms']:.0f} ms for {r['first_read']:,} accounts read at "
            f"{r['positions']:,} positions"
            for r in ledger
            if r["what"].startswith("realisation")
        )
        + "; the first funding tick after realisation ticks read the accounts whose share "
        "differs (see above): "
        + ", ".join(
            f"{r['first_ms']:.0f} ms for {r['first_read']:,} accounts read at "
            f"{r['positions']:,} positions"
            for r in ledger
            if "funding" in r["what"]
        )
        + ". The memory the ticker keeps for its share of the accounts between ticks: "
        + ", ".join(
            f"{r['kept_mb']:.1f} MB at {r['positions']:,} positions"
            for r in ledger
            if "funding" in r["what"]
        )
        + " (every object reachable from the kept accounts, counted once); the helper "
        "process, which keeps the other share, had a resident size of "
        + ", ".join(
            f"{r['helper_mb']:.0f} MB after the {r['positions']:,}-position funding ticks"
            for r in ledger
            if "funding" in r["what"]
        )
        + ". Runs shared with the helper: "
        + ", ".join(
            f"{r['shared']} of {r['runs']} ({r['what'].split(' (')[0]}, {r['positions']:,})"
            for r in ledger
        )
        + ".",
        "",
    ]
    return lines


if __name__ == "__main__":
    print("\n".join(tick_section(tick_benchmark())))
