"""Building HTTP requests for the ASGI application as daphne would hand them over, for the
tests that go through the real ASGI stack rather than Django's test client."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def http_scope(
    method: str,
    path: str,
    headers: Sequence[tuple[bytes, bytes]] = (),
    raw: bytes = b"",
) -> dict[str, Any]:
    """An HTTP scope for ``path`` on localhost (``raw``: the path as sent, when it differs)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": raw or path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
