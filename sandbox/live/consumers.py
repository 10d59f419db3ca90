"""The desk's websocket: pushes each learner their own figures on every tick.

On connect (and reconnect) the learner gets a full snapshot; then, on each tick of their
market, the mark, their balances and positions, the chart, and (only when they change)
the margin-call alerts and liquidation notices. A learner receives only their own
figures: the socket joins the groups of their market and their own account, after the
same ownership check as the pages. Messages from the browser are limited to asking for a
snapshot; anything else is refused and changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from sandbox.desk.accounts import account_for_scope
from sandbox.desk.broadcast import account_group
from sandbox.desk.selectors import market_instruments

from . import feed, services
from .render import Seen, Viewer, render_update

REFUSED = (
    '<p id="live-problem" hx-swap-oob="true" class="notice error" role="alert">'
    "That message was refused: the live desk only accepts a request for a fresh snapshot."
    "</p>"
)


def _authorise(scope: dict[str, Any], account_id: int, symbol: str) -> int | None:
    """The account's market id if this connection may watch it, else None."""
    account = account_for_scope(scope, account_id)
    if account is None:
        return None
    if symbol not in {row.symbol for row in market_instruments(account.market)}:
        return None
    services.market_watched(market_id=account.market_id)
    return account.market_id


class FragmentConsumer(AsyncWebsocketConsumer):
    """A socket that sends rendered fragments of its groups' news, and from the browser
    accepts only a request for a fresh snapshot; anything else is refused and changes
    nothing. Subclasses authorise in ``connect``, then ``join`` their groups."""

    refused = REFUSED
    joined: list[str]

    async def join(self, *groups: str) -> None:
        self.joined = list(groups)
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            message = json.loads(text_data or "")
        except ValueError:
            message = None
        if isinstance(message, dict) and message.get("type") == "snapshot":
            await self.snapshot()
            return
        await self.send(text_data=self.refused)

    async def snapshot(self) -> None:
        raise NotImplementedError


class DeskConsumer(FragmentConsumer):
    """A learner's desk. Ticks come from the process's feed of the market (drawn for all
    its desks at once); the account's own news (a trade, a liquidation, a stop that
    fired) comes to this socket, which then sends whole sections."""

    account_id: int
    symbol: str
    market_id: int
    viewer: Viewer
    generation: int

    async def connect(self) -> None:
        route = self.scope["url_route"]["kwargs"]
        self.account_id = int(route["account_id"])
        self.symbol = str(route["symbol"])
        market_id = await database_sync_to_async(_authorise)(
            self.scope, self.account_id, self.symbol
        )
        if market_id is None:
            await self.close(code=4404)
            return
        self.market_id = market_id
        self.viewer = Viewer(self.account_id, self.symbol, Seen())
        self.generation = 0
        await self.join(account_group(self.account_id))
        await feed.watch(market_id, self)
        await self.snapshot()

    async def disconnect(self, code: int) -> None:
        await super().disconnect(code)
        if hasattr(self, "viewer"):
            await feed.leave(self.market_id, self)

    async def snapshot(self) -> None:
        await self.push(snapshot=True)

    async def push(self, *, snapshot: bool = False) -> None:
        self.generation += 1
        html = await database_sync_to_async(render_update)(
            self.account_id, self.symbol, self.viewer.seen, snapshot=snapshot
        )
        await self.send(text_data=html)

    async def account_liquidated(self, event: dict[str, Any]) -> None:
        await self.push()

    async def account_changed(self, event: dict[str, Any]) -> None:
        await self.push()
