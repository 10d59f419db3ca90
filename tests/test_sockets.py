"""Who may open a websocket (sandbox/sockets.py): the page's origin must be this site's own,
scheme, host and port alike, or a trusted one; an address no route matches is refused
with 4404, never an error.

The socket tests talk to ``sandbox.asgi.router`` (the application without the embedded
ticker) through Channels' communicator, on a learner's desk.
"""

from __future__ import annotations

from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from sandbox.asgi import router
from sandbox.desk import services
from sandbox.sockets import origin_allowed, own_origin, parse_origin
from tests.live.conftest import empty_channel_layer  # noqa: F401 (a fixture)
from tests.web.conftest import Learner, make_learner

WAIT = 10  # seconds a test may wait for a message; only a bound, never asserted on

PROXY = ("HTTP_X_FORWARDED_PROTO", "https")


@pytest.fixture
def seeded(db: None) -> None:
    services.instruments_seed()


@pytest.fixture
def learner(seeded: None) -> Learner:
    return make_learner()


def scope(origin: str | None, host: str | None, **extra: Any) -> dict[str, Any]:
    headers = [(b"x-forwarded-proto", extra.pop("proto").encode())] if "proto" in extra else []
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if host is not None:
        headers.append((b"host", host.encode()))
    return {"type": "websocket", "path": "/ws/", "headers": headers, **extra}


# ------------------------------------------------------------------- the origin check


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("http://localhost", ("http", "localhost", 80)),
        ("http://localhost:80", ("http", "localhost", 80)),
        ("https://Sandbox.Example.org", ("https", "sandbox.example.org", 443)),
        ("http://127.0.0.1:8000", ("http", "127.0.0.1", 8000)),
        ("http://[::1]:8000", ("http", "::1", 8000)),
        ("null", None),
        ("", None),
        ("localhost:8000", None),
        ("ftp://localhost", None),
        ("http://", None),
        ("http://localhost:99999", None),
        ("http://localhost:port", None),
        ("http://localhost/path", None),
        ("http://user@localhost", None),
    ],
)
def test_an_origin_is_read_as_scheme_host_and_port(
    text: str, parsed: tuple[str, str, int] | None
) -> None:
    assert parse_origin(text) == parsed


def test_the_sockets_own_origin_comes_from_its_host_and_scheme() -> None:
    assert own_origin(scope(None, "localhost:8000")) == ("http", "localhost", 8000)
    assert own_origin(scope(None, "LOCALHOST")) == ("http", "localhost", 80)
    assert own_origin(scope(None, "[::1]:8000")) == ("http", "::1", 8000)
    assert own_origin(scope(None, "localhost", scheme="wss")) == ("https", "localhost", 443)
    # The proxy's header counts only where the deployment says there is a proxy.
    assert own_origin(scope(None, "localhost", proto="https")) == ("http", "localhost", 80)


def test_a_host_outside_allowed_hosts_has_no_origin() -> None:
    # A page of evil.example whose name was made to point at this machine (DNS
    # rebinding) sends its own name as the host, and its own origin.
    assert own_origin(scope(None, "evil.example:8000")) is None
    assert not origin_allowed(scope("http://evil.example:8000", "evil.example:8000"))
    assert own_origin(scope(None, None)) is None
    assert own_origin(scope(None, "not a host")) is None


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("http://localhost:8000", "localhost:8000", True),
        ("http://localhost:9999", "localhost:8000", False),  # the probe's case
        ("http://localhost", "localhost:8000", False),
        ("http://localhost:8000", "localhost", False),
        ("https://localhost:8000", "localhost:8000", False),
        ("http://127.0.0.1:8000", "localhost:8000", False),
        ("http://localhost.evil.example:8000", "localhost:8000", False),
        ("null", "localhost:8000", False),
        (None, "localhost:8000", False),
    ],
)
def test_the_origin_must_be_the_sockets_own(origin: str | None, host: str, allowed: bool) -> None:
    assert origin_allowed(scope(origin, host)) is allowed


def test_behind_a_tls_proxy_the_forwarded_scheme_counts(settings: Any) -> None:
    settings.SECURE_PROXY_SSL_HEADER = PROXY

    assert origin_allowed(scope("https://localhost", "localhost", proto="https"))
    assert origin_allowed(scope("https://localhost", "localhost", proto="https, http"))
    assert not origin_allowed(scope("http://localhost", "localhost", proto="https"))
    assert not origin_allowed(scope("https://localhost", "localhost", proto="http"))
    # No header: the socket's own scheme.
    assert origin_allowed(scope("http://localhost", "localhost"))


def test_a_trusted_origin_is_allowed_with_its_port(settings: Any) -> None:
    settings.CSRF_TRUSTED_ORIGINS = ["https://sandbox.example.org", "https://*.school.example"]

    assert origin_allowed(scope("https://sandbox.example.org", "localhost:8000"))
    assert origin_allowed(scope("https://room4.school.example", "localhost:8000"))
    assert origin_allowed(scope("https://school.example", "localhost:8000"))
    assert not origin_allowed(scope("https://sandbox.example.org:8443", "localhost:8000"))
    assert not origin_allowed(scope("http://sandbox.example.org", "localhost:8000"))
    assert not origin_allowed(scope("https://evilschool.example", "localhost:8000"))
    # The socket's host must still be one of this site's.
    assert not origin_allowed(scope("https://sandbox.example.org", "evil.example"))


# ------------------------------------------------------------------ through the router


def desk(learner: Learner, origin: bytes | None, host: bytes, **headers: bytes) -> Any:
    cookie = "sandbox_account=" + learner.client.cookies["sandbox_account"].value
    pairs = [(b"host", host), (b"cookie", cookie.encode())]
    if origin is not None:
        pairs.append((b"origin", origin))
    pairs += [(name.replace("_", "-").encode(), value) for name, value in headers.items()]
    return WebsocketCommunicator(router, f"/ws/desk/{learner.account.pk}/XBTUSDT/", pairs)


async def connect(communicator: WebsocketCommunicator) -> tuple[bool, object]:
    result = await communicator.connect(timeout=WAIT)
    await communicator.disconnect(timeout=WAIT)
    return result


def through_the_router(test: Any) -> Any:
    """A websocket test: real transactions (the consumer reads in another thread)."""
    marks = (
        pytest.mark.django_db(transaction=True),
        pytest.mark.usefixtures("empty_channel_layer"),
    )
    for mark in marks:
        test = mark(test)
    return test


@pytest.mark.parametrize(
    ("origin", "host", "opened"),
    [
        (b"http://localhost:8000", b"localhost:8000", True),
        (b"http://localhost:9999", b"localhost:8000", False),
        (b"http://localhost", b"localhost:8000", False),
        (b"https://localhost:8000", b"localhost:8000", False),
        (None, b"localhost:8000", False),
    ],
)
@through_the_router
async def test_a_desk_opens_for_its_own_sites_page_only(
    learner: Learner, origin: bytes | None, host: bytes, opened: bool
) -> None:
    result = await connect(desk(learner, origin, host))

    assert result == ((True, None) if opened else (False, 4403))


@through_the_router
async def test_a_desk_behind_a_tls_proxy_opens_for_the_https_page(
    learner: Learner, settings: Any
) -> None:
    settings.SECURE_PROXY_SSL_HEADER = PROXY
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "sandbox.example.org"]
    page = b"https://sandbox.example.org"

    forwarded = {"x_forwarded_proto": b"https"}
    assert await connect(desk(learner, page, b"sandbox.example.org", **forwarded)) == (True, None)
    assert await connect(desk(learner, page, b"sandbox.example.org")) == (False, 4403)


@pytest.mark.parametrize(
    "path",
    [
        "/ws/nowhere/",
        "/ws/desk/",
        "/ws/desk/1/",
        "/ws/desk/abc/XBTUSDT/",
        "/ws/desk/" + "9" * 10_000 + "/XBTUSDT/",  # int() refuses over 4,300 digits
        "/ws/twins/1/" + "9" * 10_000 + "/",
        "/",
    ],
)
@through_the_router
async def test_an_address_without_a_route_is_refused_with_4404(seeded: None, path: str) -> None:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]

    result = await connect(WebsocketCommunicator(router, path, headers=headers))

    assert result == (False, 4404)
