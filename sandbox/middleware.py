"""How long the server took: every response says so in a ``Server-Timing`` header
(browsers' developer tools show it; the interaction benchmark reads it)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware


def _stamp(response: HttpResponse, began: float) -> HttpResponse:
    response["Server-Timing"] = f"app;dur={(time.perf_counter() - began) * 1000:.2f}"
    return response


@sync_and_async_middleware
def server_timing(get_response: Callable[[HttpRequest], Any]) -> Any:
    """Outermost middleware: the time from Django receiving the request to the response
    being ready, all other middleware, the view and the template included. Under daphne
    it runs in the event loop (as Django's own middleware do), so the request is not
    handed between threads more than the view needs."""
    if iscoroutinefunction(get_response):

        async def timed(request: HttpRequest) -> HttpResponse:
            began = time.perf_counter()
            response: Awaitable[HttpResponse] = get_response(request)
            return _stamp(await response, began)

        return timed

    def timed_sync(request: HttpRequest) -> HttpResponse:
        began = time.perf_counter()
        return _stamp(get_response(request), began)

    return timed_sync
