"""A websocket's HTTP request is let go once daphne hands the connection to the websocket
(sandbox.daphne_request): Twisted's HTTP channel stayed the transport's producer, keeping
the channel, the request, its headers and body for as long as the socket was open."""

from __future__ import annotations

import gc
import inspect
import weakref
from importlib.metadata import version
from typing import Any

import daphne.http_protocol
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.web import http

from sandbox import daphne_request

DAPHNE = f"daphne {version('daphne')}"
TWISTED = f"Twisted {version('twisted')}"
PEER = IPv4Address("TCP", "127.0.0.1", 40000)
UPGRADE = (
    b"GET /ws/desk/1/XBTUSDT/ HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)


def test_the_daphne_and_twisted_internals_the_release_relies_on() -> None:
    process = inspect.getsource(daphne.http_protocol.WebRequest.process)
    for line in ("transport, self.transport = self.transport, None", "protocol.makeConnection"):
        assert line in process, (
            f"{DAPHNE}'s WebRequest.process no longer says `{line}`: "
            "sandbox/daphne_request.py tells a websocket upgrade by it"
        )
    made = inspect.getsource(http.HTTPChannel.connectionMade)
    assert "registerProducer(self, True)" in made, (
        f"{TWISTED}'s HTTPChannel no longer registers itself as its transport's producer: "
        "sandbox/daphne_request.py unregisters it after a websocket upgrade"
    )
    assert "self.requests = []" in inspect.getsource(http.HTTPChannel.__init__), (
        f"{TWISTED}'s HTTPChannel no longer keeps its requests in a list"
    )


class WebSocket:
    """What daphne hands the connection to: notes what it is given."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.received = b""
        self._raw_query_string = b""

    def makeConnection(self, transport: Any) -> None:  # noqa: N802 (Twisted's name)
        self.transport = transport

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        self.received += data


class Server:
    """What daphne's WebRequest asks of its server."""

    proxy_forwarded_address_header = None
    root_path = ""

    def __init__(self) -> None:
        self.websocket = WebSocket()
        self.disconnected: list[Any] = []
        server = self

        class Factory:
            def buildProtocol(self, addr: Any) -> WebSocket:  # noqa: N802
                return server.websocket

        self.ws_factory = Factory()

    def protocol_connected(self, protocol: Any) -> None:
        pass

    def protocol_disconnected(self, protocol: Any) -> None:
        self.disconnected.append(protocol)


def connect(data: bytes) -> tuple[Server, Any, StringTransport]:
    server = Server()
    protocol = daphne_request._factory()(server).buildProtocol(PEER)
    transport = StringTransport(peerAddress=PEER)
    protocol.makeConnection(transport)
    channel = transport.producer  # Twisted's own doing, before any request
    assert isinstance(channel, http.HTTPChannel)
    protocol.dataReceived(data)
    return server, channel, transport


def test_an_upgraded_connection_keeps_no_http_channel_or_request() -> None:
    server, channel, transport = connect(UPGRADE)
    websocket = server.websocket
    assert websocket.transport is transport  # handed over
    assert websocket.received.startswith(b"GET /ws/desk/1/XBTUSDT/ HTTP/1.1\r\n")
    assert len(server.disconnected) == 1
    request = weakref.ref(server.disconnected.pop())
    gone = weakref.ref(channel)
    assert transport.producer is None
    assert channel.requests == []
    del channel
    assert request() is None  # freed at once: no cycle left for the collector
    gc.collect()
    assert gone() is None


def test_a_plain_request_keeps_its_channel_as_producer() -> None:
    server, channel, transport = connect(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert server.websocket.transport is None  # not a websocket
    assert transport.producer is channel
    assert len(channel.requests) == 1
