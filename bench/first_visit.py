"""Benchmark 9: what a new learner's first visit transfers.

A real daphne process serving ``sandbox.asgi:application``, and Debian's Chromium opening
``/`` with an empty cache: the bytes each response took on the wire (Chromium's own count,
headers included, the redirect to the desk too), the desk's HTML, CSS, JavaScript and
favicon. Target: under 40 KB. The desk's websocket, which then carries the live market, is
not counted. ``tests/web/browser/test_first_visit_browser.py`` asserts the same target.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.servers import free_port, start_daphne, wait_for_port

CHROMIUM = os.environ.get("SANDBOX_CHROMIUM", "/usr/bin/chromium")
TARGET_KB = 40


def _visit(base: str) -> list[tuple[str, int]]:
    """(path, bytes on the wire) of every response of a first visit of ``base``/."""
    from playwright.sync_api import sync_playwright

    urls: dict[str, str] = {}
    sizes: list[tuple[str, int]] = []

    def sent(event: dict[str, Any]) -> None:
        redirect = event.get("redirectResponse")
        if redirect:
            sizes.append((redirect["url"], int(redirect["encodedDataLength"])))
        urls[event["requestId"]] = event["request"]["url"]

    def finished(event: dict[str, Any]) -> None:
        sizes.append((urls[event["requestId"]], int(event["encodedDataLength"])))

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        session = page.context.new_cdp_session(page)
        session.send("Network.enable")
        session.on("Network.requestWillBeSent", sent)
        session.on("Network.loadingFinished", finished)
        page.goto(base + "/", wait_until="load")
        page.wait_for_load_state("networkidle")
        icon = page.get_attribute("link[rel=icon]", "href") or "/favicon.ico"
        if not any(icon in url for url, _ in sizes):  # headless Chromium never asks
            page.evaluate("(href) => fetch(href).then((r) => r.arrayBuffer())", icon)
            page.wait_for_load_state("networkidle")
        browser.close()
    return [(urlsplit(url).path, size) for url, size in sizes]


def first_visit_benchmark(work: Path) -> dict[str, Any] | None:
    """None without Chromium."""
    if not os.path.exists(CHROMIUM):
        return None
    port = free_port()
    log = (work / "daphne-first-visit.log").open("w")
    server = start_daphne(port, "sandbox.asgi:application", dict(os.environ), log)
    try:
        wait_for_port(port)
        responses = _visit(f"http://127.0.0.1:{port}")
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()
    return {"responses": responses, "total": sum(size for _, size in responses)}


def first_visit_section(report: dict[str, Any] | None) -> list[str]:
    lines = ["## 9. First visit of the desk", ""]
    if report is None:
        return [*lines, f"Not measured: no Chromium at {CHROMIUM}.", ""]
    total = report["total"]
    verdict = "met" if total < TARGET_KB * 1024 else "**missed**"
    lines += [
        f"A new learner opens `/` in Chromium (empty cache): {total / 1024:.1f} KB "
        f"transferred in {len(report['responses'])} responses, headers included (target "
        f"under {TARGET_KB} KB: {verdict}). Static files are gzipped and named by a hash "
        "of their content, so a second visit asks only for the page.",
        "",
        "| response | bytes |",
        "|---|---|",
    ]
    lines += [f"| `{path}` | {size:,} |" for path, size in report["responses"]]
    return [*lines, ""]


if __name__ == "__main__":
    from bench.servers import standalone_setup

    work = standalone_setup()
    print("\n".join(first_visit_section(first_visit_benchmark(work))))
