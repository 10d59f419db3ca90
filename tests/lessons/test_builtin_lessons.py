"""Every built-in lesson runs from start to end through the engine, and every figure it
states agrees with the engine: the same check the player shows beside each figure."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from sandbox.engine import Market, account_figures
from sandbox.engine.lessons import (
    Lesson,
    answer_on_screen,
    answer_question,
    frame,
    parse_lesson,
    question_answer,
)
from sandbox.engine.scenario import run_scenario
from sandbox.engine.tasks import desk_action, play_then, task_check, task_start

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
        (4, 9, Decimal(21600)),  # Bryan's long after the ETH rally
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


def test_no_question_is_answered_on_its_own_step_but_by_what_the_player_hides() -> None:
    # The figure a question asks for is hidden until the learner answers, and no step's
    # narration states the answer to its own question.
    hidden = {}
    for lesson in LESSONS:
        for index in lesson.questions:
            current = frame(lesson, index)
            assert not current.note_states_answer, (lesson.number, index, current.step.note)
            if current.hidden:
                hidden[(lesson.number, index)] = current.hidden
            assert answer_on_screen(lesson, index) == bool(current.hidden)
    assert hidden == {
        (1, 3): ("positions.XBTUSD.position_margin",),
        (1, 9): ("positions.XBTUSD.liquidation_price",),
        (3, 3): ("positions.ETHUSDT.liquidation_price",),
        (5, 3): ("positions.XBTUSDT.bankruptcy_price",),
    }


def test_bryans_question_comes_before_the_rally_that_answers_it() -> None:
    bryan = LESSONS[3]
    assert list(bryan.questions) == [9]
    assert question_answer(bryan, 9) == 21600
    before = frame(bryan, 9).record.figures.positions["XBTUSDT"]
    assert before.liquidation_price == 13600  # what the screen shows while it is asked


# ---------------------------------------------------------------------------------- tasks


@pytest.mark.parametrize("lesson", LESSONS, ids=[f"lesson-{x.number}" for x in LESSONS])
def test_every_lesson_has_a_task_solvable_by_its_solution_and_not_solved_at_its_start(
    lesson: Lesson,
) -> None:
    assert lesson.tasks, "each built-in lesson teaches by doing at least once"
    for index, task in lesson.tasks.items():
        assert 2 <= len(task.hints) <= 3 and task.explanation and task.then
        start = task_start(lesson, index)
        assert not task_check(task, start.account, start.market).done
        account = start.account
        for action in task.solution:
            account = desk_action(account, start.market, action)
        assert task_check(task, account, start.market).done


def outcome(lesson: Lesson, *, solved: bool) -> tuple[list[str], object]:
    """The events the task's market moves bring, and the final account: from the task's
    start as it is, or after its solution."""
    (index,) = lesson.tasks
    task, start = lesson.tasks[index], task_start(lesson, index)
    account = start.account
    if solved:
        for action in task.solution:
            account = desk_action(account, start.market, action)
    ticks = play_then(task, account, start.market)
    events = [f"{e.type} {e.symbol}" for tick in ticks for e in tick.events]
    return events, ticks[-1].account


@pytest.mark.parametrize(
    ("number", "untouched", "solved"),
    [
        (1, ["liquidation XBTUSD"], []),
        (2, ["liquidation XBTUSDT"], []),
        (3, ["profit_realised ETHUSDT"], ["profit_realised ETHUSDT"]),
        (4, ["liquidation XBTUSDT", "liquidation ETHUSDT"], ["liquidation ETHUSDT"]),
        (5, ["liquidation XBTUSDT"], []),
        (6, ["funding XBTUSDT"] * 4 + ["liquidation XBTUSDT"], ["funding XBTUSDT"] * 4),
        (7, ["liquidation XBTUSDT"], ["order_triggered XBTUSDT"]),
    ],
)
def test_the_market_after_each_task_shows_what_the_learners_action_changed(
    number: int, untouched: list[str], solved: list[str]
) -> None:
    lesson = LESSONS[number - 1]
    assert outcome(lesson, solved=False)[0] == untouched
    assert outcome(lesson, solved=True)[0] == solved


def test_the_consequences_the_explanations_state() -> None:
    # Lesson 1: open at 94 under cross, about 6.38 XBT under water.
    _, account = outcome(LESSONS[0], solved=True)
    start = task_start(LESSONS[0], 4)
    at_94 = Market(start.market.instruments, {"XBTUSD": Decimal(94)})
    pnl = account_figures(account, at_94).positions["XBTUSD"].unrealised_pnl  # type: ignore[arg-type]
    assert round(pnl, 2) == Decimal("-6.38")
    # Karen: the whole 2,000 ends in the wallet either way.
    for solved in (False, True):
        _, karen = outcome(LESSONS[2], solved=solved)
        assert karen.wallets["USDT"] == 12000  # type: ignore[attr-defined]
    # Bryan: untouched, the wallet ends at 0.
    _, bryan = outcome(LESSONS[3], solved=False)
    assert bryan.wallets["USDT"] == 0  # type: ignore[attr-defined]
    # Lesson 7: the stop at 49,250 fires at 49,250 and loses 30 USDT, not 100.
    _, stopped = outcome(LESSONS[6], solved=True)
    assert stopped.wallets["USDT"] == 970  # type: ignore[attr-defined]
    _, liquidated = outcome(LESSONS[6], solved=False)
    assert liquidated.wallets["USDT"] == 900  # type: ignore[attr-defined]
