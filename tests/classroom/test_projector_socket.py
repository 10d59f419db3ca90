"""The projector's websocket: who may open it, the snapshot on connect, a push on every
tick and every change of the class, one drawing per room and tick for all the projectors
watching it, and what it refuses.

The tests talk to ``sandbox.asgi.router`` through Channels' communicator; ticks and
conductor actions are applied by the test, and with the in-memory channel layer their
broadcasts reach the consumers in this process."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from sandbox import engine
from sandbox.asgi import router
from sandbox.classroom import consumers, projector, services
from sandbox.classroom.consumers import PROJECTOR_REFUSED
from sandbox.classroom.models import Room
from sandbox.desk import services as desk_services
from tests.live.conftest import empty_channel_layer  # noqa: F401 (a fixture)
from tests.live.sockets import WAIT, opened, refused

from .conftest import RoomLearner, join_room, quiet, reload_room, tick

D = Decimal

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("empty_channel_layer"),
]


def communicator(path: str, cookie: str | None = None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(router, path, headers=headers)


def session_cookie(client: Client) -> str:
    return "sessionid=" + client.cookies["sessionid"].value


def teacher_path(room: Room, symbol: str = "XBTUSDT") -> str:
    return f"/ws/rooms/{room.code}/projector/?symbol={symbol}"


def key_path(room: Room, key: str) -> str:
    return f"/ws/rooms/{room.code}/projector/{key}/?symbol=XBTUSDT"


def connected(
    path: str, cookie: str | None = None
) -> AbstractAsyncContextManager[tuple[WebsocketCommunicator, str]]:
    return opened(communicator(path, cookie))


def status(push: str) -> str:
    found = re.search(r'<p id="projector-status".*?</p>', push, re.S)
    assert found is not None, push[:300]
    return " ".join(found.group(0).split())


def figure(push: str, name: str) -> int:
    found = re.search(rf'<dd data-count="{name}">(\d+)</dd>', push)
    assert found is not None, f"no {name} count"
    return int(found.group(1))


@database_sync_to_async
def made_key(room: Room) -> str:
    return projector.projector_link_make(room=room)


@database_sync_to_async
def ada_at_10x(room: Room) -> RoomLearner:
    """Ada joins and holds 0.1 XBT long, isolated at 10x from 60,000 (liquidation 54,300)."""
    ada = join_room(room, "Ada")
    desk_services.leverage_set(
        account=ada.account, symbol="XBTUSDT", mode=engine.MarginMode.ISOLATED, leverage=D(10)
    )
    desk_services.order_place(
        account=ada.account, symbol="XBTUSDT", side=engine.Side.BUY, qty=D("0.1")
    )
    return ada


atick = database_sync_to_async(tick)
aquiet = database_sync_to_async(quiet)


async def test_the_teacher_gets_a_snapshot_then_a_push_each_tick(
    room: Room, teacher_client: Client
) -> None:
    room = await aquiet(room)
    await database_sync_to_async(services.room_move)(room=room, symbol="XBTUSDT", percent=D(1))

    async with connected(teacher_path(room), session_cookie(teacher_client)) as (ws, first):
        for part in ("projector-status", "projector-chart", "projector-counts", "projector-feed"):
            assert f'id="{part}"' in first
        assert '<section id="projector-board"' in first
        assert "XBTUSDT <strong>60,000</strong>" in status(first)

        await atick(room)
        push = await ws.receive_from(timeout=WAIT)

        assert "XBTUSDT <strong>60,600</strong>" in status(push)
        assert 'data-sequence="1"' in status(push)
        # The feed and the leaderboard did not change: not sent (the feed is a live region).
        assert 'id="projector-feed"' not in push
        assert 'id="projector-board"' not in push
        assert await ws.receive_nothing(timeout=0.1)


async def test_a_liquidation_reaches_the_projector_at_once(
    room: Room, teacher_client: Client
) -> None:
    room = await aquiet(room)
    await ada_at_10x(room)
    key = await made_key(room)

    async with connected(key_path(room, key)) as (ws, first):
        assert figure(first, "open") == 1
        assert 'data-state="isolated"' in first
        await database_sync_to_async(services.room_set_price)(
            room=room, symbol="XBTUSDT", price=D(54000)
        )
        push = await ws.receive_from(timeout=WAIT)

    assert (figure(push, "open"), figure(push, "liquidated")) == (0, 1)
    assert 'data-state="liquidated-isolated"' in push
    assert 'data-state="isolated"' not in push
    # The feed's items, swapped inside the list that stays in the page.
    assert '<ol id="projector-feed" class="projector-feed-list" aria-live="polite" ' in push
    assert 'hx-swap-oob="innerHTML"' in push
    assert "<strong>1 learner</strong> at 54,000 on XBTUSDT (liquidation price 54,300)" in push


async def test_a_learners_trade_redraws_the_projector(room: Room, teacher_client: Client) -> None:
    room = await aquiet(room)
    async with connected(teacher_path(room), session_cookie(teacher_client)) as (ws, first):
        assert figure(first, "open") == 0
        await ada_at_10x(room)
        pushes = [await ws.receive_from(timeout=WAIT)]
        while figure(pushes[-1], "open") == 0:  # the join, then the trade
            pushes.append(await ws.receive_from(timeout=WAIT))

    assert figure(pushes[-1], "open") == 1


async def test_the_leaderboard_comes_and_goes_with_the_teachers_choice(
    room: Room, teacher_client: Client
) -> None:
    room = await aquiet(room)
    await ada_at_10x(room)
    async with connected(teacher_path(room), session_cookie(teacher_client)) as (ws, first):
        assert '<tr data-place="1">' in first
        await database_sync_to_async(services.room_leaderboard)(room=room, visible=False)
        push = await ws.receive_from(timeout=WAIT)

    assert '<section id="projector-board" class="projector-board" hidden' in push
    assert "Ada" not in push


async def test_two_projectors_of_a_room_share_one_drawing_a_tick(
    room: Room, teacher_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = await aquiet(room)
    key = await made_key(room)
    drawn: list[int] = []
    draw: Callable[[int, str], projector.Drawing] = projector.live_parts

    def counted(room_id: int, symbol: str) -> projector.Drawing:
        drawn.append(room_id)
        return draw(room_id, symbol)

    monkeypatch.setattr(projector, "live_parts", counted)
    async with AsyncExitStack() as stack:
        one, _ = await stack.enter_async_context(
            connected(teacher_path(room), session_cookie(teacher_client))
        )
        two, _ = await stack.enter_async_context(connected(key_path(room, key)))
        assert consumers.projector_feeds() == {(room.pk, "XBTUSDT"): 2}
        assert len(drawn) == 2  # a snapshot each

        await atick(room)
        first, second = await one.receive_from(timeout=WAIT), await two.receive_from(timeout=WAIT)

        assert len(drawn) == 3  # one drawing for both
        assert status(first) == status(second)
        assert 'data-sequence="1"' in status(first)
    assert consumers.projector_feeds() == {}


async def test_each_symbol_has_its_own_projector(room: Room, teacher_client: Client) -> None:
    room = await aquiet(room)
    cookie = session_cookie(teacher_client)
    async with (
        connected(teacher_path(room, "XBTUSDT"), cookie) as (_, xbt),
        connected(teacher_path(room, "ETHUSDT"), cookie) as (_, eth),
    ):
        assert "XBTUSDT <strong>60,000</strong>" in status(xbt)
        assert "ETHUSDT <strong>3,000</strong>" in status(eth)
        assert sorted(consumers.projector_feeds()) == [(room.pk, "ETHUSDT"), (room.pk, "XBTUSDT")]


@pytest.mark.parametrize(
    "who", ["other_teacher_client", "user_client", "anon_client", "wrong key", "revoked key"]
)
async def test_anyone_else_is_refused(room: Room, who: str, request: pytest.FixtureRequest) -> None:
    if who.endswith("key"):
        key = await made_key(room)
        if who == "revoked key":
            await database_sync_to_async(projector.projector_link_revoke)(room=room)
        else:
            key = key[:-1] + ("A" if key[-1] != "A" else "B")
        ws = communicator(key_path(room, key))
    else:
        client: Client = await database_sync_to_async(request.getfixturevalue)(who)
        cookie = session_cookie(client) if "sessionid" in client.cookies else None
        ws = communicator(teacher_path(room), cookie)

    assert await refused(ws) == (False, 4404)


async def test_a_learner_of_the_room_is_refused(room: Room) -> None:
    ada = await database_sync_to_async(join_room)(room, "Ada")
    name = f"sandbox_room_{room.pk}"
    cookie = f"{name}={ada.client.cookies[name].value}"

    assert await refused(communicator(teacher_path(room), cookie)) == (False, 4404)


@pytest.mark.parametrize("change", ["revoke", "make"])
async def test_a_projector_whose_link_stops_working_is_told_and_closed(
    room: Room, teacher_client: Client, change: str
) -> None:
    key = await made_key(room)
    async with (
        connected(key_path(room, key)) as (ws, _),
        connected(teacher_path(room), session_cookie(teacher_client)) as (teacher, _),
    ):
        if change == "revoke":
            await database_sync_to_async(projector.projector_link_revoke)(room=room)
        else:
            await made_key(room)
        notice = await ws.receive_from(timeout=WAIT)
        closed = await ws.receive_output(timeout=WAIT)
        # The teacher's own projector goes on.
        assert 'id="projector-status"' in await teacher.receive_from(timeout=WAIT)

    assert notice == consumers.LINK_REVOKED
    assert closed == {"type": "websocket.close", "code": 4404}


async def test_a_symbol_the_room_does_not_trade_is_refused(
    room: Room, teacher_client: Client
) -> None:
    path = teacher_path(room, "DOGEUSDT")
    assert await refused(communicator(path, session_cookie(teacher_client))) == (False, 4404)


async def test_a_message_other_than_a_snapshot_request_is_refused(
    room: Room, teacher_client: Client
) -> None:
    before = await database_sync_to_async(reload_room)(room)
    async with connected(teacher_path(room), session_cookie(teacher_client)) as (ws, first):
        await ws.send_json_to({"type": "crash", "percent": 50})
        assert await ws.receive_from(timeout=WAIT) == PROJECTOR_REFUSED
        await ws.send_json_to({"type": "snapshot"})
        again = await ws.receive_from(timeout=WAIT)
    after = await database_sync_to_async(reload_room)(room)

    assert status(again) == status(first)
    assert (after.market.sequence, after.market.running) == (
        before.market.sequence,
        before.market.running,
    )
