"""The class board, live: the room's teacher sees every learner's figures on each tick."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.template.loader import render_to_string

from sandbox.desk.broadcast import board_group, market_group
from sandbox.desk.roles import is_teacher
from sandbox.live.consumers import FragmentConsumer

from .models import Room

REFUSED = (
    '<p id="board-problem" hx-swap-oob="true" class="notice error" role="alert">'
    "That message was refused: the board only accepts a request for a fresh snapshot.</p>"
)


def _room(scope: dict[str, Any], code: str) -> Room | None:
    user = scope.get("user")
    if user is None or not is_teacher(user):
        return None
    room = Room.objects.select_related("market").filter(code=code.upper()).first()
    return room if room is not None and room.teacher_id == user.pk else None


def _render(room_id: int) -> str:
    from .views import board_context

    room = Room.objects.select_related("market").get(pk=room_id)
    context = board_context(room)
    context["oob"] = True
    return render_to_string("classroom/panel.html#board", context)


class BoardConsumer(FragmentConsumer):
    refused = REFUSED

    async def connect(self) -> None:
        code = str(self.scope["url_route"]["kwargs"]["code"])
        room = await database_sync_to_async(_room)(self.scope, code)
        if room is None:
            await self.close(code=4403)
            return
        self.room_id = room.pk
        groups = market_group(room.market_id), board_group(room.market_id)
        await self.join(*groups, owner=f"teacher:{room.teacher_id}")
        await self.push()

    async def snapshot(self) -> None:
        await self.push()

    async def push(self) -> None:
        await self.draw_and_send(lambda: _render(self.room_id))

    async def market_tick(self, event: dict[str, Any]) -> None:
        await self.push()

    async def board_refresh(self, event: dict[str, Any]) -> None:
        await self.push()

    async def account_liquidated(self, event: dict[str, Any]) -> None:
        """Not sent to the board's groups; present so a stray message is harmless."""
