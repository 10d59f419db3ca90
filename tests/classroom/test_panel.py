"""The room panel on a learner's desk, drawn for a whole class at once: the leaderboard's
top ten is drawn once per room and tick whatever the size of the class, and each learner's
panel still marks them (in the top ten, or on their own place below it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.template.loader import get_template
from django.test import Client

from sandbox.classroom import panel as room_panel
from sandbox.classroom import selectors
from sandbox.classroom.models import Room, RoomMember
from sandbox.desk.models import Market

from .conftest import conduct, join_room, lesson_slug, market_of, quiet

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_kept_boards() -> Iterator[None]:
    """No board kept from another test's room (a rolled-back room's id comes again)."""
    selectors.forget_boards()
    yield
    selectors.forget_boards()


def _panels(room: Room) -> dict[str, str]:
    """Every member's panel, loaded and drawn as the live feed does, by display name."""
    market = market_of(room)
    members = {m.account_id: m.display_name for m in RoomMember.objects.filter(room=room)}
    loaded = room_panel.RoomPanel().load(market, list(members), fresh=True)
    template = get_template(room_panel.RoomPanel.partial)
    return {
        members[account_id]: template.render({"market": market, **shown.context, "oob": True})
        for account_id, shown in loaded.items()
    }


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int | None, bool]]:
    """(me, each_own) of every drawing of leaderboard rows, in order."""
    calls: list[tuple[int | None, bool]] = []
    original = room_panel.draw_places

    def counted(places: Any, me: int | None, *, each_own: bool = False) -> str:
        calls.append((me, each_own))
        return original(places, me, each_own=each_own)

    monkeypatch.setattr(room_panel, "draw_places", counted)
    return calls


TOP, BELOW = (None, False), (None, True)  # the shared top ten; the places below it


@pytest.mark.parametrize("size", [12, 30])
def test_the_top_ten_is_drawn_once_for_the_class_whatever_its_size(
    room: Room, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    room = quiet(room)
    for number in range(size):
        join_room(room, f"L{number:02d}")  # all at 0%: ranked by name, L00 first
    calls = _counting(monkeypatch)

    panels = _panels(room)

    assert len(panels) == size
    # One drawing of the shared top ten for the whole class, one of the places below it;
    # and the top ten learners' own lists: the same drawings whatever the class size.
    assert calls.count(TOP) == 1
    assert calls.count(BELOW) == 1
    assert len(calls) == 2 + 10
    # A learner in the top ten: marked in it, nothing below it.
    third = panels["L02"]
    assert '<li value="3" aria-current="true" class="me">L02: 0% (you)</li>' in third
    assert '<li value="1">L00: 0%</li><li value="2">L01: 0%</li>' in third
    assert '<li value="11"' not in third
    # Below the top ten: the top ten unmarked, then their own place.
    last = panels[f"L{size - 1:02d}"]
    top = "".join(f'<li value="{n + 1}">L{n:02d}: 0%</li>' for n in range(10))
    own = f'<li value="{size}" aria-current="true" class="me">L{size - 1:02d}: 0% (you)</li>'
    assert f'<ol class="leaderboard">{top}{own}</ol>' in last
    assert "You are <strong>" + f"L{size - 1:02d}" + "</strong>." in last

    # Drawn again from the same board (another pass at the same tick, a snapshot): the
    # rows are not redrawn. (The board itself is the room's ranking cache's to keep.)
    boards: dict[int, Any] = {}
    ranked = room_panel.class_board

    def kept(room: Room, market: Market, *, every: int = 1) -> Any:
        return boards.setdefault(market.sequence, ranked(room, market, every=every))

    monkeypatch.setattr(room_panel, "class_board", kept)
    _panels(room)
    calls.clear()
    _panels(room)
    assert TOP not in calls
    assert BELOW not in calls


def test_a_new_re_ranking_tick_draws_the_top_ten_again(
    room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = quiet(room)
    for number in range(11):
        join_room(room, f"L{number:02d}")
    calls = _counting(monkeypatch)
    Market.objects.filter(pk=room.market_id).update(sequence=room_panel.BOARD_EVERY)
    _panels(room)
    Market.objects.filter(pk=room.market_id).update(sequence=room_panel.BOARD_EVERY + 1)
    _panels(room)  # between two re-rankings: the class's board, drawn already
    assert calls.count(TOP) == 1
    assert calls.count(BELOW) == 1
    Market.objects.filter(pk=room.market_id).update(sequence=2 * room_panel.BOARD_EVERY)
    panels = _panels(room)
    assert calls.count(TOP) == 2  # once per re-ranking tick
    assert calls.count(BELOW) == 2
    assert '<li value="11" aria-current="true" class="me">L10: 0% (you)</li>' in panels["L10"]
    # A learner in the top ten: their own list marks them.
    assert '<li value="1" aria-current="true" class="me">L00: 0% (you)</li>' in panels["L00"]


@pytest.mark.parametrize("lessons", [False, True])
def test_a_pushed_panel_is_the_panel_drawn_whole_and_the_room_is_drawn_once(
    room: Room, teacher_client: Client, lessons: bool
) -> None:
    """The live feed's panels: each room's panel drawn once, each learner's name, rows
    and lessons put in; every learner's is the panel the page draws, to the character."""
    room = quiet(room)
    for name in ["Ann & <Co>", "O'Neil", *(f"L{n:02d}" for n in range(10))]:
        join_room(room, name)
    if lessons:
        assert conduct(teacher_client, room, "assign", lesson=lesson_slug(1)).status_code == 302
    market = market_of(room)
    members = list(RoomMember.objects.filter(room=room).values_list("account_id", flat=True))
    loaded = room_panel.RoomPanel().load(market, members, fresh=True)
    template = get_template(room_panel.RoomPanel.partial)

    for shown in loaded.values():
        assert shown.draw is not None
        whole = template.render({"market": market, **shown.context, "oob": True})
        assert shown.draw(market) == whole
    assert "You are <strong>Ann &amp; &lt;Co&gt;</strong>." in "".join(
        shown.draw(market) for shown in loaded.values()
    )
    assert ("Lessons from your teacher" in whole) is lessons
    (drawing,) = {shown.draw.func.__self__ for shown in loaded.values()}  # type: ignore[union-attr]
    assert len(drawing.drawn) == 1  # the room's panel, drawn once for the class

    # The teacher closes trading: the next pushes say so (drawn once more, for that state).
    conduct(teacher_client, room, "close")
    closed = market_of(room)
    pushed = [shown.draw(closed) for shown in loaded.values()]  # type: ignore[misc]
    assert all("<strong>Trading is closed</strong>" in html for html in pushed)
    assert len(drawing.drawn) == 2


def test_a_desk_connecting_below_the_top_ten_draws_its_own_place_alone(
    room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One panel in a class of 30 (a desk connecting): the top ten and that learner's own
    place are drawn, not the twenty places below the top ten; the place is the very row
    the whole class's drawing gives that learner."""
    room = quiet(room)
    for number in range(30):
        join_room(room, f"L{number:02d}")
    market = market_of(room)
    member = RoomMember.objects.get(room=room, display_name="L25")
    drawn: list[int] = []  # how many places each drawing held
    original = room_panel.draw_places

    def counted(places: Any, me: int | None, *, each_own: bool = False) -> str:
        drawn.append(len(places))
        return original(places, me, each_own=each_own)

    monkeypatch.setattr(room_panel, "draw_places", counted)
    loaded = room_panel.RoomPanel().load(market, [member.account_id], fresh=True)
    html = str(loaded[member.account_id].context["ranking_rows"])

    assert sorted(drawn) == [1, 10]  # the top ten, and the learner's own place alone
    top = "".join(f'<li value="{n + 1}">L{n:02d}: 0%</li>' for n in range(10))
    own = '<li value="26" aria-current="true" class="me">L25: 0% (you)</li>'
    assert html == top + own
    board = loaded[member.account_id].context["ranking_rows"].board
    assert room_panel.own_places(board)[26 - 11] == own  # the class's drawing: the same row
    # Drawn in one pass for the class, the places are then reused by a desk alone too.
    drawn.clear()
    again = room_panel.RoomPanel().load(market, [member.account_id], fresh=True)
    assert str(again[member.account_id].context["ranking_rows"]) == html
    assert drawn == []


def test_many_desks_below_the_top_ten_draw_the_places_in_one_pass(
    room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = quiet(room)
    for number in range(30):
        join_room(room, f"L{number:02d}")
    calls = _counting(monkeypatch)
    panels = _panels(room)  # every desk: twenty below the top ten
    assert calls.count(BELOW) == 1
    for number in range(10, 30):
        own = f'<li value="{number + 1}" aria-current="true" class="me">L{number}: 0% (you)</li>'
        assert own in panels[f"L{number}"]
