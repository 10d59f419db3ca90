"""Websocket routes of every app."""

from __future__ import annotations

from sandbox.live.routing import websocket_urlpatterns as live_patterns

websocket_urlpatterns = [*live_patterns]
