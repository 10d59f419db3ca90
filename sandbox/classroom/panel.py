"""The room panel on a learner's desk: the room, whether trading is open (or reduce-only),
the lessons the teacher assigned, and (when the teacher shows it) the leaderboard. Plugged
into the desk's screen when Django starts (:class:`sandbox.classroom.apps.ClassroomConfig`),
so the desk and the live feed draw it without importing the classroom."""

from __future__ import annotations

from collections.abc import Collection

from sandbox.desk.models import Market
from sandbox.desk.screen import PanelView

from .models import Room, RoomMember
from .progress import assigned_lessons, progress_of
from .selectors import RANKING_RULE, ClassBoard, LearnerRow, class_board

BOARD_EVERY = 5  # a classroom's leaderboard is re-ranked on every fifth tick
BOARD_TOP = 10  # a learner's panel lists the top ten, and their own place below them
FEW = 20  # desks whose members are read by id


def ranked_for(ranking: list[LearnerRow], member: RoomMember) -> list[tuple[int, LearnerRow]]:
    """(place, row) for a learner's panel: the top of the class, then their own place."""
    places = list(enumerate(ranking, start=1))
    shown = places[:BOARD_TOP]
    own = next((p for p in places[BOARD_TOP:] if p[1].member.pk == member.pk), None)
    return shown + [own] if own else shown


def board_for(board: ClassBoard, member: RoomMember) -> list[tuple[int, LearnerRow]]:
    """:func:`ranked_for` from a shared board, finding the learner's place at once."""
    shown = list(enumerate(board.ranking[:BOARD_TOP], start=1))
    place = board.places.get(member.pk)
    if place is not None and place > BOARD_TOP:
        shown.append((place, board.ranking[place - 1]))
    return shown


class RoomPanel:
    """A classroom learner's panel. A plain tick redraws it on every ``BOARD_EVERY``-th
    tick of the market, when the teacher shows the leaderboard; the class is ranked once
    per tick and room for all its learners (:func:`.selectors.class_board`), however many
    desks draw it."""

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
        boards = {
            pk: class_board(room, market) for pk, room in rooms.items() if room.leaderboard_visible
        }
        lessons = assigned_lessons(list(rooms))
        progress = progress_of([m.account_id for m in members], lessons)
        found = {}
        for member in members:
            board = boards.get(member.room_id)
            context = {
                "member": member,
                "ranking": board_for(board, member) if board and board.ranking else None,
                "ranking_rule": RANKING_RULE,
                "room_lessons": [
                    (lesson, progress.get((member.account_id, lesson.pk)))
                    for lesson in lessons.get(member.room_id, [])
                ],
            }
            found[member.account_id] = PanelView(context, ticks=board is not None)
        return found
