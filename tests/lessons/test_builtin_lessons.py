"""Every built-in lesson runs from start to end through the engine, and every figure it
states agrees with the engine: the same check the player shows beside each figure."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from sandbox.engine.lessons import Lesson, answer_question, frame, parse_lesson
from sandbox.engine.scenario import run_scenario

FOLDER = Path(__file__).resolve().parents[2] / "scenarios"


def built_in() -> list[Lesson]:
    found = []
    for path in sorted(FOLDER.glob("*.json")):
        lesson = parse_lesson(path.read_bytes())
        if lesson.number is not None:
            found.append(lesson)
    return sorted(found, key=lambda lesson: lesson.number or 0)


LESSONS = built_in()


def test_the_seven_built_in_lessons() -> None:
    assert [lesson.number for lesson in LESSONS] == [1, 2, 3, 4, 5, 6, 7]
    assert [lesson.title for lesson in LESSONS] == [
        "Isolated versus cross margin",
        "The leverage slider and adding margin",
        "Profit realisation: avg cost price and avg entry price",
        "Cross margin shares everything, including realised profit",
        "20x: a 5% fall, a margin call, a gap, and no way back",
        "Fees and funding, slowly",
        "A stop-loss, and what it saves",
    ]


@pytest.mark.parametrize("lesson", LESSONS, ids=[f"lesson-{x.number}" for x in LESSONS])
def test_every_stated_figure_agrees_at_every_step(lesson: Lesson) -> None:
    checked = 0
    for index in range(lesson.steps):
        current = frame(lesson, index)
        disagreeing = [f.path for f in current.stated if not f.agrees]
        assert disagreeing == [], f"step {index + 1}: {disagreeing}"
        checked += len(current.stated)
    assert checked >= 5
    assert run_scenario(lesson.scenario).mismatches == ()
    assert all(step.note for step in lesson.scenario.steps if step.op in ("order", "close"))


@pytest.mark.parametrize("lesson", LESSONS, ids=[f"lesson-{x.number}" for x in LESSONS])
def test_every_question_has_an_engine_answer(lesson: Lesson) -> None:
    assert lesson.questions, "each built-in lesson asks at least one question"
    for index in lesson.questions:
        wrong = answer_question(lesson, index, Decimal("-1"))
        assert not wrong.correct and wrong.expected is not None
        right = answer_question(lesson, index, wrong.expected)
        assert right.correct
        assert right.worked


@pytest.mark.parametrize(
    ("number", "step", "answer"),
    [
        (1, 3, Decimal(4)),  # an isolated position can lose its position margin
        (1, 9, Decimal("50.25")),  # 10,000 / 199
        (2, 3, Decimal(44250)),  # 200 USDT more margin
        (3, 3, Decimal(510)),  # realisation does not move the liquidation price
        (3, 9, Decimal(16420)),  # Karen's final available balance
        (4, 10, Decimal(21600)),  # Bryan's long after the ETH rally
        (5, 3, Decimal(47500)),  # 5% down at 20x
        (6, 4, Decimal(46750)),  # two more funding payments
        (7, 8, Decimal(850)),  # liquidated without a stop
    ],
)
def test_the_answers_are_the_documents_figures(number: int, step: int, answer: Decimal) -> None:
    lesson = LESSONS[number - 1]
    result = answer_question(lesson, step, answer)
    assert result.correct, result


def test_isolated_versus_cross_tells_both_stories() -> None:
    lesson = LESSONS[0]
    isolated_end = frame(lesson, 5).record
    assert "XBTUSD" not in isolated_end.figures.positions
    assert isolated_end.figures.balances["XBT"].wallet_balance == 96
    cross_end = frame(lesson, lesson.steps - 1).record
    position = cross_end.figures.positions["XBTUSD"]
    assert round(position.unrealised_pnl, 2) == Decimal("-6.38")
