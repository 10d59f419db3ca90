"""The ASGI handler daphne runs Django's HTTP side with.

Django's own ASGI handler gives each request a worker thread of its own (a
``ThreadSensitiveContext`` per request), runs the middleware in the event loop and hands
each sync step to that thread and back: every ``process_request`` and ``process_response``
of the usual middleware, then the view, a dozen hand-overs a request, each a wait for the
other thread and for the interpreter lock. The sandbox's views are all sync, so this
handler builds the middleware stack as sync code and hands a request to its thread once:
the same middleware and views, in the same thread Django would call the views in.

Static files are served by the middleware of :mod:`sandbox.staticfiles`; any address
under ``/static/`` that is not one of its files, one that climbs out of the folder
included, goes on to the views and answers the 404 page.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponseBase


class SandboxASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        chain: Callable[[HttpRequest], HttpResponseBase] = self._middleware_chain  # type: ignore[has-type]
        self._middleware_chain = sync_to_async(chain, thread_sensitive=True)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        """Also adds ``total`` to the ``Server-Timing`` header: from the request reaching
        Django to its response, the hand-over to the request's worker thread included."""
        began = time.perf_counter()
        response = await super().get_response_async(request)
        total = f"total;dur={(time.perf_counter() - began) * 1000:.2f}"
        timing = response.get("Server-Timing")
        response["Server-Timing"] = f"{timing}, {total}" if timing else total
        return response
