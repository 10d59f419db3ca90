"""Who may open a websocket, how a socket that may not is refused, and the user it has.

A refused socket is closed before it opens (the browser sees the handshake fail, the
server logs why), never by an error:

- **Another site's page** (close code 4403): the ``Origin`` header must be the socket's
  own site, scheme, host and port alike (``http://localhost:9999`` is not
  ``http://localhost:8000``), with a host of ``ALLOWED_HOSTS``; or one of
  ``CSRF_TRUSTED_ORIGINS``, as Django's CSRF check accepts a form. The socket's scheme is
  ``https`` when it came in over TLS, or when ``SECURE_PROXY_SSL_HEADER`` is set and the
  proxy's header says so. Channels' ``AllowedHostsOriginValidator`` compared the host only.
- **An address no route matches** (close code 4404), including a number too long to read
  (``int()`` refuses over 4,300 digits, so the route does not match).

A socket let in is routed with its cookies, its session and its user in the scope, as
Channels' AuthMiddlewareStack gave them, the session and the user read only when the
consumer first asks (in its database work), with nothing of this module staying for
the socket's life (:class:`SameOriginValidator`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from importlib import import_module
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import auth
from django.http import parse_cookie
from django.http.request import split_domain_port, validate_host
from django.urls import URLPattern, re_path
from django.utils.functional import SimpleLazyObject
from django.utils.http import is_same_domain

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Application = Callable[[Scope, Receive, Send], Awaitable[None]]

FOREIGN_ORIGIN = 4403
NOT_FOUND = 4404
DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]  # scheme, host (lower case, no brackets), port


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def parse_origin(text: str) -> Origin | None:
    """``scheme://host[:port]`` as (scheme, host, port), or None if it is not one."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in DEFAULT_PORTS or not host or parts.path not in ("", "/"):
        return None
    if parts.query or parts.fragment or parts.username is not None:
        return None
    return scheme, host.lower(), port if port is not None else DEFAULT_PORTS[scheme]


def _secure(scope: Scope) -> bool:
    """Whether the page that opened this socket was served over HTTPS."""
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        meta_name, secure_value = proxy
        name = meta_name.removeprefix("HTTP_").lower().replace("_", "-").encode("latin-1")
        value = _header(scope, name)
        if value is not None:
            return bool(value.split(",", 1)[0].strip() == secure_value)
    return bool(scope.get("scheme") == "wss")


def own_origin(scope: Scope) -> Origin | None:
    """The origin of the site this socket was opened on (its Host header, which must be
    one of ``ALLOWED_HOSTS``), or None."""
    host = _header(scope, b"host")
    if host is None:
        return None
    domain, port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    scheme = "https" if _secure(scope) else "http"
    return scheme, domain.strip("[]"), int(port) if port else DEFAULT_PORTS[scheme]


def _trusted(origin: Origin) -> bool:
    """Whether ``origin`` is one of CSRF_TRUSTED_ORIGINS (``https://*.example.com`` counts
    for every subdomain, as in Django)."""
    scheme, host, port = origin
    for pattern in settings.CSRF_TRUSTED_ORIGINS:
        wildcard = "://*." in pattern
        trusted = parse_origin(pattern.replace("://*.", "://", 1) if wildcard else pattern)
        if trusted is None or trusted[0] != scheme or trusted[2] != port:
            continue
        if host == trusted[1] or (wildcard and is_same_domain(host, "." + trusted[1])):
            return True
    return False


def origin_allowed(scope: Scope) -> bool:
    own = own_origin(scope)
    sent = _header(scope, b"origin")
    origin = parse_origin(sent) if sent is not None else None
    return own is not None and origin is not None and (origin == own or _trusted(origin))


async def refuse(receive: Receive, send: Send, code: int) -> None:
    """Close a socket before it opens (the server answers its handshake with 403)."""
    message = await receive()
    if message.get("type") == "websocket.connect":
        await send({"type": "websocket.close", "code": code})


def _user(session: Any) -> Any:
    """The session's user, as for a page (Django's own check of the session's hash)."""
    return auth.get_user(SimpleNamespace(session=session))  # type: ignore[arg-type]


def with_user(scope: Scope) -> Scope:
    """``scope`` with what Channels' AuthMiddlewareStack adds, ``cookies``, ``session`` and
    ``user``; the session and the user read when first used (by the consumer's database
    work, in its thread), not before the socket is routed."""
    header = _header(scope, b"cookie")
    cookies = parse_cookie(header) if header is not None else {}
    store = import_module(settings.SESSION_ENGINE).SessionStore
    session = SimpleLazyObject(lambda: store(cookies.get(settings.SESSION_COOKIE_NAME)))
    return {
        **scope,
        "cookies": cookies,
        "session": session,
        "user": SimpleLazyObject(lambda: _user(session)),
    }


class SameOriginValidator:
    """Opens a socket only for a page of this site (see the module's docstring), with the
    user of its cookies in its scope (:func:`with_user`).

    It is not a coroutine: it returns the application's, so nothing of it stays while
    a socket is open. (Channels' three layers of AuthMiddlewareStack each stayed: a
    coroutine, a copy of the scope, and a wrapper of ``send`` that looked at the session
    at every message a socket was sent, for a save only an HTTP answer makes.)"""

    _asgi_single_callable = True  # (asgiref would take a plain __call__ for ASGI 2)

    def __init__(self, application: Application) -> None:
        self.application = application

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope.get("type") != "websocket":
            return self.application(scope, receive, send)
        if not origin_allowed(scope):
            log.warning(
                "websocket %s refused: its page's origin %r is not this site's (host %r); "
                "a proxy must pass the Host header the browser used, or the origin must be "
                "in SANDBOX_CSRF_TRUSTED_ORIGINS",
                scope.get("path", "")[:200],
                (_header(scope, b"origin") or "none")[:200],
                (_header(scope, b"host") or "none")[:200],
            )
            return refuse(receive, send, FOREIGN_ORIGIN)
        return self.application(with_user(scope), receive, send)


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await refuse(receive, send, NOT_FOUND)


def with_not_found(patterns: Sequence[URLPattern]) -> list[URLPattern]:
    """The routes, then one that refuses any other address with 4404 (Channels' router
    raises an error for an address no route matches)."""
    # Channels routes to ASGI applications; Django's stubs expect a view.
    return [*patterns, re_path(r"^", not_found)]  # type: ignore[arg-type]
