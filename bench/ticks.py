"""Benchmark 1: one persisted tick over 10,000 positions, against numpy in memory."""

from __future__ import annotations

import statistics
import time
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import transaction

from sandbox.desk.models import Market, Position
from sandbox.live.services import market_tick

from .data import build_market

RUNS = 21
FALL = "-0.8"


def _timed_tick(market: Market) -> tuple[float, int, int]:
    """One tick with a 0.8% fall, rolled back afterwards so every run is the same tick."""
    with transaction.atomic():
        point = transaction.savepoint()
        Market.objects.filter(pk=market.pk).update(pending_gaps={"XBTUSDT": [FALL]})
        started = time.perf_counter()
        result = market_tick(market_id=market.pk)
        elapsed = time.perf_counter() - started
        transaction.savepoint_rollback(point)
    assert result is not None
    return elapsed * 1000, result.accounts_touched, len(result.liquidated)


def tick_benchmark(sizes: tuple[int, ...] = (2500, 5000, 10000)) -> dict[str, Any]:
    report: dict[str, Any] = {"sizes": {}}
    for size in sizes:
        market = build_market(size, near=6)
        runs = [_timed_tick(market) for _ in range(RUNS)]
        times = sorted(r[0] for r in runs)
        report["sizes"][size] = {
            "p50_ms": statistics.median(times),
            "p95_ms": times[int(len(times) * 0.95) - 1],
            "touched": runs[0][1],
            "liquidated": runs[0][2],
        }
        if size == sizes[-1]:
            report["numpy"] = numpy_baseline(market)
    return report


def numpy_baseline(market: Market) -> dict[str, float]:
    """The same check over every position, vectorised, in integers (no floats):
    values in 1e-8 units; isolated positions against their margin, cross positions
    against their account's shared funds."""
    rows = list(
        Position.objects.filter(account__market=market).values_list(
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
    for _ in range(RUNS):
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
