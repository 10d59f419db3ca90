"""Running a classroom: creating rooms, joining them, and the conductor's actions.

Every conductor action changes the room's market and tells every screen at once; moves
that take effect on the next tick (a nudge, a crash, a gap, a scripted path) say so.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from sandbox import engine
from sandbox.desk import board_version, broadcast
from sandbox.desk import services as desk_services
from sandbox.desk.models import Instrument, Market, MarkPrice
from sandbox.engine.lessons import parse_lesson
from sandbox.engine.pricepath import crash_moves, path_moves
from sandbox.lessons.models import Lesson
from sandbox.live import services as live_services
from sandbox.live.services import ControlError

from .models import Room, RoomLesson, RoomMember
from .names import NameRefused, clean_display_name, name_key


class JoinRefused(ValueError):
    """A join the room cannot take; the message says what to do."""


def _balances(room: Room) -> dict[str, Decimal]:
    return {currency: Decimal(amount) for currency, amount in room.starting_balances.items()}


@transaction.atomic
def room_create(
    *,
    teacher: User,
    name: str,
    symbols: list[str],
    balances: dict[str, Decimal],
    max_leverage: Decimal,
    fees: bool,
    funding: bool,
    leaderboard: bool,
) -> Room:
    """A room with its own market, paused until the teacher presses play."""
    market = Market.objects.create(
        name=f"Classroom: {name}",
        kind=Market.Kind.ROOM,
        running=False,
        symbols=symbols,
        fees_enabled=fees,
        funding_enabled=funding,
        max_leverage_cap=max_leverage,
    )
    starting: dict[str, Decimal] = settings.SANDBOX_STARTING_MARKS
    for instrument in Instrument.objects.filter(symbol__in=symbols):
        MarkPrice.objects.create(
            market=market, instrument=instrument, price=starting[instrument.symbol]
        )
    return Room.objects.create(
        teacher=teacher,
        name=name,
        market=market,
        starting_balances={c: format(a, "f") for c, a in balances.items()},
        leaderboard_visible=leaderboard,
    )


def room_join(*, room: Room, display_name: str) -> RoomMember:
    """A learner joins with a name only: a fresh account in the room, with its balances.

    Names are unique in a room as their keys (see ``names.name_key``): 'ａｄａ' is 'Ada'."""
    try:
        name = clean_display_name(display_name)
    except NameRefused as refusal:
        raise JoinRefused(str(refusal)) from None
    key = name_key(name)
    taken = RoomMember.objects.filter(room=room, name_key=key).values_list("display_name")
    if (existing := taken.first()) is not None:
        raise JoinRefused(
            f"Someone in this room is already called {existing[0]}: choose another name."
        )
    try:
        with transaction.atomic():
            account = desk_services.account_create(market=room.market, balances=_balances(room))
            member = RoomMember.objects.create(
                room=room, account=account, display_name=name, name_key=key
            )
            market_id = room.market_id
            transaction.on_commit(lambda: desk_services.room_changed(market_id))
            return member
    except IntegrityError:
        raise JoinRefused(
            f"Someone in this room is already called {name}: choose another name."
        ) from None


# --------------------------------------------------------------------------- conductor


def _changed(room: Room, *, ledger: bool = False) -> None:
    """Every screen of the room redraws with the teacher's change (once committed); the
    class is ranked again first. ``ledger``: the change wrote every learner's ledger (a
    reset), so their desks redraw whole; otherwise the market's line and the panel."""
    market = Market.objects.get(pk=room.market_id)

    def tell() -> None:
        board_version.bump(market.pk)
        broadcast.market_changed(market.pk, market.sequence, ledger=ledger, room=True)

    transaction.on_commit(tell)


def room_play(*, room: Room, running: bool) -> None:
    live_services.market_run(market=room.market, running=running)
    _changed(room)


def room_speed(*, room: Room, speed: int) -> None:
    live_services.market_speed(market=room.market, speed=speed)
    _changed(room)


def room_volatility(*, room: Room, volatility: Decimal) -> None:
    if not Decimal(0) <= volatility <= Decimal(5):
        raise ControlError("Volatility must be from 0 to 5 (500% a year).")
    Market.objects.filter(pk=room.market_id).update(volatility=volatility)
    _changed(room)


def _symbol(room: Room, symbol: str) -> str:
    if symbol not in (room.market.symbols or []):
        raise ControlError(f"{symbol or 'That instrument'} is not traded in this room.")
    return symbol


def room_move(*, room: Room, symbol: str, percent: Decimal) -> None:
    """A nudge or a gap: the next tick moves the price by ``percent`` at once."""
    live_services.market_gap(market=room.market, symbol=_symbol(room, symbol), percent=percent)
    _changed(room)


def room_crash(*, room: Room, symbol: str, percent: Decimal, ticks: int) -> None:
    """A fall of ``percent`` spread over ``ticks`` ticks, compounding to exactly that."""
    if not Decimal(1) <= percent <= Decimal(90):
        raise ControlError("A crash must be a fall of 1% to 90%.")
    if not 1 <= ticks <= 120:
        raise ControlError("Spread the crash over 1 to 120 ticks.")
    moves = [format(m, "f") for m in crash_moves(percent, ticks)]
    live_services.market_script(market=room.market, symbol=_symbol(room, symbol), moves=moves)
    _changed(room)


def room_set_price(*, room: Room, symbol: str, price: Decimal) -> None:
    """Set the price now (no waiting for the next tick), liquidating whatever it crosses."""
    desk_services.market_mark_set(market=room.market, symbol=_symbol(room, symbol), price=price)
    market_id = room.market_id
    transaction.on_commit(lambda: desk_services.room_changed(market_id))


def room_script_lesson(*, room: Room, symbol: str, lesson_source: str) -> int:
    """Replay the shape of a lesson's price path on ``symbol``: the lesson's moves, as
    percentages, from the room's current price, one a tick. Returns the number of ticks."""
    lesson = parse_lesson(lesson_source)
    prices: dict[str, list[Decimal]] = {}
    for step in lesson.scenario.steps:
        if step.op == "mark":
            prices.setdefault(step.args["symbol"], []).append(step.args["price"])
    if not prices:
        raise ControlError("That lesson has no price moves to replay.")
    path = max(prices.values(), key=len)
    moves = [format(m, "f") for m in path_moves(path)]
    if not moves:
        raise ControlError("That lesson's price never moves.")
    live_services.market_script(market=room.market, symbol=_symbol(room, symbol), moves=moves)
    _changed(room)
    return len(moves)


def room_trading(*, room: Room, open_: bool) -> None:
    Market.objects.filter(pk=room.market_id).update(trading_open=open_)
    _changed(room)


def room_closed_mode(*, room: Room, reduce_only: bool) -> None:
    """What closing trading does: reduce-only (learners may still close or reduce their
    positions, as on an exchange) or freeze everything."""
    Market.objects.filter(pk=room.market_id).update(closed_reduce_only=reduce_only)
    _changed(room)


def room_assign(*, room: Room, lesson: Lesson) -> bool:
    """Assign a lesson to the room's learners; False if it already was."""
    _, made = RoomLesson.objects.get_or_create(room=room, lesson=lesson)
    if made:
        _changed(room)
    return made


def room_unassign(*, room: Room, lesson: Lesson) -> bool:
    """Take a lesson off the room's list (what learners did in it is kept); False if it
    was not assigned."""
    removed, _ = RoomLesson.objects.filter(room=room, lesson=lesson).delete()
    if removed:
        _changed(room)
    return bool(removed)


def room_leaderboard(*, room: Room, visible: bool) -> None:
    Room.objects.filter(pk=room.pk).update(leaderboard_visible=visible)
    _changed(room)


def room_reset(*, room: Room) -> int:
    """Every learner back to the room's starting balances (recorded in each ledger)."""
    count = 0
    with transaction.atomic():
        for member in RoomMember.objects.filter(room=room).select_related("account__market"):
            desk_services.account_reset(
                account=member.account, balances=_balances(room), by_teacher=True
            )
            count += 1
        _changed(room, ledger=True)
    return count


def engine_rejection(error: engine.Rejected) -> ControlError:
    return ControlError(error.message)
