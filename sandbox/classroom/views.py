"""Rooms: the teacher's conductor panel and class board, and joining as a learner."""

from __future__ import annotations

import csv
from decimal import Decimal
from typing import Any

import segno
from django.contrib import messages
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sandbox import engine
from sandbox.desk.accounts import remember_room, room_account
from sandbox.desk.answers import HtmxHttpRequest
from sandbox.desk.forms import MarkForm, parse_whole
from sandbox.desk.roles import teacher_required
from sandbox.desk.templatetags import figures
from sandbox.engine import display
from sandbox.engine.money import parse_decimal, round_half_up
from sandbox.engine.valuation import Valuation
from sandbox.lessons.models import Lesson
from sandbox.live.services import SPEEDS, ControlError

from . import selectors, services
from .forms import JoinForm, RoomForm
from .models import Room, RoomMember
from .progress import lesson_label, room_progress

# Wrong room codes an address may send in a minute (from its first wrong one); then even
# the right code waits for the minute to end. A class joining behind one address (a
# school's NAT, a proxy) is not limited: only failed guesses count.
JOIN_GUESSES = 10
JOIN_GUESS_SECONDS = 60
MAX_NUMBER_TEXT = 20
VOLATILITIES = ("0", "0.2", "0.5", "0.8", "1.5", "3")
NUDGES = (("-5", "−5%"), ("-1", "−1%"), ("1", "+1%"), ("5", "+5%"))
CLOSED_MODES = {"reduce_only": "reduce-only", "freeze": "freeze everything"}
CLOSED_NOTICE = {
    True: "Trading is closed, reduce-only: learners may only close or reduce positions.",
    False: "Trading is closed and frozen: learners can change nothing.",
}
CLOSED_MODE_NOTICE = {
    True: "When trading is closed, learners may still close or reduce positions (reduce-only).",
    False: "When trading is closed, everything is frozen.",
}


def _room_for_teacher(request: HttpRequest, code: str) -> Room:
    """The room if this teacher runs it; another teacher's room is not found."""
    room = Room.objects.select_related("market").filter(code=code.upper()).first()
    if room is None or room.teacher_id != request.user.pk:
        raise Http404("No such room of yours.")
    return room


@teacher_required
@require_GET
def room_list(request: HttpRequest) -> HttpResponse:
    rooms = Room.objects.filter(teacher_id=request.user.pk)
    return render(request, "classroom/list.html", {"rooms": rooms})


@teacher_required
@require_http_methods(["GET", "POST"])
def room_new(request: HttpRequest) -> HttpResponse:
    form = RoomForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        balances = {"USDT": data["usdt"]}
        if data.get("xbt"):
            balances["XBT"] = data["xbt"]
        room = services.room_create(
            teacher=request.user,  # type: ignore[arg-type]
            name=data["name"],
            symbols=list(data["symbols"]),
            balances=balances,
            max_leverage=Decimal(data["max_leverage"]),
            fees=data["fees"],
            funding=data["funding"],
            leaderboard=data["leaderboard"],
        )
        return redirect("room_panel", code=room.code)
    status = 400 if request.method == "POST" else 200
    return render(request, "classroom/new.html", {"form": form}, status=status)


def _join_url(request: HttpRequest, room: Room) -> str:
    return request.build_absolute_uri(f"/join/{room.code}/")


def valuation_note(valuation: Valuation, *, exact: bool = False) -> str:
    """How the board counts every currency in its quote currency, in one sentence: "XBT
    valued at the XBTUSDT mark (56,000.5)". ``exact``: the price as exact text (the CSV)."""
    parts = []
    for rate in valuation.marked:
        shown = format(rate.price, "f") if exact else figures.price(rate.price, rate.symbol)
        dollar = f", 1 USD counted as 1 {valuation.quote}" if rate.dollar else ""
        parts.append(f"{rate.currency} valued at the {rate.symbol} mark ({shown}{dollar})")
    parts += [
        f"{currency} not counted (no {currency} mark in this room)"
        for currency in valuation.unvalued
    ]
    return "; ".join(parts)


def board_context(room: Room) -> dict[str, Any]:
    room.market.refresh_from_db()
    board = selectors.class_board(room, room.market)
    lessons, progress = room_progress(room.pk, [row.member.account_id for row in board.rows])
    return {
        "room": room,
        "market": room.market,
        "rows": board.rows,
        "lines": [(row, progress.get(row.member.account_id, [])) for row in board.rows],
        "ranking": board.ranking,
        "ranking_rule": selectors.RANKING_RULE,
        "room_lessons": lessons,
        "valuation": board.valuation,
        "valuation_note": valuation_note(board.valuation),
        "feed": selectors.liquidation_feed(room),
        "levels": selectors.liquidations_by_level(room),
        "liquidated": sum(1 for row in board.rows if row.liquidations),
        "liquidations": sum(row.liquidations for row in board.rows),
        "currency": board.valuation.quote,
        "marks": list(room.market.marks.select_related("instrument").order_by("instrument")),
    }


def _panel_context(request: HttpRequest, room: Room, **extra: Any) -> dict[str, Any]:
    qr = segno.make(_join_url(request, room), error="m")
    context = board_context(room)
    lessons = list(Lesson.objects.defer("source"))
    assigned_ids = {lesson.pk for lesson in context["room_lessons"]}
    context.update(
        {
            "join_url": _join_url(request, room),
            "qr": mark_safe(qr.svg_inline(scale=6, title=f"Join {room.name}")),  # noqa: S308
            "speeds": SPEEDS,
            "volatilities": VOLATILITIES,
            "nudges": NUDGES,
            "lessons": lessons,
            "assignable": [lesson for lesson in lessons if lesson.pk not in assigned_ids],
            "closed_modes": CLOSED_MODES,
            "symbols": room.market.symbols,
        }
    )
    context.update(extra)
    return context


@teacher_required
@require_GET
def room_panel(request: HtmxHttpRequest, code: str) -> HttpResponse:
    room = _room_for_teacher(request, code)
    return render(request, "classroom/panel.html", _panel_context(request, room))


@teacher_required
@require_GET
def room_board(request: HtmxHttpRequest, code: str) -> HttpResponse:
    room = _room_for_teacher(request, code)
    return render(request, "classroom/panel.html#board", board_context(room))


def _decimal(request: HttpRequest, name: str, noun: str) -> Decimal:
    """A number as typed; a text too long to be one is refused, not cut short."""
    text = request.POST.get(name, "")
    value = parse_decimal(text) if len(text) <= MAX_NUMBER_TEXT else None
    if value is None:
        raise ControlError(f"Enter the {noun} as a number.")
    return value


def _whole(request: HttpRequest, name: str, noun: str) -> int:
    """A whole number in ASCII digits; one past 9,999 reads as 10,000, which every
    action's own range refuses with its limits."""
    value = parse_whole(request.POST.get(name, ""), most=9999)
    if value is None:
        raise ControlError(f"Enter the {noun} as a whole number.")
    return value


def _conduct(request: HttpRequest, room: Room) -> str:
    """Carry out one conductor action; the sentence says what will happen."""
    action = request.POST.get("action", "")
    symbol = request.POST.get("symbol", "")
    if action in ("play", "pause"):
        services.room_play(room=room, running=action == "play")
        return "The market is running." if action == "play" else "The market is paused."
    if action == "speed":
        speed = _whole(request, "speed", "speed")
        services.room_speed(room=room, speed=speed)
        return f"The market runs at {speed}x."
    if action == "volatility":
        volatility = _decimal(request, "volatility", "volatility")
        services.room_volatility(room=room, volatility=volatility)
        return f"Volatility set to {volatility} a year."
    if action in ("nudge", "gap"):
        percent = _decimal(request, "percent", "size of the move")
        services.room_move(room=room, symbol=symbol, percent=percent)
        kind = "nudged" if action == "nudge" else "gapped"
        return f"On the next tick {symbol} is {kind} {display.percent(percent, 8)}."
    if action == "crash":
        percent = _decimal(request, "percent", "size of the crash")
        ticks = _whole(request, "ticks", "number of ticks")
        services.room_crash(room=room, symbol=symbol, percent=percent, ticks=ticks)
        return f"{symbol} falls {display.percent(percent, 8)} over the next {ticks} ticks."
    if action == "price":
        form = MarkForm({"price": request.POST.get("price", "")})
        if not form.is_valid():
            raise ControlError(str(form.errors["price"][0]))
        price = form.cleaned_data["price"]
        try:
            services.room_set_price(room=room, symbol=symbol, price=price)
        except engine.Rejected as refusal:
            raise services.engine_rejection(refusal) from None
        return f"{symbol} is now at {figures.price(price, symbol)}."
    if action == "script":
        lesson = Lesson.objects.filter(slug=request.POST.get("lesson", "")).first()
        if lesson is None:
            raise ControlError("Choose a lesson whose price path to replay.")
        ticks = services.room_script_lesson(room=room, symbol=symbol, lesson_source=lesson.source)
        return f"{symbol} follows the path of “{lesson.title}” over the next {ticks} ticks."
    if action in ("open", "close"):
        services.room_trading(room=room, open_=action == "open")
        if action == "open":
            return "Trading is open."
        return CLOSED_NOTICE[room.market.closed_reduce_only]
    if action == "closed_mode":
        mode = request.POST.get("closed_mode", "")
        if mode not in CLOSED_MODES:
            raise ControlError("Choose reduce-only or freeze for a closed room.")
        services.room_closed_mode(room=room, reduce_only=mode == "reduce_only")
        return CLOSED_MODE_NOTICE[mode == "reduce_only"]
    if action in ("assign", "unassign"):
        lesson = Lesson.objects.filter(slug=request.POST.get("lesson", "")).first()
        if lesson is None:
            raise ControlError("Choose a lesson to assign or take off the list.")
        if action == "assign":
            if not services.room_assign(room=room, lesson=lesson):
                return f"“{lesson.title}” was already assigned."
            return f"“{lesson.title}” is assigned: learners find it on their desk."
        if not services.room_unassign(room=room, lesson=lesson):
            raise ControlError(f"“{lesson.title}” is not assigned to this room.")
        return f"“{lesson.title}” is no longer assigned (progress so far is kept)."
    if action in ("show_board", "hide_board"):
        services.room_leaderboard(room=room, visible=action == "show_board")
        return "Learners see the leaderboard." if action == "show_board" else "Leaderboard hidden."
    if action == "reset":
        count = services.room_reset(room=room)
        return f"{count} account{'s' if count != 1 else ''} back to the starting balances."
    raise ControlError("Choose one of the conductor's actions.")


@teacher_required
@require_POST
def room_conduct(request: HtmxHttpRequest, code: str) -> HttpResponse:
    room = _room_for_teacher(request, code)
    try:
        text, ok = _conduct(request, room), True
    except ControlError as problem:
        text, ok = str(problem), False
    room.refresh_from_db()
    if request.htmx:
        context = _panel_context(request, room, conduct_notice=text, conduct_ok=ok)
        return render(request, "classroom/panel.html#controls", context)
    (messages.success if ok else messages.error)(request, text)
    return redirect("room_panel", code=room.code)


def _csv_text(value: Decimal | None, places: int) -> str:
    """A figure for the CSV: plain digits (no thousands separator), rounded half-up to
    ``places`` decimals; empty where there is none."""
    return "" if value is None else format(round_half_up(value, places), "f")


def _positions_text(row: selectors.LearnerRow) -> str:
    """Each position's side and the margin its learner chose: "XBTUSD short isolated 20x"."""
    texts = []
    for p in row.positions:
        cross = p.margin_mode is engine.MarginMode.CROSS
        chosen = "cross" if cross else f"isolated {format(p.leverage, 'f')}x"
        texts.append(f"{p.symbol} {'long' if p.is_long else 'short'} {chosen}")
    return "; ".join(texts)


@teacher_required
@require_GET
def room_export(request: HttpRequest, code: str) -> HttpResponse:
    """The room's results, one learner a row, as CSV: the board's figures as plain text
    (amounts to the engine's minor unit, 8 decimals), the valuation stated in the header."""
    room = _room_for_teacher(request, code)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="room-{room.code}.csv"'
    writer = csv.writer(response)
    board = selectors.class_board(room, room.market)
    quote = board.valuation.quote
    note = valuation_note(board.valuation, exact=True)
    currencies = sorted({quote, *room.starting_balances, *board.valuation.rates})
    lessons, progress = room_progress(room.pk, [row.member.account_id for row in board.rows])
    writer.writerow(
        [
            "name",
            "joined",
            "trades",
            "liquidations",
            f"final equity ({quote}{'; ' + note if note else ''})",
            "return % (against the starting balances at the same marks)",
            *(f"margin balance ({currency})" for currency in currencies),
            "positions (chosen margin)",
            "effective leverage (value at mark over equity)",
            *(f"progress: {lesson_label(lesson)}" for lesson in lessons),
        ]
    )
    for row in board.rows:
        name = row.member.display_name
        if name[:1] in ("=", "+", "-", "@"):
            name = "'" + name  # keep a spreadsheet from reading a name as a formula
        writer.writerow(
            [
                name,
                row.member.joined_at.isoformat(timespec="seconds"),
                row.trades,
                row.liquidations,
                _csv_text(row.equity, 8),
                _csv_text(row.return_percent, 2),
                *(_csv_text(row.balances.get(currency), 8) for currency in currencies),
                _positions_text(row),
                _csv_text(row.leverage_used, 2),
                *(item.text for item in progress.get(row.member.account_id, [])),
            ]
        )
    return response


def _guesses_key(request: HttpRequest) -> str:
    """Per client address, as the server gives it: the peer, or behind a proxy the
    address daphne takes from X-Forwarded-For when started with --proxy-headers (never
    a header read here, which any client could write)."""
    return f"join-guesses:{request.META.get('REMOTE_ADDR', 'unknown')}"


def _guessed_too_often(request: HttpRequest) -> bool:
    return int(cache.get(_guesses_key(request), 0)) >= JOIN_GUESSES


def _count_wrong_guess(request: HttpRequest) -> None:
    key = _guesses_key(request)
    cache.add(key, 0, timeout=JOIN_GUESS_SECONDS)
    try:
        cache.incr(key)
    except ValueError:  # expired between the two calls
        cache.set(key, 1, timeout=JOIN_GUESS_SECONDS)


@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, code: str = "") -> HttpResponse:
    """Join a room with its code and a display name; a browser that joined goes back in."""
    if request.method == "GET":
        room = Room.objects.filter(code=code.upper()).first() if code else None
        if room is not None:
            mine = room_account(request, room.pk)
            if mine is not None and RoomMember.objects.filter(account=mine, room=room).exists():
                return redirect("desk", account_id=mine.pk, symbol=room.market.symbols[0])
        form = JoinForm(initial={"code": code.upper()})
        return render(request, "classroom/join.html", {"form": form, "room": room})
    form = JoinForm(request.POST)
    error = ""
    if _guessed_too_often(request):
        error = (
            "Too many wrong room codes from this device or network: wait a minute, then try again."
        )
    elif form.is_valid():
        room = Room.objects.filter(code=form.cleaned_data["code"]).first()
        if room is None:
            _count_wrong_guess(request)
            error = "No room has that code. Check it on your teacher's screen."
        else:
            mine = room_account(request, room.pk)
            member = RoomMember.objects.filter(account=mine, room=room).first() if mine else None
            if member is None:
                try:
                    member = services.room_join(room=room, display_name=form.cleaned_data["name"])
                except services.JoinRefused as refusal:
                    error = str(refusal)
            if member is not None:
                response = redirect(
                    "desk", account_id=member.account_id, symbol=room.market.symbols[0]
                )
                remember_room(response, room.pk, member.account)
                return response
    elif "code" in form.errors and form.data.get("code", "").strip():
        _count_wrong_guess(request)  # a code too long to be one is a wrong guess too
    status = 429 if error.startswith("Too many") else 400
    return render(request, "classroom/join.html", {"form": form, "error": error}, status=status)
