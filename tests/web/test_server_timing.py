"""Every response says how long the server took, in a ``Server-Timing`` header: pages,
fragments, redirects, refusals and errors alike, through the sync and the async handler.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client

from sandbox import middleware as middleware_module
from sandbox.middleware import server_timing
from tests.web.asgi import http_scope
from tests.web.conftest import Learner

TIMING = re.compile(r"^app;dur=\d+\.\d\d$")

pytestmark = pytest.mark.django_db


def timed(response: Any) -> str:
    value: str = response["Server-Timing"]
    assert TIMING.match(value), value
    return value


def test_a_desk_page_is_timed(learner: Learner) -> None:
    response = learner.get("desk")

    assert response.status_code == 200
    timed(response)


def test_a_fragment_is_timed(learner: Learner) -> None:
    response = learner.get("order_preview", {"side": "buy", "qty": "0.1"}, htmx=True)

    assert response.status_code == 200
    timed(response)


def test_a_redirect_is_timed(seeded: None) -> None:
    response = Client().get("/")

    assert response.status_code == 302
    timed(response)


def test_a_post_that_redirects_is_timed(learner: Learner) -> None:
    response = learner.post("order_submit", {"side": "buy", "qty": "0.1"})

    assert response.status_code == 302
    timed(response)


@pytest.mark.parametrize("path", ["/no/such/page/", "/desk/999999/XBTUSDT/"])
def test_a_not_found_is_timed(learner: Learner, path: str) -> None:
    response = learner.client.get(path)

    assert response.status_code == 404
    timed(response)


def test_another_learners_desk_is_not_found_and_timed(
    learner: Learner, other_learner: Learner
) -> None:
    response = learner.client.get(other_learner.url("desk"))

    assert response.status_code == 404
    timed(response)


def test_a_refused_method_is_timed(learner: Learner) -> None:
    response = learner.client.post(learner.url("desk"))

    assert response.status_code == 405
    timed(response)


@pytest.mark.parametrize(("htmx", "status"), [(True, 200), (False, 400)], ids=["htmx", "plain"])
def test_a_refused_order_is_timed(learner: Learner, htmx: bool, status: int) -> None:
    response = learner.post("order_submit", {"side": "sideways", "qty": "abc"}, htmx=htmx)

    assert response.status_code == status
    timed(response)


def test_a_csrf_refusal_is_timed(learner: Learner) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = learner.client.cookies

    response = strict.post(learner.url("order_submit"), {"side": "buy", "qty": "0.1"})

    assert response.status_code == 403
    timed(response)


@pytest.mark.django_db(transaction=True)
async def test_the_async_handler_times_its_responses(seeded: None) -> None:
    client = AsyncClient()

    home = await client.get("/")
    missing = await client.get("/no/such/page/")

    assert home.status_code == 302
    assert missing.status_code == 404
    timed(home)
    timed(missing)


def fake_clock(monkeypatch: pytest.MonkeyPatch, *readings: float) -> None:
    """The middleware's clock reads ``readings`` in turn (and nothing else's does)."""
    clock = iter(readings)
    monkeypatch.setattr(
        middleware_module, "time", SimpleNamespace(perf_counter=lambda: next(clock))
    )


def test_the_duration_is_in_milliseconds_with_two_decimals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_clock(monkeypatch, 10.0, 10.0123456)
    middleware = server_timing(lambda request: HttpResponse("ok"))

    response = middleware(HttpRequest())

    assert response["Server-Timing"] == "app;dur=12.35"


def test_a_slow_response_keeps_its_whole_milliseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_clock(monkeypatch, 0.0, 1234.5)
    middleware = server_timing(lambda request: HttpResponse("ok"))

    response = middleware(HttpRequest())

    assert response["Server-Timing"] == "app;dur=1234500.00"
    assert TIMING.match(response["Server-Timing"])


# ---------------------------------------------------------------- daphne's handler


async def _through_the_servers_handler(path: str) -> dict[bytes, bytes]:
    """The response headers of a GET through the application daphne serves."""
    from asgiref.testing import ApplicationCommunicator

    from sandbox.asgi import router

    communicator = ApplicationCommunicator(router, http_scope("GET", path))
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(10)
    await communicator.receive_output(10)  # the body
    assert start["type"] == "http.response.start"
    return {name.lower(): value for name, value in start["headers"]}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("path", "status"), [("/", 302), ("/no/such/page/", 404)])
async def test_the_servers_handler_adds_the_total_with_the_wait_for_a_thread(
    seeded: None, path: str, status: int
) -> None:
    headers = await _through_the_servers_handler(path)

    timing = headers[b"server-timing"].decode()
    found = re.fullmatch(r"app;dur=(\d+\.\d\d), total;dur=(\d+\.\d\d)", timing)
    assert found, timing
    assert float(found[2]) >= float(found[1])  # the total includes the stack's own time
