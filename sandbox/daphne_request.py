"""daphne's request, refusing an oversized body as its headers arrive.

daphne (through Twisted) reads a whole request body before the application sees any of
it, then queues every piece for the application at once; and Twisted's request parses a
posted form whole in memory besides. A 100 MB post grew the server by over 100 MB, a
50 MB lesson upload by over 500 MB. This request class answers 413 with the sentence of
``sandbox.limits`` as soon as the headers declare a length over the path's limit (no
"100 Continue" is sent, so a careful client sends nothing more), and counts a body of
undeclared length (chunked) as it arrives, answering 413 when it passes the limit. After
the answer, the server's side of the connection is closed, and what the client still sends
is dropped, not stored, for a few seconds at most (so the client reads the answer rather
than a reset connection); then the connection is closed. Twisted no longer parses forms:
Django does.

``install()`` makes daphne's server build its connections with this request. It is called
by ``sandbox.asgi`` when daphne is the server (daphne imports the application before it
starts listening), so ``daphne sandbox.asgi:application``, as the Makefile, the README and
the tests start it, is guarded.
"""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import unquote

from sandbox import limits
from sandbox.security import CONTENT_SECURITY_POLICY

CSP = CONTENT_SECURITY_POLICY.encode()

LINGER_SECONDS = 5.0


def install() -> None:
    """Have daphne's server, once imported, use this module's request on every connection."""
    server: Any = sys.modules.get("daphne.server")
    if server is None:  # daphne is not the server here: nothing to do
        return
    server.HTTPFactory = _factory()


def _factory() -> Any:
    # Imported only under daphne: daphne.server has already installed its Twisted reactor.
    from daphne.http_protocol import HTTPFactory, WebRequest
    from twisted.internet import reactor as twisted_reactor

    clock: Any = twisted_reactor

    class LimitedWebRequest(WebRequest):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._parsePOSTFormSubmission = False  # Django parses forms, within its limits
            self.body_limit = limits.body_limit("")
            self.body_received = 0
            self.refused = False
            self.linger: Any = None

        def _requested_path(self) -> str:
            raw = getattr(self.channel, "_path", b"")  # the request line, read before the headers
            return unquote(raw.split(b"?", 1)[0].decode("ascii", "replace"))

        def gotLength(self, length: int | None) -> None:
            path = self._requested_path()
            self.body_limit = limits.body_limit(path)
            if length is not None and length > self.body_limit:
                self._refuse(path)
                length = 0  # nothing of the body is kept
            super().gotLength(length)

        def handleContentChunk(self, data: bytes) -> None:
            if self.refused:
                return
            self.body_received += len(data)
            if self.body_received > self.body_limit:
                self._refuse(self._requested_path())
                return
            super().handleContentChunk(data)

        def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
            if self.refused:  # the whole body has been dropped; the answer is sent
                self._close()
                return
            super().requestReceived(command, path, version)

        def process(self) -> Any:
            done = super().process()
            if self.transport is None and self.channel is not None:
                # daphne handed the connection to a websocket (taking the transport from
                # this request). The HTTP channel stayed the transport's producer, keeping
                # itself, this request, its headers and body as long as the socket is open:
                # a few KB a desk. Nothing of them serves the websocket (its own protocol
                # reads and writes the transport), so the transport lets them go, and the
                # channel its request (freed at once, not left to the cycle collector).
                self.channel.transport.unregisterProducer()
                self.channel.requests.clear()
            return done

        def _refuse(self, path: str) -> None:
            self.refused = True
            peer = self.channel.transport.getPeer()
            limits.log_refusal(path, getattr(peer, "host", peer))
            # Twisted would invite the body with "100 Continue" after reading the length.
            self.requestHeaders.removeHeader(b"expect")
            page = limits.refusal_page(path)
            self.channel.transport.write(
                b"HTTP/1.1 413 Content Too Large\r\n"
                b"Content-Type: text/html; charset=utf-8\r\n"
                b"Content-Length: %d\r\nContent-Security-Policy: %s\r\n"
                b"Connection: close\r\n\r\n%s" % (len(page), CSP, page)
            )
            # The answer is complete: the client reads it to the end of the connection, while
            # what it still sends is read and dropped.
            half_close = getattr(self.channel.transport, "loseWriteConnection", None)
            if half_close is not None:
                half_close()
            self.linger = clock.callLater(LINGER_SECONDS, self._close)

        def _close(self) -> None:
            if self.linger is not None and self.linger.active():
                self.linger.cancel()
            if self.channel is not None:
                self.channel.loseConnection()

        def connectionLost(self, reason: Any) -> None:
            if self.linger is not None and self.linger.active():
                self.linger.cancel()
            super().connectionLost(reason)

    class LimitedHTTPFactory(HTTPFactory):  # type: ignore[misc]
        def buildProtocol(self, addr: Any) -> Any:
            protocol = super().buildProtocol(addr)
            protocol.requestFactory = LimitedWebRequest
            return protocol

    return LimitedHTTPFactory
