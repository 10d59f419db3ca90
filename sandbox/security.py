"""The Content-Security-Policy every answer of Django's carries.

The pages load only the app's own scripts, styles and images, and open websockets only to
the server they came from: an injected ``<script>``, inline style or event handler, or a
connection to another site, is refused by the browser. The templates keep to it (no inline
script, style or ``on…=`` attribute; htmx's inline indicator style and its ``eval`` are
turned off in ``base.html``). ``connect-src 'self'`` also allows ``ws:``/``wss:`` to the
page's own host and port (CSP level 3, as Chromium, Firefox and Safari apply it).
Static files, served by WhiteNoise inside the middleware stack, carry it too (harmless).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
)


def content_security_policy(get_response: Callable[[HttpRequest], HttpResponse]) -> Any:
    """Pages, fragments, redirects, refusals and errors alike (a view may set its own)."""

    def with_policy(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response

    return with_policy
