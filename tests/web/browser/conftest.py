"""Real-browser fixtures: Playwright driving Debian's Chromium (/usr/bin/chromium).

Playwright's own browser download does not work offline, so the tests launch the system
Chromium. Without it the tests are skipped with a message saying so (``make test``
installs it when it can).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("SANDBOX_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts"

# Playwright's sync API runs an event loop in this thread; the tests also touch the ORM
# to set up and check state, which Django only allows when told it is safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


# Per module: Playwright's sync API keeps an event loop running while it is open, which
# asyncio tests that come after it could not start their own beside.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's chromium to run browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, live_server: Any, seeded: None) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Nothing may leave the server: any request to another host fails the test.
    outside: list[str] = []
    page.on(
        "request",
        lambda request: (
            None if request.url.startswith(live_server.url) else outside.append(request.url)
        ),
    )
    page.base_url = live_server.url
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"
    assert not outside, f"requests left the server: {outside}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def asgi_server(django_db_setup: None, django_db_blocker: Any) -> Iterator[str]:
    """The real server (daphne, websockets, the embedded ticker) on the test database.

    It runs as its own process, as `make run` does, on the same SQLite file as the tests,
    so a test can arrange state with the ORM and watch the browser react. One per module:
    its ticker must not go on ticking the markets of tests that come after.
    """
    from django.db import connection

    database = str(connection.settings_dict["NAME"])
    port = _free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / "asgi-server.log").open("w")
    env = {
        **os.environ,
        "SANDBOX_SQLITE_PATH": database,
        "SANDBOX_TICKER": "embedded",
        "SANDBOX_LEASE_SECONDS": "2",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "sandbox.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the ASGI server did not start; see test-artifacts/asgi-server.log")
    if process.poll() is not None:
        pytest.fail("the ASGI server exited; see test-artifacts/asgi-server.log")
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture
def live_page(browser: Any, asgi_server: str, seeded: None) -> Iterator[Any]:
    """A page on the real ASGI server, failing on JavaScript errors or outside requests."""
    from .screens import COUNT_LIVE_MESSAGES

    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    context.add_init_script(COUNT_LIVE_MESSAGES)  # (for screens.live_settled)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    outside: list[str] = []
    page.on(
        "request",
        lambda request: (
            None if request.url.startswith(asgi_server) else outside.append(request.url)
        ),
    )
    page.base_url = asgi_server
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"
    assert not outside, f"requests left the server: {outside}"


@pytest.fixture
def page_at(browser: Any, asgi_server: str, seeded: None) -> Iterator[Any]:
    """``page_at(size, bypass_csp=False, javascript=True)``: a new page on the real ASGI
    server at one of the sizes in screens.py (a phone is a touch screen), failing the test
    on JavaScript errors or outside requests."""
    from .screens import Screens

    screens = Screens(browser, asgi_server)
    yield screens.open
    screens.close()
