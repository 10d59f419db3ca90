"""The projector: who may open it (the room's teacher, or anyone with its read-only link),
the strip of the class's liquidation and bankruptcy prices (the engine's own, isolated
and cross told apart by shape, liquidated positions filled and crossed), the counts, the
feed, the leaderboard when shown, and the join QR code."""

from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest
import segno
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from sandbox import engine
from sandbox.classroom import projector, services
from sandbox.classroom.models import Room
from sandbox.desk import services as desk_services
from sandbox.desk.selectors import engine_accounts, engine_market
from sandbox.live.chart import price_window

from .conftest import (
    RoomLearner,
    browser,
    join_room,
    quiet,
    reload_room,
    signed_in,
    text,
    tick,
)

D = Decimal


def projector_url(room: Room, key: str | None = None) -> str:
    if key is None:
        return reverse("room_projector", kwargs={"code": room.code})
    return reverse("room_projector_key", kwargs={"code": room.code, "key": key})


def link(client: Client, room: Room, action: str) -> int:
    url = reverse("room_projector_link", kwargs={"code": room.code})
    return client.post(url, {"action": action}).status_code


def position(
    learner: RoomLearner,
    mode: engine.MarginMode,
    leverage: str,
    qty: str = "0.1",
    side: str = "buy",
) -> None:
    account = learner.account
    desk_services.leverage_set(account=account, symbol="XBTUSDT", mode=mode, leverage=D(leverage))
    desk_services.order_place(account=account, symbol="XBTUSDT", side=engine.Side(side), qty=D(qty))


def engine_positions(room: Room, symbol: str = "XBTUSDT") -> list[engine.PositionFigures]:
    """Every open position of the room on ``symbol``, as the engine figures it."""
    room = reload_room(room)
    market = engine_market(room.market)
    ids = list(room.members.values_list("account_id", flat=True))
    found = []
    for state in engine_accounts(ids).values():
        figures = engine.account_figures(state, market)
        found += [p for p in figures.positions.values() if p.symbol == symbol]
    return found


def strip_states(page: str, kind: str) -> list[str]:
    """The states of the markers in one column of the strip, in the page's order."""
    found = re.search(rf'<g class="strip" data-strip="{kind}">(.*?)</g>', page, re.S)
    assert found is not None, f"no {kind} strip"
    return re.findall(r'data-state="([a-z-]+)"', found.group(1))


def count(page: str, name: str) -> int:
    found = re.search(rf'<dd data-count="{name}">(\d+)</dd>', page)
    assert found is not None, f"no {name} count"
    return int(found.group(1))


@pytest.fixture
def class_room(room: Room) -> tuple[Room, RoomLearner, RoomLearner]:
    """Ada isolated 10x long 0.1 XBT, Grace cross 20x long 1 XBT, both at 60,000 (Grace's
    whole wallet stands behind hers: her liquidation price is lower than Ada's)."""
    room = quiet(room)
    ada, grace = join_room(room, "Ada"), join_room(room, "Grace")
    position(ada, engine.MarginMode.ISOLATED, "10")
    position(grace, engine.MarginMode.CROSS, "20", qty="1")
    return reload_room(room), ada, grace


# ------------------------------------------------------------------------------ access


def test_the_teacher_opens_the_projector(room: Room, teacher_client: Client) -> None:
    response = teacher_client.get(projector_url(room))

    assert response.status_code == 200
    page = text(response)
    assert f'<span class="join-code" data-room-code>{room.code}</span>' in page
    assert f'ws-connect="/ws/rooms/{room.code}/projector/?symbol=XBTUSDT"' in page
    # A projector, not a conductor: no form posts anything to the room.
    assert "<form" not in page
    assert reverse("room_conduct", kwargs={"code": room.code}) not in page


def test_the_join_qr_code_is_the_join_address_drawn_on_the_server(
    room: Room, teacher_client: Client
) -> None:
    page = text(teacher_client.get(projector_url(room)))

    join_url = f"http://testserver/join/{room.code}/"
    assert f'<p class="join-url">{join_url}</p>' in page
    drawn = segno.make(join_url, error="m").svg_inline(
        scale=8, title=f"Join {room.name}", omitsize=True
    )
    assert drawn in page
    assert drawn.startswith("<svg") and "<path" in drawn


def test_a_signed_out_visitor_is_sent_to_log_in(room: Room, anon_client: Client) -> None:
    response = anon_client.get(projector_url(room))

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next=/rooms/{room.code}/projector/"


@pytest.mark.parametrize("who", ["other_teacher_client", "user_client"])
def test_anyone_else_signed_in_finds_no_projector(
    room: Room, who: str, request: pytest.FixtureRequest
) -> None:
    client: Client = request.getfixturevalue(who)

    response = client.get(projector_url(room))

    assert response.status_code == 404
    assert room.code not in text(response)


def test_a_learner_of_the_room_finds_no_projector_without_the_link(room: Room) -> None:
    ada = join_room(room, "Ada")
    assert ada.client.get(projector_url(room)).status_code == 302  # to log in
    learner_user = User.objects.create_user("ada-signed-up")
    ada.client.force_login(learner_user)
    assert ada.client.get(projector_url(room)).status_code == 404


def test_the_read_only_link_opens_it_for_anyone(room: Room, teacher_client: Client) -> None:
    assert link(teacher_client, room, "make") == 302
    key = reload_room(room).projector_key
    assert len(key) == 43  # 32 random bytes, URL-safe

    response = browser().get(projector_url(room, key))

    assert response.status_code == 200
    page = text(response)
    assert f'ws-connect="/ws/rooms/{room.code}/projector/{key}/?symbol=XBTUSDT"' in page
    assert "<form" not in page


def test_a_wrong_key_finds_nothing(room: Room, teacher_client: Client) -> None:
    link(teacher_client, room, "make")
    key = reload_room(room).projector_key
    wrong = ("A" if key[0] != "A" else "B") + key[1:]

    assert browser().get(projector_url(room, wrong)).status_code == 404
    assert browser().get(projector_url(room, key[:-1])).status_code == 404
    assert browser().get(projector_url(room, key + "x" * 200)).status_code == 404


def test_no_key_made_means_no_link(room: Room) -> None:
    assert reload_room(room).projector_key == ""
    assert browser().get(projector_url(room, "anything")).status_code == 404


def test_a_revoked_key_finds_nothing(room: Room, teacher_client: Client) -> None:
    link(teacher_client, room, "make")
    key = reload_room(room).projector_key
    assert link(teacher_client, room, "revoke") == 302

    assert reload_room(room).projector_key == ""
    assert browser().get(projector_url(room, key)).status_code == 404


def test_a_new_link_ends_the_old_one(room: Room, teacher_client: Client) -> None:
    link(teacher_client, room, "make")
    old = reload_room(room).projector_key
    link(teacher_client, room, "make")
    new = reload_room(room).projector_key

    assert new != old
    assert browser().get(projector_url(room, old)).status_code == 404
    assert browser().get(projector_url(room, new)).status_code == 200


def test_one_rooms_key_does_not_open_another_room(
    room: Room, other_room: Room, teacher_client: Client
) -> None:
    link(teacher_client, room, "make")
    key = reload_room(room).projector_key

    assert browser().get(projector_url(other_room, key)).status_code == 404


def test_only_the_rooms_teacher_makes_or_revokes_the_link(
    room: Room, other_teacher_client: Client, user_client: Client, anon_client: Client
) -> None:
    assert link(other_teacher_client, room, "make") == 404
    assert link(user_client, room, "make") == 403
    assert link(anon_client, room, "make") == 302  # to log in
    assert reload_room(room).projector_key == ""


def test_the_link_form_needs_its_csrf_token(room: Room, teacher: User) -> None:
    client = signed_in(teacher, enforce_csrf_checks=True)
    assert link(client, room, "make") == 403
    assert reload_room(room).projector_key == ""


def test_an_unknown_link_action_changes_nothing(room: Room, teacher_client: Client) -> None:
    link(teacher_client, room, "make")
    key = reload_room(room).projector_key

    response = teacher_client.post(
        reverse("room_projector_link", kwargs={"code": room.code}),
        {"action": "rm -rf"},
        follow=True,
    )

    assert "Choose to make or to revoke the read-only link." in text(response)
    assert reload_room(room).projector_key == key


def test_the_panel_offers_the_projector_and_its_link(room: Room, teacher_client: Client) -> None:
    panel = text(teacher_client.get(reverse("room_panel", kwargs={"code": room.code})))
    assert f'href="/rooms/{room.code}/projector/"' in panel
    assert "Make a read-only link" in panel
    assert "Revoke the read-only link" not in panel

    link(teacher_client, room, "make")
    key = reload_room(room).projector_key
    panel = text(teacher_client.get(reverse("room_panel", kwargs={"code": room.code})))
    assert f"http://testserver/rooms/{room.code}/projector/{key}/</a>" in panel
    assert "Revoke the read-only link" in panel


def test_a_symbol_the_room_does_not_trade_is_said_and_the_first_shown(
    room: Room, teacher_client: Client
) -> None:
    response = teacher_client.get(projector_url(room) + "?symbol=DOGEUSDT")

    assert response.status_code == 200
    page = text(response)
    assert "This room does not trade DOGEUSDT: showing XBTUSDT." in page
    assert "?symbol=XBTUSDT" in page


def test_the_other_symbol_is_one_link_away(room: Room, teacher_client: Client) -> None:
    page = text(teacher_client.get(projector_url(room) + "?symbol=ETHUSDT"))

    assert '<a href="?symbol=ETHUSDT" aria-current="page">ETHUSDT</a>' in page
    assert '<a href="?symbol=XBTUSDT" >XBTUSDT</a>' in page
    assert 'ws-connect="/ws/rooms/' + room.code + '/projector/?symbol=ETHUSDT"' in page


# ---------------------------------------------------------------------------- the strip


def test_the_strip_holds_the_engines_prices(
    class_room: tuple[Room, RoomLearner, RoomLearner],
) -> None:
    room, _, _ = class_room
    market = engine_market(room.market)

    risk = projector.class_risk(room, "XBTUSDT", market)

    expected = sorted(
        [("liquidation", p.margin_mode.value, p.liquidation_price) for p in engine_positions(room)]
        + [("bankruptcy", p.margin_mode.value, p.bankruptcy_price) for p in engine_positions(room)]
    )
    assert sorted((p.kind, p.mode, p.price) for p in risk.prices) == expected
    # Ada's isolated 10x long from 60,000 (taker fee 0.05%): the engine's figures.
    assert ("liquidation", "isolated", D("54300")) in expected
    assert ("bankruptcy", "isolated", D("54000")) in expected
    assert risk.open_positions == 2
    assert risk.unpriced == 0


def test_isolated_and_cross_are_told_apart_by_shape(
    class_room: tuple[Room, RoomLearner, RoomLearner], teacher_client: Client
) -> None:
    room, _, _ = class_room

    page = text(teacher_client.get(projector_url(room)))

    assert sorted(strip_states(page, "liquidation")) == ["cross", "isolated"]
    assert sorted(strip_states(page, "bankruptcy")) == ["cross", "isolated"]
    assert '<circle id="pm-isolated" r="11"/>' in page
    assert '<path id="pm-cross" d="M0 -13 L13 0 L0 13 L-13 0 Z"/>' in page
    assert "1 isolated (circles), 1 cross (diamonds)" in page


def test_the_strip_is_told_in_words_too(
    class_room: tuple[Room, RoomLearner, RoomLearner], teacher_client: Client
) -> None:
    room, _, _ = class_room

    page = text(teacher_client.get(projector_url(room)))

    rows = []
    for prices, liquidation, bankruptcy in re.findall(
        r'<tr data-level><th scope="row">(.*?)</th><td>(.*?)</td><td>(.*?)</td>', page
    ):
        low, _, high = prices.partition(" to ")
        rows.append((D(low.replace(",", "")), D((high or low).replace(",", ""))))
        rows[-1] += (liquidation, bankruptcy)
    assert rows[:2] == [
        (D(54300), D(54300), "1 isolated", "none"),
        (D(54000), D(54000), "none", "1 isolated"),
    ]
    # Each of the engine's prices is in the row that covers it, under its kind and mode.
    for p in engine_positions(room):
        mode = p.margin_mode.value
        for column, at in ((2, p.liquidation_price), (3, p.bankruptcy_price)):
            assert at is not None
            [row] = [r for r in rows if r[0] - 1 <= at <= r[1] + 1]  # as printed
            assert row[column] == f"1 {mode}"
    assert len(rows) in (3, 4)  # Grace's two prices share a row or not, by the scale


def test_a_liquidation_lights_up_in_the_strip_and_the_feed(
    class_room: tuple[Room, RoomLearner, RoomLearner], teacher_client: Client
) -> None:
    room, _, _ = class_room
    # Ada's isolated 10x long is liquidated at 54,300; Grace's cross long holds.
    services.room_set_price(room=room, symbol="XBTUSDT", price=D(54200))

    page = text(teacher_client.get(projector_url(room)))

    assert strip_states(page, "liquidation") == ["liquidated-isolated", "cross"]
    assert strip_states(page, "bankruptcy") == ["liquidated-isolated", "cross"]
    assert '<g id="pm-liquidated-isolated">' in page
    assert count(page, "liquidated") == 1
    assert count(page, "open") == 1
    assert "<strong>1 learner</strong> at 54,200 on XBTUSDT" in page
    assert "and of 1 position liquidated lately (filled and crossed)" in page


def test_the_counts(
    class_room: tuple[Room, RoomLearner, RoomLearner], teacher_client: Client
) -> None:
    room, ada, _ = class_room
    # Ada's 10x long: liquidation 54,300. At 56,900 she is 4.57% from it: at risk.
    desk_services.order_place(
        account=join_room(room, "Hedy").account,
        symbol="ETHUSDT",
        side=engine.Side.SELL,
        qty=D("1"),
    )
    services.room_set_price(room=room, symbol="XBTUSDT", price=D(56900))

    page = text(teacher_client.get(projector_url(room)))

    assert count(page, "open") == 3  # Ada's and Grace's XBTUSDT, Hedy's ETHUSDT
    assert count(page, "at-risk") == 1  # Ada, 4.57% from 54,300
    assert count(page, "liquidated") == 0
    assert "within 5% of liquidation" in page
    assert "3 learners" in page
    assert ada.member.display_name not in page.split('id="projector-board"')[0]

    services.room_set_price(room=room, symbol="XBTUSDT", price=D(54000))
    page = text(teacher_client.get(projector_url(room)))
    assert (count(page, "open"), count(page, "at-risk"), count(page, "liquidated")) == (2, 0, 1)


def test_far_prices_are_counted_off_the_axis(room: Room) -> None:
    """A 2x long's liquidation price is half the mark away: the axis does not stretch to
    it (the class's cluster would shrink to a line); the strip says how many lie beyond."""
    room = quiet(room)
    position(join_room(room, "Ada"), engine.MarginMode.ISOLATED, "20")
    position(join_room(room, "Bob"), engine.MarginMode.ISOLATED, "1")
    room = reload_room(room)
    market = engine_market(room.market)
    risk = projector.class_risk(room, "XBTUSDT", market)
    window = price_window([(0, D(60000))])
    assert window is not None

    drawing = projector.projector_chart(window, risk, [])

    liquidation = drawing.columns[0]
    assert (liquidation.above, liquidation.below) == (0, 1)
    assert [m.state for row in liquidation.rows for m in row.markers] == ["isolated"]
    assert drawing.chart.low > D(30000)
    assert "liquidation prices off the axis: 0 above, 1 below" in drawing.off_axis


def test_a_crowded_row_ends_with_how_many_more(room: Room) -> None:
    risk = projector.ClassRisk(
        symbol="XBTUSDT",
        prices=tuple(projector.StripPrice("liquidation", "isolated", D(57000)) for _ in range(25))
        + (projector.StripPrice("liquidation", "cross", D(57000), liquidated=True),),
        learners=26,
        open_positions=25,
        at_risk=0,
        at_risk_percent=D(5),
        liquidations=1,
        liquidated_learners=1,
        unpriced=0,
    )
    window = price_window([(0, D(60000)), (1, D(59000))])
    assert window is not None

    drawing = projector.projector_chart(window, risk, [])

    [row] = drawing.columns[0].rows
    slots = projector.COLUMNS[0].slots
    assert len(row.markers) == slots - 2
    assert row.markers[0].state == "liquidated-cross"  # the liquidated first
    assert row.more == 26 - (slots - 2)
    assert drawing.levels[0].describe("liquidation") == "25 isolated, 1 liquidated"


def test_markers_sit_at_their_prices_place(room: Room) -> None:
    risk = projector.ClassRisk(
        symbol="XBTUSDT",
        prices=(
            projector.StripPrice("liquidation", "isolated", D(57000)),
            projector.StripPrice("liquidation", "isolated", D(54000)),
        ),
        learners=2,
        open_positions=2,
        at_risk=0,
        at_risk_percent=D(5),
        liquidations=0,
        liquidated_learners=0,
        unpriced=0,
    )
    window = price_window([(0, D(60000))])
    assert window is not None

    drawing = projector.projector_chart(window, risk, [])

    low, high = drawing.chart.low, drawing.chart.high
    assert low < D(54000) and high > D(60000)
    rows = drawing.columns[0].rows
    for row, at in zip(rows, (D(57000), D(54000)), strict=True):
        exact = projector.PLOT_TOP + (projector.PLOT_BOTTOM - projector.PLOT_TOP) * (high - at) / (
            high - low
        )
        assert abs(row.y - exact) <= projector.BIN / 2


def test_the_leaderboard_shows_only_when_the_teacher_shows_it(
    class_room: tuple[Room, RoomLearner, RoomLearner], teacher_client: Client
) -> None:
    room, _, _ = class_room
    link(teacher_client, room, "make")
    key = reload_room(room).projector_key

    shown = text(browser().get(projector_url(room, key)))
    assert '<tr data-place="1">' in shown
    assert "Ada" in shown and "Grace" in shown

    services.room_leaderboard(room=room, visible=False)
    hidden = text(browser().get(projector_url(room, key)))
    assert '<section id="projector-board" class="projector-board" hidden' in hidden
    assert "Ada" not in hidden and "Grace" not in hidden  # the strip is anonymous


def test_before_the_first_tick_the_chart_shows_the_mark(
    class_room: tuple[Room, RoomLearner, RoomLearner], teacher_client: Client
) -> None:
    room, _, _ = class_room

    page = text(teacher_client.get(projector_url(room)))

    assert "over the last 1 tick, now 60,000" in page
    tick(room)
    page = text(teacher_client.get(projector_url(room)))
    assert "over the last 1 tick, now 60,000" in page  # a quiet market's first tick


def test_the_live_parts_are_drawn_in_a_few_queries_whatever_the_class_size(
    room: Room, django_assert_max_num_queries: object
) -> None:
    room = quiet(room)
    for n in range(12):
        position(join_room(room, f"Learner {n}"), engine.MarginMode.ISOLATED, str(5 + n))
    services.room_leaderboard(room=room, visible=False)
    tick(room)

    with django_assert_max_num_queries(14):  # type: ignore[operator]
        drawn = projector.live_parts(room.pk, "XBTUSDT")

    assert sorted(drawn.parts) == sorted(projector.LIVE_PARTS)
    assert html.unescape(drawn.parts["counts"]).count('data-count="open">12<') == 1


def test_a_crowded_row_shows_its_mix(room: Room) -> None:
    """Ninety open isolated, six liquidated and four cross in one row: the markers shown
    keep their proportions, and the few keep a marker of their own."""
    prices = (
        [projector.StripPrice("liquidation", "isolated", D(57000))] * 90
        + [projector.StripPrice("liquidation", "isolated", D(57000), liquidated=True)] * 6
        + [projector.StripPrice("liquidation", "cross", D(57000))] * 4
    )
    risk = projector.ClassRisk(
        symbol="XBTUSDT",
        prices=tuple(prices),
        learners=100,
        open_positions=94,
        at_risk=0,
        at_risk_percent=D(5),
        liquidations=6,
        liquidated_learners=6,
        unpriced=0,
    )
    window = price_window([(0, D(60000)), (1, D(59000))])
    assert window is not None

    [row] = projector.projector_chart(window, risk, []).columns[0].rows

    slots = projector.COLUMNS[0].slots - 2
    states = [m.state for m in row.markers]
    assert len(states) == slots
    assert states[0] == "liquidated-isolated" and states[-1] == "cross"
    assert states.count("isolated") == slots - 2  # 90% of the row
    assert row.more == 100 - slots
