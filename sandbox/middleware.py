"""How long the server took: every response says so in a ``Server-Timing`` header
(browsers' developer tools show it; the interaction benchmark reads it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse


def server_timing(get_response: Callable[[HttpRequest], HttpResponse]) -> Any:
    """Outermost middleware: ``app`` is the time from the first middleware to the response
    being ready, all middleware, the view and its templates included. (Under daphne,
    :class:`sandbox.handlers.SandboxASGIHandler` adds ``total``, which also counts the
    request's wait for its turn, the hand-over to its worker thread and the wait for the
    interpreter lock.)"""

    def timed(request: HttpRequest) -> HttpResponse:
        began = time.perf_counter()
        response = get_response(request)
        response["Server-Timing"] = f"app;dur={(time.perf_counter() - began) * 1000:.2f}"
        return response

    return timed
