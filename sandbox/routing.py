"""Websocket routes of every app."""

from __future__ import annotations

from sandbox.classroom.routing import websocket_urlpatterns as classroom_patterns
from sandbox.live.routing import websocket_urlpatterns as live_patterns

websocket_urlpatterns = [*live_patterns, *classroom_patterns]
