"""The desk's socket lost, in real Chromium: the page says live updates are unavailable,
htmx's websocket extension reconnects by itself (through refusals), and once back the
notice goes and the ticks come in again. The socket is cut between the page and the real
server (Playwright routes it), as a server whose Redis went away would close it."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def ticks_after(page: Any) -> None:
    """Wait for the next tick pushed to the page (the status line's tick number moves)."""
    status = page.locator("#live-status")
    expect(status).not_to_have_attribute("data-sequence", status.get_attribute("data-sequence"))


def test_a_lost_socket_is_announced_retried_and_caught_up(live_page: Any) -> None:
    page = live_page
    sockets: list[Any] = []

    def route(socket: Any) -> None:
        sockets.append(socket)
        if len(sockets) in (2, 3):  # the first tries again are refused
            socket.close(code=1013, reason="Try again later")
        else:
            socket.connect_to_server()

    page.route_web_socket(re.compile(r"/ws/desk/"), route)
    page.goto(page.base_url + "/")
    page.wait_for_selector("#ticket-form")
    notice = page.locator("#live-connection")
    expect(notice).to_be_hidden()  # live updates available
    ticks_after(page)

    sockets[0].close(code=1012, reason="Service restart")  # the socket lost
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Live updates are unavailable, retrying")
    assert notice.get_attribute("role") == "status"

    # htmx reconnects by itself, through two refusals (each one shows the notice again).
    deadline = time.monotonic() + 30
    while (len(sockets) < 4 or notice.is_visible()) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert len(sockets) == 4
    expect(notice).to_be_hidden()
    ticks_after(page)
