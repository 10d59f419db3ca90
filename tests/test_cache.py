"""The scale-out profile's cache keeps counting (in the process's memory) while Redis is
away, so the pages that use it (joining a room) do not answer 500."""

from __future__ import annotations

import logging
import socket

import pytest

from sandbox.cache import FallbackRedisCache


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_with_redis_away_the_cache_counts_in_memory(caplog: pytest.LogCaptureFixture) -> None:
    cache = FallbackRedisCache(f"redis://127.0.0.1:{closed_port()}/0", {})
    with caplog.at_level(logging.WARNING, logger="sandbox.cache"):
        assert cache.get("join-guesses:1.2.3.4", 0) == 0
        assert cache.add("join-guesses:1.2.3.4", 0, timeout=60) is True
        assert cache.incr("join-guesses:1.2.3.4") == 1
        assert cache.incr("join-guesses:1.2.3.4") == 2
        assert cache.get("join-guesses:1.2.3.4") == 2
        cache.set("other", "x")
        assert cache.get_many(["other", "missing"]) == {"other": "x"}
        assert cache.delete("other") is True
    # Said once, not on every call.
    assert len([r for r in caplog.records if "Redis unavailable" in r.getMessage()]) == 1
