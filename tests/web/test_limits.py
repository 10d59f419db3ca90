"""Request size and static addresses, through the real ASGI application and a real daphne.

An oversized body is answered 413 with a sentence before it is read (a declared length),
or as soon as it passes the limit (no length declared); nothing is saved. Addresses under
/static/ that climb out of the folder, hold a NUL byte or are very long answer the 404
page, never 500.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore

from sandbox.desk.roles import make_teacher
from sandbox.lessons.models import Lesson
from sandbox.security import CONTENT_SECURITY_POLICY
from tests.web.asgi import http_scope

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024
CSRF = "c" * 32


async def _answer(communicator: ApplicationCommunicator) -> tuple[int, dict[bytes, bytes], str]:
    start = await communicator.receive_output(10)
    assert start["type"] == "http.response.start"
    body = b""
    while True:
        message = await communicator.receive_output(10)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = {name.lower(): value for name, value in start["headers"]}
    return start["status"], headers, body.decode()


def _application() -> Any:
    """What daphne runs for HTTP, without the embedded ticker's wrapper (which starts the
    ticker and passes every request on)."""
    from sandbox.asgi import router

    return router


@pytest.fixture
def teacher_headers(seeded: None) -> list[tuple[bytes, bytes]]:
    """The cookies and CSRF header of a signed-in teacher."""
    user = User.objects.create_user("ms-lovelace", password="a long teacher password 42")
    make_teacher(user)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    cookie = f"sessionid={session.session_key}; csrftoken={CSRF}"
    return [(b"cookie", cookie.encode()), (b"x-csrftoken", CSRF.encode())]


def _multipart(content: bytes) -> tuple[bytes, bytes]:
    boundary = "lessonfileboundary"
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="lesson.json"\r\n'
            "Content-Type: application/json\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}".encode()


def _lesson_file() -> bytes:
    """A built-in lesson, under a title of its own."""
    text = (ROOT / "scenarios" / "primer-20x-isolated.json").read_text()
    old = '"title": "20x: a 5% fall, a margin call, a gap, and no way back"'
    assert old in text
    return text.replace(old, '"title": "A lesson of my own"').encode()


# ---------------------------------------------------------------- the ASGI application


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/", "/join/", "/static/css/sandbox.css"])
async def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(
    seeded: None, path: str
) -> None:
    headers = [(b"content-length", str(100 * MB).encode())]
    communicator = ApplicationCommunicator(_application(), http_scope("POST", path, headers))

    # No body is sent at all: the answer comes without the application reading it.
    status, response_headers, page = await _answer(communicator)

    assert status == 413
    assert response_headers[b"content-type"] == b"text/html; charset=utf-8"
    assert response_headers[b"content-security-policy"] == CONTENT_SECURITY_POLICY.encode()
    assert "This request is too large: the sandbox accepts at most 64 KB here." in page
    assert "Nothing was saved." in page


@pytest.mark.django_db(transaction=True)
async def test_a_lesson_upload_may_be_larger_than_a_form_but_not_than_a_lesson_file(
    seeded: None,
) -> None:
    over = settings.SANDBOX_MAX_LESSON_FILE_BYTES + 64 * 1024
    headers = [(b"content-length", str(over).encode())]
    communicator = ApplicationCommunicator(
        _application(), http_scope("POST", "/lessons/upload/", headers)
    )

    status, _, page = await _answer(communicator)

    assert status == 413
    assert "The lesson file is too large: a lesson file may be at most 1 MB." in page


@pytest.mark.django_db(transaction=True)
async def test_a_body_of_undeclared_length_is_cut_off_at_the_limit_and_nothing_is_saved(
    teacher_headers: list[tuple[bytes, bytes]],
) -> None:
    headers = [*teacher_headers, (b"content-type", b"multipart/form-data; boundary=x")]
    communicator = ApplicationCommunicator(
        _application(), http_scope("POST", "/lessons/upload/", headers)
    )
    piece = b"x" * (256 * 1024)
    for _ in range(5):  # 1.25 MB, more than the limit, then the client would go on
        await communicator.send_input({"type": "http.request", "body": piece, "more_body": True})

    status, _, page = await _answer(communicator)

    assert status == 413
    assert "a lesson file may be at most 1 MB" in page
    assert not await Lesson.objects.filter(built_in=False).aexists()


@pytest.mark.django_db(transaction=True)
async def test_a_lesson_file_within_the_limit_is_uploaded_through_the_stack(
    teacher_headers: list[tuple[bytes, bytes]],
) -> None:
    body, content_type = _multipart(_lesson_file())
    headers = [
        *teacher_headers,
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
    ]
    communicator = ApplicationCommunicator(
        _application(), http_scope("POST", "/lessons/upload/", headers)
    )
    await communicator.send_input({"type": "http.request", "body": body, "more_body": False})

    status, response_headers, _ = await _answer(communicator)

    assert status == 302, response_headers
    assert (await Lesson.objects.aget(built_in=False)).title == "A lesson of my own"


@pytest.mark.django_db(transaction=True)
async def test_a_length_that_is_not_a_number_is_refused(seeded: None) -> None:
    headers = [(b"content-length", b"12abc")]
    communicator = ApplicationCommunicator(_application(), http_scope("POST", "/join/", headers))

    status, _, page = await _answer(communicator)

    assert status == 400
    assert "Content-Length is not a number" in page


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/static/../..", b"/static/../.."),
        ("/static/../../etc/passwd", b"/static/../../etc/passwd"),
        ("/static/../../etc/passwd", b"/static/..%2f..%2fetc/passwd"),
        ("/static/css/../../manage.py", b"/static/css/../../manage.py"),
        ("/static/\x00", b"/static/%00"),
        ("/static/css/\x00.css", b"/static/css/%00.css"),
        ("/static/" + "a" * 5000, b""),
        ("/static/" + "a/" * 3000, b""),
        ("/static/no-such-file.css", b""),
    ],
)
async def test_static_addresses_outside_its_files_answer_the_404_page(
    seeded: None, path: str, raw: bytes
) -> None:
    communicator = ApplicationCommunicator(_application(), http_scope("GET", path, [], raw))
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})

    status, _, page = await _answer(communicator)

    assert status == 404
    assert "There is nothing here for you" in page


@pytest.mark.django_db(transaction=True)
async def test_the_static_files_are_still_served(seeded: None) -> None:
    communicator = ApplicationCommunicator(
        _application(), http_scope("GET", "/static/css/sandbox.css", [])
    )
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})

    status, headers, page = await _answer(communicator)

    assert status == 200
    assert headers[b"content-type"].startswith(b"text/css")
    assert page == (ROOT / "static" / "css" / "sandbox.css").read_text()


# ---------------------------------------------------------------- a real daphne


@pytest.fixture(scope="module")
def daphne_port(django_db_setup: None, django_db_blocker: Any) -> Iterator[int]:
    """daphne started as the Makefile and the README start it, on the test database."""
    from django.db import connection

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = {
        **os.environ,
        "SANDBOX_SQLITE_PATH": str(connection.settings_dict["NAME"]),
        "SANDBOX_TICKER": "off",
    }
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(
        [*command, "sandbox.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(150):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert process.poll() is None, "daphne exited"
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def _exchange(port: int, head: str, pieces: int, piece: bytes) -> tuple[bytes, int]:
    """Send the head, then up to ``pieces`` pieces of body until the server answers;
    return the answer and how many pieces were sent."""
    sent = 0
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(head.encode())
        try:
            while sent < pieces and not select.select([conn], [], [], 0.05)[0]:
                conn.sendall(piece)
                sent += 1
            while chunk := conn.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer, sent


def _head(path: str, length: str) -> str:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\n{length}\r\n\r\n"
    )


@pytest.mark.django_db(transaction=True)
def test_daphne_refuses_a_declared_length_as_the_headers_arrive(daphne_port: int) -> None:
    head = _head("/join/", f"Content-Length: {100 * MB}\r\nExpect: 100-continue")

    answer, sent = _exchange(daphne_port, head, pieces=0, piece=b"")

    assert sent == 0
    assert answer.startswith(b"HTTP/1.1 413 ")  # no "100 Continue" first
    assert b"the sandbox accepts at most 64 KB here" in answer
    assert b"\r\nContent-Security-Policy: default-src 'self';" in answer


@pytest.mark.django_db(transaction=True)
def test_daphne_cuts_off_a_chunked_body_at_the_limit(daphne_port: int) -> None:
    piece = b"%x\r\n%s\r\n" % (16 * 1024, b"x" * 16 * 1024)
    head = _head("/join/", "Transfer-Encoding: chunked")

    # Up to 100 MB; the client stops when the answer comes.
    answer, sent = _exchange(daphne_port, head, pieces=6400, piece=piece)

    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"Nothing was saved." in answer
    assert sent < 6400


@pytest.mark.django_db(transaction=True)
def test_daphne_lets_a_lesson_upload_be_larger_than_a_form(daphne_port: int) -> None:
    body = b"x" * (200 * 1024)
    head = _head("/lessons/upload/", f"Content-Length: {len(body)}")

    answer, _ = _exchange(daphne_port, head, pieces=1, piece=body)

    # Past the size check: Django refuses the post for its missing CSRF token.
    assert answer.startswith(b"HTTP/1.1 403 "), answer[:200]


@pytest.mark.django_db(transaction=True)
def test_daphne_still_serves_after_refusing(daphne_port: int) -> None:
    _exchange(daphne_port, _head("/", f"Content-Length: {100 * MB}"), pieces=0, piece=b"")

    answer, _ = _exchange(
        daphne_port,
        "GET /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        pieces=0,
        piece=b"",
    )

    assert answer.startswith(b"HTTP/1.1 200 ")
