"""The fragments a learner's desk receives over the websocket, rendered with the same
partials the pages use (a figure is formatted in exactly one place)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string

from sandbox.classroom.models import RoomMember
from sandbox.classroom.selectors import leaderboard, learner_rows
from sandbox.desk.models import Instrument, PaperAccount
from sandbox.desk.selectors import (
    account_state,
    market_instruments,
    recent_fills,
    recent_ledger,
)

from .selectors import margin_alerts, open_liquidations, price_chart
from .services import SPEEDS

GAP_CHOICES = ("-20", "-10", "-5", "5", "10", "20")


def live_context(account: PaperAccount, symbol: str, *, with_board: bool = True) -> dict[str, Any]:
    """Everything the live partials need, for one account and the instrument it views.

    In a classroom, ``with_board`` also ranks the class for the leaderboard (when the
    teacher shows it to learners).
    """
    account.market.refresh_from_db()
    state = account_state(account)
    member = RoomMember.objects.filter(account=account).select_related("room").first()
    ranking = None
    if member is not None and with_board and member.room.leaderboard_visible:
        ranking = leaderboard(learner_rows(member.room))
    instrument = Instrument.objects.get(symbol=symbol)
    position = state.figures.positions.get(symbol)
    return {
        "account": account,
        "market": account.market,
        "instrument": instrument,
        "inst": state.market.instrument(symbol),
        "instruments": [
            (row, state.market.marks.get(row.symbol)) for row in market_instruments(account.market)
        ],
        "mark": state.market.marks.get(symbol),
        "balances": list(state.figures.balances.values()),
        "positions": list(state.figures.positions.values()),
        "position": position,
        "alerts": margin_alerts(state.figures),
        "liquidations": open_liquidations(account),
        "chart": price_chart(account.market, account, symbol, position),
        "notice": None,
        "state": state,
        "figures": state.figures,
        "speeds": SPEEDS,
        "gaps": GAP_CHOICES,
        "member": member,
        "ranking": ranking,
    }


@dataclass
class Seen:
    """What a connection last showed, so live regions only change when their news does."""

    alerts: tuple[str, ...] | None = None
    liquidations: tuple[int, ...] | None = None


LIVE_PARTS = (
    "live/live.html#status",
    "desk/desk.html#picker",
    "desk/desk.html#mark_display",
    "desk/desk.html#ticket_mark",
)
FIGURE_PARTS = ("desk/desk.html#balances", "desk/desk.html#positions", "live/live.html#chart")


def render_update(
    account_id: int,
    symbol: str,
    seen: Seen,
    *,
    snapshot: bool,
    history: bool = False,
    room: bool = False,
) -> str:
    """The fragments for one push. ``history`` adds fills and ledger (after a liquidation,
    a realisation or funding); alerts and notices go only when they changed."""
    account = PaperAccount.objects.select_related("market").get(pk=account_id)
    # A classroom's leaderboard is ranked on connect and every fifth tick, not on every one.
    # A teacher's action (``room``) redraws it at once.
    with_board = snapshot or history or room or account.market.sequence % 5 == 0
    context = live_context(account, symbol, with_board=with_board)
    parts = [*LIVE_PARTS, *FIGURE_PARTS]
    if context["member"] is not None and with_board:
        parts.append("desk/desk.html#room")
    if snapshot or history:
        parts.append("desk/desk.html#history")
        context["fills"] = recent_fills(account)
        context["ledger"] = recent_ledger(account)
    alerts = tuple(a.key for a in context["alerts"])
    if snapshot or alerts != seen.alerts:
        parts.append("live/live.html#alerts")
        seen.alerts = alerts
    liquidations = tuple(r.pk for r in context["liquidations"])
    if snapshot or liquidations != seen.liquidations:
        parts.append("live/live.html#liquidations")
        seen.liquidations = liquidations
    context["parts"] = [(name, True) for name in parts]
    return render_to_string("desk/sections.html", context)
