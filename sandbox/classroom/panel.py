"""The room panel on a learner's desk: the room, whether trading is open (or reduce-only),
the lessons the teacher assigned, and (when the teacher shows it) the leaderboard. Plugged
into the desk's screen when Django starts (:class:`sandbox.classroom.apps.ClassroomConfig`),
so the desk and the live feed draw it without importing the classroom.

The leaderboard's top ten is the same on every learner's panel but for the learner's own
row: it is drawn once per room and tick (:func:`top_places`, kept with the room's board),
and so are the places below it, each as its learner sees it (:func:`own_places`): each
panel adds only the learner's own place (a learner in the top ten: the top ten marking
them, drawn for them). A few panels (desks connecting between ticks) draw their own place
alone (:func:`own_place`), not every place of the class."""

from __future__ import annotations

import functools
import threading
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.template.loader import get_template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from sandbox.desk.models import Market
from sandbox.desk.screen import PanelView

from .models import Room, RoomMember
from .progress import assigned_lessons, progress_of
from .selectors import BOARD_EVERY, RANKING_RULE, ClassBoard, LearnerRow, class_board

BOARD_TOP = 10  # a learner's panel lists the top ten, and their own place below them
FEW = 20  # desks whose members are read by id
# Drawing one place alone costs about as much as this many drawn in one pass: fewer than
# (the places below the top ten) / ALONE panels wanting theirs draw them one by one.
ALONE = 4
PLACES = "desk/desk.html#room_places"  # the leaderboard's rows, drawn apart from the panel


def ranked_for(ranking: list[LearnerRow], member: RoomMember) -> list[tuple[int, LearnerRow]]:
    """(place, row) for a learner's panel: the top of the class, then their own place."""
    places = list(enumerate(ranking, start=1))
    shown = places[:BOARD_TOP]
    own = next((p for p in places[BOARD_TOP:] if p[1].member.pk == member.pk), None)
    return shown + [own] if own else shown


def draw_places(
    places: Sequence[tuple[int, LearnerRow]], me: int | None, *, each_own: bool = False
) -> str:
    """The leaderboard's rows ``places``, the learner ``me`` (a member's pk) marked, or
    (``each_own``) every row marked as its own learner's."""
    return get_template(PLACES).render({"places": places, "me": me, "each_own": each_own})


# The top ten of each room's latest board, drawn (one board per room: a newer replaces it);
# and the places below it, each marked as its own learner sees it.
_tops: dict[int, tuple[ClassBoard, str]] = {}
_owns: dict[int, tuple[ClassBoard, list[str]]] = {}
_tops_lock = threading.Lock()


Kept = TypeVar("Kept")


def _drawn_once(
    store: dict[int, tuple[ClassBoard, Kept]], board: ClassBoard, draw: Callable[[], Kept]
) -> Kept:
    """What ``draw`` makes of ``board``, kept in ``store`` with the board of its room it was
    made for (a newer board replaces it)."""
    with _tops_lock:
        kept = store.get(board.room_id)
    if kept is not None and kept[0] is board:
        return kept[1]
    made = draw()
    with _tops_lock:
        store[board.room_id] = (board, made)
    return made


def top_places(board: ClassBoard) -> str:
    """The board's top ten, no one marked: drawn once per board (a room's tick), however
    many panels show it."""
    return _drawn_once(
        _tops, board, lambda: draw_places(list(enumerate(board.ranking[:BOARD_TOP], start=1)), None)
    )


def own_place(board: ClassBoard, place: int, *, alone: bool) -> str:
    """The learner's own place below the top ten, marked as theirs: from the board's places
    drawn in one pass (:func:`own_places`) when they are, or when many panels want theirs;
    drawn alone for a few (a desk connecting: one row, not the whole class's)."""
    if alone:
        with _tops_lock:
            kept = _owns.get(board.room_id)
        if kept is None or kept[0] is not board:
            return draw_places([(place, board.ranking[place - 1])], None, each_own=True)
    return own_places(board)[place - BOARD_TOP - 1]


def own_places(board: ClassBoard) -> list[str]:
    """Each place below the top ten as its learner's panel shows it (marked as theirs),
    by place - 11: drawn in one pass once per board, however many panels show them."""

    def draw() -> list[str]:
        below = list(enumerate(board.ranking[BOARD_TOP:], start=BOARD_TOP + 1))
        # One row each: a display name is escaped, so a row's text never holds "</li>".
        html = draw_places(below, None, each_own=True)
        return [item + "</li>" for item in html.split("</li>")[:-1]]

    return _drawn_once(_owns, board, draw)


class Places:
    """A learner's leaderboard rows, drawn when the panel is (the feed spreads panels over
    a few ticks): the shared top ten, then the learner's own place marked; a learner in
    the top ten is marked in it (their own drawing of it)."""

    __slots__ = ("alone", "board", "member")

    def __init__(self, board: ClassBoard, member: RoomMember, *, alone: bool = False) -> None:
        self.board, self.member = board, member
        self.alone = alone  # few panels want a place below the top ten: drawn one by one

    def __html__(self) -> SafeString:
        board, pk = self.board, self.member.pk
        place = board.places.get(pk)
        if place is not None and place <= BOARD_TOP:
            return mark_safe(draw_places(list(enumerate(board.ranking[:BOARD_TOP], start=1)), pk))
        own = own_place(board, place, alone=self.alone) if place else ""
        return mark_safe(top_places(board) + own)

    def __str__(self) -> str:
        return str(self.__html__())


LESSONS = "desk/desk.html#room_lessons"
# Where a learner's own parts go in a room's drawn panel. (A null character never reaches a
# page: Django's forms refuse it in every name, and the rows and lessons drawn hold none.)
_NAME, _ROWS, _LESSONS = "\x00name\x00", "\x00rows\x00", "\x00lessons\x00"


@dataclass(slots=True)
class _Someone:
    """The learner a room's panel is drawn for once: their parts are put in after."""

    room: Room
    display_name: str = _NAME


class Drawing:
    """The pushed panels of one load: each room's panel drawn once (per market state),
    and each learner's made of it with their name, leaderboard rows and lessons put in."""

    def __init__(self, partial: str) -> None:
        self.partial = partial
        self.drawn: dict[tuple[object, ...], str] = {}

    def draw(self, context: dict[str, Any], market: Market) -> str:
        member: RoomMember = context["member"]
        ranked, lessons = context["ranking"], bool(context["room_lessons"])
        key = (member.room_id, market.trading_open, market.closed_reduce_only, ranked, lessons)
        if key not in self.drawn:
            shared = {
                **context,
                "market": market,
                "member": _Someone(member.room),
                "ranking_rows": mark_safe(_ROWS),
                "lessons_drawn": mark_safe(_LESSONS),
                "oob": True,
            }
            self.drawn[key] = get_template(self.partial).render(shared)
        html = self.drawn[key].replace(_NAME, conditional_escape(member.display_name))
        if ranked:
            html = html.replace(_ROWS, conditional_escape(context["ranking_rows"]))
        if lessons:
            html = html.replace(_LESSONS, get_template(LESSONS).render(context))
        return html


class RoomPanel:
    """A classroom learner's panel. A plain tick redraws it on every ``BOARD_EVERY``-th
    tick of the market, when the teacher shows the leaderboard; the class is ranked once
    per such tick and room for all its learners (:func:`.selectors.class_board`), however
    many desks draw it, and its top ten drawn once (:func:`top_places`). A panel drawn
    between two of those ticks (a desk connecting, a page) shows the board the class's
    panels show, unless a trade or a teacher's action changed the figures since: then
    the class is ranked anew, at this tick. Either way one more desk costs no ranking of
    the class, and its leaderboard is its classmates'."""

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
            pk: class_board(room, market, every=BOARD_EVERY)
            for pk, room in rooms.items()
            if room.leaderboard_visible
        }
        # The rooms where few of these panels show a place below the top ten: each drawn
        # alone, rather than every place of the class drawn for them.
        below = Counter(
            m.room_id
            for m in members
            if m.room_id in boards and boards[m.room_id].places.get(m.pk, 0) > BOARD_TOP
        )
        alone = {
            pk for pk, board in boards.items() if below[pk] * ALONE < len(board.ranking) - BOARD_TOP
        }
        lessons = assigned_lessons(list(rooms))
        progress = progress_of([m.account_id for m in members], lessons)
        found = {}
        drawing = Drawing(self.partial)
        for member in members:
            board = boards.get(member.room_id)
            ranked = board is not None and bool(board.ranking)  # (the leaderboard shown)
            context = {
                "member": member,
                "ranking": ranked,
                "ranking_rows": Places(board, member, alone=member.room_id in alone)
                if board and ranked
                else None,
                "ranking_rule": RANKING_RULE,
                "room_lessons": [
                    (lesson, progress.get((member.account_id, lesson.pk)))
                    for lesson in lessons.get(member.room_id, [])
                ],
            }
            found[member.account_id] = PanelView(
                context,
                ticks=board is not None,
                draw=functools.partial(drawing.draw, context),
            )
        return found
