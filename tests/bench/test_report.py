"""bench/results.md's sections: a met target says met, a miss says missed with its cause
taken from the run's own figures, and what was not measured says so."""

from __future__ import annotations

import math
from typing import Any

from bench import report
from bench.scaleout import projection


def spread(p50: float, p99: float, top: float, total: float = 0.0) -> dict[str, float]:
    return {"p50": p50, "p95": p99, "p99": p99, "max": top, "count": 10, "sum": total}


def fanout(**changes: Any) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "learners": 300,
        "connected": 300,
        "rate": 2.0,
        "speed": 60,
        "window_s": 20.0,
        "ticks": 40,
        "gap_ms": spread(500, 510, 512),
        "start_gap_ms": spread(500, 505, 506),
        "ledger_ticks": 4,
        "tick_rate": 2.0,
        "expected": 12000,
        "delivered": 12000,
        "lost": 0,
        "out_of_order": 0,
        "latency_ms": spread(40, 180, 200),
        "ledger_latency_ms": spread(90, 200, 210),
        "messages_window": 13000,
        "bytes_per_update": 3500.0,
        "cpu_s": 6.0,
        "cpu_per_update_ms": 0.46,
        "rss_idle_kb": 90000,
        "rss_connected_kb": 105000,
        "rss_readings": 40,
        "rss_max_kb": 108000,
        "rss_end_kb": 106000,
        "kb_per_learner": 50.2,
        "kb_per_learner_max": 60.2,
        "kb_per_learner_end": 53.5,
        "actions": {
            "close": {"answered_ms": 40.0, "last_ms": 300.0, "p50_ms": 250.0, "missing": 0}
        },
        "draw_ms": spread(60, 120, 130, 2400),
        "draw_desks": 300,
        "tick_ms": spread(15, 40, 45),
        "raw": {
            "clients": 300,
            "bytes": 3500,
            "failed": 0,
            "messages": 12000,
            "cpu_s": 0.48,
            "cpu_per_update_ms": 0.04,
            "window_s": 20.0,
        },
        "cpu_ratio": 11.5,
    }
    figures.update(changes)
    return figures


def test_verdicts() -> None:
    assert report.verdict(250, 250) == "met"
    assert report.verdict(251, 250) == "**missed**"
    assert report.verdict(1.95, 1.95, at_least=True) == "met"
    assert report.verdict(1.9, 1.95, at_least=True) == "**missed**"
    assert report.verdict(math.nan, 1) == "**not measured**"


def test_a_fanout_that_meets_every_target_says_met_and_gives_no_cause() -> None:
    lines, glance = report.fanout_section(fanout())
    text = "\n".join(lines)

    assert [row[4] for row in glance] == ["met"] * 6
    assert "p99 180 ms" in text
    assert "11.5x (target ≤ 15x: met)" in text
    assert "Why the misses" not in text


def test_a_fanout_miss_is_printed_with_its_cause_from_the_figures() -> None:
    late = fanout(
        latency_ms=spread(150, 420, 450),
        draw_ms=spread(380, 400, 410, 15200),
        tick_rate=1.8,
        gap_ms=spread(555, 600, 610),
        start_gap_ms=spread(555, 600, 610),
        tick_ms=spread(12, 30, 35),
    )

    lines, glance = report.fanout_section(late)
    text = "\n".join(lines)

    verdicts = {row[1]: row[4] for row in glance}
    assert verdicts["tick-to-screen p99 ≤ 250 ms"] == "**missed**"
    assert verdicts["achieved tick rate ≥ 1.95/s"] == "**missed**"
    assert "p99 420 ms, max 450 ms (target p99 ≤ 250 ms: **missed**)" in text
    assert "the feed's drawing of up to 300 desks took p50 380 ms, p99 400 ms" in text
    # 55 ms over the interval while a tick takes 12 ms: the scheduling, not the work.
    assert "ticks began every 555 ms (p50), 55 ms over the 500 ms interval" in text
    assert "the ticker's scheduling, not the tick's work" in text


def test_memory_is_the_median_reading_with_its_highest_and_last_beside_it() -> None:
    lines, glance = report.fanout_section(fanout())
    text = "\n".join(lines)
    assert "50 KB: the median of 40 readings" in text
    assert "(102.5 MB with 300 desks), less the median with one desk (87.9 MB)" in text
    assert "(target ≤ 60 KB: met); from the window's highest reading 60 KB" in text
    assert "from its last 54 KB" in text

    heavy = fanout(rss_connected_kb=110000, kb_per_learner=67.1)
    lines, glance = report.fanout_section(heavy)
    text = "\n".join(lines)
    assert {row[1]: row[4] for row in glance}["≤ 60 KB per connected learner"] == "**missed**"
    assert "the process grew by 19.5 MB for 299 more desks (67 KB each" in text


def test_a_slow_teacher_action_names_itself_and_its_own_answer_time() -> None:
    actions = {
        "close": {"answered_ms": 120.0, "last_ms": 160.0, "p50_ms": 150.0, "missing": 0},
        "price": {"answered_ms": 507.0, "last_ms": 577.0, "p50_ms": 562.0, "missing": 0},
    }

    lines, glance = report.fanout_section(fanout(actions=actions))
    text = "\n".join(lines)

    assert glance[-1][2:] == ("577 ms", "", "**missed**")
    assert (
        "set the price reached the last learner after 577 ms, of which the teacher's post "
        "took 507 ms to answer" in text
    )
    assert "the feed's drawing of up to 300 desks took" not in text  # p99 was met


def test_a_lost_tick_and_a_teacher_action_never_seen_are_misses() -> None:
    actions = {"open": {"answered_ms": 40.0, "last_ms": 200.0, "p50_ms": 150.0, "missing": 3}}

    lost = fanout(lost=600, lost_ticks={57: 300, 58: 300}, lost_draw_ms={57: 486.0, 58: 640.0})
    lines, glance = report.fanout_section({**lost, "actions": actions})
    text = "\n".join(lines)

    verdicts = {row[1]: (row[2], row[4]) for row in glance}
    assert verdicts["no tick lost or out of order"] == (
        "600 lost, 0 out of order of 12,000",
        "**missed**",
    )
    assert (
        "600 tick updates never shown: tick 57 at 300 clients (the feed's longest drawing "
        "around it 486 ms), tick 58 at 300 clients (the feed's longest drawing around it "
        "640 ms); drawings longer than the 500 ms interval" in text
    )
    assert verdicts["teacher action → last of the class ≤ 500 ms"] == (
        "200 ms, 3 never",
        "**missed**",
    )


def test_the_crash_says_why_the_notices_were_late() -> None:
    crash = {
        "learners": 300,
        "connected": 300,
        "interval_ms": 500.0,
        "gaps_before_ms": spread(510, 520, 530),
        "liquidated": 300,
        "sequence": 9,
        "notice_ms": spread(4000, 10500, 11000),
        "notices_missing": 0,
        "next_gap_ms": 11020.0,
        "next_late_ms": 10520.0,
        "tick_ms": 680.0,
        "renders": 300,
        "render_ms_total": 10480.0,
        "draw_ms_total": 0.0,
    }

    lines, glance = report.crash_section(crash)
    text = "\n".join(lines)

    assert [row[4] for row in glance] == ["**missed**", "**missed**"]
    assert "late by 10,520 ms" in text
    assert "drew 300 desks one at a time (10,480 ms in all)" in text

    early = {**crash, "notice_ms": spread(300, 320, 330), "next_gap_ms": 380.0}
    lines, glance = report.crash_section({**early, "next_late_ms": -120.0})
    assert [row[4] for row in glance] == ["met", "met"]
    assert "380 ms after the liquidating one: not late (target" in "\n".join(lines)

    batched = {**crash, "renders": 0, "whole_passes": 3, "whole_desks": 300}
    lines, _ = report.crash_section({**batched, "whole_ms_total": 2100.0})
    assert "drew 300 desks whole in 3 passes (2,100 ms)" in "\n".join(lines)


def test_a_scale_out_run_that_could_not_run_says_why() -> None:
    lines, glance = report.scaleout_section({"skipped": "not measured: redis-server missing"})

    assert "not measured: redis-server missing" in lines
    assert glance[0][4] == "**not measured**"


def test_the_projection_follows_the_measured_costs() -> None:
    measured = {
        "web_cpu_per_update_ms": 0.35,
        "ticker_cpu_per_tick_ms": 4.0,
        "postgres_cpu_per_tick_ms": 2.0,
        "postgres_commits_per_tick": 3.0,
        "redis_cpu_per_tick_ms": 0.1,
        "redis_commands_per_tick": 6.0,
    }

    plan = projection(measured)

    assert plan["updates_per_second"] == 20000
    assert plan["ticks_per_second"] == 600
    assert math.isclose(plan["web_cores"], 7.0)
    assert plan["web_processes"] == 10  # 7 cores at 70% of a core each
    assert math.isclose(plan["ticker_cores"], 2.4)
    assert plan["ticker_processes"] == 4
    assert math.isclose(plan["postgres_cores"], 1.2)
    assert plan["postgres_commits_per_second"] == 1800
    assert plan["redis_commands_per_second"] == 3600


def test_the_bell_counts_failed_handshakes_and_compares_one_socket_in_two_classes() -> None:
    alone = {"handshake_ms": spread(10, 20, 25), "snapshot_ms": spread(40, 60, 70)}
    bigger = {"handshake_ms": spread(12, 22, 25), "snapshot_ms": spread(90, 120, 130)}
    bell = {
        "learners": 300,
        "seconds": 2.0,
        "handshakes_failed": 39,
        "no_snapshot": 1,
        "dropped": 0,
        "errors": ["InvalidMessage: did not receive a valid HTTP response"],
        "all_ready_s": 9.5,
        "quiet_after_s": 3.0,
        "handshake_ms": spread(1200, 4800, 5000),
        "snapshot_ms": spread(2900, 8000, 9000),
        "after_expected": 1500,
        "after_delivered": 1500,
        "after_lost": 0,
        "after_out_of_order": 0,
        "after_tick_rate": 1.9,
        "bell_whole_passes": 0,
        "bell_whole_desks": 0,
        "bell_whole_ms": 0.0,
        "bell_renders": 300,
        "bell_render_ms": 8600.0,
        "small_members": 30,
        "small_alone": alone,
        "big_members": 300,
        "big_alone": bigger,
        "hooks_missing": ["sandbox.live.feed._draw_whole"],
    }

    lines, glance = report.bell_section(bell, {"skipped": "not measured: no PostgreSQL"})
    text = "\n".join(lines)

    verdicts = {row[1]: (row[2], row[4]) for row in glance}
    assert verdicts["bell, one process: no failed handshake"] == ("40 failed", "**missed**")
    assert verdicts["accept + snapshot cost does not grow with the class"] == (
        "90 ms in 300",
        "**missed**",  # 2.25x the class of 30's
    )
    assert "300 desks one at a time (8,600 ms)" in text
    assert "the drawing above, 8,600 ms in 9.5 s" in text
    assert "Scale-out profile: not measured: no PostgreSQL." in text
    assert "bench.hooks found no sandbox.live.feed._draw_whole" in text


def test_a_scale_out_run_with_lost_ticks_says_what_the_web_processes_drew() -> None:
    thousand = {
        "learners": 1000,
        "rooms": 4,
        "connects_per_second": 50,
        "handshakes_failed": 0,
        "no_snapshot": 0,
        "dropped": 0,
        "errors": [],
        "window_s": 20.0,
        "ticks": 160,
        "tick_rate_per_room": 1.98,
        "expected": 40000,
        "delivered": 25000,
        "lost": 15000,
        "losses": ["room of 300: 4650 of 12000 (300 clients; tick 66 at 150)"],
        "out_of_order": 0,
        "latency_ms": spread(600, 1800, 2700),
        "web_draw_ms": spread(250, 900, 1100),
        "web_draw_desks": 150,
        "web_drawing_share": 0.93,
        "updates": 25000,
        "cpu_s": {"web-a": 4.3, "web-b": 4.2, "ticker": 0.9, "postgres": 0.8, "redis": 0.04},
        "web_cpu_per_update_ms": 0.34,
        "ticker_cpu_per_tick_ms": 5.6,
        "postgres_cpu_per_tick_ms": 5.0,
        "postgres_commits_per_tick": 15.8,
        "redis_cpu_per_tick_ms": 0.25,
        "redis_commands_per_tick": 1.7,
        "p99_ms": 1800.0,
    }
    measured = {
        "processes": "2 daphne",
        "thousand": thousand,
        "projection": projection(thousand),
    }

    lines, glance = report.scaleout_section(measured)
    text = "\n".join(lines)

    assert {row[1]: row[4] for row in glance}["1,000 learners: no tick lost"] == "**missed**"
    assert "lost in the room of 300: 4650 of 12000 (300 clients; tick 66 at 150)" in text
    assert "drawings added up to 93% of the window in each process" in text
    assert "| web (daphne) | 20,000 updates/s × 0.34 ms | 6.8 | 10 |" in text


def test_the_desk_under_a_live_market_says_how_much_of_the_order_is_waiting() -> None:
    def timing(server: float, app: float) -> dict[str, Any]:
        return {
            "server": {"p50_ms": server / 3, "p95_ms": server, "count": 100},
            "app": {"p50_ms": app / 3, "p95_ms": app, "count": 100},
            "round_trip": {"p50_ms": server / 2, "p95_ms": server + 20, "count": 100},
            "per_second": 10.0,
        }

    interaction = {
        "preview": timing(12.0, 8.0),
        "order": timing(101.0, 53.0),
        "bare": timing(21.0, 0.2),
        "processes": 1,
        "alone": {
            "preview": {"p50_ms": 4.1, "p95_ms": 14.0},
            "order": {"p50_ms": 9.7, "p95_ms": 30.0},
            "bare": {"p50_ms": 0.4, "p95_ms": 4.0},
        },
        "statements_per_order": 15,
        "live": {
            "window_s": 22.0,
            "markets": 20,
            "ticks_per_second": 20.4,
            "ticks_per_market_second": 1.02,
            "pushes_per_second": 19.0,
            "failed": ["InvalidMessage: did not receive a valid HTTP response"],
        },
    }

    lines, glance = report.interaction_section(interaction)
    text = "\n".join(lines)

    assert [row[4] for row in glance] == ["met", "**missed**"]
    assert "20 ticking, 1.02 ticks a second each" in text
    assert "**1 desks could not connect or dropped**" in text
    assert "the order's own work (Django's `app` time) is 53 ms at p95" in text
