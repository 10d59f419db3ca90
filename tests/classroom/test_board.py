"""The class board: right for every contract (XBT balances and the inverse XBTUSD counted,
chosen margin beside the effective leverage), and ranked once per tick and room however
many desks draw it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal, localcontext
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from sandbox import engine
from sandbox.classroom import selectors, services
from sandbox.classroom.models import Room, RoomMember
from sandbox.classroom.panel import BOARD_EVERY, RoomPanel
from sandbox.desk import services as desk_services
from sandbox.desk.models import Market
from sandbox.engine.money import engine_context
from sandbox.live.render import Seen, Viewer, desk_updates

from .conftest import RoomLearner, create_room, join_room, quiet, reload_room, text, tick

D = Decimal


@pytest.fixture(autouse=True)
def no_kept_boards() -> Iterator[None]:
    selectors.forget_boards()
    yield
    selectors.forget_boards()


@pytest.fixture
def computations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each time a class is ranked: the room's id."""
    calls: list[int] = []
    rank = selectors._learner_rows

    def counted(room: Room, market: Market) -> Any:
        calls.append(room.pk)
        return rank(room, market)

    monkeypatch.setattr(selectors, "_learner_rows", counted)
    return calls


def export(client: Client, room: Room) -> list[list[str]]:
    response = client.get(f"/rooms/{room.code}/export.csv")
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(text(response))))


# ------------------------------------------------------------- an inverse short and XBT


@pytest.fixture
def xbt_room(teacher_client: Client) -> Room:
    """USDT 10,000 and 1 XBT each; XBTUSDT and the inverse XBTUSD, both at 60,000."""
    return quiet(
        create_room(teacher_client, xbt="1", symbols=["XBTUSDT", "XBTUSD"], max_leverage="100")
    )


def short_20x(learner: RoomLearner) -> None:
    """30,000 USD contracts of XBTUSD sold at 60,000 under isolated 20x: a value of 0.5 XBT,
    0.025 XBT of margin and a 0.00025 XBT fee."""
    assert learner.leverage(20, "XBTUSD").status_code == 302
    assert learner.order("sell", "30000", "XBTUSD").status_code == 302


def test_a_losing_20x_xbtusd_short_counts_on_the_board(
    xbt_room: Room, teacher_client: Client
) -> None:
    ada = join_room(xbt_room, "Ada")
    join_room(xbt_room, "Bea")  # holds her starting balances
    short_20x(ada)
    for symbol in ("XBTUSD", "XBTUSDT"):
        services.room_set_price(room=xbt_room, symbol=symbol, price=D(62500))

    rows = {row.member.display_name: row for row in selectors.learner_rows(reload_room(xbt_room))}
    ada_row, bea_row = rows["Ada"], rows["Bea"]
    # XBT: 1 − 0.00025 fee − 0.02 unrealised (30,000/60,000 − 30,000/62,500), at 62,500.
    assert ada_row.balances == {"USDT": D(10000), "XBT": D("0.97975")}
    assert ada_row.equity == D("71234.375")
    # Against 10,000 USDT and 1 XBT at the same mark: 72,500.
    with localcontext(engine_context()):
        assert ada_row.return_percent == D("-1265.625") / D(72500) * 100
        assert ada_row.leverage_used == D(30000) / D("71234.375")
    assert bea_row.equity == D(72500)
    assert bea_row.return_percent == 0
    [position] = ada_row.positions
    assert (position.symbol, position.is_long, position.margin_mode.value) == (
        "XBTUSD",
        False,
        "isolated",
    )
    assert position.leverage == 20
    ranking = selectors.leaderboard(list(rows.values()))
    assert [row.member.display_name for row in ranking] == ["Bea", "Ada"]

    board = text(teacher_client.get(f"/rooms/{xbt_room.code}/board/"))
    ada_line = board[board.index('<tr data-learner="Ada">') :]
    ada_line = ada_line[: ada_line.index("</tr>")]
    assert "<td data-equity>71,234.375<br><small>10,000 USDT + 0.97975 XBT</small></td>" in (
        ada_line
    )
    assert '<td class="loss" data-return>-1.75%</td>' in ada_line
    assert "<td data-positions>XBTUSD short, isolated 20x</td>" in ada_line
    assert "<td data-leverage>0.42x</td>" in ada_line
    assert "XBT valued at the XBTUSDT mark (62,500)" in board
    assert '<tr data-place="1"><td>1</td><th scope="row">Bea</th>' in board
    assert '<tr data-place="2"><td>2</td><th scope="row">Ada</th>' in board

    header, *lines = export(teacher_client, xbt_room)
    assert header[4] == "final equity (USDT; XBT valued at the XBTUSDT mark (62500))"
    assert header[6:9] == [
        "margin balance (USDT)",
        "margin balance (XBT)",
        "positions (chosen margin)",
    ]
    by_name = {line[0]: line for line in lines}
    assert by_name["Ada"][4:] == [
        "71234.37500000",
        "-1.75",
        "10000.00000000",
        "0.97975000",
        "XBTUSD short isolated 20x",
        "0.42",
    ]
    assert by_name["Bea"][4:] == [
        "72500.00000000",
        "0.00",
        "10000.00000000",
        "1.00000000",
        "",
        "",
    ]


def test_a_room_with_only_the_inverse_contract_values_xbt_at_its_mark(
    teacher_client: Client,
) -> None:
    room = quiet(create_room(teacher_client, xbt="1", symbols=["XBTUSD"], max_leverage="100"))
    join_room(room, "Ada")
    services.room_set_price(room=room, symbol="XBTUSD", price=D(50000))

    [row] = selectors.learner_rows(reload_room(room))
    assert row.equity == D(60000)
    assert row.return_percent == 0
    board = text(teacher_client.get(f"/rooms/{room.code}/board/"))
    assert "XBT valued at the XBTUSD mark (50,000, 1 USD counted as 1 USDT)" in board


def test_cross_and_isolated_are_shown_per_position(xbt_room: Room, teacher_client: Client) -> None:
    ada = join_room(xbt_room, "Ada")
    short_20x(ada)
    assert ada.leverage(0, "XBTUSDT").status_code == 302  # the slider's far left: cross
    assert ada.order("buy", "0.1", "XBTUSDT").status_code == 302

    board = text(teacher_client.get(f"/rooms/{xbt_room.code}/board/"))
    assert "<td data-positions>XBTUSD short, isolated 20x<br>XBTUSDT long, cross</td>" in board
    [line] = export(teacher_client, xbt_room)[1:]
    assert line[8] == "XBTUSD short isolated 20x; XBTUSDT long cross"


# ------------------------------------------------------------ ranked once per tick


def learners(room: Room, count: int) -> list[RoomMember]:
    for n in range(count):
        services.room_join(room=room, display_name=f"learner {n:03}")
    return list(RoomMember.objects.filter(room=room).order_by("pk"))


def snapshots(room: Room, members: list[RoomMember]) -> list[str | None]:
    """Each learner's desk connecting, one after the other: a snapshot each."""
    return [
        push
        for member in members
        for push in desk_updates(
            room.market_id, [Viewer(member.account_id, "XBTUSDT", Seen())], full=True
        )
    ]


@pytest.mark.parametrize("count", [3, 12])
def test_a_class_connecting_at_once_is_ranked_once(
    room: Room, computations: list[int], count: int
) -> None:
    members = learners(room, count)

    pushes = snapshots(room, members)

    assert computations == [room.pk]
    assert all(push and 'id="room-panel"' in push for push in pushes)
    last = members[-1]
    assert f'aria-current="true" class="me">{last.display_name}: 0% (you)</li>' in str(pushes[-1])


def panel_queries(room: Room, member: RoomMember) -> int:
    market = Market.objects.get(pk=room.market_id)
    with CaptureQueriesContext(connection) as queries:
        shown = RoomPanel().load(market, [member.account_id], fresh=True)
    assert shown[member.account_id].context["ranking"]
    return len(queries)


def test_a_desk_connecting_costs_the_same_in_a_class_of_3_or_30(
    teacher_client: Client, computations: list[int]
) -> None:
    small = create_room(teacher_client, name="Small")
    large = create_room(teacher_client, name="Large")
    few, many = learners(small, 3), learners(large, 30)
    panel_queries(small, few[0])  # ranks the class
    panel_queries(large, many[0])

    assert (
        panel_queries(small, few[-1])
        == panel_queries(large, many[-1])
        == panel_queries(large, many[1])
    )
    assert computations == [small.pk, large.pk]


def test_a_desk_connecting_a_tick_after_the_re_ranking_costs_the_same_in_a_class_of_3_or_30(
    teacher_client: Client, computations: list[int]
) -> None:
    """The class's panels were re-ranked; on the next tick a desk connects: its snapshot
    runs as many queries in a class of 30 as of 3, and ranks neither class."""
    small = create_room(teacher_client, name="Small")
    large = create_room(teacher_client, name="Large")
    few, many = learners(small, 3), learners(large, 30)
    for room in (small, large):
        services.room_play(room=room, running=True)
        to_re_ranking(room)
        snapshots(room, learners(room, 0)[:1])  # the re-ranking tick's panels: ranked
        tick(room)
    assert computations == [small.pk, large.pk]

    def queries(room: Room, member: RoomMember) -> int:
        with CaptureQueriesContext(connection) as captured:
            (push,) = snapshots(room, [member])
        assert f'class="me">{member.display_name}: ' in str(push)
        return len(captured)

    assert queries(small, few[-1]) == queries(large, many[-1]) == queries(large, many[5])
    assert computations == [small.pk, large.pk]


def test_ranking_a_class_reads_in_bulk(teacher_client: Client) -> None:
    small = create_room(teacher_client, name="Small")
    large = create_room(teacher_client, name="Large")
    for room, count in ((small, 2), (large, 25)):
        for member in learners(room, count)[:2]:
            desk_services.order_place(
                account=member.account, symbol="XBTUSDT", side=engine.Side.BUY, qty=D("0.01")
            )

    def reads(room: Room) -> int:
        with CaptureQueriesContext(connection) as queries:
            rows = selectors.learner_rows(reload_room(room))
        assert sum(row.trades for row in rows) == 2
        return len(queries)

    assert reads(small) == reads(large)


def to_re_ranking(room: Room) -> Market:
    """The room's market ticked to its next tick at which the class is re-ranked."""
    tick(room)
    while Market.objects.get(pk=room.market_id).sequence % BOARD_EVERY:
        tick(room)
    return Market.objects.get(pk=room.market_id)


def test_the_ranking_is_computed_again_on_the_next_re_ranking_tick(
    room: Room, computations: list[int]
) -> None:
    room = quiet(room)
    services.room_play(room=room, running=True)
    members = learners(room, 4)
    ranked = to_re_ranking(room)
    snapshots(room, members)
    tick(room)  # between two re-rankings: the desks show the class's board
    snapshots(room, members)
    assert computations == [room.pk]
    board = selectors.class_board(room, Market.objects.get(pk=room.market_id), every=BOARD_EVERY)
    assert board.sequence == ranked.sequence

    again = to_re_ranking(room)
    snapshots(room, members)
    snapshots(room, members)

    assert computations == [room.pk, room.pk]
    board = selectors.class_board(room, again, every=BOARD_EVERY)
    assert board.sequence == again.sequence == ranked.sequence + BOARD_EVERY


def rows_of(push: str | None) -> str:
    """The leaderboard's rows of a pushed panel."""
    assert push is not None
    return push.split('<ol class="leaderboard">')[1].split("</ol>")[0]


def test_a_desk_connecting_between_re_rankings_shows_the_board_the_class_shows(
    room: Room, computations: list[int]
) -> None:
    """The class's panels are re-ranked on a re-ranking tick; a desk connecting on a
    later tick shows the very rows its classmates' panels show (their figures of that
    tick, not of the later one), and the class is not ranked for it; the teacher's board
    still ranks the class at its own tick."""
    services.room_play(room=room, running=True)  # prices move on every tick
    members = learners(room, 13)
    for n, member in enumerate(members):  # longs and shorts: every tick moves the returns
        side = engine.Side.BUY if n % 2 else engine.Side.SELL
        desk_services.order_place(
            account=member.account, symbol="XBTUSDT", side=side, qty=D("0.01") * (n + 1)
        )
    ranked = to_re_ranking(room)
    ids = [m.account_id for m in members]
    pushed = desk_updates(room.market_id, [Viewer(i, "XBTUSDT", Seen()) for i in ids], room=True)
    assert computations == [room.pk]
    tick(room)
    later = Market.objects.get(pk=room.market_id)
    assert later.sequence == ranked.sequence + 1

    connected = snapshots(room, members)

    assert computations == [room.pk]
    for on_tick, snapshot in zip(pushed, connected, strict=True):
        assert rows_of(snapshot) == rows_of(on_tick)
    board = selectors.class_board(room, later, every=BOARD_EVERY)
    assert board.sequence == ranked.sequence
    # The teacher's board: this very tick.
    assert selectors.class_board(room, later).sequence == later.sequence
    assert computations == [room.pk, room.pk]


def test_a_trade_between_re_rankings_ranks_the_class_anew_at_once(
    room: Room, computations: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    room = quiet(room)
    services.room_play(room=room, running=True)
    ada, bob = join_room(room, "Ada"), join_room(room, "Bob")
    to_re_ranking(room)
    assert '<li value="1" aria-current="true" class="me">Ada: 0% (you)</li>' in text(ada.desk())
    tick(room)
    with django_capture_on_commit_callbacks(execute=True):
        assert ada.order("buy", "1").status_code == 302  # pays 30: Ada last

    desk = text(ada.desk())
    assert '<li value="1">Bob: 0%</li>' in desk
    assert '<li value="2" aria-current="true" class="me">Ada: -0.3% (you)</li>' in desk
    assert '<li value="1" aria-current="true" class="me">Bob: 0% (you)</li>' in text(bob.desk())
    assert len(computations) == 2  # at the re-ranking tick, and after the trade


def test_a_learner_who_traded_sees_their_new_place_at_the_same_tick(
    room: Room, computations: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    room = quiet(room)
    ada, bob = join_room(room, "Ada"), join_room(room, "Bob")
    assert '<li value="1" aria-current="true" class="me">Ada: 0% (you)</li>' in text(ada.desk())
    with django_capture_on_commit_callbacks(execute=True):
        assert bob.order("buy", "0.1").status_code == 302  # pays a 3 USDT fee
        assert ada.order("buy", "1").status_code == 302  # pays 30: Ada last

    desk = text(ada.desk())
    assert '<li value="1">Bob: -0.03%</li>' in desk
    assert '<li value="2" aria-current="true" class="me">Ada: -0.3% (you)</li>' in desk
    assert len(computations) == 2  # once before the trades, once after the last


def test_a_teacher_price_between_ticks_is_ranked_anew(
    room: Room, computations: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    room = quiet(room)
    ada = join_room(room, "Ada")
    join_room(room, "Bob")
    assert ada.order("buy", "0.1").status_code == 302
    first = selectors.class_board(reload_room(room))
    assert [r.member.display_name for r in first.ranking] == ["Bob", "Ada"]

    with django_capture_on_commit_callbacks(execute=True):
        services.room_set_price(room=room, symbol="XBTUSDT", price=D(61000))
    again = selectors.class_board(reload_room(room))

    assert [r.member.display_name for r in again.ranking] == ["Ada", "Bob"]
    assert again.places == {again.ranking[0].member.pk: 1, again.ranking[1].member.pk: 2}
    assert len(computations) == 2


def test_a_board_kept_for_an_older_tick_is_not_served_to_a_newer_one(
    room: Room, computations: list[int]
) -> None:
    join_room(room, "Ada")
    market = Market.objects.get(pk=room.market_id)
    selectors.class_board(room, market)
    Market.objects.filter(pk=market.pk).update(sequence=market.sequence + 1)
    newer = Market.objects.get(pk=market.pk)

    board = selectors.class_board(room, newer)

    assert board.sequence == market.sequence + 1
    assert len(computations) == 2
