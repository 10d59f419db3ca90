"""Websocket routes of every app (the live market adds its consumers here)."""

from __future__ import annotations

from typing import Any

websocket_urlpatterns: list[Any] = []
