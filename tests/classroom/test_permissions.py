"""Who may do what in a classroom.

Every teacher page and every conductor action: a signed-out visitor is sent to the login
page, a signed-in non-teacher gets a 403, another teacher gets a 404 (their room is not
found), and the room's own teacher gets the page or the action. A refused action changes
nothing. Learners use only their own room account, never the teacher's pages, and cannot
move the price or reset a room. Every post needs its CSRF token.
"""

from __future__ import annotations

import html
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from sandbox import engine
from sandbox.classroom.models import Room, RoomLesson, RoomMember
from sandbox.desk import services as desk_services
from sandbox.desk.models import (
    Fill,
    LedgerEntry,
    LiquidationRecord,
    MarginSettingRow,
    Market,
    PaperAccount,
    Position,
    Wallet,
)
from sandbox.desk.services import REDUCE_ONLY, TWINS_FROM_PRACTICE, TWINS_OPEN_POSITIONS

from .conftest import (
    RoomLearner,
    browser,
    conduct,
    flash,
    join_room,
    lesson_slug,
    marks,
    reload_room,
    room_form,
    text,
)

D = Decimal
LESSON_ONE = "<lesson 1>"  # replaced by the slug of built-in lesson 1 when posting

# Each conductor action, what it posts, and what the room's teacher is told.
ACTIONS: list[tuple[str, dict[str, str], str]] = [
    ("play", {}, "The market is running."),
    ("pause", {}, "The market is paused."),
    ("speed", {"speed": "60"}, "The market runs at 60x."),
    ("volatility", {"volatility": "0.5"}, "Volatility set to 0.5 a year."),
    ("nudge", {"symbol": "XBTUSDT", "percent": "1"}, "On the next tick XBTUSDT is nudged 1%."),
    ("gap", {"symbol": "XBTUSDT", "percent": "-10"}, "On the next tick XBTUSDT is gapped -10%."),
    (
        "crash",
        {"symbol": "XBTUSDT", "percent": "20", "ticks": "4"},
        "XBTUSDT falls 20% over the next 4 ticks.",
    ),
    ("price", {"symbol": "XBTUSDT", "price": "59000"}, "XBTUSDT is now at 59,000."),
    (
        "script",
        {"symbol": "XBTUSDT", "lesson": LESSON_ONE},
        "XBTUSDT follows the path of “Isolated versus cross margin” over the next 5 ticks.",
    ),
    ("open", {}, "Trading is open."),
    ("close", {}, "Trading is closed, reduce-only: learners may only close or reduce positions."),
    ("closed_mode", {"closed_mode": "freeze"}, "When trading is closed, everything is frozen."),
    (
        "assign",
        {"lesson": LESSON_ONE},
        "“Isolated versus cross margin” is assigned: learners find it on their desk.",
    ),
    ("show_board", {}, "Learners see the leaderboard."),
    ("hide_board", {}, "Leaderboard hidden."),
    ("reset", {}, "1 account back to the starting balances."),
]
ACTION_IDS = [action for action, _, _ in ACTIONS]


def posted(data: dict[str, str]) -> dict[str, str]:
    return {k: lesson_slug(1) if v == LESSON_ONE else v for k, v in data.items()}


@pytest.fixture
def busy_room(room: Room) -> tuple[Room, RoomLearner]:
    """The room with one learner holding a position, so every action has something to
    change: Ada is long 0.1 XBTUSDT under cross margin."""
    ada = join_room(room, "Ada")
    response = ada.order("buy", "0.1")
    assert response.status_code == 302
    assert ada.desk().status_code == 200  # shows (and so clears) the "Bought" message
    return reload_room(room), ada


def state(room: Room) -> tuple[Any, ...]:
    """Everything a conductor action may change."""
    market = Market.objects.get(pk=room.market_id)
    accounts = RoomMember.objects.filter(room=room).values_list("account_id", flat=True)
    return (
        market.running,
        market.speed,
        market.volatility,
        market.pending_gaps,
        market.trading_open,
        market.closed_reduce_only,
        list(RoomLesson.objects.filter(room=room).values_list("lesson__slug", flat=True)),
        market.sequence,
        marks(room),
        Room.objects.get(pk=room.pk).leaderboard_visible,
        list(
            Wallet.objects.filter(account_id__in=accounts)
            .order_by("account_id", "currency")
            .values_list("account_id", "currency", "balance")
        ),
        list(
            Position.objects.filter(account_id__in=accounts)
            .order_by("account_id", "instrument_id")
            .values_list("account_id", "instrument_id", "qty")
        ),
        LedgerEntry.objects.filter(account_id__in=accounts).count(),
        Fill.objects.filter(account_id__in=accounts).count(),
        LiquidationRecord.objects.filter(account_id__in=accounts).count(),
    )


def room_urls(room: Room) -> dict[str, str]:
    return {
        "panel": reverse("room_panel", kwargs={"code": room.code}),
        "board": reverse("room_board", kwargs={"code": room.code}),
        "export": reverse("room_export", kwargs={"code": room.code}),
    }


def login_redirect(path: str) -> str:
    return f"/login/?next={path}"


# ---------------------------------------------------------------- conductor actions


@pytest.mark.parametrize(("action", "data", "_said"), ACTIONS, ids=ACTION_IDS)
def test_a_signed_out_visitor_is_sent_to_log_in_and_nothing_changes(
    busy_room: tuple[Room, RoomLearner], anon_client: Client, action: str, data: dict, _said: str
) -> None:
    room, _ = busy_room
    before = state(room)

    response = conduct(anon_client, room, action, **posted(data))

    assert response.status_code == 302
    path = reverse("room_conduct", kwargs={"code": room.code})
    assert response["Location"] == login_redirect(path)
    assert state(room) == before


@pytest.mark.parametrize(("action", "data", "_said"), ACTIONS, ids=ACTION_IDS)
def test_a_non_teacher_is_forbidden_and_nothing_changes(
    busy_room: tuple[Room, RoomLearner], user_client: Client, action: str, data: dict, _said: str
) -> None:
    room, _ = busy_room
    before = state(room)

    response = conduct(user_client, room, action, **posted(data))

    assert response.status_code == 403
    assert state(room) == before


@pytest.mark.parametrize(("action", "data", "_said"), ACTIONS, ids=ACTION_IDS)
def test_another_teacher_does_not_find_the_room_and_nothing_changes(
    busy_room: tuple[Room, RoomLearner],
    other_teacher_client: Client,
    action: str,
    data: dict,
    _said: str,
) -> None:
    room, _ = busy_room
    before = state(room)

    response = conduct(other_teacher_client, room, action, **posted(data))
    htmx = conduct(other_teacher_client, room, action, htmx=True, **posted(data))

    assert response.status_code == 404
    assert htmx.status_code == 404
    assert state(room) == before


@pytest.mark.parametrize(("action", "data", "said"), ACTIONS, ids=ACTION_IDS)
def test_the_rooms_teacher_carries_out_every_action(
    busy_room: tuple[Room, RoomLearner], teacher_client: Client, action: str, data: dict, said: str
) -> None:
    room, _ = busy_room
    before = state(room)

    response = conduct(teacher_client, room, action, **posted(data))

    assert response.status_code == 302
    assert response["Location"] == f"/rooms/{room.code}/"
    assert flash(response) == [("success", said)]
    if action not in ("open", "show_board", "pause"):  # already open, shown, paused
        assert state(room) != before


@pytest.mark.parametrize(("action", "data", "said"), ACTIONS, ids=ACTION_IDS)
def test_the_rooms_teacher_with_htmx_gets_the_controls_back(
    busy_room: tuple[Room, RoomLearner], teacher_client: Client, action: str, data: dict, said: str
) -> None:
    room, _ = busy_room

    response = conduct(teacher_client, room, action, htmx=True, **posted(data))

    assert response.status_code == 200
    body = text(response)
    assert body.lstrip().startswith('<section id="controls"')
    assert "<html" not in body
    assert '<section id="board"' not in body
    assert f'<p class="notice success" role="status">{html.escape(said)}</p>' in body


def test_the_conductor_only_takes_posts(teacher_client: Client, room: Room) -> None:
    path = reverse("room_conduct", kwargs={"code": room.code})
    assert teacher_client.get(path, {"action": "play"}).status_code == 405
    assert Market.objects.get(pk=room.market_id).running is False


def test_a_room_code_is_read_in_any_case(teacher_client: Client, room: Room) -> None:
    response = teacher_client.post(f"/rooms/{room.code.lower()}/conduct/", {"action": "play"})
    assert response.status_code == 302
    assert Market.objects.get(pk=room.market_id).running is True


def test_an_unknown_room_is_not_found(teacher_client: Client, room: Room) -> None:
    assert teacher_client.get("/rooms/ZZZZZZZZ/").status_code == 404
    assert teacher_client.post("/rooms/ZZZZZZZZ/conduct/", {"action": "play"}).status_code == 404
    assert teacher_client.get("/rooms/ZZZZZZZZ/export.csv").status_code == 404


# -------------------------------------------------------------------- teacher pages


def test_a_signed_out_visitor_is_sent_to_log_in_from_every_teacher_page(
    room: Room, anon_client: Client
) -> None:
    pages = ["/rooms/", "/rooms/new/", *room_urls(room).values()]
    for path in pages:
        response = anon_client.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == login_redirect(path), path
    response = anon_client.post("/rooms/new/", room_form(name="Sneaky"))
    assert response["Location"] == login_redirect("/rooms/new/")
    assert not Room.objects.filter(name="Sneaky").exists()


def test_a_non_teacher_is_forbidden_every_teacher_page(room: Room, user_client: Client) -> None:
    for path in ["/rooms/", "/rooms/new/", *room_urls(room).values()]:
        assert user_client.get(path).status_code == 403, path
    assert user_client.post("/rooms/new/", room_form(name="Sneaky")).status_code == 403
    assert not Room.objects.filter(name="Sneaky").exists()


def test_another_teacher_does_not_find_the_rooms_pages(
    room: Room, other_room: Room, other_teacher_client: Client
) -> None:
    for name, path in room_urls(room).items():
        assert other_teacher_client.get(path).status_code == 404, name
    # Their own list and form work, and show their room only.
    listing = other_teacher_client.get("/rooms/")
    assert listing.status_code == 200
    assert "Another class" in text(listing)
    assert room.name not in text(listing)
    assert room.code not in text(listing)
    assert other_teacher_client.get("/rooms/new/").status_code == 200


def test_the_rooms_teacher_opens_every_page(
    busy_room: tuple[Room, RoomLearner], teacher_client: Client
) -> None:
    room, _ = busy_room
    urls = room_urls(room)

    listing = teacher_client.get("/rooms/")
    assert listing.status_code == 200
    assert f'<a href="/rooms/{room.code}/">{room.name}</a>' in text(listing)
    assert f"code <strong>{room.code}</strong> · 1 learner</li>" in text(listing)
    assert teacher_client.get("/rooms/new/").status_code == 200

    panel = teacher_client.get(urls["panel"])
    assert panel.status_code == 200
    assert f"<strong data-room-code>{room.code}</strong>" in text(panel)
    assert f"http://testserver/join/{room.code}/" in text(panel)
    assert f'ws-connect="/ws/rooms/{room.code}/board/"' in text(panel)

    board = teacher_client.get(urls["board"])
    assert board.status_code == 200
    assert text(board).lstrip().startswith('<section id="board"')
    assert '<tr data-learner="Ada">' in text(board)

    export = teacher_client.get(urls["export"])
    assert export.status_code == 200
    assert export["Content-Type"] == "text/csv; charset=utf-8"


# --------------------------------------------------------------------------- learners


def test_a_learner_cannot_open_another_rooms_desk(room: Room, other_room: Room) -> None:
    ada = join_room(room, "Ada")
    bob = join_room(other_room, "Bob")

    assert ada.desk().status_code == 200
    assert ada.client.get(bob.url("desk")).status_code == 404
    assert ada.client.get(bob.url("desk", "ETHUSDT")).status_code == 404
    refused = ada.client.post(bob.url("order_submit"), {"side": "buy", "qty": "0.1"})
    assert refused.status_code == 404
    assert ada.client.post(bob.url("leverage_apply"), {"stop": "10"}).status_code == 404
    assert ada.client.post(bob.url("account_reset")).status_code == 404
    assert not Fill.objects.filter(account_id=bob.member.account_id).exists()
    assert not MarginSettingRow.objects.filter(account_id=bob.member.account_id).exists()


def test_a_learner_of_one_room_cannot_open_a_learner_desk_of_the_same_room(room: Room) -> None:
    ada = join_room(room, "Ada")
    grace = join_room(room, "Grace")
    assert ada.client.get(grace.url("desk")).status_code == 404
    assert grace.client.get(ada.url("desk")).status_code == 404


def test_a_learner_cannot_open_the_teacher_pages(busy_room: tuple[Room, RoomLearner]) -> None:
    room, ada = busy_room
    before = state(room)

    for path in ["/rooms/", "/rooms/new/", *room_urls(room).values()]:
        response = ada.client.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == login_redirect(path), path
    for action, data, _ in ACTIONS:
        response = conduct(ada.client, room, action, **posted(data))
        assert response.status_code == 302, action
    assert state(room) == before


def test_a_learner_cannot_set_the_mark_in_a_room(busy_room: tuple[Room, RoomLearner]) -> None:
    room, ada = busy_room
    before = state(room)

    page = ada.desk()
    assert "Your teacher moves the price of this market." in text(page)
    assert 'name="price"' not in text(page)

    response = ada.post("mark_set", {"price": "30000"})
    assert response.status_code == 400
    assert (
        "<p><strong>Not done:</strong> In a classroom only the teacher moves the price.</p>"
        in text(response)
    )
    htmx = ada.post("mark_set", {"price": "30000"}, htmx=True)
    assert "In a classroom only the teacher moves the price." in text(htmx)
    assert state(room) == before
    assert marks(room)["XBTUSDT"] == D(60000)


def test_a_learner_cannot_reset_in_a_room(busy_room: tuple[Room, RoomLearner]) -> None:
    room, ada = busy_room
    before = state(room)

    response = ada.post("account_reset", {"symbol": "XBTUSDT"})

    assert response.status_code == 302
    assert response["Location"] == ada.url("desk")
    assert flash(response) == [("error", "In a classroom only the teacher resets the accounts.")]
    assert state(room) == before
    assert "reset" not in ada.ledger_reasons()
    assert Position.objects.filter(account_id=ada.member.account_id).count() == 1


def test_the_desk_service_refuses_a_learner_mark_and_reset(
    busy_room: tuple[Room, RoomLearner],
) -> None:
    room, ada = busy_room
    before = state(room)
    with pytest.raises(engine.Rejected, match="only the teacher moves the price"):
        desk_services.mark_set(account=ada.account, symbol="XBTUSDT", price=D(1000))
    with pytest.raises(engine.Rejected, match="only the teacher resets the accounts"):
        desk_services.account_reset(account=ada.account)
    assert state(room) == before


@pytest.mark.parametrize("leverage", ["50", "100"])
@pytest.mark.parametrize("trading_open", [True, False])
def test_a_learner_cannot_open_the_twins_in_a_room(
    teacher_client: Client,
    busy_room: tuple[Room, RoomLearner],
    leverage: str,
    trading_open: bool,
) -> None:
    """The twins opened 50x isolated and 100x cross on a market of their own, past the
    room's 50x cap and its closed trading: the room's terms now refuse them."""
    room, ada = busy_room
    if not trading_open:
        conduct(teacher_client, room, "close")
    before = state(room)
    markets, accounts = Market.objects.count(), PaperAccount.objects.count()

    response = ada.post("twins_open", {"side": "buy", "qty": "0.1", "twin_leverage": leverage})

    assert response.status_code == 400
    reason = (
        REDUCE_ONLY.format(reason=TWINS_OPEN_POSITIONS) if not trading_open else TWINS_FROM_PRACTICE
    )
    assert html.escape(f"The twins were not opened: {reason}") in text(response)
    assert state(room) == before
    assert (Market.objects.count(), PaperAccount.objects.count()) == (markets, accounts)


def test_a_learners_clock_post_on_an_instrument_the_room_does_not_trade_is_not_found(
    busy_room: tuple[Room, RoomLearner],
) -> None:
    room, ada = busy_room
    ada.client.raise_request_exception = False
    before = state(room)

    for data in ({"action": "pause"}, {"action": "speed", "speed": "60"}):
        response = ada.post("clock", data, symbol="SOLUSDT")
        assert response.status_code == 404
        assert "There is nothing here for you" in text(response)
    # On an instrument it trades, the room's clock is the teacher's.
    refused = ada.post("clock", {"action": "pause"})
    assert refused.status_code == 400
    assert "Only your own practice market can be controlled here." in text(refused)
    assert state(room) == before


# ------------------------------------------------------------------------------- CSRF


def csrf_token(client: Client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200
    return client.cookies["csrftoken"].value


def test_the_conductor_refuses_a_post_without_its_csrf_token(
    teacher: Any, busy_room: tuple[Room, RoomLearner]
) -> None:
    room, _ = busy_room
    client = browser(enforce_csrf_checks=True)
    client.force_login(teacher)
    before = state(room)

    for action, data, _ in ACTIONS:
        response = conduct(client, room, action, **posted(data))
        assert response.status_code == 403, action
        assert "That form could not be accepted" in text(response)
    assert state(room) == before

    token = csrf_token(client, f"/rooms/{room.code}/")
    response = conduct(client, room, "play", csrfmiddlewaretoken=token)
    assert response.status_code == 302
    assert Market.objects.get(pk=room.market_id).running is True


def test_creating_a_room_needs_the_csrf_token(teacher: Any) -> None:
    client = browser(enforce_csrf_checks=True)
    client.force_login(teacher)
    assert client.post("/rooms/new/", room_form(name="No token")).status_code == 403
    assert not Room.objects.filter(name="No token").exists()


def test_joining_refuses_a_post_without_its_csrf_token(room: Room) -> None:
    client = browser(enforce_csrf_checks=True)

    response = client.post("/join/", {"code": room.code, "name": "Ada"})

    assert response.status_code == 403
    assert "That form could not be accepted" in text(response)
    assert not RoomMember.objects.filter(room=room).exists()

    token = csrf_token(client, f"/join/{room.code}/")
    response = client.post(
        "/join/", {"code": room.code, "name": "Ada", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    assert RoomMember.objects.filter(room=room, display_name="Ada").count() == 1


def test_learner_posts_in_a_room_need_the_csrf_token(room: Room) -> None:
    client = browser(enforce_csrf_checks=True)
    token = csrf_token(client, f"/join/{room.code}/")
    response = client.post(
        "/join/", {"code": room.code, "name": "Ada", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    member = RoomMember.objects.get(room=room)
    ada = RoomLearner(client, member)

    refused = ada.post("order_submit", {"side": "buy", "qty": "0.1"})
    assert refused.status_code == 403
    assert not Fill.objects.filter(account_id=member.account_id).exists()
