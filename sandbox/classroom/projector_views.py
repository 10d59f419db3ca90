"""The projector's pages: the room's teacher's own view, the read-only link's view, and
the panel's form that makes or revokes that link."""

from __future__ import annotations

from typing import Any

import segno
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from sandbox.desk.broadcast import live_updates_available
from sandbox.desk.roles import teacher_required

from . import projector
from .models import Room

NOT_FOUND = "No such projector."


def _symbol(request: HttpRequest, room: Room) -> tuple[str, str]:
    """The symbol asked for (``?symbol=``) and a sentence when the room does not trade it
    (the room's first is shown instead)."""
    wanted = request.GET.get("symbol", "")[:20]
    symbol = projector.room_symbol(room, wanted)
    if symbol is not None:
        return symbol, ""
    first = projector.room_symbol(room, None) or ""
    return first, f"This room does not trade {wanted}: showing {first}."


def _page(request: HttpRequest, room: Room, socket: str) -> HttpResponse:
    symbol, problem = _symbol(request, room)
    join_url = request.build_absolute_uri(reverse("join_code", kwargs={"code": room.code}))
    qr = segno.make(join_url, error="m")
    # A viewBox and no size: the code fills the box the page gives it.
    drawn = qr.svg_inline(scale=8, title=f"Join {room.name}", omitsize=True)
    context: dict[str, Any] = projector.live_context(room, symbol)
    context.update(
        {
            "join_url": join_url,
            "qr": mark_safe(drawn),  # noqa: S308 (segno escapes the title; the rest is paths)
            "socket_url": socket + "?" + urlencode({"symbol": symbol}),
            "live_ok": live_updates_available(),
            "problem": problem,
        }
    )
    return render(request, "classroom/projector.html", context)


@require_GET
def room_projector(request: HttpRequest, code: str) -> HttpResponse:
    """The projector, for the room's teacher (signed out: the login page first). Anyone
    else finds no such page."""
    if not request.user.is_authenticated:
        return redirect(f"/login/?next={request.path}")
    room = projector.room_for_teacher(request.user, code)
    if room is None:
        raise Http404(NOT_FOUND)
    return _page(request, room, f"/ws/rooms/{room.code}/projector/")


@require_GET
def room_projector_key(request: HttpRequest, code: str, key: str) -> HttpResponse:
    """The projector through its read-only link: anyone who has the link."""
    room = projector.room_for_key(code, key)
    if room is None:
        raise Http404(NOT_FOUND)
    return _page(request, room, f"/ws/rooms/{room.code}/projector/{key}/")


@teacher_required
@require_POST
def room_projector_link(request: HttpRequest, code: str) -> HttpResponse:
    """Make a new read-only link (the old one stops working) or revoke it."""
    room = projector.room_for_teacher(request.user, code)
    if room is None:
        raise Http404("No such room of yours.")
    action = request.POST.get("action", "")
    if action == "make":
        projector.projector_link_make(room=room)
        messages.success(
            request, "A new read-only projector link is below; any earlier link stopped working."
        )
    elif action == "revoke":
        projector.projector_link_revoke(room=room)
        messages.success(request, "The read-only projector link no longer works.")
    else:
        messages.error(request, "Choose to make or to revoke the read-only link.")
    return redirect("room_panel", code=room.code)
