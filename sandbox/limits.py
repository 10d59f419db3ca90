"""How big a request body may be, and its refusal (413, a sentence, nothing read or saved).

Two guards use the same limits:

* daphne, as the headers arrive (``sandbox.daphne_request``): a declared length over the
  limit is answered at once, before the body is read; a body without a declared length
  (chunked) is counted as it arrives and cut off at the limit. What the client still
  sends is dropped, never stored, so the server's memory stays flat.
* the ASGI application (``RequestBodyLimit``), for any other server and for the tests:
  the same check of the declared length before anything is read, and the same count of
  the body as Django reads it.

A lesson upload may carry a lesson file of up to ``SANDBOX_MAX_LESSON_FILE_BYTES`` (and
its form around it); every other request ``SANDBOX_MAX_REQUEST_BYTES``. The largest form
the sandbox has is a few hundred bytes.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from functools import cache
from typing import Any

from django.conf import settings
from django.urls import NoReverseMatch, reverse

from sandbox.security import CONTENT_SECURITY_POLICY

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

log = logging.getLogger(__name__)

# Room for the form around an uploaded lesson file: the multipart boundaries, the part
# headers and the CSRF token.
FORM_ENVELOPE_BYTES = 16 * 1024


@cache
def _lesson_upload_path() -> str | None:
    try:
        return reverse("lesson_upload")
    except NoReverseMatch:  # a project without the lessons' routes: no larger limit
        return None


def is_lesson_upload(path: str) -> bool:
    return path == _lesson_upload_path()


def body_limit(path: str) -> int:
    """The most bytes a request body to ``path`` (the decoded path) may have."""
    if is_lesson_upload(path):
        return int(settings.SANDBOX_MAX_LESSON_FILE_BYTES) + FORM_ENVELOPE_BYTES
    return int(settings.SANDBOX_MAX_REQUEST_BYTES)


def size_text(size: int) -> str:
    """1 MB, 64 KB: sizes as the README and the pages state them."""
    if size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MB"
    return f"{size // 1024} KB"


def refusal_sentence(path: str) -> str:
    if is_lesson_upload(path):
        allowed = size_text(int(settings.SANDBOX_MAX_LESSON_FILE_BYTES))
        return (
            f"The lesson file is too large: a lesson file may be at most {allowed}. "
            "Nothing was saved."
        )
    allowed = size_text(int(settings.SANDBOX_MAX_REQUEST_BYTES))
    return (
        f"This request is too large: the sandbox accepts at most {allowed} here. Nothing was saved."
    )


def log_refusal(path: str, client: object) -> None:
    log.warning(
        "refused a request body over %s bytes to %s from %s", body_limit(path), path, client
    )


def refusal_page(path: str) -> bytes:
    """The 413 page: a plain HTML page with the sentence (no template, nothing read)."""
    sentence = html.escape(refusal_sentence(path))
    return (
        '<!doctype html><html lang="en-gb"><head><meta charset="utf-8">'
        "<title>Too large · Margin sandbox</title></head><body><h1>Too large</h1>"
        f'<p role="alert">{sentence}</p><p><a href="/">Go to your desk</a></p></body></html>'
    ).encode()


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The Content-Length header as a number; None if absent, -1 if not a number."""
    for name, value in headers:
        if name.lower() == b"content-length":
            return int(value) if value.isdigit() and len(value) < 20 else -1
    return None


async def _answer(send: Send, status: int, page: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(page)).encode()),
                (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": page})


class RequestBodyLimit:
    """ASGI middleware: refuse a body over the path's limit with 413 and a sentence.

    A declared length over the limit is refused before the body is read; otherwise the
    body is counted as the application reads it, and when the count passes the limit
    the client gets the 413 and the application is told the client went away (Django
    then gives up the request: nothing is saved).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        limit = body_limit(path)
        declared = declared_length(scope["headers"])
        if declared == -1:
            page = b"<!doctype html><p>The request's Content-Length is not a number.</p>"
            await _answer(send, 400, page)
            return
        if declared is not None and declared > limit:
            log_refusal(path, scope.get("client"))
            await _answer(send, 413, refusal_page(path))
            return
        counted = 0
        refused = started = False

        async def counted_receive() -> Message:
            nonlocal counted, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                counted += len(message.get("body", b""))
                if counted > limit:
                    refused = True
                    log_refusal(path, scope.get("client"))
                    if not started:
                        await _answer(send, 413, refusal_page(path))
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = True
            await send(message)

        await self.app(scope, counted_receive, guarded_send)
