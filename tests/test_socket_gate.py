"""The websocket's way in (sandbox.sockets.SameOriginValidator with with_user): the origin
check and the scope Channels' AuthMiddlewareStack gave (cookies, session, user), without
a coroutine of its own that stays for the socket's life; and a desk's consumer, whose
socket is the consumer's own coroutine (sandbox.live.consumers.DeskConsumer)."""

from __future__ import annotations

import inspect
from importlib.metadata import version
from typing import Any

import pytest
from asgiref.compatibility import guarantee_single_callable
from channels.consumer import AsyncConsumer
from django.contrib.auth.models import AnonymousUser, User
from django.test import Client

from sandbox.live.consumers import DeskConsumer
from sandbox.sockets import FOREIGN_ORIGIN, SameOriginValidator, refuse, with_user


async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The routed application."""


async def receive() -> dict[str, Any]:
    return {"type": "websocket.connect"}


def socket_scope(origin: bytes, cookie: str | None = None) -> dict[str, Any]:
    headers = [(b"origin", origin), (b"host", b"localhost")]
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    return {"type": "websocket", "path": "/ws/desk/1/XBTUSDT/", "headers": headers}


def test_the_gate_hands_over_the_applications_own_coroutine() -> None:
    gate = SameOriginValidator(inner)
    assert guarantee_single_callable(gate) is gate  # asgiref takes it as ASGI 3
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    opened = gate(socket_scope(b"http://localhost"), receive, send)
    assert opened.cr_code is inner.__code__  # type: ignore[attr-defined]
    opened.close()  # type: ignore[attr-defined]
    refused = gate(socket_scope(b"http://elsewhere.example"), receive, send)
    assert refused.cr_code is refuse.__code__  # type: ignore[attr-defined]
    with pytest.raises(StopIteration):
        refused.send(None)  # type: ignore[attr-defined]
    assert sent == [{"type": "websocket.close", "code": FOREIGN_ORIGIN}]


def test_an_http_request_passes_as_it_came() -> None:
    request = {"type": "http", "path": "/", "headers": []}
    seen: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope)

    passed = SameOriginValidator(app)(request, receive, receive)
    with pytest.raises(StopIteration):
        passed.send(None)  # type: ignore[attr-defined]
    assert seen == [request] and seen[0] is request


def signed_in(username: str = "ada") -> tuple[User, str]:
    user = User.objects.create_user(username, password="a long password 42")
    client = Client()
    client.force_login(user)
    return user, client.cookies["sessionid"].value


@pytest.mark.django_db
def test_the_scope_holds_the_cookies_and_the_signed_in_user(
    django_assert_num_queries: Any,
) -> None:
    user, session_key = signed_in()
    scope = socket_scope(b"http://localhost", f"sessionid={session_key}; sandbox_account=k1")
    with django_assert_num_queries(0):  # nothing read until the consumer asks
        routed = with_user(scope)
    assert routed["cookies"] == {"sessionid": session_key, "sandbox_account": "k1"}
    assert routed["headers"] is scope["headers"]
    assert routed["user"].is_authenticated
    assert routed["user"].pk == user.pk
    assert routed["session"].session_key == session_key
    assert "user" not in scope  # the server's scope is not changed


@pytest.mark.django_db
def test_no_session_or_a_stale_one_is_an_anonymous_user() -> None:
    anonymous = with_user(socket_scope(b"http://localhost"))["user"]
    assert not anonymous.is_authenticated
    assert isinstance(anonymous._wrapped, AnonymousUser)
    unknown = with_user(socket_scope(b"http://localhost", "sessionid=not-a-session"))
    assert not unknown["user"].is_authenticated
    user, session_key = signed_in("grace")
    user.set_password("another long password 43")  # the session's hash no longer matches
    user.save()
    stale = with_user(socket_scope(b"http://localhost", f"sessionid={session_key}"))
    assert not stale["user"].is_authenticated  # Django's own check, as for a page


def test_a_desk_socket_is_its_consumers_own_coroutine() -> None:
    app = DeskConsumer.as_asgi()
    assert guarantee_single_callable(app) is app
    assert app.consumer_class is DeskConsumer  # type: ignore[attr-defined]
    opened = app({"type": "websocket"}, receive, receive)
    assert opened.cr_code is DeskConsumer.__call__.__code__  # type: ignore[attr-defined]
    opened.close()  # type: ignore[attr-defined]


def test_the_channels_consumer_the_desk_loop_stands_for() -> None:
    """DeskConsumer.__call__ does what Channels' AsyncConsumer.__call__ does for a consumer
    without a channel-layer channel; if Channels' changes, look again."""
    source = inspect.getsource(AsyncConsumer.__call__)
    for line in (
        "self.scope = scope",
        "self.channel_layer = get_channel_layer(self.channel_layer_alias)",
        "self.base_send = send",
        "await await_many_dispatch([receive], self.dispatch)",
        "except StopConsumer:",
    ):
        assert line in source, (
            f"Channels {version('channels')}'s AsyncConsumer.__call__ no longer says "
            f"`{line}`: sandbox/live/consumers.py DeskConsumer.__call__ stands for it"
        )
    assert "return await consumer(scope, receive, send)" in inspect.getsource(AsyncConsumer.as_asgi)
