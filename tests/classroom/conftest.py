"""Fixtures for the classroom: teachers and other visitors with browsers, a room created
through the teacher's form, and learners who join it, each from a browser of their own.

Every browser gets an address of its own, so the wrong codes one test sends never count
against another browser (the limit counts wrong codes per address); the cache that keeps
that count is cleared around each test.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from sandbox.classroom.models import Room, RoomMember
from sandbox.desk import services as desk_services
from sandbox.desk.models import LedgerEntry, Market, MarkPrice, PaperAccount, Wallet
from sandbox.desk.roles import make_teacher
from sandbox.lessons.models import Lesson
from sandbox.lessons.services import lessons_seed
from sandbox.live import services as live_services

D = Decimal
ROOM_NAME = "Year 12 Economics"

_addresses = itertools.count(1)


def new_address() -> str:
    """A client address no other browser in the test run has used."""
    n = next(_addresses)
    return f"10.{n // 62500 % 250}.{n // 250 % 250}.{n % 250 + 1}"


def browser(**kwargs: Any) -> Client:
    return Client(REMOTE_ADDR=new_address(), **kwargs)


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def seeded(db: None) -> None:
    desk_services.instruments_seed()
    lessons_seed()


def make_user(username: str, *, teacher: bool) -> User:
    user = User.objects.create_user(username)  # signed in by force_login: no password hashing
    if teacher:
        make_teacher(user)
    return user


def signed_in(user: User, **kwargs: Any) -> Client:
    client = browser(**kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def teacher(seeded: None) -> User:
    return make_user("ms-lovelace", teacher=True)


@pytest.fixture
def teacher_client(teacher: User) -> Client:
    return signed_in(teacher)


@pytest.fixture
def other_teacher(seeded: None) -> User:
    return make_user("mr-babbage", teacher=True)


@pytest.fixture
def other_teacher_client(other_teacher: User) -> Client:
    return signed_in(other_teacher)


@pytest.fixture
def user_client(seeded: None) -> Client:
    """Signed in, but not a teacher."""
    return signed_in(make_user("just-a-learner", teacher=False))


@pytest.fixture
def anon_client(seeded: None) -> Client:
    return browser()


# ------------------------------------------------------------------------------ rooms


def room_form(**changes: Any) -> dict[str, Any]:
    """What the teacher's "Create a room" form posts, with ``changes`` (None drops a field)."""
    data: dict[str, Any] = {
        "name": ROOM_NAME,
        "usdt": "10000",
        "xbt": "",
        "max_leverage": "50",
        "symbols": ["XBTUSDT", "ETHUSDT"],
        "fees": "on",
        "funding": "on",
        "leaderboard": "on",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def create_room(client: Client, **changes: Any) -> Room:
    """A room made through the teacher's form; it must be accepted."""
    before = set(Room.objects.values_list("pk", flat=True))
    response = client.post(reverse("room_new"), room_form(**changes))
    assert response.status_code == 302, response.content.decode()[:2000]
    made = Room.objects.exclude(pk__in=before).select_related("market").get()
    assert response["Location"] == f"/rooms/{made.code}/"
    return made


@pytest.fixture
def room(teacher_client: Client) -> Room:
    """XBTUSDT and ETHUSDT, 10,000 USDT each, leverage capped at 50x, fees on."""
    return create_room(teacher_client)


@pytest.fixture
def other_room(other_teacher_client: Client) -> Room:
    return create_room(other_teacher_client, name="Another class")


def reload_room(room: Room) -> Room:
    return Room.objects.select_related("market").get(pk=room.pk)


def market_of(room: Room) -> Market:
    return Market.objects.get(pk=room.market_id)


def quiet(room: Room) -> Room:
    """No diffusion and no drift: the room's prices move only when the test says so."""
    Market.objects.filter(pk=room.market_id).update(volatility=D(0), drift=D(0))
    return reload_room(room)


def marks(room: Room) -> dict[str, Decimal]:
    return {
        row.instrument_id: row.price
        for row in MarkPrice.objects.filter(market_id=room.market_id).order_by("instrument_id")
    }


def tick(room: Room, times: int = 1) -> None:
    for _ in range(times):
        assert live_services.market_tick(market_id=room.market_id) is not None


def lesson_slug(number: int) -> str:
    return Lesson.objects.get(number=number, built_in=True).slug


# --------------------------------------------------------------------------- learners


@dataclass
class RoomLearner:
    """A browser that joined a room, and the room account it was given."""

    client: Client
    member: RoomMember

    @property
    def account(self) -> PaperAccount:
        return PaperAccount.objects.select_related("market").get(pk=self.member.account_id)

    def url(self, name: str, symbol: str = "XBTUSDT") -> str:
        if name == "account_reset":
            return reverse(name, kwargs={"account_id": self.member.account_id})
        return reverse(name, kwargs={"account_id": self.member.account_id, "symbol": symbol})

    def desk(self, symbol: str = "XBTUSDT") -> HttpResponse:
        return self.client.get(self.url("desk", symbol))

    def post(
        self, name: str, data: dict[str, Any], symbol: str = "XBTUSDT", htmx: bool = False
    ) -> HttpResponse:
        headers = {"HX-Request": "true"} if htmx else {}
        return self.client.post(self.url(name, symbol), data, headers=headers)

    def order(self, side: str, qty: str, symbol: str = "XBTUSDT") -> HttpResponse:
        return self.post("order_submit", {"side": side, "qty": qty}, symbol)

    def leverage(self, stop: int, symbol: str = "XBTUSDT") -> HttpResponse:
        return self.post("leverage_apply", {"stop": str(stop)}, symbol)

    def wallet(self, currency: str = "USDT") -> Decimal:
        return Wallet.objects.get(account_id=self.member.account_id, currency=currency).balance

    def ledger_reasons(self) -> list[str]:
        return list(
            LedgerEntry.objects.filter(account_id=self.member.account_id)
            .order_by("id")
            .values_list("reason", flat=True)
        )


DESK_URL = re.compile(r"^/desk/(\d+)/([A-Z]+)/$")


def join_room(room: Room, name: str, client: Client | None = None) -> RoomLearner:
    """Join ``room`` as ``name`` from a fresh browser (or ``client``); it must be accepted."""
    client = client or browser()
    response = client.post(reverse("join"), {"code": room.code, "name": name})
    assert response.status_code == 302, response.content.decode()[:2000]
    found = DESK_URL.match(response["Location"])
    assert found is not None, response["Location"]
    member = RoomMember.objects.select_related("room").get(account_id=int(found.group(1)))
    assert member.room_id == room.pk
    return RoomLearner(client, member)


@pytest.fixture
def join() -> Callable[..., RoomLearner]:
    """``join(room, "Ada")``: a learner joins from a browser of their own."""
    return join_room


# ---------------------------------------------------------------------------- helpers


def conduct(
    client: Client, room: Room, action: str, htmx: bool = False, **data: str
) -> HttpResponse:
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(
        reverse("room_conduct", kwargs={"code": room.code}),
        {"action": action, **data},
        headers=headers,
    )


def flash(response: HttpResponse) -> list[tuple[str, str]]:
    """The messages this request added for the next page: (level tag, text).

    Messages left unread by earlier redirects (still in the browser's cookie) are not
    counted: only those queued while handling this request.
    """
    storage = get_messages(response.wsgi_request)  # type: ignore[attr-defined]
    return [(message.level_tag, str(message)) for message in storage._queued_messages]


def text(response: HttpResponse) -> str:
    return response.content.decode()
