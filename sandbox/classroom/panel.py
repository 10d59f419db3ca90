"""The room panel on a learner's desk: the room, whether trading is open, and (when the
teacher shows it) the leaderboard. Plugged into the desk's screen when Django starts
(:class:`sandbox.classroom.apps.ClassroomConfig`), so the desk and the live feed draw it
without importing the classroom."""

from __future__ import annotations

from collections.abc import Collection

from sandbox.desk.models import Market
from sandbox.desk.screen import PanelView

from .models import Room, RoomMember
from .selectors import LearnerRow, leaderboard, learner_rows

BOARD_EVERY = 5  # a classroom's leaderboard is re-ranked on every fifth tick
BOARD_TOP = 10  # a learner's panel lists the top ten, and their own place below them
FEW = 20  # desks whose members are read by id


def ranked_for(ranking: list[LearnerRow], member: RoomMember) -> list[tuple[int, LearnerRow]]:
    """(place, row) for a learner's panel: the top of the class, then their own place."""
    places = list(enumerate(ranking, start=1))
    shown = places[:BOARD_TOP]
    own = next((p for p in places[BOARD_TOP:] if p[1].member.pk == member.pk), None)
    return shown + [own] if own else shown


class RoomPanel:
    """A classroom learner's panel. A plain tick redraws it on every ``BOARD_EVERY``-th
    tick of the market, when the teacher shows the leaderboard (each room ranked once for
    all its learners)."""

    partial = "desk/desk.html#room"

    def load(
        self, market: Market, account_ids: Collection[int], *, fresh: bool
    ) -> dict[int, PanelView]:
        due = fresh or market.sequence % BOARD_EVERY == 0
        if market.kind != Market.Kind.ROOM or not due:
            return {}
        wanted = set(account_ids)
        rows = RoomMember.objects.filter(room__market_id=market.pk).select_related("room")
        if len(wanted) <= FEW:  # a page or a few desks: by id; many: picked out of the room's
            rows = rows.filter(account_id__in=wanted)
        members = [m for m in rows if m.account_id in wanted]
        rooms: dict[int, Room] = {m.room_id: m.room for m in members}
        rankings = {
            pk: leaderboard(learner_rows(room))
            for pk, room in rooms.items()
            if room.leaderboard_visible
        }
        found = {}
        for member in members:
            ranking = rankings.get(member.room_id)
            shown = ranked_for(ranking, member) if ranking else None
            context = {"member": member, "ranking": shown}
            found[member.account_id] = PanelView(context, ticks=ranking is not None)
        return found
