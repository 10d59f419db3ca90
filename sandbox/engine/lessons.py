"""Lessons: scenario files with narration and questions, played one step at a time.

A lesson is a scenario file (``shared/scenarios/FORMAT.md``) with two additions that the
scenario runner ignores, so every lesson is still a valid scenario:

* a top-level ``"lesson"`` object: ``title``, ``summary``, and ``number`` (the order of the
  built-in lessons);
* on any step, a ``"question"``::

      "question": {
        "prompt": "Where will the liquidation price be after adding 200 USDT?",
        "figure": "positions.XBTUSDT.liquidation_price",
        "after": [{"op": "add_margin", "symbol": "XBTUSDT", "amount": "200"}],
        "places": 2,
        "explanation": "Margin added to an isolated position ..."
      }

  ``figure`` names a figure of the step record (``balances.USDT.available_balance``,
  ``positions.ETHUSDT.bankruptcy_price``, ``insurance_fund.XBT``); ``after`` lists steps to
  imagine on top of the state after this step (the lesson itself does not take them). The
  engine computes the answer; a learner's answer is right when it equals the engine's
  figure rounded half-up to ``places`` decimals.
* on any step, a ``"task"``: something the learner does on their own desk, checked by the
  engine (:mod:`.tasks`). ``docs/lessons.md`` describes all three.

Playing a lesson replays its steps through the engine, so every figure the player shows
is the engine's own, at any step, forwards or back.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from . import display
from .instruments import Instrument
from .money import exact, round_half_up
from .scenario import (
    Scenario,
    ScenarioFormatError,
    ScenarioState,
    StatedFigure,
    Step,
    StepRecord,
    _step,
    parse_scenario,
    stated_figures,
    step_lines,
)
from .tasks import Task, parse_tasks

FIGURE_ROOTS = ("balances", "positions", "insurance_fund")
MAX_LESSON_NUMBER = 9999  # the order of the built-in lessons


@dataclass(frozen=True, slots=True)
class Question:
    prompt: str
    figure: str
    after: tuple[Step, ...]
    places: int
    explanation: str


@dataclass(frozen=True, slots=True)
class Lesson:
    title: str
    summary: str
    number: int | None
    scenario: Scenario
    questions: Mapping[int, Question] = field(default_factory=dict)
    tasks: Mapping[int, Task] = field(default_factory=dict)  # see :mod:`.tasks`

    @property
    def steps(self) -> int:
        return len(self.scenario.steps)


def _question(index: int, raw: object, instruments: Mapping[str, Instrument]) -> Question:
    where = f"step {index}, field 'question'"
    if not isinstance(raw, dict):
        raise ScenarioFormatError(f"{where}: expected an object ({{...}})")
    prompt = raw.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ScenarioFormatError(f"{where}.prompt: the question needs its text")
    path = raw.get("figure")
    parts = path.split(".") if isinstance(path, str) else []
    if len(parts) not in (2, 3) or parts[0] not in FIGURE_ROOTS:
        raise ScenarioFormatError(
            f"{where}.figure: name a figure like 'positions.XBTUSDT.liquidation_price' or "
            f"'balances.USDT.available_balance'"
        )
    places = raw.get("places", 2)
    # Range first: int() of a number like 1e999999999 would take minutes.
    if isinstance(places, Decimal) and 0 <= places <= 8 and places == places.to_integral_value():
        places = int(places)
    if not isinstance(places, int) or isinstance(places, bool) or not 0 <= places <= 8:
        raise ScenarioFormatError(f"{where}.places: a whole number of decimals from 0 to 8")
    after_raw = raw.get("after", [])
    if not isinstance(after_raw, list):
        raise ScenarioFormatError(f"{where}.after: expected a list of steps")
    after = []
    for number, item in enumerate(after_raw):
        try:
            after.append(exact(_step)(number, item, instruments))
        except ScenarioFormatError as problem:
            raise ScenarioFormatError(f"{where}.after: {problem.message}") from None
    explanation = raw.get("explanation", "")
    if not isinstance(explanation, str):
        raise ScenarioFormatError(f"{where}.explanation: expected text")
    return Question(prompt.strip(), str(path), tuple(after), places, explanation.strip())


#: A lesson file read once is kept (a lesson is immutable): the player and a task's desk
#: read the same stored file on every request, and checking its tasks runs the lesson
#: through the engine (a second for the largest files). Up to 64 files of up to
#: CACHED_TEXT_BYTES are kept, and the 4 last read of any size.
CACHED_TEXT_BYTES = 256 * 1024


def parse_lesson(text: str | bytes) -> Lesson:
    """Read a lesson; every problem, with its line, in one ScenarioFormatError."""
    if len(text) <= CACHED_TEXT_BYTES:
        return _parse_lesson_cached(text)
    return _parse_large_lesson_cached(text)


@functools.lru_cache(maxsize=64)
def _parse_lesson_cached(text: str | bytes) -> Lesson:
    return _parse_lesson(text)


@functools.lru_cache(maxsize=4)
def _parse_large_lesson_cached(text: str | bytes) -> Lesson:
    return _parse_lesson(text)


def _parse_lesson(text: str | bytes) -> Lesson:
    scenario = parse_scenario(text)
    meta = scenario.extra.get("lesson", {})
    errors: list[str] = []
    if not isinstance(meta, dict):
        raise ScenarioFormatError("field 'lesson': expected an object with a title")
    title = meta.get("title", scenario.name)
    if not isinstance(title, str) or not title.strip():
        errors.append("field 'lesson.title' (or 'name'): the lesson needs a title")
        title = ""
    summary = meta.get("summary", "")
    if not isinstance(summary, str):
        errors.append("field 'lesson.summary': expected text")
        summary = ""
    number = meta.get("number")
    if number is not None:
        if (
            not isinstance(number, Decimal)
            or not 0 <= number <= MAX_LESSON_NUMBER
            or number != number.to_integral_value()
        ):
            errors.append(
                f"field 'lesson.number': expected a whole number from 0 to {MAX_LESSON_NUMBER}"
            )
            number = None
        else:
            number = int(number)
    if not scenario.steps:
        errors.append("field 'steps': a lesson needs at least one step")
    questions: dict[int, Question] = {}
    lines = step_lines(text)
    for step in scenario.steps:
        if "question" in step.extra:
            try:
                questions[step.index] = _question(
                    step.index, step.extra["question"], scenario.instruments
                )
            except ScenarioFormatError as problem:
                where = f"line {lines[step.index]}, " if step.index in lines else ""
                errors.append(where + problem.message)
    tasks: dict[int, Task] = {}
    try:
        tasks = parse_tasks(scenario, text)
    except ScenarioFormatError as problem:
        errors.extend(problem.errors)
    if errors:
        raise ScenarioFormatError(errors[0], errors)
    return Lesson(
        title.strip(),
        summary.strip(),
        number,
        scenario,
        MappingProxyType(questions),
        MappingProxyType(tasks),
    )


@dataclass(frozen=True, slots=True)
class Frame:
    """The lesson after step ``index``: what the player shows."""

    index: int
    step: Step
    record: StepRecord
    stated: tuple[StatedFigure, ...]
    question: Question | None
    task: Task | None
    marks: tuple[tuple[int, str, Decimal], ...]  # (step, symbol, price) so far, for the chart
    notes: tuple[tuple[int, str], ...]  # the narration so far, newest last
    # Until the question is answered: the figure paths that would show its answer, and
    # whether the step's narration states it (see :func:`answer_on_screen`).
    hidden: tuple[str, ...] = ()
    note_states_answer: bool = False

    @property
    def all_agree(self) -> bool:
        return all(figure.agrees for figure in self.stated)


def _replay(lesson: Lesson, upto: int) -> tuple[ScenarioState, list[StepRecord]]:
    state = ScenarioState(lesson.scenario.instruments)
    records = [state.apply(step) for step in lesson.scenario.steps[: upto + 1]]
    return state, records


def frame(lesson: Lesson, index: int) -> Frame:
    """Replay the lesson through the engine up to step ``index`` (0-based)."""
    if not 0 <= index < lesson.steps:
        raise IndexError(f"the lesson has steps 0 to {lesson.steps - 1}")
    _, records = _replay(lesson, index)
    steps = lesson.scenario.steps
    hidden: tuple[str, ...] = ()
    note_states_answer = False
    if index in lesson.questions:
        answer = question_answer(lesson, index)
        question = lesson.questions[index]
        if answer is not None:
            shown = figure_at(records[-1], question.figure)
            if isinstance(shown, Decimal) and round_half_up(shown, question.places) == answer:
                hidden = (question.figure,)
            note_states_answer = states_number(steps[index].note, answer, question.places)
    marks = tuple(
        (s.index, s.args["symbol"], s.args["price"])
        for s, r in zip(steps[: index + 1], records, strict=True)
        if s.op == "mark" and r.ok
    )
    return Frame(
        index=index,
        step=steps[index],
        record=records[-1],
        stated=tuple(stated_figures(steps[index], records[-1])),
        question=lesson.questions.get(index),
        task=lesson.tasks.get(index),
        marks=marks,
        notes=tuple((s.index, s.note) for s in steps[: index + 1] if s.note),
        hidden=hidden,
        note_states_answer=note_states_answer,
    )


_NUMBER_IN_TEXT = re.compile(r"[-\u2212]?\d[\d,]*(?:\.\d+)?")


def numbers_in(text: str) -> list[tuple[str, Decimal]]:
    """Every number written in a text (as the app prints them: 44,250.5), with its value."""
    found = []
    for match in _NUMBER_IN_TEXT.finditer(text):
        written = match.group().rstrip(",")
        try:
            found.append((written, display.read_number(written)))
        except display.NumberTextError:
            continue
    return found


def states_number(text: str, value: Decimal, places: int) -> bool:
    """Whether ``text`` states ``value`` (a number in it rounds to it at ``places``)."""
    return any(round_half_up(n, places) == value for _, n in numbers_in(text))


def question_answer(lesson: Lesson, index: int) -> Decimal | None:
    """The engine's answer to the question of step ``index``, rounded as it is checked."""
    question = lesson.questions[index]
    state, records = _replay(lesson, index)
    record = records[-1]
    for step in question.after:
        record = state.apply(step)
    value = figure_at(record, question.figure)
    return round_half_up(value, question.places) if isinstance(value, Decimal) else None


def answer_on_screen(lesson: Lesson, index: int) -> bool:
    """Whether the step shows the answer to its own question before it is asked: the
    figure asked for is on the screen with the answer's value, or the narration states it.
    The player hides those (:attr:`Frame.hidden`) until the learner has answered."""
    current = frame(lesson, index)
    return bool(current.hidden) or current.note_states_answer


def figure_at(record: StepRecord, path: str) -> Any:
    """The value of a figure path in a record (None when that position is not open)."""
    value: Any = record.values()
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


@dataclass(frozen=True, slots=True)
class Answer:
    correct: bool
    given: Decimal
    expected: Decimal | None
    before: Any  # the figure at this step, before the imagined steps
    worked: str  # the worked answer, in words


def answer_question(lesson: Lesson, index: int, given: Decimal) -> Answer:
    """Check a learner's answer to the question of step ``index`` with the engine."""
    question = lesson.questions[index]
    state, records = _replay(lesson, index)
    before = figure_at(records[-1], question.figure)
    record = records[-1]
    refusal = ""
    for step in question.after:
        record = state.apply(step)
        if not record.ok:
            refusal = record.error
    expected = figure_at(record, question.figure)
    if expected is None or not isinstance(expected, Decimal):
        worked = f"{question.explanation} The engine shows no such figure after that."
        return Answer(False, given, None, before, worked.strip())
    rounded = round_half_up(expected, question.places)
    correct = round_half_up(given, question.places) == rounded
    shown = display.number(rounded, question.places)
    parts = [question.explanation]
    if isinstance(before, Decimal) and question.after:
        parts.append(f"Before: {display.number(before, question.places)}; after: {shown}.")
    else:
        parts.append(f"The engine's figure: {shown}.")
    if refusal:
        parts.append(f"(The engine refused part of it: {refusal})")
    return Answer(correct, given, rounded, before, " ".join(p for p in parts if p))
