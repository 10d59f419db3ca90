"""Lesson files (sandbox/engine/lessons.py): the numbers of a lesson's own fields."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from sandbox.engine.lessons import (
    answer_on_screen,
    frame,
    numbers_in,
    parse_lesson,
    question_answer,
    states_number,
)
from sandbox.engine.scenario import ScenarioFormatError


def lesson(number: str = "1", places: str = "2") -> str:
    """A one-step lesson whose number and question places are written as JSON numerals."""
    data: dict[str, Any] = {
        "name": "x",
        "lesson": {"title": "Numbers", "number": "@number"},
        "steps": [
            {
                "op": "deposit",
                "currency": "USDT",
                "amount": "100",
                "question": {
                    "prompt": "How much is available?",
                    "figure": "balances.USDT.available_balance",
                    "places": "@places",
                },
            }
        ],
    }
    text = json.dumps(data)
    return text.replace('"@number"', number).replace('"@places"', places)


def test_a_lesson_number_and_places_within_range_are_read() -> None:
    parsed = parse_lesson(lesson("7", "8"))
    assert parsed.number == 7
    assert parsed.questions[0].places == 8


@pytest.mark.parametrize("places", ["1e999999999", "9", "-1", "2.5", '"2"'])
def test_question_places_out_of_range_are_refused_without_building_the_number(
    places: str,
) -> None:
    # int() of 1e999999999 would take minutes and gigabytes: the range is checked first.
    with pytest.raises(ScenarioFormatError) as info:
        parse_lesson(lesson(places=places))
    assert "step 0, field 'question'.places: a whole number of decimals from 0 to 8" in (
        info.value.message
    )


@pytest.mark.parametrize("number", ["1e999999999", "10000", "-1", "1.5", '"one"'])
def test_lesson_numbers_out_of_range_are_refused_without_building_the_number(
    number: str,
) -> None:
    with pytest.raises(ScenarioFormatError) as info:
        parse_lesson(lesson(number=number))
    assert info.value.message == "field 'lesson.number': expected a whole number from 0 to 9999"


def test_a_lesson_file_has_the_scenario_number_limits() -> None:
    # A teacher's upload is read by parse_lesson: the same limits, the same message.
    source = lesson().replace('"amount": "100"', '"amount": 1e99999999999999999999')
    with pytest.raises(ScenarioFormatError) as info:
        parse_lesson(source)
    assert info.value.message == (
        "line 1, step 0 (deposit), field 'amount': 1e99999999999999999999 is too large: "
        "numbers in a scenario file must be below 10^31 and have at most 30 decimal places"
    )


# ------------------------------------------------------------- questions asked before shown


def question_lesson(note: str, after: list[dict[str, Any]] | None = None) -> str:
    """A lesson whose step 1 opens a 10x isolated long and asks for its liquidation price."""
    question: dict[str, Any] = {
        "prompt": "Where is the liquidation price?",
        "figure": "positions.XBTUSDT.liquidation_price",
        "places": 0,
    }
    if after is not None:
        question["after"] = after
    data = {
        "name": "x",
        "lesson": {"title": "Asked first"},
        "steps": [
            {"op": "deposit", "currency": "USDT", "amount": "10000"},
            {"op": "mark", "symbol": "XBTUSDT", "price": "50000"},
            {"op": "leverage", "symbol": "XBTUSDT", "mode": "isolated", "leverage": "10"},
            {"op": "order", "symbol": "XBTUSDT", "side": "buy", "qty": "0.2", "note": note},
        ],
    }
    data["steps"][3]["question"] = question
    return json.dumps(data)


def test_a_figure_on_screen_that_answers_the_question_is_hidden() -> None:
    parsed = parse_lesson(question_lesson("A 10x long."))
    assert question_answer(parsed, 3) == 45250
    current = frame(parsed, 3)
    assert current.hidden == ("positions.XBTUSDT.liquidation_price",)
    assert not current.note_states_answer
    assert answer_on_screen(parsed, 3)


def test_a_question_about_what_comes_next_hides_nothing() -> None:
    after = [{"op": "add_margin", "symbol": "XBTUSDT", "amount": "200"}]
    parsed = parse_lesson(question_lesson("A 10x long.", after))
    assert question_answer(parsed, 3) == 44250
    assert frame(parsed, 3).hidden == ()
    assert not answer_on_screen(parsed, 3)


@pytest.mark.parametrize(
    ("note", "states"),
    [
        ("With 200 more it would be 44,250.", True),
        ("With 200 more it would be 44250.", True),
        ("With 200 more, about 44,249.6.", True),  # rounds to the answer at 0 places
        ("Its liquidation price is 45,250 now.", False),  # today's figure, not the answer
        ("Worth 10,000 USDT, with 1,000 set aside.", False),
    ],
)
def test_a_note_that_states_the_answer_is_found(note: str, states: bool) -> None:
    after = [{"op": "add_margin", "symbol": "XBTUSDT", "amount": "200"}]
    parsed = parse_lesson(question_lesson(note, after))
    assert frame(parsed, 3).note_states_answer is states
    assert answer_on_screen(parsed, 3) is states


def test_numbers_in_a_text_are_read_as_the_app_prints_them() -> None:
    found = numbers_in("From 48,100 to 46,000, then 52000; 4.5% and −3.5, (1,250 × 0.04).")
    assert [value for _, value in found] == [
        Decimal(48100),
        Decimal(46000),
        Decimal(52000),
        Decimal("4.5"),
        Decimal("-3.5"),
        Decimal(1250),
        Decimal("0.04"),
    ]
    assert states_number("liquidated at 47,750.", Decimal(47750), 0)
    assert not states_number("liquidated at 47,750.", Decimal(47751), 0)
