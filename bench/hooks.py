"""Timestamps the benchmarks read from inside the servers they measure.

A server process started by a benchmark (``bench.asgi``, ``bench.ticker``) calls
:func:`install` when ``SANDBOX_BENCH_LOG`` names a file. It then appends one line per
event to that file, each line ``kind market sequence wall-clock-seconds [fields]``:

- ``commit``: a tick's transaction has committed (``broadcast_tick`` runs on commit);
  fields: accounts liquidated, whether it realised or funded (1/0).
- ``pushed``: the tick's messages were handed to the channel layer; field: seconds taken.
- ``tick``: ``market_tick`` returned; fields: seconds it took (commit and push included).
- ``draw``: a feed drew its desks' push for one event; fields: desks drawn, seconds.
- ``whole``: a feed drew desks whole in one pass (snapshots, the accounts' own news);
  fields: desks drawn, seconds.
- ``render``: one desk's own news or snapshot was drawn alone; field: seconds.

The clock is ``time.time()``, the same clock the benchmark's clients stamp arrivals with
(one machine). Nothing here changes what the server does; a function the hooks expect
that is not there any more is noted in the log (``missing name``), and the report says
that figure was not measured.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_file: Any = None


def _write(*fields: object) -> None:
    line = " ".join(str(f) for f in fields) + "\n"
    with _lock:
        _file.write(line)
        _file.flush()


def _timed(
    kind: str, original: Callable[..., Any], describe: Callable[..., tuple[Any, ...]]
) -> Any:
    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.time()
        result = original(*args, **kwargs)
        _write(kind, *describe(result, *args, **kwargs), began, f"{time.time() - began:.6f}")
        return result

    return timed


def install() -> None:
    """Wrap the tick, its push and the drawing, if ``SANDBOX_BENCH_LOG`` is set."""
    global _file
    path = os.environ.get("SANDBOX_BENCH_LOG", "")
    if not path or _file is not None:
        return
    _file = Path(path).open("a", buffering=1)  # noqa: SIM115 (open for the process's life)
    from sandbox.live import consumers, feed, services

    _write("process", os.getpid(), 0, time.time())
    original_push = services.broadcast_tick

    def broadcast_tick(result: Any) -> None:
        committed = time.time()
        flags = len(result.liquidated), int(bool(result.realised or result.funded))
        _write("commit", result.market_id, result.sequence, committed, *flags)
        original_push(result)
        _write("pushed", result.market_id, result.sequence, time.time(), time.time() - committed)

    services.broadcast_tick = broadcast_tick  # type: ignore[assignment]
    services.market_tick = _timed(  # type: ignore[assignment]
        "tick",
        services.market_tick,
        lambda r, **kw: (kw.get("market_id"), r.sequence if r is not None else -1),
    )
    timed = (
        ("draw", feed, "_draw", lambda r, market_id, viewers, *a, **kw: (market_id, len(viewers))),
        (
            "whole",
            feed,
            "_draw_whole",
            lambda r, market_id, viewers, *a, **kw: (market_id, len(viewers)),
        ),
        ("render", consumers, "render_update", lambda r, account_id, *a, **kw: (account_id, 0)),
    )
    found = set()
    for kind, module, name, describe in timed:
        if hasattr(module, name):
            setattr(module, name, _timed(kind, getattr(module, name), describe))
            found.add(kind)
    # Whole desks are drawn in the feed's passes or by each socket alone: one is enough.
    if "draw" not in found:
        _write("missing", "sandbox.live.feed._draw", 0, time.time())
    if not found & {"whole", "render"}:
        _write("missing", "feed._draw_whole/consumers.render_update", 0, time.time())


def read(path: Path) -> list[list[str]]:
    """The log's lines, split into fields ([] if the file is not there)."""
    if not path.exists():
        return []
    return [line.split() for line in path.read_text().splitlines() if line.strip()]
