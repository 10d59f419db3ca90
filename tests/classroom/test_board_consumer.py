"""The class board's websocket, and what a conductor action pushes to the learners' desks.

The tests talk to ``sandbox.asgi.router`` (the application without the embedded ticker)
through Channels' communicator; ticks and conductor actions are applied by the test, and
with the in-memory channel layer their broadcasts reach the consumers in this process.
"""

from __future__ import annotations

import re
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from sandbox.asgi import router
from sandbox.classroom import services
from sandbox.classroom.consumers import REFUSED
from sandbox.classroom.models import Room
from sandbox.live import consumers
from sandbox.live.consumers import FLOODED, TOO_MANY_SOCKETS
from sandbox.live.consumers import REFUSED as DESK_REFUSED
from tests.live.conftest import empty_channel_layer  # noqa: F401 (a fixture)
from tests.live.sockets import WAIT, opened, refused

from .conftest import RoomLearner, join_room, quiet, reload_room, tick

D = Decimal

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("empty_channel_layer"),
]

BOARD_OPEN = '<section id="board" class="card" aria-labelledby="board-title" hx-swap-oob="true">'


def session_cookie(client: Client) -> str:
    return "sessionid=" + client.cookies["sessionid"].value


def room_cookie(learner: RoomLearner) -> str:
    name = f"sandbox_room_{learner.member.room_id}"
    return f"{name}={learner.client.cookies[name].value}"


def communicator(
    path: str, cookie: str | None, origin: bytes = b"http://localhost"
) -> WebsocketCommunicator:
    headers = [(b"origin", origin), (b"host", b"localhost")]
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(router, path, headers=headers)


def board_path(code: str) -> str:
    return f"/ws/rooms/{code}/board/"


def connected(
    path: str, cookie: str | None
) -> AbstractAsyncContextManager[tuple[WebsocketCommunicator, str]]:
    """A connected socket and the snapshot it was sent on connect."""
    return opened(communicator(path, cookie))


def status(html: str) -> str:
    """The board's status line (tick, clock, trading, marks)."""
    found = re.search(r'<p class="live-status" data-sequence="\d+">.*?</p>', html, re.S)
    assert found is not None, html[:500]
    return " ".join(found.group(0).split())


atick = database_sync_to_async(tick)


@database_sync_to_async
def learners(room: Room, *names: str) -> list[RoomLearner]:
    return [join_room(room, name) for name in names]


# ------------------------------------------------------------------------- the board


async def test_the_teacher_gets_a_snapshot_then_an_update_after_a_tick(
    room: Room, teacher_client: Client
) -> None:
    room = await database_sync_to_async(quiet)(room)
    await learners(room, "Ada", "Grace")
    await database_sync_to_async(services.room_move)(room=room, symbol="XBTUSDT", percent=D(1))

    async with connected(board_path(room.code), session_cookie(teacher_client)) as (ws, first):
        assert first.lstrip().startswith(BOARD_OPEN)
        assert status(first) == (
            '<p class="live-status" data-sequence="0">Tick 0 · <strong>paused</strong> · '
            "trading open · XBTUSDT 60,000, ETHUSDT 3,000</p>"
        )
        assert "<strong>2</strong> learners" in first
        assert '<tr data-learner="Ada">' in first
        assert '<tr data-learner="Grace">' in first

        await atick(room)
        update = await ws.receive_from(timeout=WAIT)

        assert update.lstrip().startswith(BOARD_OPEN)
        assert status(update) == (
            '<p class="live-status" data-sequence="1">Tick 1 · <strong>paused</strong> · '
            "trading open · XBTUSDT 60,600, ETHUSDT 3,000</p>"
        )
        assert await ws.receive_nothing(timeout=0.1)


async def test_the_code_in_the_address_is_read_in_any_case(
    room: Room, teacher_client: Client
) -> None:
    path = board_path(room.code.lower())
    async with connected(path, session_cookie(teacher_client)) as (_, first):
        assert first.lstrip().startswith(BOARD_OPEN)


async def test_the_board_shows_a_liquidation_as_it_happens(
    room: Room, teacher_client: Client
) -> None:
    room = await database_sync_to_async(quiet)(room)
    [ada] = await learners(room, "Ada")

    def open_position() -> None:
        assert ada.leverage(50).status_code == 302
        assert ada.order("buy", "0.1").status_code == 302

    await database_sync_to_async(open_position)()

    async with connected(board_path(room.code), session_cookie(teacher_client)) as (ws, first):
        assert "<strong data-liquidated-count>0</strong> liquidated" in first
        await database_sync_to_async(services.room_set_price)(
            room=room, symbol="XBTUSDT", price=D(59000)
        )
        update = await ws.receive_from(timeout=WAIT)

    assert "<strong data-liquidated-count>1</strong> liquidated" in update
    assert "1 learner liquidated on XBTUSDT at 59,000" in update
    assert "trading open · XBTUSDT 59,000, ETHUSDT 3,000</p>" in status(update)


async def test_the_board_hears_a_conductor_action(room: Room, teacher_client: Client) -> None:
    async with connected(board_path(room.code), session_cookie(teacher_client)) as (ws, _):
        await database_sync_to_async(services.room_trading)(room=room, open_=False)
        closed = await ws.receive_from(timeout=WAIT)
        await database_sync_to_async(services.room_play)(room=room, running=True)
        running = await ws.receive_from(timeout=WAIT)

    assert "trading <strong>closed</strong>" in status(closed)
    assert "running at 1x" in status(running)


async def test_another_teacher_is_refused(room: Room, other_teacher_client: Client) -> None:
    ok, code = await refused(
        communicator(board_path(room.code), session_cookie(other_teacher_client))
    )
    assert (ok, code) == (False, 4403)


async def test_a_teacher_cannot_watch_a_room_that_does_not_exist(
    room: Room, teacher_client: Client
) -> None:
    ok, code = await refused(communicator(board_path("ZZZZZZZZ"), session_cookie(teacher_client)))
    assert (ok, code) == (False, 4403)


async def test_a_code_of_ten_thousand_characters_is_refused(
    room: Room, teacher_client: Client
) -> None:
    ok, code = await refused(communicator(board_path("Z" * 10_000), session_cookie(teacher_client)))
    assert (ok, code) == (False, 4403)


async def test_a_non_teacher_is_refused(room: Room, user_client: Client) -> None:
    ok, code = await refused(communicator(board_path(room.code), session_cookie(user_client)))
    assert (ok, code) == (False, 4403)


async def test_a_signed_out_visitor_is_refused(room: Room) -> None:
    ok, code = await refused(communicator(board_path(room.code), None))
    assert (ok, code) == (False, 4403)


async def test_a_learner_of_the_room_is_refused_the_board(room: Room) -> None:
    [ada] = await learners(room, "Ada")
    ok, code = await refused(communicator(board_path(room.code), room_cookie(ada)))
    assert (ok, code) == (False, 4403)


async def test_a_forged_session_is_refused(room: Room) -> None:
    ok, code = await refused(communicator(board_path(room.code), "sessionid=not-a-session"))
    assert (ok, code) == (False, 4403)


async def test_another_sites_page_is_refused(room: Room, teacher_client: Client) -> None:
    socket = communicator(
        board_path(room.code), session_cookie(teacher_client), origin=b"http://evil.example"
    )
    ok, _ = await refused(socket)
    assert ok is False


@pytest.mark.parametrize(
    "message",
    ["hello", " ", "{}", '{"type": "tick"}', '["snapshot"]', '{"type": ["snapshot"]}', "null"],
)
async def test_a_bad_message_is_answered_with_the_refusal(
    room: Room, teacher_client: Client, message: str
) -> None:
    async with connected(board_path(room.code), session_cookie(teacher_client)) as (ws, _):
        await ws.send_to(text_data=message)
        answer = await ws.receive_from(timeout=WAIT)
        assert answer == REFUSED
        # The socket still works: a snapshot request is answered with the board.
        await ws.send_json_to({"type": "snapshot"})
        again = await ws.receive_from(timeout=WAIT)
        assert again.lstrip().startswith(BOARD_OPEN)


async def test_a_binary_message_is_answered_with_the_refusal(
    room: Room, teacher_client: Client
) -> None:
    async with connected(board_path(room.code), session_cookie(teacher_client)) as (ws, _):
        await ws.send_to(bytes_data=b'{"type": "snapshot"}')
        assert await ws.receive_from(timeout=WAIT) == REFUSED


async def test_a_refusal_changes_nothing(room: Room, teacher_client: Client) -> None:
    before = await database_sync_to_async(reload_room)(room)
    async with connected(board_path(room.code), session_cookie(teacher_client)) as (ws, first):
        await ws.send_json_to({"type": "play"})
        assert await ws.receive_from(timeout=WAIT) == REFUSED
        await ws.send_json_to({"type": "snapshot"})
        again = await ws.receive_from(timeout=WAIT)
    after = await database_sync_to_async(reload_room)(room)
    assert (after.market.running, after.market.sequence) == (
        before.market.running,
        before.market.sequence,
    )
    assert status(again) == status(first)


async def test_a_burst_of_snapshot_requests_draws_the_board_once(
    room: Room, teacher_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumers, "clock", lambda: 1000.0)
    monkeypatch.setattr(consumers, "SNAPSHOT_INTERVAL", 0.3)
    async with connected(board_path(room.code), session_cookie(teacher_client)) as (ws, first):
        for _ in range(10):
            await ws.send_json_to({"type": "snapshot"})
        again = await ws.receive_from(timeout=WAIT)
        assert await ws.receive_nothing(timeout=0.6)

    assert again.lstrip().startswith(BOARD_OPEN)
    assert status(again) == status(first)


async def test_a_board_that_floods_is_told_and_closed(
    room: Room, teacher_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumers, "clock", lambda: 1000.0)
    async with connected(board_path(room.code), session_cookie(teacher_client)) as (ws, _):
        for _ in range(21):
            await ws.send_to(text_data="play")
        answers = [await ws.receive_from(timeout=WAIT) for _ in range(21)]
        closed = await ws.receive_output(timeout=WAIT)

    assert answers == [REFUSED] * 20 + [FLOODED]
    assert (closed["code"], closed["reason"]) == (4429, "Too many messages")


async def test_a_teacher_may_hold_eight_boards_open(room: Room, teacher_client: Client) -> None:
    cookie = session_cookie(teacher_client)
    async with AsyncExitStack() as stack:
        for _ in range(8):
            await stack.enter_async_context(connected(board_path(room.code), cookie))
        ninth = communicator(board_path(room.code), cookie)
        assert await ninth.connect(timeout=WAIT) == (True, None)
        notice = await ninth.receive_from(timeout=WAIT)
        closed = await ninth.receive_output(timeout=WAIT)
        await ninth.disconnect()

    assert notice == TOO_MANY_SOCKETS
    assert (closed["code"], closed["reason"]) == (4429, "Too many open desks")


# --------------------------------------------------------------- the learner's desk


def desk_path(learner: RoomLearner, symbol: str = "XBTUSDT") -> str:
    return f"/ws/desk/{learner.member.account_id}/{symbol}/"


def element(html: str, element_id: str) -> str:
    """The opening of an element sent out of band, up to the end of its first paragraph."""
    found = re.search(rf'<[a-z]+ id="{element_id}"[^>]*hx-swap-oob="true".*?</p>', html, re.S)
    assert found is not None, f"no #{element_id} in the push"
    return " ".join(found.group(0).split())


async def test_a_learner_desk_hears_that_trading_closed(room: Room) -> None:
    [ada] = await learners(room, "Ada")

    async with connected(desk_path(ada), room_cookie(ada)) as (ws, first):
        assert "trading closed" not in element(first, "live-status")
        assert "Trading is open." in element(first, "room-panel")

        await database_sync_to_async(services.room_trading)(room=room, open_=False)
        push = await ws.receive_from(timeout=WAIT)

        assert "· <strong>trading closed</strong>" in element(push, "live-status")
        assert "<strong>Trading is closed</strong> (reduce-only) until your teacher opens it" in (
            element(push, "room-panel")
        )

        await database_sync_to_async(services.room_trading)(room=room, open_=True)
        reopened = await ws.receive_from(timeout=WAIT)
        assert "trading closed" not in element(reopened, "live-status")


async def test_a_learner_desk_hears_trading_close_between_leaderboard_ticks(room: Room) -> None:
    """The room panel says whether trading is open; a conductor action must redraw it at
    once, not only on every fifth tick."""
    room = await database_sync_to_async(quiet)(room)
    [ada] = await learners(room, "Ada")

    async with connected(desk_path(ada), room_cookie(ada)) as (ws, _):
        await atick(room)
        await ws.receive_from(timeout=WAIT)  # tick 1

        await database_sync_to_async(services.room_trading)(room=room, open_=False)
        push = await ws.receive_from(timeout=WAIT)

    assert "· <strong>trading closed</strong>" in element(push, "live-status")
    assert 'id="room-panel"' in push
    assert "<strong>Trading is closed</strong>" in element(push, "room-panel")


async def test_a_learner_desk_hears_the_leaderboard_hidden_between_leaderboard_ticks(
    room: Room,
) -> None:
    room = await database_sync_to_async(quiet)(room)
    [ada, _] = await learners(room, "Ada", "Grace")

    async with connected(desk_path(ada), room_cookie(ada)) as (ws, first):
        assert '<ol class="leaderboard">' in first
        await atick(room)
        await ws.receive_from(timeout=WAIT)  # tick 1

        await database_sync_to_async(services.room_leaderboard)(room=room, visible=False)
        push = await ws.receive_from(timeout=WAIT)

    assert 'id="room-panel"' in push
    assert "Leaderboard" not in push


async def test_a_learner_desk_hears_the_leaderboard_hidden_on_connect_tick(room: Room) -> None:
    [ada, _] = await learners(room, "Ada", "Grace")

    async with connected(desk_path(ada), room_cookie(ada)) as (ws, first):
        assert "Grace: 0%</li>" in first
        await database_sync_to_async(services.room_leaderboard)(room=room, visible=False)
        push = await ws.receive_from(timeout=WAIT)

    assert 'id="room-panel"' in push
    assert "Leaderboard" not in push
    assert "You are <strong>Ada</strong>." in push


async def test_a_learner_desk_socket_needs_that_learners_room_cookie(room: Room) -> None:
    ada, grace = await learners(room, "Ada", "Grace")

    ok, code = await refused(communicator(desk_path(grace), room_cookie(ada)))
    assert (ok, code) == (False, 4404)
    ok, code = await refused(communicator(desk_path(ada), None))
    assert (ok, code) == (False, 4404)


async def test_a_learner_desk_socket_refuses_a_bad_message(room: Room) -> None:
    [ada] = await learners(room, "Ada")
    async with connected(desk_path(ada), room_cookie(ada)) as (ws, _):
        await ws.send_to(text_data="close the market")
        assert await ws.receive_from(timeout=WAIT) == DESK_REFUSED
