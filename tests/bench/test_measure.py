"""The classroom benchmarks' pure parts: reading pushed messages, percentiles, the
servers' timestamp logs, and each client's ticks (lost, out of order, late)."""

from __future__ import annotations

import math

from bench.measure import (
    Arrival,
    Commit,
    delivery,
    first_after,
    parse,
    percentile,
    server_log,
    tick_rate,
)

TICK = '<p id="live-status" class="live-status" hx-swap-oob="true" data-sequence="{}">Tick</p>'


def tick(sequence: int, at: float, extra: str = "") -> Arrival:
    return parse(TICK.format(sequence) + extra, at)


def test_a_pushed_tick_is_read_for_its_sequence_and_what_it_shows() -> None:
    text = (
        TICK.format(41)
        + '<section id="balances"></section>'
        + '<section id="liquidation-7" class="notice liquidation-notice"></section>'
        + '<strong id="mark-price" data-sequence="41">60,123.5</strong>'
        + " · <strong>trading closed</strong>"
    )

    arrival = parse(text, 12.5)

    assert arrival.sequence == 41
    assert arrival.at == 12.5
    assert arrival.size == len(text.encode())
    assert arrival.whole and arrival.notice and arrival.closed
    assert not arrival.opened and not arrival.panel and not arrival.board
    assert arrival.mark == "60,123.5"


def test_a_message_without_a_status_line_has_no_sequence() -> None:
    arrival = parse('<div id="request-problem">Too many open desks</div>', 1.0)

    assert arrival.sequence is None
    assert not arrival.whole and not arrival.notice and arrival.mark is None


def test_the_empty_notices_box_of_a_snapshot_is_not_a_notice() -> None:
    arrival = parse('<div id="liquidation-notices" class="liquidation-notices"></div>', 1.0)

    assert not arrival.notice


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]

    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert math.isnan(percentile([], 50))


def test_the_servers_log_is_read_into_commits_ticks_and_drawing() -> None:
    rows = [
        line.split()
        for line in (
            "process 99 0 100.0",
            "commit 3 17 101.25 300 0",
            "pushed 3 17 101.30 0.05",
            "tick 3 17 101.0 0.30",
            "tick 3 -1 101.5 0.001",  # paused or not its lease: no tick
            "draw 3 299 101.3 0.42",
            "render 12 0 101.4 0.02",
            "missing feed._draw 0 100.0",
        )
    ]

    log = server_log(rows)

    assert log.commits[(3, 17)] == Commit(3, 17, 101.25, 300, False)
    assert log.ticks == [(3, 17, 101.0, 0.30)]
    assert log.pushes == [(3, 17, 0.05)]
    assert log.draws == [(3, 299, 101.3, 0.42)]
    assert log.renders == [(101.4, 0.02)]
    assert log.missing == ["feed._draw"]
    assert log.market_commits(3, 101.0, 102.0) == [log.commits[(3, 17)]]
    assert log.market_commits(4) == []


def test_a_client_that_received_every_tick_in_order_loses_none() -> None:
    commits = [Commit(1, s, 10.0 + s / 2, 0, s == 3) for s in (1, 2, 3)]
    client = [tick(1, 10.6), tick(2, 11.1), tick(2, 11.2), tick(3, 11.7)]  # a repeat is fine

    result = delivery([client], commits)

    assert (result.expected, result.delivered, result.lost, result.out_of_order) == (3, 3, 0, 0)
    assert [round(v) for v in result.latencies_ms] == [100, 100, 200]


def test_a_tick_a_client_never_showed_is_lost_and_an_older_one_is_out_of_order() -> None:
    commits = [Commit(1, s, float(s), 0, False) for s in (5, 6, 7)]
    whole = [tick(5, 5.1), tick(6, 6.1), tick(7, 7.1)]
    skipped = [tick(5, 5.1), tick(7, 7.2), tick(6, 7.3)]  # 6 arrives after 7
    missing = [tick(5, 5.1), tick(7, 7.2)]

    result = delivery([whole, skipped, missing], commits)

    assert result.expected == 9
    assert result.delivered == 8
    assert result.lost == 1
    assert result.clients_losing == 1
    assert result.out_of_order == 1
    assert result.lost_by_sequence == {6: 1}
    assert result.worst_lost() == "1 of 9 (1 clients; tick 6 at 1)"


def test_what_a_teacher_did_is_found_after_the_action_only() -> None:
    arrivals = [
        tick(1, 1.0, '<section id="room-panel">Trading is open.<ol class="leaderboard">'),
        tick(2, 2.0, " · <strong>trading closed</strong>"),
        tick(3, 3.0, '<section id="room-panel">Trading is open.</section>'),
        tick(4, 4.0, '<strong id="mark-price" data-sequence="4">60,180.0</strong>'),
    ]

    assert first_after(arrivals, 1.5, "close") == 2.0
    assert first_after(arrivals, 0.5, "open") == 1.0
    assert first_after(arrivals, 2.5, "open") == 3.0
    assert first_after(arrivals, 2.5, "hide_board") == 3.0
    assert first_after(arrivals, 1.5, "show_board") is None
    assert first_after(arrivals, 0.0, "price", "60,180.0") == 4.0
    assert first_after(arrivals, 0.0, "price", "60,000.0") is None
    # The next tick moved on, but its price line says where the teacher set the mark.
    moved = tick(5, 5.0, "<desc>Mark set by hand to 60,000.0 after tick 4.</desc>")
    assert moved.hands == ("60,000.0",)
    assert first_after([*arrivals, moved], 0.0, "price", "60,000.0") == 5.0
    assert first_after(arrivals, 0.0, "notice") is None


def test_the_tick_rate_counts_commits_inside_the_window() -> None:
    commits = [Commit(1, s, s * 0.5, 0, False) for s in range(0, 41)]  # 0 .. 20 s

    assert tick_rate(commits, 5.0, 15.0) == 21 / 10
    assert math.isnan(tick_rate(commits, 5.0, 5.0))
