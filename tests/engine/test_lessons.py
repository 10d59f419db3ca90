"""Lesson files (sandbox/engine/lessons.py): the numbers of a lesson's own fields."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.engine.lessons import parse_lesson
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
