"""Pushes to the browsers never fail an action: a channel layer that cannot be reached is
logged, not raised; pages can ask whether live updates can reach them now."""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest
from django.test import override_settings

from sandbox.desk import broadcast


class AwayLayer:
    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port  # nothing listens once the probe is closed


def test_a_push_the_channel_layer_refuses_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(broadcast, "get_channel_layer", AwayLayer)
    with caplog.at_level(logging.WARNING, logger="sandbox.desk.broadcast"):
        broadcast.market_changed(7, 12, ledger=True)
        broadcast.board_changed(7)
    assert [r.getMessage()[:35] for r in caplog.records] == [
        "live update to market-7 not sent (c",
        "live update to board-7 not sent (ch",
    ]


@pytest.fixture
def fresh_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broadcast, "_checked", (float("-inf"), True))
    monkeypatch.setattr(broadcast, "_client", None)


@pytest.mark.usefixtures("fresh_check")
@override_settings(REDIS_URL="")
def test_the_in_memory_layer_is_always_available() -> None:
    assert broadcast.live_updates_available() is True


@pytest.mark.usefixtures("fresh_check")
def test_a_redis_that_refuses_connections_makes_live_updates_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0"):
        assert broadcast.live_updates_available() is False
        # Asked again at once: the answer is remembered for a second, Redis not asked.
        monkeypatch.setattr(broadcast, "_client", None)
        assert broadcast.live_updates_available() is False
        assert broadcast._client is None
