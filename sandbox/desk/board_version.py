"""A classroom market's change token: what its class board was drawn from, besides ticks.

A class's ranking is computed once per tick and reused by every desk, snapshot and board
of the room (``sandbox.classroom.selectors.class_board``). Between two ticks the figures
still change when a learner trades, changes leverage or margin, or joins, and when the
teacher sets the price or resets the accounts: each of those, once committed, calls
:func:`bump`, and a ranking is reused only while the token it was computed under is still
the current one.

The token lives in Django's cache, so every process of the scale-out profile (Redis) sees
a change made in another; on one process it is the process's memory. A token that is
missing (never made, evicted, Redis restarted) is made afresh: whatever was cached under
an older one is then computed again, never shown stale.
"""

from __future__ import annotations

import secrets

from django.core.cache import cache

DAY = 24 * 60 * 60  # a token untouched for a day is forgotten (made afresh when asked)


def _key(market_id: int) -> str:
    return f"board-version:{market_id}"


def bump(market_id: int) -> None:
    """The room's figures changed (call it after the change is committed)."""
    cache.set(_key(market_id), secrets.token_hex(8), timeout=DAY)


def current(market_id: int) -> str:
    """The token to key a ranking by: read it before reading the figures, so a change
    committed meanwhile (and its bump) is never hidden under it."""
    token = cache.get(_key(market_id))
    if token is None:
        cache.add(_key(market_id), secrets.token_hex(8), timeout=DAY)
        token = cache.get(_key(market_id), "")
    return str(token)
