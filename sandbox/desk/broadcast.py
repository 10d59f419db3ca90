"""Telling the browsers that something changed: channel-layer groups and messages.

A market's group hears every tick (each learner's socket then redraws its own figures);
an account's group hears what concerns that account only.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def market_group(market_id: int) -> str:
    return f"market-{market_id}"


def account_group(account_id: int) -> str:
    return f"account-{account_id}"


def send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, message)


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
