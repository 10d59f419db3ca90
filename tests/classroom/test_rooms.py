"""Rooms: creating one, joining it (and coming back), the conductor's actions and what they
do to the room's market and learners, the leaderboard, the liquidation feed and the CSV
export. Every figure is checked exactly; every refusal by its message, with nothing
changed."""

from __future__ import annotations

import csv
import html
import io
import time
from collections.abc import Callable
from decimal import Decimal, localcontext

import pytest
from daphne.utils import parse_x_forwarded_for
from django.core.cache.backends import locmem
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from sandbox.classroom import selectors, services
from sandbox.classroom.models import CODE_ALPHABET, CODE_LENGTH, Room, RoomMember
from sandbox.desk.models import (
    Fill,
    LedgerEntry,
    LiquidationRecord,
    MarginSettingRow,
    Market,
    MarkPrice,
    PaperAccount,
    Position,
    Wallet,
)
from sandbox.desk.services import REDUCE_ONLY, TRADING_CLOSED

from .conftest import (
    ROOM_NAME,
    RoomLearner,
    browser,
    conduct,
    create_room,
    flash,
    join_room,
    lesson_slug,
    market_of,
    marks,
    quiet,
    reload_room,
    room_form,
    text,
    tick,
)

D = Decimal


def members(room: Room) -> list[str]:
    return list(RoomMember.objects.filter(room=room).values_list("display_name", flat=True))


def room_accounts(room: Room) -> int:
    return PaperAccount.objects.filter(market_id=room.market_id).count()


def conduct_refused(client: Client, room: Room, action: str, message: str, **data: str) -> None:
    """The action is refused with ``message`` and the room's market is unchanged."""
    before = Market.objects.filter(pk=room.market_id).values().get()
    prices = marks(room)
    response = conduct(client, room, action, **data)
    assert response.status_code == 302
    assert flash(response) == [("error", message)]
    assert Market.objects.filter(pk=room.market_id).values().get() == before
    assert marks(room) == prices
    htmx = conduct(client, room, action, htmx=True, **data)
    assert htmx.status_code == 200
    assert f'<p class="notice error" role="alert">{html.escape(message)}</p>' in text(htmx)
    assert Market.objects.filter(pk=room.market_id).values().get() == before


def refusal(response: HttpResponse) -> list[str]:
    """The "Not done" lines of a desk page, to show why an action was refused."""
    lines = text(response).splitlines()
    return [html.unescape(line.strip()) for line in lines if "Not done" in line]


def isolated_long(learner: RoomLearner, leverage: int, qty: str, symbol: str = "XBTUSDT") -> None:
    assert learner.leverage(leverage, symbol).status_code == 302
    assert learner.order("buy", qty, symbol).status_code == 302


# ---------------------------------------------------------------------- creating


def test_a_new_room_has_its_own_paused_market(teacher_client: Client, teacher: object) -> None:
    assert teacher_client.get("/rooms/new/").status_code == 200

    room = create_room(teacher_client)

    assert room.teacher == teacher
    assert room.name == ROOM_NAME
    assert len(room.code) == CODE_LENGTH
    assert set(room.code) <= set(CODE_ALPHABET)
    assert room.starting_balances == {"USDT": "10000"}
    assert room.leaderboard_visible is True
    market = room.market
    assert market.kind == Market.Kind.ROOM == "room"
    assert market.name == f"Classroom: {ROOM_NAME}"
    assert market.running is False
    assert market.trading_open is True
    assert market.symbols == ["XBTUSDT", "ETHUSDT"]
    assert market.fees_enabled is True
    assert market.funding_enabled is True
    assert market.max_leverage_cap == D(50)
    assert marks(room) == {"ETHUSDT": D(3000), "XBTUSDT": D(60000)}
    assert market.sequence == 0
    assert market.pending_gaps == {}

    panel = teacher_client.get(f"/rooms/{room.code}/")
    assert "running at" not in text(panel)
    assert "<strong>paused</strong>" in text(panel)
    assert 'value="play">Play</button>' in text(panel)
    assert "No learners yet" in text(panel)


def test_a_room_with_xbt_and_no_leaderboard(teacher_client: Client) -> None:
    room = create_room(
        teacher_client, xbt="0.5", symbols=["XBTUSD"], leaderboard=None, funding=None
    )

    assert room.starting_balances == {"USDT": "10000", "XBT": "0.5"}
    assert room.leaderboard_visible is False
    assert room.market.funding_enabled is False
    assert marks(room) == {"XBTUSD": D(60000)}

    ada = join_room(room, "Ada")
    assert ada.wallet("USDT") == D(10000)
    assert ada.wallet("XBT") == D("0.5")
    # The room's first symbol is where a learner lands.
    assert ada.client.get(f"/join/{room.code}/")["Location"] == ada.url("desk", "XBTUSD")


FORM_PROBLEMS = [
    ({"name": ""}, "Give the room a name, like Year 12 Economics."),
    ({"name": "x" * 101}, "Ensure this value has at most 100 characters (it has 101)."),
    ({"usdt": ""}, "Enter a starting USDT balance."),
    ({"usdt": "ten"}, "Enter the starting USDT balance as a number, like 10000."),
    ({"usdt": "NaN"}, "Enter the starting USDT balance as a number, like 10000."),
    ({"usdt": "1,000"}, "Enter the starting USDT balance as a number, like 10000."),
    ({"usdt": "0"}, "Enter a starting USDT balance above zero."),
    ({"usdt": "-5"}, "Enter a starting USDT balance above zero."),
    ({"usdt": "1000000001"}, "That starting USDT balance is too large: the most is 1,000,000,000."),
    (
        {"usdt": "1e400"},
        "Write the starting USDT balance in plain digits, like 10000: exponent notation (such "
        "as 1e3) is not accepted.",
    ),
    ({"usdt": "10.001"}, "A starting USDT balance can have at most 2 decimal places here."),
    ({"xbt": "0.123456789"}, "A starting XBT balance can have at most 8 decimal places here."),
    ({"xbt": "-1"}, "Enter a starting XBT balance above zero."),
    (
        {"xbt": "1", "symbols": ["ETHUSDT", "SOLUSDT"]},
        "A starting XBT balance needs XBTUSDT or XBTUSD in the room, where XBT is traded and "
        "valued: choose one, or leave the XBT balance empty.",
    ),
    ({"max_leverage": ""}, "Choose the highest leverage learners may use."),
    ({"max_leverage": "0"}, "The highest leverage is at least 1x."),
    ({"max_leverage": "101"}, "The highest leverage is at most 100x."),
    ({"max_leverage": "2.5"}, "Enter the highest leverage as a whole number."),
    ({"max_leverage": "fifty"}, "Enter the highest leverage as a whole number."),
    # Digits int() reads, but not ASCII ones: Arabic-Indic five, fullwidth five, "٥0".
    ({"max_leverage": "\u0665"}, "Enter the highest leverage as a whole number."),
    ({"max_leverage": "\uff15"}, "Enter the highest leverage as a whole number."),
    ({"max_leverage": "\u06650"}, "Enter the highest leverage as a whole number."),
    ({"max_leverage": "9" * 10_000}, "Enter the highest leverage as a whole number."),
    ({"symbols": None}, "Choose at least one instrument to trade."),
    ({"symbols": ["NOPE"]}, "Select a valid choice. NOPE is not one of the available choices."),
]


@pytest.mark.parametrize(
    ("changes", "message"), FORM_PROBLEMS, ids=[str(c) for c, _ in FORM_PROBLEMS]
)
def test_a_room_form_with_a_problem_is_refused_with_a_message(
    teacher_client: Client, changes: dict, message: str
) -> None:
    markets = Market.objects.count()

    response = teacher_client.post("/rooms/new/", room_form(**changes))

    assert response.status_code == 400
    body = text(response)
    assert "The room was not created: correct the fields marked below." in body
    assert html.escape(message) in body
    assert not Room.objects.exists()
    assert Market.objects.count() == markets


def test_fees_off_charge_no_fee_on_an_order(teacher_client: Client) -> None:
    room = create_room(teacher_client, fees=None)
    assert room.market.fees_enabled is False
    ada = join_room(room, "Ada")

    assert ada.order("buy", "0.1").status_code == 302

    fill = Fill.objects.get(account_id=ada.member.account_id)
    assert (fill.qty, fill.price, fill.fee) == (D("0.1"), D(60000), D(0))
    assert ada.wallet() == D(10000)
    assert "taker_fee" not in ada.ledger_reasons()


def test_fees_on_charge_the_taker_fee(room: Room, join: Callable[..., RoomLearner]) -> None:
    ada = join(room, "Ada")

    assert ada.order("buy", "0.1").status_code == 302

    fill = Fill.objects.get(account_id=ada.member.account_id)
    assert fill.fee == D(3)  # 0.1 × 60,000 × 0.05%
    assert ada.wallet() == D(9997)


def test_the_leverage_cap_refuses_51x_with_a_message(room: Room) -> None:
    ada = join_room(room, "Ada")
    assert "isolated 1x to 50x</label>" in text(ada.desk())

    response = ada.leverage(51)

    assert response.status_code == 400
    # The slider itself stops at the room's cap, so the form refuses 51 before the engine.
    assert (
        "The leverage was not changed: Leverage runs from Cross to 50x isolated on XBTUSDT; "
        "51 is outside that."
    ) in text(response)
    assert not MarginSettingRow.objects.filter(account_id=ada.member.account_id).exists()

    accepted = ada.leverage(50)
    assert accepted.status_code == 302
    assert flash(accepted) == [("success", "XBTUSDT now uses isolated 50x.")]
    setting = MarginSettingRow.objects.get(account_id=ada.member.account_id)
    assert (setting.mode, setting.leverage) == ("isolated", D(50))


def test_a_learner_in_a_capped_room_can_choose_cross_margin(room: Room) -> None:
    """Stop 0 on the slider is cross margin; the room's 50x cap must not refuse it."""
    ada = join_room(room, "Ada")
    assert ada.leverage(20).status_code == 302

    response = ada.leverage(0)

    assert response.status_code == 302, refusal(response)
    assert flash(response) == [("success", "XBTUSDT now uses cross margin.")]
    setting = MarginSettingRow.objects.get(account_id=ada.member.account_id)
    assert setting.mode == "cross"


# ---------------------------------------------------------------------- joining


def test_joining_gives_a_fresh_account_in_the_room(room: Room) -> None:
    client = browser()
    form = client.get(f"/join/{room.code.lower()}/")
    assert form.status_code == 200
    assert f'name="code" autocomplete="off" autocapitalize="characters" value="{room.code}"' in (
        text(form)
    )

    response = client.post("/join/", {"code": room.code, "name": "Ada"})

    assert response.status_code == 302
    member = RoomMember.objects.get(room=room)
    assert response["Location"] == f"/desk/{member.account_id}/XBTUSDT/"
    assert (member.display_name, member.name_key) == ("Ada", "ada")
    account = member.account
    assert account.market_id == room.market_id
    assert account.user_id is None
    balances = dict(Wallet.objects.filter(account=account).values_list("currency", "balance"))
    assert balances == {"USDT": D(10000)}
    cookie = client.cookies[f"sandbox_room_{room.pk}"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    desk = client.get(response["Location"])
    assert desk.status_code == 200
    assert "Classroom: Year 12 Economics" in text(desk)
    assert "You are <strong>Ada</strong>." in text(desk)


def test_a_code_is_read_without_spaces_or_case(room: Room) -> None:
    spaced = f" {room.code[:4].lower()} {room.code[4:].lower()} "
    response = browser().post("/join/", {"code": spaced, "name": "Ada"})
    assert response.status_code == 302
    assert members(room) == ["Ada"]


def test_names_are_trimmed_and_their_spaces_folded(room: Room) -> None:
    assert join_room(room, "  Ada   Lovelace  ").member.display_name == "Ada Lovelace"
    assert join_room(room, "Grace\tHopper").member.display_name == "Grace Hopper"
    assert join_room(room, "x" * 24).member.display_name == "x" * 24
    assert join_room(room, "Table 4 (back row)!").member.display_name == "Table 4 (back row)!"
    assert join_room(room, "Zoë Ω").member.display_name == "Zoë Ω"


NAME_PROBLEMS = [
    ("", "Enter a name the class will see."),
    ("   ", "Enter a name the class will see."),
    ("x" * 25, "Keep the name to 24 characters at most."),
    ("Ada Lovelace of London, UK", "Keep the name to 24 characters at most."),
    ("Ada\x07", "A name can only have letters, digits, spaces and punctuation."),
    ("Ada\x1b[31m", "A name can only have letters, digits, spaces and punctuation."),
    ("Ada\ue000", "A name can only have letters, digits, spaces and punctuation."),
    ("Ada\x00", "Null characters are not allowed."),
    # Nothing visible once the invisible characters are dropped.
    ("\u200b\u200d\u2060", "Enter a name the class will see, like Ada or Table 4."),
    ("\u3164", "Enter a name the class will see, like Ada or Table 4."),
]


@pytest.mark.parametrize(
    ("name", "message"), NAME_PROBLEMS, ids=[repr(n) for n, _ in NAME_PROBLEMS]
)
def test_a_name_that_breaks_the_rules_is_refused(room: Room, name: str, message: str) -> None:
    response = browser().post("/join/", {"code": room.code, "name": name})

    assert response.status_code == 400
    assert html.escape(message) in text(response)
    assert f"sandbox_room_{room.pk}" not in response.cookies
    assert members(room) == []
    assert room_accounts(room) == 0


def test_a_very_long_name_is_refused(room: Room) -> None:
    response = browser().post("/join/", {"code": room.code, "name": "x" * 101})
    assert response.status_code == 400
    assert "Keep the name to 24 characters at most." in text(response)
    assert members(room) == []
    assert room_accounts(room) == 0


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("   ", "Enter a name the class will see, like Ada or Table 4."),
        ("x" * 25, "Keep the name to 24 characters at most."),
        ("Ada\x00", "A name can only have letters, digits, spaces and punctuation."),
        ("Ada\x7f", "A name can only have letters, digits, spaces and punctuation."),
        ("\ufeff\u00ad", "Enter a name the class will see, like Ada or Table 4."),
    ],
)
def test_the_join_service_refuses_bad_names(room: Room, name: str, message: str) -> None:
    with pytest.raises(services.JoinRefused) as refusal:
        services.room_join(room=room, display_name=name)
    assert str(refusal.value) == message
    assert room_accounts(room) == 0


def test_a_name_is_taken_whatever_its_case(room: Room, other_room: Room) -> None:
    join_room(room, "Ada")

    for name in ("ada", " ADA ", "aDa"):
        response = browser().post("/join/", {"code": room.code, "name": name})
        assert response.status_code == 400
        taken = "Someone in this room is already called Ada: choose another name."
        assert taken in text(response)
    assert members(room) == ["Ada"]
    assert room_accounts(room) == 1

    # Another room has its own names.
    join_room(other_room, "ada")
    assert members(other_room) == ["ada"]


def test_names_equal_when_casefolded_are_the_same_name(room: Room) -> None:
    join_room(room, "Straße")
    response = browser().post("/join/", {"code": room.code, "name": "STRASSE"})
    assert response.status_code == 400
    assert "already called Straße" in text(response)
    assert members(room) == ["Straße"]


# Each pair: the name a learner joined with, and names that must count as the same one.
LOOKALIKES = [
    ("Ada", ["\uff41\uff44\uff41", "\uff21\uff24\uff21", "Ada\u200b", "A\u200dda", "\u2060ADA"]),
    ("fiona", ["\ufb01ona", "FIONA"]),  # the ligature 'ﬁ'
    ("Table 4", ["Table\u00a04", "Table\u30004", "TABLE \uff14", "Table 4\ufe0f"]),
    ("Zoë", ["Zoe\u0308", "ZOË"]),  # a combining diaeresis
    ("x²", ["x2", "X\u00b2"]),
]


@pytest.mark.parametrize(("first", "others"), LOOKALIKES, ids=[f for f, _ in LOOKALIKES])
def test_names_equal_after_unicode_normalisation_are_the_same_name(
    room: Room, first: str, others: list[str]
) -> None:
    """'ａｄａ' (fullwidth) is 'Ada': names compare as NFKC, case folded, with the
    invisible characters dropped; the refusal names who has it."""
    join_room(room, first)
    for name in others:
        response = browser().post("/join/", {"code": room.code, "name": name})
        assert response.status_code == 400, repr(name)
        taken = f"Someone in this room is already called {first}: choose another name."
        assert html.escape(taken) in text(response), repr(name)
    assert members(room) == [first]
    assert room_accounts(room) == 1


def test_the_join_service_compares_normalised_names(room: Room) -> None:
    services.room_join(room=room, display_name="Ada")
    with pytest.raises(services.JoinRefused, match="already called Ada"):
        services.room_join(room=room, display_name="\uff41\uff44\uff41")
    assert RoomMember.objects.get(room=room).name_key == "ada"


def test_invisible_characters_are_dropped_from_a_name(room: Room) -> None:
    """Zero-width and direction characters show nothing (or turn the text round): they
    are dropped, not kept in a name that looks like another."""
    assert join_room(room, "\u200bAda").member.display_name == "Ada"
    assert join_room(room, "Grace\u202eevil").member.display_name == "Graceevil"
    assert join_room(room, "Al\u00adan \u2060Turing").member.display_name == "Alan Turing"


HTML_NAME = '<b>Ada</b> & "Co"'
SCRIPT_NAME = "<img src=x onerror=f()>"


def test_html_in_a_name_is_stored_as_typed_and_escaped_everywhere(
    room: Room, teacher_client: Client
) -> None:
    ada = join_room(room, HTML_NAME)
    img = join_room(room, SCRIPT_NAME)
    assert ada.member.display_name == HTML_NAME
    assert img.member.display_name == SCRIPT_NAME

    pages = {
        "panel": teacher_client.get(f"/rooms/{room.code}/"),
        "board": teacher_client.get(f"/rooms/{room.code}/board/"),
        "desk": ada.desk(),
        "other desk": img.desk(),
    }
    for where, response in pages.items():
        body = text(response)
        assert response.status_code == 200
        assert "<b>Ada</b>" not in body, where
        assert "<img src=x" not in body, where
        if where.endswith("desk"):  # the learners' leaderboard
            assert "&lt;b&gt;Ada&lt;/b&gt; &amp; &quot;Co&quot;: 0%" in body, where
            assert "&lt;img src=x onerror=f()&gt;: 0%" in body, where
        else:  # the teacher's board and leaderboard
            assert '<th scope="row">&lt;b&gt;Ada&lt;/b&gt; &amp; &quot;Co&quot;</th>' in body, where
            assert '<th scope="row">&lt;img src=x onerror=f()&gt;</th>' in body, where
    board = text(pages["board"])
    assert '<tr data-learner="&lt;b&gt;Ada&lt;/b&gt; &amp; &quot;Co&quot;">' in board
    assert "You are <strong>&lt;b&gt;Ada&lt;/b&gt; &amp; &quot;Co&quot;</strong>." in text(
        pages["desk"]
    )

    # A refused join shows the typed name back, escaped.
    refused = browser().post("/join/", {"code": room.code, "name": HTML_NAME.upper()})
    assert refused.status_code == 400
    assert "<B>ADA</B>" not in text(refused)
    assert "already called &lt;b&gt;Ada&lt;/b&gt; &amp; &quot;Co&quot;" in text(refused)


# -------------------------------------------------------------------- rejoining


def test_the_same_browser_returns_to_the_same_account(room: Room) -> None:
    ada = join_room(room, "Ada")
    desk = ada.url("desk")

    for path in (f"/join/{room.code}/", f"/join/{room.code.lower()}/"):
        response = ada.client.get(path)
        assert response.status_code == 302
        assert response["Location"] == desk

    again = ada.client.post("/join/", {"code": room.code, "name": "Somebody Else"})
    assert again.status_code == 302
    assert again["Location"] == desk
    same_name = ada.client.post("/join/", {"code": room.code.lower(), "name": "Ada"})
    assert same_name["Location"] == desk
    assert members(room) == ["Ada"]
    assert room_accounts(room) == 1


def test_another_browser_is_shown_the_join_form(room: Room) -> None:
    join_room(room, "Ada")
    stranger = browser()

    response = stranger.get(f"/join/{room.code}/")

    assert response.status_code == 200
    assert "Join a room" in text(response)
    assert stranger.get("/join/").status_code == 200


def test_a_browser_in_one_room_joins_another_afresh(room: Room, other_room: Room) -> None:
    ada = join_room(room, "Ada")

    assert ada.client.get(f"/join/{other_room.code}/").status_code == 200
    elsewhere = join_room(other_room, "Ada", client=ada.client)

    assert elsewhere.member.account_id != ada.member.account_id
    assert elsewhere.member.room_id == other_room.pk
    # Both accounts are this browser's.
    assert ada.desk().status_code == 200
    assert elsewhere.desk().status_code == 200
    assert ada.client.get(f"/join/{room.code}/")["Location"] == ada.url("desk")


def test_a_forged_room_cookie_is_not_a_way_back_in(room: Room) -> None:
    ada = join_room(room, "Ada")
    thief = browser()
    thief.cookies[f"sandbox_room_{room.pk}"] = f"{ada.member.account.browser_key}:forged"

    assert thief.get(f"/join/{room.code}/").status_code == 200
    response = thief.post("/join/", {"code": room.code, "name": "Ada"})
    assert response.status_code == 400
    assert "already called Ada" in text(response)
    assert thief.get(ada.url("desk")).status_code == 404


def test_a_room_cookie_for_another_room_does_not_return_to_it(room: Room, other_room: Room) -> None:
    ada = join_room(room, "Ada")
    copied = browser()
    cookie = ada.client.cookies[f"sandbox_room_{room.pk}"].value
    copied.cookies[f"sandbox_room_{other_room.pk}"] = cookie

    assert copied.get(f"/join/{other_room.code}/").status_code == 200
    joined = join_room(other_room, "Ada", client=copied)
    assert joined.member.account_id != ada.member.account_id
    assert members(other_room) == ["Ada"]


# ------------------------------------------------------------- wrong code, rate limit

NO_ROOM = "No room has that code. Check it on your teacher's screen."
TOO_MANY = "Too many wrong room codes from this device or network: wait a minute, then try again."


def test_a_wrong_code_is_refused_with_a_message(room: Room) -> None:
    client = browser()
    for code in ("ZZZZZZZZ", room.code[:-1], room.code + "2", "0O1IL"):
        response = client.post("/join/", {"code": code, "name": "Ada"})
        assert response.status_code == 400, code
        assert html.escape(NO_ROOM) in text(response)
    blank = client.post("/join/", {"code": "", "name": "Ada"})
    assert blank.status_code == 400
    assert "Enter the room code your teacher shows." in text(blank)
    long_code = client.post("/join/", {"code": "A" * 17, "name": "Ada"})
    assert long_code.status_code == 400
    assert members(room) == []
    # Looking at the form with an unknown code is harmless.
    assert client.get("/join/ZZZZZZZZ/").status_code == 200


def test_the_eleventh_wrong_code_in_a_minute_is_refused(room: Room) -> None:
    client = browser()
    for attempt in range(10):
        response = client.post("/join/", {"code": "ZZZZZZZZ", "name": f"Guess {attempt}"})
        assert response.status_code == 400, attempt
        assert html.escape(NO_ROOM) in text(response)

    refused = client.post("/join/", {"code": "ZZZZZZZY", "name": "Guess 11"})

    assert refused.status_code == 429
    assert html.escape(TOO_MANY) in text(refused)
    # The right code waits for the minute too: after ten wrong guesses, the address
    # cannot tell a right code from a wrong one until the minute is over.
    assert client.post("/join/", {"code": room.code, "name": "Ada"}).status_code == 429
    assert members(room) == []
    # Another address is counted on its own, and looking at the form is not a try.
    assert client.get(f"/join/{room.code}/").status_code == 200
    assert join_room(room, "Grace").member.display_name == "Grace"


def test_the_right_code_is_taken_again_once_the_minute_is_over(
    room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = browser()
    for attempt in range(10):
        client.post("/join/", {"code": "ZZZZZZZZ", "name": f"Guess {attempt}"})
    assert client.post("/join/", {"code": room.code, "name": "Ada"}).status_code == 429

    later = time.time() + 61  # the local-memory cache reads time.time() for expiry
    monkeypatch.setattr(locmem.time, "time", lambda: later)

    assert join_room(room, "Ada", client=client).member.display_name == "Ada"


def test_a_class_behind_one_address_all_join(room: Room) -> None:
    """A school's NAT or the README's proxy: 30 learners from one address all get in."""
    address = "192.0.2.7"
    for n in range(30):
        join_room(room, f"Learner {n}", client=Client(REMOTE_ADDR=address))
    # Mistyped names are not code guesses either.
    for _ in range(12):
        taken = Client(REMOTE_ADDR=address).post("/join/", {"code": room.code, "name": "Learner 0"})
        assert taken.status_code == 400
    late = join_room(room, "Late", client=Client(REMOTE_ADDR=address))

    assert late.member.display_name == "Late"
    assert len(members(room)) == 31


def test_a_forwarded_for_header_from_the_client_is_not_an_address(room: Room) -> None:
    """The address is the one the server gives (daphne's --proxy-headers behind a proxy);
    a client that writes X-Forwarded-For itself does not get a fresh count."""
    for n in range(10):
        response = Client(REMOTE_ADDR="198.51.100.9").post(
            "/join/",
            {"code": "ZZZZZZZZ", "name": "Guess"},
            headers={"X-Forwarded-For": f"203.0.113.{n}", "X-Real-IP": f"203.0.113.{n}"},
        )
        assert response.status_code == 400
    refused = Client(REMOTE_ADDR="198.51.100.9").post(
        "/join/", {"code": room.code, "name": "Ada"}, headers={"X-Forwarded-For": "203.0.113.99"}
    )
    assert refused.status_code == 429
    assert members(room) == []


def test_daphne_reads_the_first_forwarded_address_so_the_proxy_must_replace_it() -> None:
    """What the README's deployment rests on: with --proxy-headers daphne takes the
    client's address from X-Forwarded-For, and from its first entry, which a client can
    write; so nginx sets the header to $remote_addr instead of appending to it."""
    peer = ["127.0.0.1", 40000]
    replaced = parse_x_forwarded_for({b"X-Forwarded-For": [b"198.51.100.9"]}, original_addr=peer)
    appended = parse_x_forwarded_for(
        {b"X-Forwarded-For": [b"203.0.113.1, 198.51.100.9"]}, original_addr=peer
    )
    missing = parse_x_forwarded_for({}, original_addr=peer)

    assert replaced[0] == ["198.51.100.9", 0]
    assert appended[0] == ["203.0.113.1", 0]  # the client's own choice
    assert missing[0] == peer


def test_a_code_too_long_to_be_one_counts_as_a_wrong_guess(room: Room) -> None:
    client = browser()
    for _ in range(10):
        assert client.post("/join/", {"code": "A" * 17, "name": "Ada"}).status_code == 400
    assert client.post("/join/", {"code": room.code, "name": "Ada"}).status_code == 429


def test_gets_do_not_count_towards_the_limit(room: Room) -> None:
    client = browser()
    for _ in range(20):
        assert client.get(f"/join/{room.code}/").status_code == 200
    assert join_room(room, "Ada", client=client).member.display_name == "Ada"


# ----------------------------------------------------------------- trading closed


def held(ada: RoomLearner) -> tuple[object, ...]:
    account = ada.member.account_id
    return (
        ada.wallet(),
        list(Position.objects.filter(account_id=account).values_list("qty", "position_margin")),
        list(MarginSettingRow.objects.filter(account_id=account).values_list("leverage")),
        Fill.objects.filter(account_id=account).count(),
        LedgerEntry.objects.filter(account_id=account).count(),
    )


def test_a_closed_room_is_reduce_only_until_it_is_opened(
    room: Room, teacher_client: Client
) -> None:
    ada = join_room(room, "Ada")
    isolated_long(ada, 10, "0.1")  # margin 600, fee 3
    account = ada.member.account_id

    response = conduct(teacher_client, room, "close")
    assert flash(response) == [
        ("success", "Trading is closed, reduce-only: learners may only close or reduce positions.")
    ]
    assert market_of(room).trading_open is False
    assert market_of(room).closed_reduce_only is True
    before = held(ada)

    def refused(response: HttpResponse, reason: str) -> None:
        assert response.status_code == 400
        assert html.escape(REDUCE_ONLY.format(reason=reason)) in text(response)

    refused(ada.order("buy", "0.1"), "this would add to your XBTUSDT position")
    refused(ada.order("buy", "1", "ETHUSDT"), "this would open a new ETHUSDT position")
    refused(ada.leverage(20), "this would raise the leverage of your XBTUSDT position")
    refused(
        ada.post("margin", {"direction": "remove", "amount": "10"}),
        "this would take margin from your XBTUSDT position",
    )
    assert held(ada) == before
    page = text(ada.desk())
    assert "<strong>Trading is closed</strong> (reduce-only) until your teacher opens it" in page
    assert "<strong>trading closed</strong>" in page

    # What lowers the risk goes through: half of it sold, margin added, then closed.
    assert ada.order("sell", "0.05").status_code == 302
    assert Position.objects.get(account_id=account).qty == D("0.05")
    assert ada.post("margin", {"direction": "add", "amount": "50"}).status_code == 302
    assert Position.objects.get(account_id=account).position_margin == D(350)
    assert ada.post("position_close", {}).status_code == 302
    assert not Position.objects.filter(account_id=account).exists()

    response = conduct(teacher_client, room, "open")
    assert flash(response) == [("success", "Trading is open.")]
    assert market_of(room).trading_open is True
    assert ada.order("buy", "0.1").status_code == 302
    assert Position.objects.get(account_id=account).qty == D("0.1")
    assert ada.leverage(20).status_code == 302
    assert MarginSettingRow.objects.get(account_id=account).leverage == D(20)
    assert "Trading is open." in text(ada.desk())


def test_a_frozen_room_refuses_everything_until_it_is_opened(
    room: Room, teacher_client: Client
) -> None:
    ada = join_room(room, "Ada")
    isolated_long(ada, 10, "0.1")
    said = conduct(teacher_client, room, "closed_mode", closed_mode="freeze")
    assert flash(said) == [("success", "When trading is closed, everything is frozen.")]
    response = conduct(teacher_client, room, "close")
    assert flash(response) == [
        ("success", "Trading is closed and frozen: learners can change nothing.")
    ]
    before = held(ada)
    closed = html.escape(TRADING_CLOSED)

    order = ada.order("buy", "0.1")
    assert order.status_code == 400
    assert f"<p><strong>Not done:</strong> {closed}</p>" in text(order)
    assert closed in text(ada.post("order_submit", {"side": "sell", "qty": "0.1"}, htmx=True))
    for response in (
        ada.leverage(5),
        ada.post("margin", {"direction": "add", "amount": "50"}),
        ada.post("position_close", {}),
    ):
        assert response.status_code == 400
        assert closed in text(response)
    assert held(ada) == before
    page = text(ada.desk())
    assert "<strong>Trading is closed</strong> (frozen: nothing can be changed)" in page
    board = text(teacher_client.get(f"/rooms/{room.code}/board/"))
    assert "trading <strong>closed</strong> (frozen)" in board

    conduct(teacher_client, room, "open")
    assert ada.post("position_close", {}).status_code == 302


def test_a_bad_closed_mode_is_refused(room: Room, teacher_client: Client) -> None:
    response = conduct(teacher_client, room, "closed_mode", closed_mode="sometimes")
    assert flash(response) == [("error", "Choose reduce-only or freeze for a closed room.")]
    assert market_of(room).closed_reduce_only is True


def test_closing_trading_does_not_stop_the_teacher_or_the_market(
    room: Room, teacher_client: Client
) -> None:
    room = quiet(room)
    ada = join_room(room, "Ada")
    isolated_long(ada, 50, "0.1")
    services.room_trading(room=room, open_=False)

    # The teacher still moves the price, and liquidation still happens.
    response = conduct(teacher_client, room, "price", symbol="XBTUSDT", price="59000")
    assert flash(response) == [("success", "XBTUSDT is now at 59,000.")]
    assert LiquidationRecord.objects.filter(account_id=ada.member.account_id).count() == 1
    conduct(teacher_client, room, "gap", symbol="XBTUSDT", percent="10")
    tick(room)
    assert marks(room)["XBTUSDT"] == D(64900)


# ---------------------------------------------------------------- conductor actions


def test_play_and_pause_toggle_the_market(room: Room, teacher_client: Client) -> None:
    response = conduct(teacher_client, room, "play", htmx=True)
    assert market_of(room).running is True
    assert 'value="pause">Pause</button>' in text(response)

    response = conduct(teacher_client, room, "pause", htmx=True)
    assert market_of(room).running is False
    assert 'value="play">Play</button>' in text(response)
    assert "The market is paused." in text(response)

    conduct(teacher_client, room, "play")
    board = text(teacher_client.get(f"/rooms/{room.code}/board/"))
    assert "running at 1x" in board


@pytest.mark.parametrize("speed", [1, 10, 60, 600, 7])
def test_speeds_from_1_to_600_are_taken(room: Room, teacher_client: Client, speed: int) -> None:
    response = conduct(teacher_client, room, "speed", speed=str(speed))
    assert flash(response) == [("success", f"The market runs at {speed}x.")]
    assert market_of(room).speed == speed


@pytest.mark.parametrize(
    ("speed", "message"),
    [
        ("0", "The speed must be from 1x to 600x."),
        ("601", "The speed must be from 1x to 600x."),
        ("9999", "The speed must be from 1x to 600x."),
        ("10000", "The speed must be from 1x to 600x."),
        ("9" * 10_000, "The speed must be from 1x to 600x."),
        ("", "Enter the speed as a whole number."),
        ("fast", "Enter the speed as a whole number."),
        ("1.5", "Enter the speed as a whole number."),
        ("-1", "Enter the speed as a whole number."),
        (" 10", "Enter the speed as a whole number."),
        ("١٠", "Enter the speed as a whole number."),
        ("\uff11\uff10", "Enter the speed as a whole number."),
    ],
)
def test_a_bad_speed_is_refused(
    room: Room, teacher_client: Client, speed: str, message: str
) -> None:
    conduct_refused(teacher_client, room, "speed", message, speed=speed)
    assert market_of(room).speed == 1


@pytest.mark.parametrize("volatility", ["0", "0.2", "1.5", "5", "5.00"])
def test_volatility_from_0_to_5_is_taken(
    room: Room, teacher_client: Client, volatility: str
) -> None:
    response = conduct(teacher_client, room, "volatility", volatility=volatility)
    assert flash(response) == [("success", f"Volatility set to {volatility} a year.")]
    assert market_of(room).volatility == D(volatility)


@pytest.mark.parametrize(
    ("volatility", "message"),
    [
        ("5.01", "Volatility must be from 0 to 5 (500% a year)."),
        ("-0.1", "Volatility must be from 0 to 5 (500% a year)."),
        ("1e1", "Volatility must be from 0 to 5 (500% a year)."),
        ("", "Enter the volatility as a number."),
        ("high", "Enter the volatility as a number."),
        ("NaN", "Enter the volatility as a number."),
        ("Infinity", "Enter the volatility as a number."),
        ("0,5", "Enter the volatility as a number."),
    ],
)
def test_a_bad_volatility_is_refused(
    room: Room, teacher_client: Client, volatility: str, message: str
) -> None:
    conduct_refused(teacher_client, room, "volatility", message, volatility=volatility)
    assert market_of(room).volatility == D("0.8")


@pytest.mark.parametrize(
    ("percent", "price"),
    [("1", D(60600)), ("-1", D(59400)), ("5", D(63000)), ("-5", D(57000))],
)
def test_a_nudge_queues_one_move_for_the_next_tick(
    room: Room, teacher_client: Client, percent: str, price: Decimal
) -> None:
    room = quiet(room)

    response = conduct(teacher_client, room, "nudge", symbol="XBTUSDT", percent=percent)

    assert flash(response) == [("success", f"On the next tick XBTUSDT is nudged {percent}%.")]
    assert market_of(room).pending_gaps == {"XBTUSDT": [percent]}
    assert marks(room)["XBTUSDT"] == D(60000)  # nothing moves before the tick
    tick(room)
    assert marks(room) == {"ETHUSDT": D(3000), "XBTUSDT": price}
    assert market_of(room).pending_gaps == {}
    tick(room)
    assert marks(room)["XBTUSDT"] == price  # once only


def test_a_nudge_on_ethusdt_moves_ethusdt_only(room: Room, teacher_client: Client) -> None:
    room = quiet(room)
    conduct(teacher_client, room, "nudge", symbol="ETHUSDT", percent="-5")
    tick(room)
    assert marks(room) == {"ETHUSDT": D(2850), "XBTUSDT": D(60000)}


GAP_RANGE = "A gap must be a move from -90% to +900%, other than 0."


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"symbol": "XBTUSDT", "percent": "0"}, GAP_RANGE),
        ({"symbol": "XBTUSDT", "percent": "-91"}, GAP_RANGE),
        ({"symbol": "XBTUSDT", "percent": "901"}, GAP_RANGE),
        ({"symbol": "XBTUSDT", "percent": "lots"}, "Enter the size of the move as a number."),
        ({"symbol": "XBTUSDT", "percent": ""}, "Enter the size of the move as a number."),
        ({"symbol": "XBTUSDT", "percent": "1" * 10_000}, "Enter the size of the move as a number."),
        ({"symbol": "SOLUSDT", "percent": "1"}, "SOLUSDT is not traded in this room."),
        ({"symbol": "NOPE", "percent": "1"}, "NOPE is not traded in this room."),
        ({"percent": "1"}, "That instrument is not traded in this room."),
    ],
)
@pytest.mark.parametrize("action", ["nudge", "gap"])
def test_a_bad_nudge_or_gap_is_refused(
    room: Room, teacher_client: Client, action: str, data: dict, message: str
) -> None:
    conduct_refused(teacher_client, room, action, message, **data)
    assert market_of(room).pending_gaps == {}


@pytest.mark.parametrize(
    ("percent", "price"), [("-10", D(54000)), ("-90", D(6000)), ("900", D(600000))]
)
def test_a_gap_moves_the_price_on_the_next_tick(
    room: Room, teacher_client: Client, percent: str, price: Decimal
) -> None:
    room = quiet(room)
    response = conduct(teacher_client, room, "gap", symbol="XBTUSDT", percent=percent)
    assert flash(response) == [("success", f"On the next tick XBTUSDT is gapped {percent}%.")]
    assert market_of(room).pending_gaps == {"XBTUSDT": [percent]}
    tick(room)
    assert marks(room)["XBTUSDT"] == price


def test_a_gap_liquidates_beyond_the_liquidation_price(room: Room, teacher_client: Client) -> None:
    room = quiet(room)
    ada = join_room(room, "Ada")
    isolated_long(ada, 50, "0.1")
    conduct(teacher_client, room, "gap", symbol="XBTUSDT", percent="-10")

    tick(room)

    record = LiquidationRecord.objects.get(account_id=ada.member.account_id)
    assert (record.symbol, record.mark_price, record.sequence) == ("XBTUSDT", D(54000), 1)
    assert not Position.objects.filter(account_id=ada.member.account_id).exists()


def test_a_crash_queues_moves_that_compound_to_the_fall(room: Room, teacher_client: Client) -> None:
    room = quiet(room)

    response = conduct(teacher_client, room, "crash", symbol="XBTUSDT", percent="20", ticks="4")

    assert flash(response) == [("success", "XBTUSDT falls 20% over the next 4 ticks.")]
    queued = market_of(room).pending_gaps
    assert list(queued) == ["XBTUSDT"]
    moves = [D(m) for m in queued["XBTUSDT"]]
    assert len(moves) == 4
    assert moves[:3] == [D("-5.4258")] * 3  # 0.8 ** (1/4) − 1, to 4 places
    with localcontext() as exact:
        exact.prec = 80
        factor = D(1)
        for move in moves:
            factor *= 1 + move / 100
        assert abs(factor - D("0.8")) < D("1e-40")

    prices = []
    for remaining in (3, 2, 1, 0):
        tick(room)
        prices.append(marks(room)["XBTUSDT"])
        assert len(market_of(room).pending_gaps.get("XBTUSDT", [])) == remaining
    # Each tick rounds to the 0.5 tick: 60,000 × 0.945742 = 56,744.52 → 56,744.5, …
    assert prices == [D("56744.5"), D("53665.5"), D("50753.5"), D("47999.5")]
    assert abs(prices[-1] - D(48000)) <= D("0.5")
    assert marks(room)["ETHUSDT"] == D(3000)
    assert market_of(room).pending_gaps == {}


def test_a_crash_on_one_tick_is_a_gap(room: Room, teacher_client: Client) -> None:
    room = quiet(room)
    conduct(teacher_client, room, "crash", symbol="ETHUSDT", percent="15", ticks="1")
    assert [D(m) for m in market_of(room).pending_gaps["ETHUSDT"]] == [D(-15)]
    tick(room)
    assert marks(room)["ETHUSDT"] == D(2550)


CRASH_SIZE = "A crash must be a fall of 1% to 90%."
CRASH_TICKS = "Spread the crash over 1 to 120 ticks."
WHOLE_TICKS = "Enter the number of ticks as a whole number."


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"percent": "0.5", "ticks": "4"}, CRASH_SIZE),
        ({"percent": "91", "ticks": "4"}, CRASH_SIZE),
        ({"percent": "-20", "ticks": "4"}, CRASH_SIZE),
        ({"percent": "big", "ticks": "4"}, "Enter the size of the crash as a number."),
        ({"percent": "20", "ticks": "0"}, CRASH_TICKS),
        ({"percent": "20", "ticks": "121"}, CRASH_TICKS),
        ({"percent": "20", "ticks": "2.5"}, WHOLE_TICKS),
        ({"percent": "20", "ticks": ""}, WHOLE_TICKS),
        ({"percent": "20", "ticks": "\u0664"}, WHOLE_TICKS),
        ({"percent": "20", "ticks": "9" * 10_000}, CRASH_TICKS),
        # A text too long to be a number is refused, not cut to its first 20 characters.
        (
            {"percent": "20.00000000000000000001", "ticks": "4"},
            "Enter the size of the crash as a number.",
        ),
        (
            {"percent": "20", "ticks": "4", "symbol": "SOLUSDT"},
            "SOLUSDT is not traded in this room.",
        ),
    ],
)
def test_a_bad_crash_is_refused(
    room: Room, teacher_client: Client, data: dict, message: str
) -> None:
    conduct_refused(teacher_client, room, "crash", message, **{"symbol": "XBTUSDT", **data})
    assert market_of(room).pending_gaps == {}


def test_setting_the_price_liquidates_a_learner_at_once(room: Room, teacher_client: Client) -> None:
    room = quiet(room)
    ada = join_room(room, "Ada")
    grace = join_room(room, "Grace")
    isolated_long(ada, 50, "0.1")
    isolated_long(grace, 10, "0.1")

    response = conduct(teacher_client, room, "price", symbol="XBTUSDT", price="59000")

    assert flash(response) == [("success", "XBTUSDT is now at 59,000.")]
    assert marks(room) == {"ETHUSDT": D(3000), "XBTUSDT": D(59000)}
    market = market_of(room)
    assert market.sequence == 0  # no tick was needed
    assert market.pending_gaps == {}
    record = LiquidationRecord.objects.get(account_id=ada.member.account_id)
    assert (record.symbol, record.mark_price, record.qty) == ("XBTUSDT", D(59000), D("0.1"))
    assert not Position.objects.filter(account_id=ada.member.account_id).exists()
    # Grace at 10x is still standing.
    assert not LiquidationRecord.objects.filter(account_id=grace.member.account_id).exists()
    assert Position.objects.get(account_id=grace.member.account_id).qty == D("0.1")
    board = text(teacher_client.get(f"/rooms/{room.code}/board/"))
    assert "<strong data-liquidated-count>1</strong> liquidated (1 liquidation in all)" in board


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"symbol": "XBTUSDT", "price": "cheap"}, "Enter the mark price as a number, like 60000."),
        ({"symbol": "XBTUSDT", "price": ""}, "Enter a mark price."),
        ({"symbol": "XBTUSDT", "price": "NaN"}, "Enter the mark price as a number, like 60000."),
        ({"symbol": "SOLUSDT", "price": "100"}, "SOLUSDT is not traded in this room."),
        ({"price": "100"}, "That instrument is not traded in this room."),
    ],
)
def test_a_bad_price_is_refused(
    room: Room, teacher_client: Client, data: dict, message: str
) -> None:
    conduct_refused(teacher_client, room, "price", message, **data)


@pytest.mark.parametrize(
    ("price", "message"),
    [
        ("0", "Enter a mark price above zero."),
        ("-100", "Enter a mark price above zero."),
        # A price set by hand is on the instrument's tick (XBTUSDT: 0.5)...
        (
            "60000.25",
            "XBTUSDT prices move in ticks of 0.5; 60,000.25 is between ticks. Try 60,000 or "
            "60,000.5.",
        ),
        # ... within a hundredfold of the current mark (60,000) ...
        (
            "599.5",
            "A mark set by hand must be within a hundredfold of the current mark (60,000): "
            "from 600 to 6,000,000 on XBTUSDT; 599.5 is below that.",
        ),
        (
            "6000000.5",
            "A mark set by hand must be within a hundredfold of the current mark (60,000): "
            "from 600 to 6,000,000 on XBTUSDT; 6,000,000.5 is above that.",
        ),
        # ... and typed in plain digits.
        (
            "1e9",
            "Write the mark price in plain digits, like 60000: exponent notation (such as 1e3) "
            "is not accepted.",
        ),
    ],
)
def test_a_price_the_engine_cannot_take_is_refused_and_changes_nothing(
    room: Room, teacher_client: Client, price: str, message: str
) -> None:
    ada = join_room(room, "Ada")
    isolated_long(ada, 10, "0.1")

    conduct_refused(teacher_client, room, "price", message, symbol="XBTUSDT", price=price)

    assert Position.objects.get(account_id=ada.member.account_id).qty == D("0.1")
    assert not LiquidationRecord.objects.exists()


def test_the_export_still_works_after_any_price_the_conductor_accepts(
    room: Room, teacher_client: Client
) -> None:
    ada = join_room(room, "Ada")
    isolated_long(ada, 10, "0.1")
    conduct(teacher_client, room, "price", symbol="XBTUSDT", price="1e30")
    teacher_client.raise_request_exception = False

    response = teacher_client.get(reverse("room_export", kwargs={"code": room.code}))

    assert response.status_code == 200


def test_a_price_beyond_the_desks_own_maximum_is_refused(
    room: Room, teacher_client: Client
) -> None:
    """A learner's practice desk refuses a mark above 1,000,000,000; the conductor should
    not take 10^30 (and then tell the teacher "XBTUSDT is now at 1E+30.")."""
    prices = marks(room)

    response = conduct(teacher_client, room, "price", symbol="XBTUSDT", price="1e30")

    assert [level for level, _ in flash(response)] == ["error"], flash(response)
    assert marks(room) == prices


def test_a_lesson_path_is_queued_as_moves(room: Room, teacher_client: Client) -> None:
    room = quiet(room)

    response = conduct(teacher_client, room, "script", symbol="XBTUSDT", lesson=lesson_slug(1))

    assert flash(response) == [
        (
            "success",
            "XBTUSDT follows the path of “Isolated versus cross margin” over the next 5 ticks.",
        )
    ]
    # Lesson 1's mark goes 100 → 97.5 → 94 → 100 → 97.5 → 94.
    path = [D(100), D("97.5"), D(94), D(100), D("97.5"), D(94)]
    moves = [D(m) for m in market_of(room).pending_gaps["XBTUSDT"]]
    assert len(moves) == 5
    for move, before, after in zip(moves, path, path[1:], strict=False):
        assert abs(move - (after / before - 1) * 100) < D("1e-20")
    assert moves[0] == D("-2.5")
    assert moves[3] == D("-2.5")

    prices = []
    for _ in range(5):
        tick(room)
        prices.append(marks(room)["XBTUSDT"])
    # The same shape from 60,000: 58,500 → 56,400 → 60,000 → 58,500 → 56,400.
    assert prices == [D(58500), D(56400), D(60000), D(58500), D(56400)]
    assert market_of(room).pending_gaps == {}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"lesson": "no-such-lesson"}, "Choose a lesson whose price path to replay."),
        ({"lesson": ""}, "Choose a lesson whose price path to replay."),
        ({"lesson": 2}, "That lesson's price never moves."),
        ({"lesson": 1, "symbol": "SOLUSDT"}, "SOLUSDT is not traded in this room."),
    ],
)
def test_a_bad_script_is_refused(
    room: Room, teacher_client: Client, data: dict, message: str
) -> None:
    lesson = data["lesson"]
    posted = {
        "symbol": data.get("symbol", "XBTUSDT"),
        "lesson": lesson_slug(lesson) if isinstance(lesson, int) else lesson,
    }
    conduct_refused(teacher_client, room, "script", message, **posted)
    assert market_of(room).pending_gaps == {}


def test_reset_returns_every_learner_to_the_room_balances(
    room: Room, teacher_client: Client
) -> None:
    room = quiet(room)
    ada = join_room(room, "Ada")
    grace = join_room(room, "Grace")
    isolated_long(ada, 50, "0.1")
    isolated_long(grace, 10, "1", "ETHUSDT")
    services.room_set_price(room=room, symbol="XBTUSDT", price=D(59000))  # Ada liquidated
    assert ada.wallet() != D(10000)
    assert grace.wallet() != D(10000)

    response = conduct(teacher_client, room, "reset")

    assert flash(response) == [("success", "2 accounts back to the starting balances.")]
    for learner in (ada, grace):
        account = learner.member.account_id
        balances = dict(
            Wallet.objects.filter(account_id=account).values_list("currency", "balance")
        )
        assert balances == {"USDT": D(10000)}
        assert not Position.objects.filter(account_id=account).exists()
        assert not MarginSettingRow.objects.filter(account_id=account).exists()
        last = LedgerEntry.objects.filter(account_id=account).order_by("-id").first()
        assert last is not None
        assert (last.reason, last.currency, last.balance_after) == ("reset", "USDT", D(10000))
        assert learner.ledger_reasons().count("reset") == 1
    # The marks stay where the teacher left them.
    assert marks(room)["XBTUSDT"] == D(59000)


def test_reset_of_an_empty_room(room: Room, teacher_client: Client) -> None:
    response = conduct(teacher_client, room, "reset")
    assert flash(response) == [("success", "0 accounts back to the starting balances.")]


def test_an_unknown_action_is_refused(room: Room, teacher_client: Client) -> None:
    for action in ("", "explode", "PLAY"):
        conduct_refused(teacher_client, room, action, "Choose one of the conductor's actions.")


def test_a_learners_desk_offers_only_the_rooms_instruments(room: Room) -> None:
    """The room trades XBTUSDT and ETHUSDT: the picker links those two, and another
    instrument's desk is not found (rather than a server error)."""
    ada = join_room(room, "Ada")
    ada.client.raise_request_exception = False
    desk = text(ada.desk())

    seen = {
        symbol: (f'href="{ada.url("desk", symbol)}"' in desk, ada.desk(symbol).status_code)
        for symbol in ("XBTUSDT", "ETHUSDT", "SOLUSDT", "XBTUSD")
    }

    assert seen == {
        "XBTUSDT": (True, 200),
        "ETHUSDT": (True, 200),
        "SOLUSDT": (False, 404),
        "XBTUSD": (False, 404),
    }


def test_an_order_for_an_instrument_not_in_the_room_is_refused(room: Room) -> None:
    ada = join_room(room, "Ada")
    ada.client.raise_request_exception = False

    response = ada.order("buy", "1", "SOLUSDT")

    assert response.status_code in (400, 404)
    assert not Fill.objects.filter(account_id=ada.member.account_id).exists()


# ---------------------------------------------------------------------- leaderboard


def test_the_leaderboard_ranks_by_return_and_shows_liquidations_apart(
    room: Room, teacher_client: Client
) -> None:
    room = quiet(room)
    ada = join_room(room, "Ada")  # no position: 0%
    bob = join_room(room, "Bob")  # long 0.5 under cross: loses 515
    cy = join_room(room, "Cy")  # long 0.1 at 50x: liquidated
    dee = join_room(room, "Dee")  # short 0.1 at 50x: gains 97
    assert bob.order("buy", "0.5").status_code == 302
    isolated_long(cy, 50, "0.1")
    assert dee.leverage(50).status_code == 302
    assert dee.order("sell", "0.1").status_code == 302

    conduct(teacher_client, room, "price", symbol="XBTUSDT", price="59000")

    rows = {row.member.display_name: row for row in selectors.learner_rows(reload_room(room))}
    assert rows["Ada"].return_percent == 0
    assert rows["Bob"].equity == D(9485)  # 10,000 − 15 fee − 500 unrealised
    assert rows["Bob"].return_percent == D("-5.15")
    assert rows["Dee"].equity == D(10097)  # 10,000 − 3 fee + 100 unrealised
    assert rows["Dee"].return_percent == D("0.97")
    # Cy lost the 120 USDT margin of a 0.1 long at 50x and the 3 USDT fee.
    assert rows["Cy"].equity == D(9877)
    assert rows["Cy"].return_percent == D("-1.23")
    assert rows["Cy"].liquidations == 1
    assert rows["Cy"].trades == 1
    # Ranked by return alone: Cy lost less than Bob, liquidation or not.
    ranking = [row.member.display_name for row in selectors.leaderboard(list(rows.values()))]
    assert ranking == ["Dee", "Ada", "Cy", "Bob"]

    board = text(teacher_client.get(f"/rooms/{room.code}/board/"))
    assert selectors.RANKING_RULE in board
    listed = [
        '<tr data-place="1"><td>1</td><th scope="row">Dee</th><td class="gain">0.97%</td>'
        "<td>0</td></tr>",
        '<tr data-place="2"><td>2</td><th scope="row">Ada</th><td class="flat">0%</td>'
        "<td>0</td></tr>",
        '<tr data-place="3"><td>3</td><th scope="row">Cy</th><td class="loss">-1.23%</td>'
        "<td>1</td></tr>",
        '<tr data-place="4"><td>4</td><th scope="row">Bob</th><td class="loss">-5.15%</td>'
        "<td>0</td></tr>",
    ]
    for item in listed:
        assert item in board
    assert "-11.23%" not in board  # no penalty inside a percentage

    desk = text(ada.desk())
    assert selectors.RANKING_RULE in desk
    assert "Cy: -1.23% (1 liquidation)</li>" in desk
    assert '<li value="2" aria-current="true" class="me">Ada: 0% (you)</li>' in desk


def test_equal_returns_rank_the_one_with_fewer_liquidations_first(room: Room) -> None:
    """Two learners back at the same equity: the one liquidated on the way ranks second,
    whatever the names' order."""
    room = quiet(room)
    for name in ("Ann", "Zed"):
        join_room(room, name)
    ann = RoomMember.objects.get(room=room, display_name="Ann")
    LiquidationRecord.objects.create(
        account_id=ann.account_id,
        symbol="XBTUSDT",
        settle="USDT",
        margin_mode="isolated",
        qty=D("0.1"),
        avg_entry_price=D(60000),
        funds=D(120),
        maintenance_margin=D(30),
        liquidation_price=D(59100),
        bankruptcy_price=D(58800),
        mark_price=D(59000),
        loss=D(-120),
        insurance_fund_change=D(20),
    )
    ranking = selectors.leaderboard(selectors.learner_rows(room))
    assert [(r.member.display_name, r.return_percent, r.liquidations) for r in ranking] == [
        ("Zed", D(0), 0),
        ("Ann", D(0), 1),
    ]


def test_ties_are_ranked_by_name(room: Room) -> None:
    for name in ("carol", "Bea", "alan"):
        join_room(room, name)
    ranking = selectors.leaderboard(selectors.learner_rows(room))
    assert [row.member.display_name for row in ranking] == ["alan", "Bea", "carol"]


def test_a_learner_sees_the_leaderboard_only_when_it_is_visible(
    room: Room, teacher_client: Client
) -> None:
    ada = join_room(room, "Ada")
    join_room(room, "Grace")

    shown = text(ada.desk())
    assert "<h3>Leaderboard</h3>" in shown
    assert '<ol class="leaderboard">' in shown
    assert "Grace: 0%</li>" in shown

    response = conduct(teacher_client, room, "hide_board")
    assert flash(response) == [("success", "Leaderboard hidden.")]
    assert reload_room(room).leaderboard_visible is False
    hidden = text(ada.desk())
    assert "Leaderboard" not in hidden
    assert "Grace" not in hidden
    assert "You are <strong>Ada</strong>." in hidden
    # The teacher still sees it, marked as hidden from learners.
    board = text(teacher_client.get(f"/rooms/{room.code}/board/"))
    assert ": hidden from learners" in board
    assert '<th scope="row">Grace</th><td class="flat">0%</td>' in board

    conduct(teacher_client, room, "show_board")
    assert reload_room(room).leaderboard_visible is True
    assert '<ol class="leaderboard">' in text(ada.desk())


def test_a_room_created_without_the_leaderboard_hides_it(teacher_client: Client) -> None:
    room = create_room(teacher_client, leaderboard=None)
    ada = join_room(room, "Ada")
    assert "Leaderboard" not in text(ada.desk())
    panel = text(teacher_client.get(f"/rooms/{room.code}/"))
    assert 'value="show_board"' in panel


# --------------------------------------------------------------------- the feed


def test_learners_liquidated_together_are_one_line_of_the_feed(
    room: Room, teacher_client: Client
) -> None:
    room = quiet(room)
    ada = join_room(room, "Ada")
    grace = join_room(room, "Grace")
    join_room(room, "Bob")  # no position
    isolated_long(ada, 50, "0.1")
    isolated_long(grace, 50, "0.1")

    conduct(teacher_client, room, "price", symbol="XBTUSDT", price="59000")

    records = LiquidationRecord.objects.filter(account__member__room=room)
    assert records.count() == 2
    level = records.first().liquidation_price  # type: ignore[union-attr]
    assert {r.liquidation_price for r in records} == {level}
    feed = selectors.liquidation_feed(room)
    assert [(f.symbol, f.count, f.mark_price, f.liquidation_price) for f in feed] == [
        ("XBTUSDT", 2, D(59000), level)
    ]
    assert selectors.liquidations_by_level(room) == [("XBTUSDT", D(59000), 2)]

    from sandbox.desk.templatetags.figures import price

    board = text(teacher_client.get(f"/rooms/{room.code}/board/"))
    line = (
        '<p class="notice danger" data-feed>2 learners liquidated on XBTUSDT at 59,000 '
        f"(liquidation price {price(level, 'XBTUSDT')}).</p>"
    )
    assert line in board
    assert board.count("data-feed>") == 1
    assert "<li>XBTUSDT at 59,000: 2</li>" in board
    assert "<strong data-liquidated-count>2</strong> liquidated (2 liquidations in all)" in board


def test_the_feed_lists_the_newest_liquidations_first(room: Room, teacher_client: Client) -> None:
    room = quiet(room)
    ada = join_room(room, "Ada")
    grace = join_room(room, "Grace")
    isolated_long(ada, 50, "0.1")
    isolated_long(grace, 10, "1", "ETHUSDT")
    conduct(teacher_client, room, "price", symbol="XBTUSDT", price="59000")  # Ada, at tick 0
    conduct(teacher_client, room, "gap", symbol="ETHUSDT", percent="-20")
    tick(room)  # Grace, at tick 1

    feed = selectors.liquidation_feed(room)

    assert [(f.symbol, f.count, f.mark_price, f.sequence) for f in feed] == [
        ("ETHUSDT", 1, D(2400), 1),
        ("XBTUSDT", 1, D(59000), 0),
    ]
    board = text(teacher_client.get(f"/rooms/{room.code}/board/"))
    eth = board.index("1 learner liquidated on ETHUSDT at 2,400")
    xbt = board.index("1 learner liquidated on XBTUSDT at 59,000")
    assert eth < xbt
    assert selectors.liquidations_by_level(room) == [
        ("ETHUSDT", D(2400), 1),
        ("XBTUSDT", D(59000), 1),
    ]


def test_the_feed_belongs_to_its_room(room: Room, other_room: Room) -> None:
    room, other_room = quiet(room), quiet(other_room)
    ada = join_room(room, "Ada")
    isolated_long(ada, 50, "0.1")
    services.room_set_price(room=room, symbol="XBTUSDT", price=D(59000))
    assert len(selectors.liquidation_feed(room)) == 1
    assert selectors.liquidation_feed(other_room) == []
    assert selectors.liquidations_by_level(other_room) == []


# ---------------------------------------------------------------------- export


def export_rows(client: Client, room: Room) -> list[list[str]]:
    response = client.get(reverse("room_export", kwargs={"code": room.code}))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="room-{room.code}.csv"'
    return list(csv.reader(io.StringIO(text(response))))


def test_the_export_has_one_row_per_learner(room: Room, teacher_client: Client) -> None:
    room = quiet(room)
    ada = join_room(room, "Ada")
    cy = join_room(room, "Cy")
    join_room(room, "Bob")
    assert ada.order("buy", "0.1").status_code == 302
    assert ada.order("sell", "0.1").status_code == 302
    isolated_long(cy, 50, "0.1")
    services.room_set_price(room=room, symbol="XBTUSDT", price=D(59000))

    header, *rows = export_rows(teacher_client, room)

    assert header == EXPORT_HEADER
    by_name = {row[0]: row for row in rows}
    assert sorted(by_name) == ["Ada", "Bob", "Cy"]
    assert len(rows) == 3
    joined = {
        m.display_name: m.joined_at.isoformat(timespec="seconds")
        for m in RoomMember.objects.filter(room=room)
    }
    for name, row in by_name.items():
        assert row[1] == joined[name]
    assert D(by_name["Ada"][4]) == D(9994)  # two fees of 3
    assert by_name["Ada"][2:4] == ["2", "0"]
    assert by_name["Ada"][5] == "-0.06"
    assert by_name["Ada"][6:] == ["9994.00000000", "", ""]
    assert by_name["Bob"][2:] == ["0", "0", "10000.00000000", "0.00", "10000.00000000", "", ""]
    assert by_name["Cy"][2:4] == ["1", "1"]
    assert by_name["Cy"][4:] == ["9877.00000000", "-1.23", "9877.00000000", "", ""]


EXPORT_HEADER = [
    "name",
    "joined",
    "trades",
    "liquidations",
    "final equity (USDT)",
    "return % (against the starting balances at the same marks)",
    "margin balance (USDT)",
    "positions (chosen margin)",
    "effective leverage (value at mark over equity)",
]


def test_the_export_of_an_empty_room_is_its_header(room: Room, teacher_client: Client) -> None:
    assert export_rows(teacher_client, room) == [EXPORT_HEADER]


@pytest.mark.parametrize(
    ("name", "written"),
    [
        ("=SUM(A1:A9)", "'=SUM(A1:A9)"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@home", "'@home"),
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("Ada = 1", "Ada = 1"),
        ("'quoted", "'quoted"),
    ],
)
def test_a_name_that_a_spreadsheet_would_read_as_a_formula_is_quoted(
    room: Room, teacher_client: Client, name: str, written: str
) -> None:
    join_room(room, name)
    header, row = export_rows(teacher_client, room)
    assert row[0] == written
    assert RoomMember.objects.get(room=room).display_name == name  # stored as typed


def test_a_mark_price_in_another_market_is_not_the_rooms(room: Room, other_room: Room) -> None:
    """Each room's market keeps its own prices."""
    services.room_set_price(room=room, symbol="XBTUSDT", price=D(50000))
    assert marks(room)["XBTUSDT"] == D(50000)
    assert marks(other_room)["XBTUSDT"] == D(60000)
    assert MarkPrice.objects.filter(market_id=room.market_id).count() == 2
