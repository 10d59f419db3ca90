"""Narration agrees with the desk: every number a built-in lesson's text states that the
engine or the settings also know is checked against them.

The texts are each step's note, the lesson's summary, its questions and its tasks (prompt,
hints, explanation). The numbers checked, found by what surrounds them:

* a fee ("0.05% taker fee") against the lesson instrument's taker fee, and the desk's own
  when the text says so;
* maintenance and initial margin rates ("maintenance margin is 0.5%", "initial margin is
  2%") against the instrument and the leverage;
* a leverage ("20x") against the leverages the step has (chosen, of a position, effective,
  the instrument's maximum);
* "within N% of the liquidation price" against the position's real distance, and when the
  text speaks of the desk's margin call, against SANDBOX_MARGIN_CALL_PERCENT and
  SANDBOX_MARGIN_DANGER_PERCENT and the level ``margin_alerts`` gives ("urgent": danger);
* "N% below the mark" (a liquidation price's distance) and "N% down" (from the entry);
* liquidation, bankruptcy, avg cost and avg entry prices ("its liquidation price of about
  97.09") against the prices the engine gives around that text: the step before and after
  (and its events); for a task, its start, its solution and its market moves.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from sandbox.engine import BUILT_IN_INSTRUMENTS, Account, Market, account_figures
from sandbox.engine.account import LiquidationEvent
from sandbox.engine.display import read_number
from sandbox.engine.lessons import Lesson, frame, parse_lesson
from sandbox.engine.money import decimal_places, round_half_up
from sandbox.engine.scenario import ScenarioState
from sandbox.engine.tasks import desk_action, play_then, task_start
from sandbox.live.selectors import margin_alerts

FOLDER = Path(__file__).resolve().parents[2] / "scenarios"
NUMBER = r"(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
# The whole number, not a percentage, a leverage, or a difference ("200 above that").
END = r"(?![\d%x]|\.\d| (?:above|below|lower|higher|closer|further|more|less)\b)"


def built_in() -> list[Lesson]:
    found = [parse_lesson(path.read_bytes()) for path in sorted(FOLDER.glob("*.json"))]
    return sorted((x for x in found if x.number is not None), key=lambda x: x.number or 0)


LESSONS = built_in()


@dataclass
class Known:
    """What the engine knows around one text: states (account on market), the step's
    leverage argument, and the events."""

    lesson: Lesson
    states: list[tuple[Account, Market]] = field(default_factory=list)
    leverages: set[Decimal] = field(default_factory=set)
    event_prices: set[Decimal] = field(default_factory=set)
    funding_rates: set[Decimal] = field(default_factory=set)
    whole_lesson: bool = False

    def positions(self) -> Iterator[object]:
        for account, market in self.states:
            yield from account_figures(account, market).positions.values()


@dataclass
class Claim:
    where: str
    text: str
    ok: bool
    why: str


def _value(written: str) -> Decimal:
    return read_number(written)


def _matches(written: str, values: object, *, exactly: bool = False) -> bool:
    """A number written with n decimals matches a value rounded half-up to n, as a
    scenario's ``expect`` does; ``exactly`` (rates, percentages, leverages): the value
    has no more decimals than written, so 1% never stands for 0.5%."""
    wanted = _value(written)
    places = decimal_places(wanted)
    return any(
        isinstance(v, Decimal)
        and round_half_up(v, places) == wanted
        and (not exactly or v == wanted)
        for v in values  # type: ignore[attr-defined]
    )


def _sentence(text: str, start: int) -> str:
    begin = text.rfind(". ", 0, start) + 1
    end = text.find(".", start)
    return text[begin : end if end >= 0 else len(text)]


def check_text(where: str, text: str, known: Known) -> list[Claim]:
    """Every checkable number in ``text``, each a Claim that holds or not."""
    claims: list[Claim] = []
    instruments = [i for s, i in known.lesson.scenario.instruments.items() if s in _symbols(known)]

    def claim(match: re.Match[str], ok: bool, why: str) -> None:
        claims.append(Claim(where, match.group(0), ok, why))

    for m in re.finditer(NUMBER + r"% (?:taker )?fee", text, re.IGNORECASE):
        fees = {i.taker_fee * 100 for i in instruments}
        ok = _matches(m.group(1), fees, exactly=True)
        if "desk" in _sentence(text, m.start()):
            desk = {BUILT_IN_INSTRUMENTS[i.symbol].taker_fee * 100 for i in instruments}
            ok = ok and _matches(m.group(1), desk, exactly=True)
        claim(m, ok, f"the lesson's taker fees are {sorted(fees)}%")
    for m in re.finditer(r"maintenance margin (?:is |of )?" + NUMBER + "%", text, re.IGNORECASE):
        rates = {i.maint_margin_rate * 100 for i in instruments}
        claim(m, _matches(m.group(1), rates, exactly=True), f"maintenance margin {sorted(rates)}%")
    for m in re.finditer(r"[Ff]unding (?:of |at )" + NUMBER + "%", text, re.IGNORECASE):
        rates = {r * 100 for r in known.funding_rates}
        claim(m, _matches(m.group(1), rates, exactly=True), f"funding rates {sorted(rates)}%")
    for m in re.finditer(r"initial margin is " + NUMBER + "%", text, re.IGNORECASE):
        shares = {Decimal(100) / x for x in _leverages(known) if x}
        claim(m, _matches(m.group(1), shares, exactly=True), f"100 / leverage: {sorted(shares)}")
    for m in re.finditer(r"\b" + NUMBER + r"x\b", text, re.IGNORECASE):
        levers = _leverages(known)
        claim(m, _matches(m.group(1), levers, exactly=True), f"leverages {sorted(levers)}")
    for m in re.finditer(
        r"within " + NUMBER + r"% of (?:its |the )?liquidation price", text, re.IGNORECASE
    ):
        claims.append(_within(where, m, text, known))
    for m in re.finditer(NUMBER + r"% below the mark", text, re.IGNORECASE):
        distances = [p.distance_to_liquidation for p in known.positions()]  # type: ignore[attr-defined]
        claim(m, _matches(m.group(1), distances, exactly=True), f"distances {distances}")
    for m in re.finditer(
        r"(?:" + NUMBER + r"% down|[Dd]own " + NUMBER + r"%)", text, re.IGNORECASE
    ):
        falls = [
            (p.avg_entry_price - p.mark_price) / p.avg_entry_price * 100  # type: ignore[attr-defined]
            for p in known.positions()
        ]
        written = m.group(1) or m.group(2)
        claim(m, _matches(written, falls, exactly=True), f"falls from the entry {falls}")
    connector = (
        r"(?:, |,? (?:up to |down to |climbs to |drops to |moves to |becomes |stays at "
        r"|stayed at |of |at |to |is |are |was ))(?:about |only )?"
    )
    figures = {
        "liquidation price": "liquidation_price",
        "bankruptcy price": "bankruptcy_price",
        "avg cost price": "avg_cost_price",
        "avg entry price": "avg_entry_price",
        "avg entry": "avg_entry_price",
    }
    for words, name in figures.items():
        for m in re.finditer(words + connector + NUMBER + END, text, re.IGNORECASE):
            values = [getattr(p, name) for p in known.positions()]
            if name in ("liquidation_price", "bankruptcy_price"):
                values += list(known.event_prices)
            claim(m, _matches(m.group(1), values), f"{name} around here: {sorted(set(values))}")
    return claims


def _symbols(known: Known) -> set[str]:
    return set(known.lesson.scenario.instruments) & {
        s.args.get("symbol", "") for s in known.lesson.scenario.steps
    }


def _leverages(known: Known) -> set[Decimal]:
    found = set(known.leverages)
    for account, market in known.states:
        found.update(s.leverage for s in account.settings.values())
        for p in account_figures(account, market).positions.values():
            found.add(p.leverage)
            if p.effective_leverage is not None:
                found.add(p.effective_leverage)
    found.update(i.max_leverage for i in known.lesson.scenario.instruments.values())
    return found


def _within(where: str, m: re.Match[str], text: str, known: Known) -> Claim:
    percent = _value(m.group(1))
    account, market = known.states[-1]
    figures = account_figures(account, market)
    distances = [p.distance_to_liquidation for p in figures.positions.values()]
    true = any(d is not None and d <= percent for d in distances)
    sentence = _sentence(text, m.start())
    if "margin call" not in sentence:
        return Claim(where, m.group(0), true, f"distances {distances}")
    call = Decimal(settings.SANDBOX_MARGIN_CALL_PERCENT)
    danger = Decimal(settings.SANDBOX_MARGIN_DANGER_PERCENT)
    levels = [alert.level for alert in margin_alerts(figures)]
    if "urgent" in sentence:
        ok = percent == danger and levels == ["danger"]
    else:
        ok = percent == call and bool(levels)
    why = f"the desk warns within {call}% and urgently within {danger}%; here: {levels}"
    return Claim(where, m.group(0), true and ok, why)


def lesson_claims(lesson: Lesson) -> list[Claim]:
    claims: list[Claim] = []
    steps = lesson.scenario.steps
    everything = Known(lesson, whole_lesson=True)
    for index in range(lesson.steps):
        current = frame(lesson, index)
        before = frame(lesson, index - 1) if index else None
        known = Known(lesson)
        for shown in (before, current):
            if shown is not None:
                known.states.append(_state(lesson, shown.index))
        known.states.append(_state(lesson, index))  # the step's own state is the last
        if "leverage" in steps[index].args:
            known.leverages.add(steps[index].args["leverage"])
        if "rate" in steps[index].args:
            known.funding_rates.add(steps[index].args["rate"])
        for event in current.record.events:
            if isinstance(event, LiquidationEvent):
                known.event_prices.update(
                    p for p in (event.liquidation_price, event.bankruptcy_price) if p
                )
        everything.states.append(_state(lesson, index))
        everything.leverages.update(known.leverages)
        where = f"lesson {lesson.number}, step {index}"
        claims += check_text(f"{where} note", steps[index].note, known)
        if index in lesson.questions:
            question = lesson.questions[index]
            text = f"{question.prompt} {question.explanation}"
            imagined = Known(lesson, states=[*known.states], leverages=known.leverages)
            imagined.states.insert(0, _imagined(lesson, index))
            claims += check_text(f"{where} question", text, imagined)
        if index in lesson.tasks:
            claims += check_text(
                f"{where} task", _task_text(lesson, index), _task_known(lesson, index)
            )
    claims += check_text(f"lesson {lesson.number} summary", lesson.summary, everything)
    return claims


def _state(lesson: Lesson, index: int) -> tuple[Account, Market]:
    start = task_start(lesson, index)
    return start.account, start.market


def _imagined(lesson: Lesson, index: int) -> tuple[Account, Market]:
    """The state a question imagines: the lesson through its step, then its ``after``."""
    state = ScenarioState(lesson.scenario.instruments)
    for step in (*lesson.scenario.steps[: index + 1], *lesson.questions[index].after):
        state.apply(step)
    return state.account, state.market


def _task_text(lesson: Lesson, index: int) -> str:
    task = lesson.tasks[index]
    return " ".join([task.prompt, *task.hints, task.explanation])


def _task_known(lesson: Lesson, index: int) -> Known:
    """A task's text speaks of its start, its solution and what the market then does."""
    task, start = lesson.tasks[index], task_start(lesson, index)
    known = Known(lesson, states=[(start.account, start.market)])
    solved = start.account
    for action in task.solution:
        solved = desk_action(solved, start.market, action)
        if "leverage" in action.args:
            known.leverages.add(action.args["leverage"])
    known.funding_rates.update(m.args["rate"] for m in task.then if "rate" in m.args)
    for account in (start.account, solved):
        for tick in play_then(task, account, start.market):
            known.states.insert(0, (tick.account, tick.market))
            for event in tick.events:
                if isinstance(event, LiquidationEvent):
                    known.event_prices.update(
                        p for p in (event.liquidation_price, event.bankruptcy_price) if p
                    )
    known.states.insert(0, (solved, start.market))
    # The start stays last: a "within N%" claim is about the state the learner sees.
    known.states.remove((start.account, start.market))
    known.states.append((start.account, start.market))
    return known


# ---------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("lesson", LESSONS, ids=[f"lesson-{x.number}" for x in LESSONS])
def test_every_number_the_narration_states_agrees_with_the_engine_and_settings(
    lesson: Lesson,
) -> None:
    claims = lesson_claims(lesson)
    wrong = [f"{c.where}: “{c.text}” ({c.why})" for c in claims if not c.ok]
    assert wrong == []
    assert len(claims) >= 3, [c.text for c in claims]


def test_the_checks_cover_the_kinds_of_number_the_lessons_state() -> None:
    claims = [c.text for lesson in LESSONS for c in lesson_claims(lesson)]
    assert len(claims) >= 40
    kinds = {
        "fee": "% taker fee",
        "threshold": "within 5% of the liquidation price",
        "urgent": "within 2% of the liquidation price",
        "leverage": "20x",
        "maintenance": "maintenance margin is 0.5%",
        "liquidation price": "liquidation price of about 97.09",
        "bankruptcy price": "bankruptcy price, 47,500",
        "avg entry": "avg entry becomes 1,200",
    }
    missing = [kind for kind, text in kinds.items() if not any(text in c for c in claims)]
    assert missing == []


def known_at(number: int, index: int) -> Known:
    lesson = LESSONS[number - 1]
    return Known(lesson, states=[_state(lesson, index)])


@pytest.mark.parametrize(
    ("number", "index", "text"),
    [
        (6, 3, "Opening costs a 0.075% taker fee."),  # the 0.075% beside the desk's 0.05%
        (2, 3, "Maintenance margin: maintenance margin is 1% of the value."),
        (2, 3, "A 25x position."),
        (5, 4, "Now within 1% of the liquidation price."),  # not true: it is 1.95% away
        (5, 4, "Within 5% of the liquidation price: the desk's margin call turns urgent."),
        (5, 3, "Now within 5% of the liquidation price, the desk's margin call turns urgent."),
        (5, 3, "Its liquidation price is 47,500."),
        (5, 3, "The liquidation price is only 4% below the mark."),
        (1, 4, "Down 3%."),  # 2.5%
        (1, 4, "Close to its liquidation price of about 97.2."),  # 97.09
        (6, 4, "A stressed market: funding of 2%."),  # the step pays 1%
    ],
)
def test_a_number_that_disagrees_is_found(number: int, index: int, text: str) -> None:
    claims = check_text("test", text, known_at(number, index))
    assert claims and not all(c.ok for c in claims), claims


def test_a_desk_fee_must_be_the_desks_own() -> None:
    # Lesson 6 charges the desk's 0.05%; a lesson whose file said 0.05% while the desk
    # charged otherwise would be found by the same words.
    lesson = LESSONS[5]
    claims = check_text("test", "a 0.05% taker fee, the desk's own", known_at(6, 3))
    assert [c.ok for c in claims] == [True]
    assert lesson.scenario.instruments["XBTUSDT"].taker_fee == (
        BUILT_IN_INSTRUMENTS["XBTUSDT"].taker_fee
    )


@override_settings(SANDBOX_MARGIN_CALL_PERCENT=Decimal(4))
def test_the_margin_call_threshold_comes_from_the_settings() -> None:
    # An operator who warns at 4% makes lesson 5's "within 5%" wrong, and the test says so.
    claims = lesson_claims(LESSONS[4])
    wrong = [c.text for c in claims if not c.ok]
    assert wrong == ["within 5% of the liquidation price"]
