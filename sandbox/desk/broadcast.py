"""Telling the browsers that something changed: channel-layer groups and messages.

A market's group hears every tick (each learner's socket then redraws its own figures);
an account's group hears what concerns that account only.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

log = logging.getLogger(__name__)

CHECK_EVERY = 1.0  # seconds a page trusts the last look at the channel layer
_checked: tuple[float, bool] = (float("-inf"), True)
_client: redis.Redis | None = None
_client_lock = threading.Lock()


def live_updates_available() -> bool:
    """Whether the browsers can be sent live updates: with Redis (``REDIS_URL``), whether
    it answers; the in-memory layer always can. A page that finds it away shows "live
    updates are unavailable, retrying" and works on. Redis is asked at most once a
    ``CHECK_EVERY`` seconds per process, and waits half a second at most."""
    global _checked, _client
    url = str(getattr(settings, "REDIS_URL", "") or "")
    if not url:
        return True
    now = time.monotonic()
    checked_at, available = _checked
    if now - checked_at < CHECK_EVERY:
        return available
    with _client_lock:
        if _client is None:
            _client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        available = bool(_client.ping())
    except redis.RedisError:
        available = False
    _checked = (now, available)
    return available


def market_group(market_id: int) -> str:
    return f"market-{market_id}"


def account_group(account_id: int) -> str:
    return f"account-{account_id}"


def send(group: str, message: dict[str, Any]) -> None:
    """Tell a group, if the channel layer can be reached. Called after the change was
    committed: a push that fails (Redis away) is logged, never raised, so the action still
    says it was done; the browsers catch up with a snapshot when they reconnect."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception as error:
        log.warning("live update to %s not sent (channel layer unavailable): %r", group, error)


def market_changed(
    market_id: int, sequence: int, *, ledger: bool = False, room: bool = False
) -> None:
    """Every screen on the market redraws, as after a tick (``room``: a teacher's action,
    so the learners' room panels redraw too)."""
    send(
        market_group(market_id),
        {"type": "market.tick", "sequence": sequence, "ledger": ledger, "room": room},
    )


def board_group(market_id: int) -> str:
    return f"board-{market_id}"


def board_changed(market_id: int) -> None:
    """A learner of a classroom joined or traded: the teacher's board redraws."""
    send(board_group(market_id), {"type": "board.refresh"})
