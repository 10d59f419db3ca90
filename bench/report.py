"""bench/results.md's sections for targets 2-6, written from each run's own figures.

Each section says what is timed, what is excluded and over which window, gives the
baseline measured in the same run, and prints a miss as a miss with its cause taken from
the run's figures (the server's own timings, bench.hooks). ``glance`` rows feed the table
at the top of the report.
"""

from __future__ import annotations

import math
from typing import Any

Glance = tuple[str, str, str, str, str]  # target number, target, measured, baseline, verdict


def verdict(value: float, target: float, *, at_least: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "**not measured**"
    met = value >= target if at_least else value <= target
    return "met" if met else "**missed**"


def ms(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def spread(figures: dict[str, float], *keys: str) -> str:
    return ", ".join(f"{k} {ms(figures[k])}" for k in keys if k in figures)


def unhooked(r: dict[str, Any]) -> list[str]:
    """A line naming the server timings not taken (the code bench.hooks wraps is gone)."""
    missing = r.get("hooks_missing") or []
    if not missing:
        return []
    return [f"- Not timed in the server (bench.hooks found no {', '.join(missing)})."]


# ------------------------------------------------------------------------------ crash


def crash_section(r: dict[str, Any]) -> tuple[list[str], list[Glance]]:
    lines = [
        f"## 2. The crash: {r['learners']} room learners liquidated on one tick",
        "",
        f"**How.** A room of {r['learners']} learners, each long 0.05 XBT at 20x isolated "
        "(joined and traded through the services), every desk open over its own websocket "
        "with its own cookie, on one daphne process whose embedded ticker ticks the room "
        f"every {ms(r['interval_ms'])}. The teacher posts a 30% crash over one tick from "
        "the panel (htmx). Timed: from the liquidating tick's commit (stamped by the server "
        "as the tick's on-commit push begins, `bench.hooks`) to the arrival at each "
        "learner's socket of the first message carrying their liquidation notice. The next "
        "tick: its commit minus the liquidating tick's; late by that minus the interval.",
        "",
    ]
    glance: list[Glance] = []
    if r.get("connected", 0) < r["learners"]:
        lines.append(
            f"- **{r['learners'] - r['connected']} of {r['learners']} desks could not "
            f"connect** ({'; '.join(r.get('connect_errors', []))}); the figures are the "
            f"{r['connected']} connected."
        )
    if "notice_ms" not in r:
        lines += ["- **No tick liquidated anyone after the crash.**", ""]
        glance.append(("2", "crash: notices ≤ 1 s", "no liquidating tick", "", "**missed**"))
        return lines, glance
    notice = r["notice_ms"]
    last = notice["max"]
    late = r["next_late_ms"]
    lines += [
        f"- Tick {r['sequence']} liquidated {r['liquidated']} accounts; "
        f"{notice['count']} of {r['connected']} connected learners received their notice "
        f"({r['notices_missing']} never did).",
        f"- Commit to notice: {spread(notice, 'p50', 'p95', 'max')} "
        f"(target every notice within 1 s: {verdict(last, 1000)}).",
        f"- The next tick committed {ms(r['next_gap_ms'])} after the liquidating one: "
        + (f"late by {ms(late)}" if late > 0 else "not late")
        + " (target late by at most one interval, "
        f"{ms(r['interval_ms'])}: {verdict(late, r['interval_ms'])}). Baseline, the same "
        f"room's ticks before the crash: one every {ms(r['gaps_before_ms']['p50'])} (p50).",
        f"- The liquidating tick itself (engine, writes, commit, push): {ms(r['tick_ms'])}.",
    ]
    if last > 1000 or late > r["interval_ms"]:
        drawn = []
        if r["renders"]:
            drawn.append(
                f"drew {r['renders']} desks one at a time ({ms(r['render_ms_total'])} in all)"
            )
        if r.get("whole_passes"):
            drawn.append(
                f"drew {r['whole_desks']} desks whole in {r['whole_passes']} passes "
                f"({ms(r['whole_ms_total'])})"
            )
        if r["draw_ms_total"]:
            drawn.append(f"drew the other desks' tick pushes ({ms(r['draw_ms_total'])})")
        lines.append(
            f"- **Why:** between the commit and the last notice ({ms(last)}) the server "
            + (" and ".join(drawn) or "drew nothing the hooks see")
            + f" (measured in the process); the liquidating tick itself took "
            f"{ms(r['tick_ms'])}."
        )
    lines += [*unhooked(r), ""]
    glance += [
        (
            "2",
            "crash: every notice ≤ 1 s after the commit",
            f"last {ms(last)}",
            "",
            verdict(last, 1000),
        ),
        (
            "2",
            "crash: next tick late ≤ one interval",
            f"late {ms(late)}" if late > 0 else f"not late (next after {ms(r['next_gap_ms'])})",
            f"ticks every {ms(r['gaps_before_ms']['p50'])} before",
            verdict(late, r["interval_ms"]),
        ),
    ]
    return lines, glance


# ------------------------------------------------------------------------------- bell


def bell_section(r: dict[str, Any], scale: dict[str, Any] | None) -> tuple[list[str], list[Glance]]:
    small, big = r["small_alone"], r["big_alone"]
    small_cost = small["snapshot_ms"]["p50"]
    big_cost = big["snapshot_ms"]["p50"]
    ratio = big_cost / small_cost if small_cost else math.nan
    failed = r["handshakes_failed"] + r["no_snapshot"] + r["dropped"]
    lines = [
        f"## 3. The bell: {r['learners']} learners open their desks within {r['seconds']:.0f} s",
        "",
        f"**How.** A room of {r['learners']} members (positions open, leaderboard on, its "
        "market ticking twice a second) opens every desk within "
        f"{r['seconds']:.0f} s, evenly spread, against one daphne process (a learner of "
        "another room came first, so what the process sets up once is done). Counted: "
        "handshakes that failed (daphne drops a socket not accepted within 5 s), desks "
        "whose first snapshot (the whole desk) never came, sockets dropped later. Timed "
        "per learner from the start of its connection: the handshake answered, the first "
        "snapshot. Then 5 s watching: ticks lost or out of order. The cost of one socket: "
        f"once the server is quiet again ({r['quiet_after_s']:.1f} s after the bell), "
        f"{big['snapshot_ms']['count']} desks opened one at a time (each waits for its "
        f"snapshot) in a class of {r['small_members']} and in the class of "
        f"{r['big_members']}.",
        "",
        f"- One process: **{r['handshakes_failed']} handshakes failed**, "
        f"{r['no_snapshot']} without a snapshot, {r['dropped']} dropped "
        f"(target none: {verdict(failed, 0)})"
        + (f"; errors: {'; '.join(r['errors'])}" if r["errors"] else "")
        + ".",
        f"- Handshake: {spread(r['handshake_ms'], 'p50', 'p95', 'max')}; first snapshot: "
        f"{spread(r['snapshot_ms'], 'p50', 'p95', 'max')}; every desk ready "
        f"{r['all_ready_s']:.1f} s after the first began.",
        f"- After the bell: {r['after_delivered']:,} of {r['after_expected']:,} tick "
        f"updates delivered, {r['after_lost']} lost, {r['after_out_of_order']} out of "
        f"order; {r['after_tick_rate']:.2f} ticks a second.",
        f"- One socket alone, class of {r['small_members']}: handshake "
        f"{ms(small['handshake_ms']['p50'])}, snapshot {ms(small_cost)} (p50); class of "
        f"{r['big_members']}: handshake {ms(big['handshake_ms']['p50'])}, snapshot "
        f"{ms(big_cost)} (p50): {ratio:.2f}x (target: does not grow with the class, "
        f"within 1.5x: {verdict(ratio, 1.5)})"
        + (
            f"; the server's own drawing of one snapshot: {ms(small['drawn_ms']['p50'])} "
            f"and {ms(big['drawn_ms']['p50'])} (p50)."
            if "drawn_ms" in small and "drawn_ms" in big
            else "."
        ),
    ]
    drawn = []
    if r["bell_whole_passes"]:
        drawn.append(
            f"{r['bell_whole_desks']} desks whole in {r['bell_whole_passes']} passes "
            f"({ms(r['bell_whole_ms'])})"
        )
    if r["bell_renders"]:
        drawn.append(f"{r['bell_renders']} desks one at a time ({ms(r['bell_render_ms'])})")
    lines.append(
        "- Drawn by the server while the class connected (measured in the process): "
        + (", ".join(drawn) or "nothing the hooks see")
        + "."
    )
    if failed:
        lines.append(
            f"- **Why:** a handshake is answered only once the socket's connect work has "
            f"run, and the first snapshots took {ms(r['snapshot_ms']['p50'])} at p50 and "
            f"{ms(r['snapshot_ms']['max'])} at worst: the drawing above, "
            f"{ms(r['bell_whole_ms'] + r['bell_render_ms'])} in "
            f"{r['all_ready_s']:.1f} s, held the sockets queued past daphne's 5 s."
        )
    glance: list[Glance] = [
        ("3", "bell, one process: no failed handshake", f"{failed} failed", "", verdict(failed, 0)),
        (
            "3",
            "accept + snapshot cost does not grow with the class",
            f"{ms(big_cost)} in {r['big_members']}",
            f"{ms(small_cost)} in {r['small_members']}",
            verdict(ratio, 1.5),
        ),
    ]
    if scale and "bell" in scale:
        b = scale["bell"]
        bad = b["handshakes_failed"] + b["no_snapshot"]
        lines.append(
            f"- Scale-out profile (two daphne, runticker, PostgreSQL, Redis; section 6): "
            f"**{b['handshakes_failed']} of {b['learners']} handshakes failed**, "
            f"{b['no_snapshot']} without a snapshot; first snapshot "
            f"{spread(b['snapshot_ms'], 'p50', 'p99', 'max')} (target none failed: "
            f"{verdict(bad, 0)})."
        )
        glance.append(
            ("3", "bell, scale-out: no failed handshake", f"{bad} failed", "", verdict(bad, 0))
        )
    elif scale:
        lines.append(f"- Scale-out profile: {scale.get('skipped', 'not measured')}.")
    lines += [*unhooked(r), ""]
    return lines, glance


# ----------------------------------------------------------------------------- fan-out


def fanout_section(r: dict[str, Any]) -> tuple[list[str], list[Glance]]:
    raw = r["raw"]
    p99 = r["latency_ms"]["p99"]
    draw = r["draw_ms"]
    lines = [
        f"## 4. Classroom fan-out: {r['learners']} room members, "
        f"{r['rate']:.0f} ticks a second at {r['speed']}x",
        "",
        f"**How.** A room of {r['learners']} members (leaderboard on; leverage 2x to 5x, a "
        "third cross, longs and shorts), every desk open over its own websocket on one "
        f"daphne process with its embedded ticker; the market at {r['speed']}x, so every "
        "10th tick realises profit (a ledger tick). One learner connects first and watches "
        "for 5 s (what the process sets up once is then done, and the idle memory read); "
        "the others connect at 100 a second, and the window starts 2 s after the last "
        f"desk has its snapshot (the run fails if one cannot connect). Over a "
        f"{r['window_s']:.0f} s window the teacher closes and opens trading, hides and "
        "shows the leaderboard, sets the price by hand and starts a 2% crash (htmx posts, "
        "as the panel). Tick to screen: a tick's commit (the server's stamp) to the first "
        "message at each client showing that tick (stamped by the client's event loop on this "
        "machine). Server CPU: the daphne process's "
        "user+system time over the window (ticker, drawing, sockets and the teacher's "
        "requests), per message delivered in the window; the baseline is a raw "
        "`websockets.broadcast` server sending messages of the same mean size to as many "
        "clients at the same rate, its CPU read over a window of the same length after "
        "every client has its first message and before any leaves. Memory: the "
        "process's resident size read every 0.5 s through the window, every desk "
        "connected (the median), minus the median of the readings over the last 2.5 s "
        "with one desk, over the other desks.",
        "",
    ]
    if r["connected"] < r["learners"]:
        lines.append(
            f"- **{r['learners'] - r['connected']} of {r['learners']} desks could not "
            f"connect**; the figures are the {r['connected']} connected."
        )
    lines += [
        f"- Achieved tick rate: {r['tick_rate']:.2f} a second ({r['ticks']} ticks, "
        f"{r['ledger_ticks']} of them ledger ticks; commit to commit "
        f"{spread(r['gap_ms'], 'p50', 'max')}) (target ≥ 1.95: "
        f"{verdict(r['tick_rate'], 1.95, at_least=True)}).",
        f"- Delivered {r['delivered']:,} of {r['expected']:,} expected tick updates "
        f"(every connected learner × every tick committed in the window); **lost "
        f"{r['lost']}, out of order {r['out_of_order']}**; {r['messages_window']:,} "
        f"messages in the window, {r['bytes_per_update']:,.0f} bytes on average.",
        f"- Tick to screen: {spread(r['latency_ms'], 'p50', 'p95', 'p99', 'max')} "
        f"(target p99 ≤ 250 ms: {verdict(p99, 250)}); ledger ticks alone: "
        f"{spread(r['ledger_latency_ms'], 'p50', 'p99')}.",
        f"- Server CPU per delivered message: {r['cpu_per_update_ms']:.3f} ms "
        f"({r['cpu_s']:.2f} s over the window); raw `websockets.broadcast`: "
        f"{raw['cpu_per_update_ms']:.4f} ms ({raw['cpu_s']:.3f} s, {raw['messages']:,} "
        f"messages to {raw['clients']} clients, {raw['bytes']:,} bytes each; its one "
        "thread's CPU read to the nanosecond from schedstat): "
        f"{r['cpu_ratio']:.1f}x (target ≤ 15x: {verdict(r['cpu_ratio'], 15)}).",
        f"- Memory per connected learner: {r['kb_per_learner']:.0f} KB: the median of "
        f"{r['rss_readings']} readings of the process's resident size through the window "
        f"({r['rss_connected_kb'] / 1024:.1f} MB with {r['connected']} desks), less the "
        f"median with one desk ({r['rss_idle_kb'] / 1024:.1f} MB), over the other desks "
        f"(target ≤ 60 KB: {verdict(r['kb_per_learner'], 60)}); from the window's highest "
        f"reading {r['kb_per_learner_max']:.0f} KB, from its last "
        f"{r['kb_per_learner_end']:.0f} KB.",
        "",
        "| teacher action | answered | learners showing it, p50 | the last learner | missing |",
        "|---|---|---|---|---|",
    ]
    names = {
        "close": "close trading",
        "open": "open trading",
        "hide_board": "hide the leaderboard",
        "show_board": "show the leaderboard",
        "price": "set the price",
    }
    worst = 0.0
    missing = 0
    for key, a in r["actions"].items():
        worst = max(worst, a["last_ms"]) if not math.isnan(a["last_ms"]) else worst
        missing += a["missing"]
        lines.append(
            f"| {names.get(key, key)} | {ms(a['answered_ms'])} | {ms(a['p50_ms'])} | "
            f"{ms(a['last_ms'])} | {a['missing']} |"
        )
    lines += [
        "",
        "Timed from the teacher's post leaving the browser to the first message at each "
        "learner showing the change (trading closed or open, the room panel without or "
        "with its leaderboard, the mark at the hand-set price or the chart naming it). "
        "Target the last of "
        f"{r['connected']} within 500 ms: {verdict(worst if not missing else math.inf, 500)}.",
    ]
    causes = []
    if p99 > 250:
        causes.append(
            f"the feed's drawing of up to {r['draw_desks']} desks took "
            f"{spread(draw, 'p50', 'p99', 'max')} per event, and the tick itself "
            f"{spread(r['tick_ms'], 'p50', 'p99')} (measured in the process)"
        )
    if worst > 500:
        key, slowest = max(
            ((k, a) for k, a in r["actions"].items() if not math.isnan(a["last_ms"])),
            key=lambda item: item[1]["last_ms"],
        )
        causes.append(
            f"{names.get(key, key)} reached the last learner after {ms(slowest['last_ms'])}, "
            f"of which the teacher's post took {ms(slowest['answered_ms'])} to answer (the "
            "change is committed and pushed within it) and the feed's drawing of its "
            f"desks took up to {ms(draw['max'])} a pass"
        )
    if r["lost"]:
        lost = r.get("lost_ticks", {})
        draws = r.get("lost_draw_ms", {})
        named = ", ".join(
            f"tick {seq} at {clients} clients"
            + (f" (the feed's longest drawing around it {ms(draws[seq])})" if seq in draws else "")
            for seq, clients in sorted(lost.items(), key=lambda item: int(item[0]))[:5]
        )
        slow = [d for d in draws.values() if d > 500]
        causes.append(
            f"{r['lost']} tick updates never shown: {named}"
            + (
                "; drawings longer than the 500 ms interval: the next tick committed before "
                "the screens were drawn"
                if slow
                else ""
            )
        )
    if r["tick_rate"] < 1.95:
        starts, work = r["start_gap_ms"]["p50"], r["tick_ms"]["p50"]
        over = starts - 500
        causes.append(
            f"ticks began every {ms(starts)} (p50), {ms(over)} over the 500 ms interval, "
            f"while a tick took {ms(work)} (p50): "
            + (
                "the ticker's scheduling, not the tick's work, stretches the interval"
                if over > work
                else "the tick's own work stretches the interval"
            )
        )
    if r["cpu_ratio"] > 15:
        causes.append(
            f"in the window the feed spent {draw['sum'] / 1000:.1f} s drawing (wall time, "
            f"its thread) and the process used {r['cpu_s']:.1f} s of CPU; a raw broadcast "
            "draws nothing"
        )
    if r["kb_per_learner"] > 60:
        causes.append(
            f"the process grew by {(r['rss_connected_kb'] - r['rss_idle_kb']) / 1024:.1f} MB "
            f"for {r['connected'] - 1} more desks ({r['kb_per_learner']:.0f} KB each: their "
            "sockets, consumers and remembered figures, and the pushes on their way out, "
            "measured as a whole, not split)"
        )
    if causes:
        lines += ["", "**Why the misses:** " + "; ".join(causes) + "."]
    lines += ["", *unhooked(r), ""] if r.get("hooks_missing") else [""]
    glance: list[Glance] = [
        ("4", "tick-to-screen p99 ≤ 250 ms", ms(p99), "", verdict(p99, 250)),
        (
            "4",
            "achieved tick rate ≥ 1.95/s",
            f"{r['tick_rate']:.2f}/s",
            "",
            verdict(r["tick_rate"], 1.95, at_least=True),
        ),
        (
            "4",
            "no tick lost or out of order",
            f"{r['lost']} lost, {r['out_of_order']} out of order of {r['expected']:,}",
            "",
            verdict(r["lost"] + r["out_of_order"], 0),
        ),
        (
            "4",
            "CPU per update ≤ 15x raw broadcast",
            f"{r['cpu_per_update_ms']:.3f} ms ({r['cpu_ratio']:.1f}x)",
            f"{raw['cpu_per_update_ms']:.4f} ms",
            verdict(r["cpu_ratio"], 15),
        ),
        (
            "4",
            "≤ 60 KB per connected learner",
            f"{r['kb_per_learner']:.0f} KB",
            "",
            verdict(r["kb_per_learner"], 60),
        ),
        (
            "4",
            "teacher action → last of the class ≤ 500 ms",
            ms(worst) + (f", {missing} never" if missing else ""),
            "",
            verdict(worst if not missing else math.inf, 500),
        ),
    ]
    return lines, glance


# -------------------------------------------------------------------------- interaction


def interaction_section(r: dict[str, Any]) -> tuple[list[str], list[Glance]]:
    bare = r["bare"]["server"]["p95_ms"]
    live = r["live"]
    lines = [
        f"## 5. The desk under a live market: 20 learners, {r['processes']} daphne process",
        "",
        "**How.** One daphne process with its embedded ticker (`make run`'s deployment). "
        "Each of 20 learners has their own practice account with their desk open over a "
        "websocket, so their markets tick (once a second each) and push while they work: "
        "a thread each with its own HTTP connection drags the slider over four stops (a "
        "preview each time the slider rests, 250 ms apart, as the desk asks for them), "
        "places an order, loads the bare view, thinks for a second, and again. Server time "
        "is Django's own `Server-Timing` `total` (from the request reaching Django to the "
        "response being ready, the hand-over to the request's worker thread, its wait for "
        "its turn behind other requests and any wait for the interpreter included); the "
        "round trip adds the network and daphne.",
        "",
        f"- Live markets in the window: {live['markets']} ticking, "
        f"{live['ticks_per_market_second']:.2f} ticks a second each (1 wanted), "
        f"{live['pushes_per_second']:.1f} pushes a second received by the desks"
        + (
            f"; **{len(live['failed'])} desks could not connect or dropped** "
            f"({'; '.join(sorted(set(live['failed']))[:2])})"
            if live["failed"]
            else ""
        )
        + ".",
        "",
        "| request | per second | server p50 | server p95 | round trip p95 "
        "| server p95 / bare view |",
        "|---|---|---|---|---|---|",
    ]
    for kind, label in (
        ("preview", "leverage-slider preview"),
        ("order", "order post"),
        ("bare", "bare Django view (baseline)"),
    ):
        row = r[kind]
        server, trip = row["server"], row["round_trip"]
        lines.append(
            f"| {label} | {row['per_second']:.1f} | {ms(server['p50_ms'])} | "
            f"{ms(server['p95_ms'])} | {ms(trip['p95_ms'])} | "
            f"{server['p95_ms'] / bare:.1f} |"
        )
    alone = r["alone"]
    preview = r["preview"]["server"]["p95_ms"]
    order = r["order"]["server"]["p95_ms"]
    lines += [
        "",
        f"One learner alone, back to back, the markets still live: preview p50 "
        f"{ms(alone['preview']['p50_ms'])}, p95 {ms(alone['preview']['p95_ms'])}; order "
        f"p50 {ms(alone['order']['p50_ms'])}, p95 {ms(alone['order']['p95_ms'])}; "
        f"{r['statements_per_order']} SQL statements an order.",
        "",
        f"- Target preview p95 ≤ 15 ms: {ms(preview)}, {verdict(preview, 15)}; order post "
        f"p95 ≤ 30 ms: {ms(order)}, {verdict(order, 30)}.",
    ]
    if preview > 15 or order > 30:
        app = r["order"]["app"]["p95_ms"]
        lines.append(
            f"- **Why:** the order's own work (Django's `app` time) is {ms(app)} at p95 and "
            f"{ms(alone['order']['p50_ms'])} alone; the rest of the "
            f"{ms(order)} is waiting for the process (the bare view's p95 is {ms(bare)} "
            f"against {ms(r['bare']['app']['p95_ms'])} of its own work), which the "
            f"{live['markets']} markets' ticks and pushes share."
        )
    lines.append("")
    glance: list[Glance] = [
        (
            "5",
            "slider preview p95 ≤ 15 ms, live market",
            ms(preview),
            f"bare view {ms(bare)}",
            verdict(preview, 15),
        ),
        (
            "5",
            "order post p95 ≤ 30 ms, live market",
            ms(order),
            f"bare view {ms(bare)}",
            verdict(order, 30),
        ),
    ]
    return lines, glance


# -------------------------------------------------------------------------- scale-out


def scaleout_section(r: dict[str, Any]) -> tuple[list[str], list[Glance]]:
    title = "## 6. Beyond one machine: 1,000 learners, two web processes, a ticker process"
    if "skipped" in r:
        return [title, "", r["skipped"], ""], [
            ("6", "1,000 learners, scale-out", r["skipped"], "", "**not measured**")
        ]
    if "error" in r:
        return [title, "", f"**The run failed:** {r['error']}", ""], [
            ("6", "1,000 learners, scale-out", "run failed", "", "**missed**")
        ]
    t, p = r["thousand"], r["projection"]
    bad = t["handshakes_failed"] + t["no_snapshot"] + t["dropped"]
    delivered = bool(t["expected"] and t["updates"])
    cpu = t["cpu_s"]
    lines = [
        title,
        "",
        f"**How.** PostgreSQL and Redis started on this machine, two daphne processes "
        "(`SANDBOX_TICKER=off`) and one `runticker` process, each started here. "
        f"{t['learners']:,} learners in {t['rooms']} rooms (positions open, leaderboard "
        f"on, 2 ticks a second), their desks opened at {t['connects_per_second']} a "
        "second, alternately on the two processes; then a "
        f"{t['window_s']:.0f} s window. CPU of each process over the window "
        "(PostgreSQL: the postmaster, its backends and the backends that ended), Redis's "
        "commands and PostgreSQL's committed transactions over the same window.",
        "",
        f"- Handshakes failed: **{t['handshakes_failed']}**, without a snapshot "
        f"{t['no_snapshot']}, dropped {t['dropped']} (target none: {verdict(bad, 0)})"
        + (f"; errors: {'; '.join(t['errors'])}" if t["errors"] else "")
        + ".",
        f"- Ticks: {t['ticks']} in the window, the slowest room at "
        f"{t['tick_rate_per_room']:.2f} a second; delivered {t['delivered']:,} of "
        f"{t['expected']:,} expected, **lost {t['lost']}**, out of order "
        f"{t['out_of_order']} (target none lost: "
        + (verdict(t["lost"] + t["out_of_order"], 0) if t["expected"] else "**not measured**")
        + ").",
        *[f"  - lost in the {loss}" for loss in t.get("losses", [])],
        f"- Tick to screen: {spread(t['latency_ms'], 'p50', 'p99', 'max')}.",
        *(
            [
                f"- **Why:** each web process's feed drew up to {t['web_draw_desks']} desks a "
                f"pass, {spread(t['web_draw_ms'], 'p50', 'p99', 'max')} a pass; the "
                f"feeds' drawings added up to {t['web_drawing_share']:.0%} of the window in "
                "each process (measured in the processes; the rooms' feeds draw at once)"
                + (
                    ": ticks came about as fast as they were drawn."
                    if t["web_drawing_share"] >= 0.8
                    else "."
                )
            ]
            if t["lost"] and "web_draw_ms" in t
            else []
        ),
        "- CPU over the window: "
        + ", ".join(
            f"{name} {cpu[name]:.2f} s"
            for name in ("web-a", "web-b", "ticker", "postgres", "redis")
            if name in cpu
        )
        + f"; {t['updates']:,} messages delivered.",
        f"- Measured costs: {t['web_cpu_per_update_ms']:.2f} ms of web CPU per delivered "
        f"message; per tick {t['ticker_cpu_per_tick_ms']:.1f} ms of ticker CPU, "
        f"{t['postgres_cpu_per_tick_ms']:.1f} ms of PostgreSQL CPU and "
        f"{t['postgres_commits_per_tick']:.1f} transactions, "
        f"{t['redis_cpu_per_tick_ms']:.2f} ms of Redis CPU and "
        f"{t['redis_commands_per_tick']:.1f} commands.",
        "",
    ]
    if not delivered:
        lines += [
            f"**On paper: {p['learners']:,} learners in {p['rooms']} rooms**: not computed, "
            "no desk received a tick in the window, so there is no cost per update.",
            "",
        ]
    else:
        lines += projection_lines(t, p)
    glance: list[Glance] = [
        (
            "6",
            "1,000 learners at 50 connects/s: no failed handshake",
            f"{bad} failed",
            "",
            verdict(bad, 0),
        ),
        (
            "6",
            "1,000 learners: no tick lost",
            f"{t['lost']} lost of {t['expected']:,}",
            "",
            verdict(t["lost"], 0) if t["expected"] else "**not measured**",
        ),
        ("6", "1,000 learners: p99 reported", ms(t["p99_ms"]), "", "reported"),
    ]
    return lines, glance


def projection_lines(t: dict[str, Any], p: dict[str, Any]) -> list[str]:
    """What the projection's learners and rooms need, from the run's measured costs."""
    return [
        f"**On paper: {p['learners']:,} learners in {p['rooms']} rooms** at 2 ticks a "
        f"second is {p['updates_per_second']:,.0f} desk updates and "
        f"{p['ticks_per_second']:,.0f} ticks a second. At this run's costs, planning each "
        f"process at {p['core_share']:.0%} of a core:",
        "",
        "| part | load | cores | processes |",
        "|---|---|---|---|",
        f"| web (daphne) | {p['updates_per_second']:,.0f} updates/s × "
        f"{t['web_cpu_per_update_ms']:.2f} ms | {p['web_cores']:.1f} | {p['web_processes']} |",
        f"| ticker (runticker) | {p['ticks_per_second']:,.0f} ticks/s × "
        f"{t['ticker_cpu_per_tick_ms']:.1f} ms | {p['ticker_cores']:.1f} | "
        f"{p['ticker_processes']} |",
        f"| PostgreSQL | {p['postgres_commits_per_second']:,.0f} transactions/s | "
        f"{p['postgres_cores']:.1f} | one server |",
        f"| Redis | {p['redis_commands_per_second']:,.0f} commands/s | "
        f"{p['redis_cores']:.2f} | one server |",
        "",
        "Measured with rooms of 200 to 300 on two web processes: rooms of about 33 make "
        "lighter ticks (fewer accounts and rankings), so the ticker and PostgreSQL figures "
        "are upper bounds; but each web process's feed then shares one drawing of a tick "
        "among fewer desks, and each tick's message reaches more processes through Redis, "
        "so the web and Redis figures are lower bounds.",
        "",
    ]


def glance_table(rows: list[Glance]) -> list[str]:
    lines = [
        "| # | target | measured | baseline (same run) | verdict |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {n} | {target} | {measured} | {base} | {v} |" for n, target, measured, base, v in rows
    ]
    return lines + [""]
