"""A new learner's first visit, in real Chromium on the real server (daphne): opening `/`
lands on the desk having transferred under 40 KB (the HTML, CSS, JavaScript and favicon,
compressed, headers included), every static file compressed and cacheable for good.

The transfer is counted from Chromium's own network log (the bytes each response took on
the wire). The desk's live market then talks over its websocket, which is not counted.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from sandbox.desk.models import PaperAccount

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
BUDGET = 40 * 1024
ARTIFACTS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "test-artifacts")


class NetworkLog:
    """Every HTTP response of a page, with the bytes it took on the wire, from Chromium's
    DevTools protocol (redirects included)."""

    def __init__(self, page: Any) -> None:
        self.session = page.context.new_cdp_session(page)
        self.session.send("Network.enable")
        self.sizes: dict[str, int] = {}
        self.urls: dict[str, str] = {}
        self.headers: dict[str, dict[str, str]] = {}
        self.redirects: list[tuple[str, int]] = []
        self.session.on("Network.requestWillBeSent", self._sent)
        self.session.on("Network.responseReceived", self._received)
        self.session.on("Network.loadingFinished", self._finished)

    def _sent(self, event: dict[str, Any]) -> None:
        redirect = event.get("redirectResponse")
        if redirect:
            self.redirects.append((redirect["url"], int(redirect["encodedDataLength"])))
        self.urls[event["requestId"]] = event["request"]["url"]

    def _received(self, event: dict[str, Any]) -> None:
        headers = {name.lower(): value for name, value in event["response"]["headers"].items()}
        self.headers[event["response"]["url"]] = headers

    def _finished(self, event: dict[str, Any]) -> None:
        self.sizes[self.urls[event["requestId"]]] = int(event["encodedDataLength"])

    def total(self) -> int:
        return sum(self.sizes.values()) + sum(size for _, size in self.redirects)


def test_a_first_visit_of_the_desk_transfers_under_40_kb(
    browser: Any, asgi_server: str, seeded: None
) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    log = NetworkLog(page)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(asgi_server + "/", wait_until="load")
    page.wait_for_load_state("networkidle")
    # Chromium asks for the favicon when it likes (headless, never): the page asks here,
    # so that it is counted whatever the browser does.
    icon = page.get_attribute("link[rel=icon]", "href")
    assert icon is not None
    if not any(icon in url for url in log.sizes):
        page.evaluate("(href) => fetch(href).then((r) => r.arrayBuffer())", icon)
        page.wait_for_load_state("networkidle")
    total = log.total()
    landed = page.url
    context.close()

    assert not errors, errors
    assert PaperAccount.objects.count() == 1, "the visit made the learner's account"
    assert landed.rstrip("/") != asgi_server, "/ leads on to the desk"
    kinds = {url.rsplit("?", 1)[0].rsplit(".", 1)[-1] for url in log.sizes}
    assert {"css", "js", "svg"} <= kinds, sorted(log.sizes)
    for url, headers in log.headers.items():
        if "/static/" in url:
            assert headers.get("content-encoding") == "gzip", url
            assert "immutable" in headers["cache-control"], url
        else:
            assert headers.get("content-encoding") == "gzip", url  # the desk's HTML
    os.makedirs(ARTIFACTS, exist_ok=True)
    with open(os.path.join(ARTIFACTS, "first-visit.txt"), "w") as report:
        for url, size in [*log.redirects, *log.sizes.items()]:
            report.write(f"{size:>7} {url}\n")
        report.write(f"{total:>7} in all\n")
    assert total < BUDGET, f"{total} bytes: see test-artifacts/first-visit.txt"
