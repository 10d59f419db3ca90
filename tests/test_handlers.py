"""The private APIs the sandbox's server code leans on, checked so that an upgrade that
changes them fails here, loudly, naming what changed and the version, instead of quietly
in production.

``sandbox/handlers.py`` (``SandboxASGIHandler``) relies on Django's handler internals:

- ``ASGIHandler.__init__`` calls ``self.load_middleware(is_async=True)``: the override
  builds the chain as sync code instead and wraps it in one ``sync_to_async``;
- ``BaseHandler.load_middleware(is_async=False)`` leaves the chain in the private
  ``self._middleware_chain``;
- ``BaseHandler.get_response_async(request)`` awaits ``self._middleware_chain(request)``;
- ``ASGIHandler.run_get_response`` awaits ``self.get_response_async(request)``, which the
  handler overrides to add ``total`` to ``Server-Timing``.

``sandbox/daphne_request.py`` relies on daphne's and Twisted's internals:

- ``daphne.server.Server.run`` builds its factory from the module's global
  ``HTTPFactory`` (``install()`` replaces that global);
- ``daphne.http_protocol.HTTPFactory.buildProtocol(addr)`` sets the channel's
  ``requestFactory`` to ``WebRequest``, a ``twisted.web.http.Request``;
- ``Request.gotLength(length)``, ``handleContentChunk(data)``,
  ``requestReceived(command, path, version)``, ``connectionLost(reason)``, its private
  ``_parsePOSTFormSubmission`` flag, and ``HTTPChannel``'s private ``_path`` (the request
  line's path, read before the headers) with ``allHeadersReceived`` calling ``gotLength``.

Each is checked by its signature (``inspect.signature``) or by the line of the library's
source that uses it, then exercised end to end: a request through the handler, and
requests through daphne's real protocol objects over an in-memory transport.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Iterator
from importlib.metadata import version
from typing import Any

import daphne.http_protocol
import daphne.server
import django
import pytest
from asgiref.sync import SyncToAsync
from asgiref.testing import ApplicationCommunicator
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.http import HttpRequest, HttpResponse
from django.test import override_settings
from django.urls import path
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.web import http

from sandbox import daphne_request, handlers, limits
from sandbox.handlers import TURN_SECONDS, SandboxASGIHandler, Turns
from sandbox.live.threads import FOREGROUND
from tests.web.asgi import http_scope

DJANGO = f"Django {django.get_version()}"
DAPHNE = f"daphne {version('daphne')}"
TWISTED = f"Twisted {version('twisted')}"
HANDLERS = "sandbox/handlers.py"
DAPHNE_REQUEST = "sandbox/daphne_request.py"
WAIT = 10  # seconds a request may take; only a bound, never asserted on


def parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


def signature_is(
    owner: type, name: str, expected: list[str], library: str, user: str
) -> Callable[..., Any]:
    """``owner.name`` exists with these parameters, or the test fails saying what changed."""
    function = getattr(owner, name, None)
    assert function is not None, (
        f"{library} has no {owner.__module__}.{owner.__qualname__}.{name} any more: "
        f"{user} relies on it"
    )
    found = parameters(function)
    assert found == expected, (
        f"{library} changed {owner.__qualname__}.{name}{inspect.signature(function)}: "
        f"{user} relies on ({', '.join(expected)})"
    )
    return function  # type: ignore[no-any-return]


def source_says(function: Callable[..., Any], line: str, library: str, user: str) -> None:
    """The library's ``function`` still has ``line`` (how it uses what ``user`` relies on)."""
    source = inspect.getsource(function)
    assert line in source, (
        f"{library}'s {function.__qualname__} no longer says `{line}`: {user} relies on it "
        f"(its source now:\n{source})"
    )


# ------------------------------------------------------- Django's handler internals


def test_the_django_handler_internals_the_sandbox_handler_relies_on() -> None:
    load = signature_is(BaseHandler, "load_middleware", ["self", "is_async"], DJANGO, HANDLERS)
    assert inspect.signature(load).parameters["is_async"].default is False, (
        f"{DJANGO}: BaseHandler.load_middleware's is_async no longer defaults to False"
    )
    source_says(load, "self._middleware_chain = handler", DJANGO, HANDLERS)
    assert "_middleware_chain" in vars(BaseHandler), (
        f"{DJANGO}: BaseHandler no longer declares _middleware_chain, which {HANDLERS} wraps"
    )
    get = signature_is(BaseHandler, "get_response_async", ["self", "request"], DJANGO, HANDLERS)
    assert inspect.iscoroutinefunction(get), f"{DJANGO}: get_response_async is no longer async"
    source_says(get, "await self._middleware_chain(request)", DJANGO, HANDLERS)
    source_says(ASGIHandler.__init__, "self.load_middleware(is_async=True)", DJANGO, HANDLERS)
    run = signature_is(ASGIHandler, "run_get_response", ["self", "request"], DJANGO, HANDLERS)
    source_says(run, "await self.get_response_async(request)", DJANGO, HANDLERS)


def test_the_sandbox_handler_builds_one_sync_chain_handed_to_the_requests_thread() -> None:
    handler = SandboxASGIHandler()
    chain = handler._middleware_chain
    assert isinstance(chain, SyncToAsync), (
        f"{DJANGO}: SandboxASGIHandler's _middleware_chain is {chain!r}, not the one "
        "sync_to_async it sets in load_middleware (was load_middleware not called?)"
    )
    assert not inspect.iscoroutinefunction(chain.func), (
        f"{DJANGO}: load_middleware(is_async=False) built an async chain"
    )
    assert not chain._thread_sensitive and chain._executor is handlers._request_threads, (
        "the chain must run in the process's request threads"
    )


# A middleware and a view that note the thread they run in.
THREADS: dict[str, int] = {}


class NoteThread:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        THREADS["middleware, request"] = threading.get_ident()
        response = self.get_response(request)
        THREADS["middleware, response"] = threading.get_ident()
        return response


def noted_view(request: HttpRequest) -> HttpResponse:
    THREADS["view"] = threading.get_ident()
    response = HttpResponse("drawn by the view")
    response["Server-Timing"] = "db;dur=1.5"
    return response


urlpatterns = [path("noted/", noted_view)]


async def get(handler: Any, address: str) -> tuple[int, dict[bytes, bytes], bytes]:
    """A GET through ``handler`` as daphne hands it over: status, headers, body."""
    communicator = ApplicationCommunicator(handler, http_scope("GET", address))
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(WAIT)
    body = await communicator.receive_output(WAIT)
    await communicator.wait(WAIT)
    return start["status"], {k.lower(): v for k, v in start["headers"]}, body["body"]


@override_settings(
    ROOT_URLCONF="tests.test_handlers", MIDDLEWARE=["tests.test_handlers.NoteThread"]
)
async def test_a_request_runs_its_middleware_and_view_in_one_thread_off_the_event_loop() -> None:
    THREADS.clear()
    status, headers, body = await get(SandboxASGIHandler(), "/noted/")
    assert (status, body) == (200, b"drawn by the view")
    loop = threading.get_ident()
    assert set(THREADS) == {"middleware, request", "view", "middleware, response"}, (
        f"{DJANGO}: the middleware or the view did not run through SandboxASGIHandler"
    )
    assert len(set(THREADS.values())) == 1, f"{DJANGO}: more than one thread: {THREADS}"
    assert loop not in THREADS.values(), "the view ran in the event loop's thread"
    # The view's own timing, then the handler's total.
    timing = headers[b"server-timing"].decode()
    assert timing.startswith("db;dur=1.5, total;dur="), timing
    assert float(timing.rsplit("=", 1)[1]) >= 0


@pytest.mark.django_db(transaction=True)
async def test_a_page_through_the_sandbox_handler_with_its_own_middleware() -> None:
    status, headers, body = await get(SandboxASGIHandler(), "/login/")
    assert status == 200 and b"Log in" in body
    assert "total;dur=" in headers[b"server-timing"].decode()


async def test_requests_at_once_each_get_their_own_thread() -> None:
    """Django's ThreadSensitiveContext per request is kept: two requests in flight do not
    queue on one thread (the second waits for its turn, then, the first still running,
    runs beside it)."""
    started = threading.Barrier(2, timeout=WAIT)

    def both_at_once(request: HttpRequest) -> HttpResponse:
        started.wait()  # only returns when the other request's view is running too
        return HttpResponse(str(threading.get_ident()))

    with override_settings(ROOT_URLCONF=_urls(both_at_once), MIDDLEWARE=[]):
        handler = SandboxASGIHandler()
        answers = await asyncio.gather(get(handler, "/both/"), get(handler, "/both/"))
    assert [status for status, _, _ in answers] == [200, 200], (
        f"{DJANGO}: two requests in flight did not run at once (one thread for both?)"
    )
    assert answers[0][2] != answers[1][2], f"{DJANGO}: two requests ran in one thread"


async def test_a_request_is_counted_in_flight_while_it_is_answered() -> None:
    """The live market's threads give way while the count is not 0."""

    def counted(request: HttpRequest) -> HttpResponse:
        return HttpResponse(str(FOREGROUND.count))

    with override_settings(ROOT_URLCONF=_urls(counted), MIDDLEWARE=[]):
        status, _, body = await get(SandboxASGIHandler(), "/both/")
    assert (status, body) == (200, b"1")
    assert FOREGROUND.count == 0


async def _settle() -> None:
    """Let every task ready to run take its step."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_requests_take_turns_in_order_of_arrival() -> None:
    turns = Turns(WAIT)
    order: list[str] = []
    first_done = asyncio.Event()

    async def request(name: str, hold: asyncio.Event | None = None) -> None:
        async with turns:
            order.append(f"{name} runs")
            if hold is not None:
                await hold.wait()
            order.append(f"{name} done")

    first = asyncio.create_task(request("first", first_done))
    await _settle()
    later = [asyncio.create_task(request(name)) for name in ("second", "third")]
    await _settle()
    assert order == ["first runs"] and turns.running == 1 and len(turns.queue) == 2
    first_done.set()
    await asyncio.gather(first, *later)
    assert order == [
        "first runs",
        "first done",
        "second runs",
        "second done",
        "third runs",
        "third done",
    ]
    assert (turns.running, len(turns.queue)) == (0, 0)


async def test_a_request_waits_for_its_turn_no_longer_than_the_bound() -> None:
    """A long request (a teacher's action over a class) does not hold the others up."""
    assert 0 < TURN_SECONDS <= 0.1
    turns = Turns(0.001)
    long_done = asyncio.Event()

    async def long() -> None:
        async with turns:
            await long_done.wait()

    running = asyncio.create_task(long())
    await _settle()
    async with turns:  # (the long one still runs)
        assert turns.running == 2 and not turns.queue
    long_done.set()
    await running
    assert (turns.running, len(turns.queue)) == (0, 0)


async def test_a_request_gone_while_waiting_leaves_the_queue_and_passes_its_turn_on() -> None:
    turns = Turns(WAIT)
    release = asyncio.Event()
    ran: list[str] = []

    async def request(name: str, hold: asyncio.Event | None = None) -> None:
        async with turns:
            ran.append(name)
            if hold is not None:
                await hold.wait()

    first = asyncio.create_task(request("first", release))
    await _settle()
    gone = asyncio.create_task(request("gone"))
    last = asyncio.create_task(request("last"))
    await _settle()
    gone.cancel()  # the client went away while waiting
    await _settle()
    assert len(turns.queue) == 1
    release.set()
    await asyncio.gather(first, last)
    assert ran == ["first", "last"] and gone.cancelled()
    assert (turns.running, len(turns.queue)) == (0, 0)

    # Given the turn and cancelled before it could run: the turn goes to the next.
    hold = asyncio.Event()
    first = asyncio.create_task(request("first again", hold))
    await _settle()
    given = asyncio.create_task(request("given"))
    after = asyncio.create_task(request("after"))
    await _settle()
    hold.set()
    await first  # its exit hands the turn to "given", which has not run yet
    given.cancel()
    await asyncio.gather(after, given, return_exceptions=True)
    assert ran[-2:] == ["first again", "after"] and given.cancelled()
    assert (turns.running, len(turns.queue)) == (0, 0)


@pytest.mark.django_db(transaction=True)
async def test_requests_one_after_the_other_keep_their_threads_sqlite_connection() -> None:
    def connection_of(request: HttpRequest) -> HttpResponse:
        from django.db import connection

        was_open = connection.connection is not None
        connection.ensure_connection()
        return HttpResponse(f"{threading.get_ident()} {was_open}")

    with override_settings(ROOT_URLCONF=_urls(connection_of), MIDDLEWARE=[]):
        handler = SandboxASGIHandler()
        answers = [(await get(handler, "/both/"))[2].decode().split() for _ in range(12)]
    # Each request thread opens its connection once and keeps it (Django would open one a
    # request).
    threads = {thread for thread, _ in answers}
    assert len(threads) <= handlers.REQUEST_THREADS
    assert sum(was_open == "False" for _, was_open in answers) <= len(threads)


def _urls(view: Callable[[HttpRequest], HttpResponse]) -> Any:
    class Urls:
        urlpatterns = [path("both/", view)]

    return Urls


# ------------------------------------------------------- daphne's and Twisted's internals


def test_the_daphne_and_twisted_internals_the_request_class_relies_on() -> None:
    assert daphne.server.HTTPFactory is daphne.http_protocol.HTTPFactory or issubclass(
        daphne.server.HTTPFactory, daphne.http_protocol.HTTPFactory
    ), f"{DAPHNE}: daphne.server.HTTPFactory is not daphne's HTTPFactory"
    source_says(daphne.server.Server.run, "HTTPFactory(self)", DAPHNE, DAPHNE_REQUEST)
    build = signature_is(
        daphne.http_protocol.HTTPFactory, "buildProtocol", ["self", "addr"], DAPHNE, DAPHNE_REQUEST
    )
    source_says(build, "protocol.requestFactory = WebRequest", DAPHNE, DAPHNE_REQUEST)
    assert issubclass(daphne.http_protocol.WebRequest, http.Request), (
        f"{DAPHNE}: WebRequest is no longer a twisted.web.http.Request"
    )
    request = daphne.http_protocol.WebRequest
    signature_is(request, "gotLength", ["self", "length"], TWISTED, DAPHNE_REQUEST)
    signature_is(request, "handleContentChunk", ["self", "data"], TWISTED, DAPHNE_REQUEST)
    signature_is(
        request, "requestReceived", ["self", "command", "path", "version"], TWISTED, DAPHNE_REQUEST
    )
    signature_is(request, "connectionLost", ["self", "reason"], TWISTED, DAPHNE_REQUEST)
    source_says(
        http.Request.requestReceived, "self._parsePOSTFormSubmission", TWISTED, DAPHNE_REQUEST
    )
    source_says(http.HTTPChannel.lineReceived, "self._path = request", TWISTED, DAPHNE_REQUEST)
    source_says(
        http.HTTPChannel.allHeadersReceived, "req.gotLength(self.length)", TWISTED, DAPHNE_REQUEST
    )


def test_install_puts_the_limited_factory_in_daphnes_server(monkeypatch: Any) -> None:
    monkeypatch.setattr(daphne.server, "HTTPFactory", daphne.server.HTTPFactory)  # put back after
    daphne_request.install()
    installed = daphne.server.HTTPFactory
    assert installed.__name__ == "LimitedHTTPFactory"
    assert issubclass(installed, daphne.http_protocol.HTTPFactory)


class Server:
    """What daphne's WebRequest asks of its server when a connection comes and goes."""

    def __init__(self) -> None:
        self.connected: list[Any] = []
        self.disconnected: list[Any] = []

    def protocol_connected(self, protocol: Any) -> None:
        self.connected.append(protocol)

    def protocol_disconnected(self, protocol: Any) -> None:
        self.disconnected.append(protocol)


PEER = IPv4Address("TCP", "127.0.0.1", 40000)


@pytest.fixture
def connection() -> Iterator[tuple[Any, StringTransport, list[Any]]]:
    """A daphne HTTP connection built by the sandbox's factory over an in-memory transport,
    its requests noted instead of handed to the application; closed after the test."""
    factory = daphne_request._factory()(Server())
    channel = factory.buildProtocol(PEER)
    limited = channel.requestFactory
    assert limited.__name__ == "LimitedWebRequest", (
        f"{DAPHNE}: the factory's buildProtocol no longer uses the requestFactory it is given"
    )
    processed: list[Any] = []

    class Noted(limited):  # type: ignore[misc,valid-type]
        def process(self) -> None:  # where daphne would hand the request to the application
            processed.append(self)

    channel.requestFactory = Noted
    transport = StringTransport(peerAddress=PEER)
    channel.makeConnection(transport)
    yield channel, transport, processed
    channel.connectionLost(Failure(ConnectionDone()))


def test_daphne_refuses_a_declared_length_over_the_limit_as_the_headers_arrive(
    connection: tuple[Any, StringTransport, list[Any]],
) -> None:
    channel, transport, processed = connection
    too_many = limits.body_limit("/") + 1
    channel.dataReceived(
        b"POST / HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
        b"Content-Length: %d\r\n\r\n" % too_many
    )
    answer = transport.value()
    assert answer.startswith(b"HTTP/1.1 413 Content Too Large\r\n"), (
        f"{DAPHNE}, {TWISTED}: an oversized declared body was not refused as its headers "
        f"arrived (gotLength or HTTPChannel._path changed?): {answer[:200]!r}"
    )
    assert b"100 Continue" not in answer
    assert limits.refusal_sentence("/").encode() in answer
    assert not processed  # nothing reached the application


def test_daphne_cuts_a_chunked_body_off_at_the_limit(
    connection: tuple[Any, StringTransport, list[Any]],
) -> None:
    channel, transport, processed = connection
    channel.dataReceived(
        b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"x" * 65536
    for _ in range(limits.body_limit("/") // len(piece) + 2):
        channel.dataReceived(b"%x\r\n%s\r\n" % (len(piece), piece))
    answer = transport.value()
    assert answer.startswith(b"HTTP/1.1 413 "), (
        f"{DAPHNE}, {TWISTED}: a chunked body over the limit was not cut off "
        f"(handleContentChunk changed?): {answer[:200]!r}"
    )
    assert not processed


def test_daphne_hands_a_form_within_the_limit_on_unparsed(
    connection: tuple[Any, StringTransport, list[Any]],
) -> None:
    """Django parses forms, within its limits: Twisted must not (its private
    _parsePOSTFormSubmission flag), and the request goes on to the application whole."""
    channel, transport, processed = connection
    body = b"qty=1&side=buy"
    channel.dataReceived(
        b"POST /desk/1/XBTUSDT/order/ HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    assert transport.value() == b""  # no answer from the guard
    assert len(processed) == 1, f"{TWISTED}: the request never reached process()"
    request = processed[0]
    request.content.seek(0)
    assert request.content.read() == body
    assert request.args == {}, (
        f"{TWISTED}: Twisted parsed the form ({request.args}) although the request set "
        "_parsePOSTFormSubmission = False"
    )
    assert request.path == b"/desk/1/XBTUSDT/order/"
