"""Words for lesson steps and stated figures."""

from __future__ import annotations

from decimal import Decimal

from django import template

from sandbox.desk.templatetags.figures import figure, price
from sandbox.engine import display
from sandbox.engine.money import decimal_places, round_half_up
from sandbox.engine.scenario import StatedFigure, Step

register = template.Library()

# The engine's words, but a quantity and an avg cost price as the source documents say them.
FIGURE_NAMES = {
    **display.FIGURE_NAMES,
    "qty": "quantity",
    "avg_cost_price": "avg cost price (entry price)",
}


@register.filter
def figure_label(path: str) -> str:
    parts = path.split(".")
    if parts[0] in ("balances", "positions") and len(parts) == 3:
        return f"{parts[1]} {FIGURE_NAMES.get(parts[2], parts[2])}"
    if parts[0] == "positions" and len(parts) == 2:
        return f"{parts[1]} position"
    if parts[0] == "insurance_fund":
        return f"{parts[1]} insurance fund"
    return {"ok": "step accepted", "events": "event", "error": "refusal"}.get(parts[0], path)


def _shown(value: object, places: int | None) -> str:
    if isinstance(value, Decimal):
        return figure(round_half_up(value, places) if places is not None else value)
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return "none" if value is None else str(value)


@register.filter
def stated(item: StatedFigure) -> str:
    return _shown(item.expected, None)


@register.filter
def engine_shows(item: StatedFigure) -> str:
    """The engine's figure, rounded as the stated one is written."""
    places = decimal_places(item.expected) if isinstance(item.expected, Decimal) else None
    return _shown(item.actual, places)


@register.filter
def describe_step(step: Step) -> str:
    a = step.args
    if step.op == "deposit":
        return f"Deposit {display.money(a['amount'], a['currency'])} {a['currency']}."
    if step.op == "mark":
        return f"The mark price of {a['symbol']} moves to {price(a['price'], a['symbol'])}."
    if step.op == "leverage":
        if a["mode"].value == "cross":
            return f"{a['symbol']}: cross margin" + (
                f" at {display.leverage(a['leverage'])}." if "leverage" in a else "."
            )
        return f"{a['symbol']}: isolated margin at {display.leverage(a['leverage'])}."
    if step.op == "order":
        verb = "Buy" if a["side"].value == "buy" else "Sell"
        return f"{verb} {display.qty(a['qty'])} {a['symbol']} at the mark."
    if step.op == "close":
        return f"Close the {a['symbol']} position at the mark."
    if step.op == "add_margin":
        amount = a["amount"]
        if amount >= 0:
            return f"Add {display.number(amount)} of margin to the {a['symbol']} position."
        return f"Remove {display.number(-amount)} of margin from the {a['symbol']} position."
    if step.op == "realise":
        return "Profit realisation: cross positions in profit move it into the wallet."
    return f"Funding on {a['symbol']} at {display.percent(a['rate'] * 100, 8)}."
