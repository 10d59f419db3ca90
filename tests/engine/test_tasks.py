"""Lesson tasks (sandbox/engine/tasks.py): the start state, the engine's check of each goal
against a real account, and the refusal of task files that are malformed, unsolvable by
their own solution, or solved before the learner does anything."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from sandbox.engine import (
    BUILT_IN_INSTRUMENTS,
    Account,
    MarginMode,
    Market,
    Side,
    place_order,
    set_leverage,
)
from sandbox.engine.lessons import Lesson, frame, parse_lesson
from sandbox.engine.scenario import ScenarioFormatError, Step
from sandbox.engine.tasks import (
    Goal,
    Task,
    desk_action,
    goal_result,
    parse_tasks,
    play_then,
    task_check,
    task_start,
    task_then,
)

D = Decimal

STEPS: list[dict[str, Any]] = [
    {"op": "deposit", "currency": "USDT", "amount": "10000"},
    {"op": "mark", "symbol": "XBTUSDT", "price": "50000"},
    {"op": "leverage", "symbol": "XBTUSDT", "mode": "isolated", "leverage": "10"},
    {"op": "order", "symbol": "XBTUSDT", "side": "buy", "qty": "0.2", "note": "0.2 XBT."},
]
INSTRUMENTS = {
    "XBTUSDT": {
        "kind": "linear",
        "settle": "USDT",
        "maint_margin_rate": "0.005",
        "max_leverage": "100",
        "taker_fee": "0",
        "qty_step": "0.001",
        "tick_size": "0.5",
    }
}
MARGIN_TASK: dict[str, Any] = {
    "prompt": "Add margin until your liquidation price is below 44,500.",
    "goals": [{"figure": "positions.XBTUSDT.liquidation_price", "below": "44500"}],
    "hints": ["Open the position's Margin dialog.", "Each 100 USDT moves it 500."],
    "solution": [{"op": "add_margin", "symbol": "XBTUSDT", "amount": "200"}],
    "then": [{"symbol": "XBTUSDT", "price": "46000"}, {"symbol": "XBTUSDT", "price": "44600"}],
    "explanation": "The fall to 44,600 passed your old liquidation price, 45,250.",
}


def lesson_text(task: Any = MARGIN_TASK, *, at: int = 3, indent: int | None = 1) -> str:
    steps = json.loads(json.dumps(STEPS))
    steps[at]["task"] = task
    data = {"name": "Tasks", "lesson": {"title": "Tasks"}, "instruments": INSTRUMENTS}
    data["steps"] = steps
    return json.dumps(data, indent=indent)


def a_lesson(task: Any = MARGIN_TASK) -> Lesson:
    return parse_lesson(lesson_text(task))


def refusal(task: Any, **kwargs: Any) -> str:
    with pytest.raises(ScenarioFormatError) as info:
        parse_lesson(lesson_text(task, **kwargs))
    return info.value.message


def with_task(**changes: Any) -> dict[str, Any]:
    task = json.loads(json.dumps(MARGIN_TASK))
    task.update(changes)
    return task


# ------------------------------------------------------------------ start, check, then


def test_a_task_is_read_with_its_step() -> None:
    lesson = a_lesson()
    task = lesson.tasks[3]
    assert task.prompt == "Add margin until your liquidation price is below 44,500."
    assert task.goals == (Goal("positions.XBTUSDT.liquidation_price", "below", D("44500")),)
    assert task.hints == ("Open the position's Margin dialog.", "Each 100 USDT moves it 500.")
    assert task.symbol == "XBTUSDT"
    assert frame(lesson, 3).task is task
    assert frame(lesson, 2).task is None


def test_the_start_is_the_lesson_after_the_step() -> None:
    start = task_start(a_lesson(), 3)
    assert start.account.wallets == {"USDT": D("10000")}
    position = start.account.positions["XBTUSDT"]
    assert (position.qty, position.mode, position.leverage) == (D("0.2"), MarginMode.ISOLATED, 10)
    assert position.position_margin == 1000
    assert start.account.settings["XBTUSDT"].leverage == 10
    assert start.market.marks == {"XBTUSDT": D("50000")}
    assert start.instruments["XBTUSDT"].taker_fee == 0
    assert start.instruments["XBTUSDT"].tick_size == D("0.5")
    with pytest.raises(IndexError):
        task_start(a_lesson(), 4)


def test_the_check_says_what_is_missing_then_that_it_is_done() -> None:
    lesson = a_lesson()
    task, start = lesson.tasks[3], task_start(lesson, 3)
    before = task_check(task, start.account, start.market)
    assert not before.done
    (goal,) = before.goals
    assert goal.label == "XBTUSDT liquidation price below 44,500"
    assert goal.now_text == "45,250"
    assert before.missing == (
        "Your XBTUSDT liquidation price is 45,250; the goal is below 44,500.",
    )
    add_100 = Step(0, "add_margin", {"symbol": "XBTUSDT", "amount": D("100")})
    too_little = desk_action(start.account, start.market, add_100)
    halfway = task_check(task, too_little, start.market)
    assert halfway.missing == (
        "Your XBTUSDT liquidation price is 44,750; the goal is below 44,500.",
    )
    enough = desk_action(start.account, start.market, task.solution[0])
    after = task_check(task, enough, start.market)
    assert after.done and after.missing == ()
    assert after.goals[0].now_text == "44,250"


def test_the_then_moves_liquidate_the_start_but_not_the_solution() -> None:
    lesson = a_lesson()
    task, start = lesson.tasks[3], task_start(lesson, 3)
    assert [(m.op, m.args["price"]) for m in task_then(task)] == [
        ("mark", D("46000")),
        ("mark", D("44600")),
    ]
    untouched = play_then(task, start.account, start.market)
    assert [len(tick.events) for tick in untouched] == [0, 1]
    liquidation = untouched[-1].events[0]
    assert liquidation.type == "liquidation"
    assert untouched[-1].account.wallets["USDT"] == D("9000")
    solved = desk_action(start.account, start.market, task.solution[0])
    survived = play_then(task, solved, start.market)
    assert [tick.events for tick in survived] == [(), ()]
    assert "XBTUSDT" in survived[-1].account.positions
    assert survived[-1].market.marks["XBTUSDT"] == D("44600")


def test_funding_in_the_then_moves_is_paid_from_the_isolated_margin() -> None:
    task = with_task(then=[{"op": "funding", "symbol": "XBTUSDT", "rate": "0.01"}])
    lesson = a_lesson(task)
    start = task_start(lesson, 3)
    (tick,) = play_then(lesson.tasks[3], start.account, start.market)
    assert tick.account.positions["XBTUSDT"].position_margin == 900
    assert tick.account.wallets["USDT"] == 9900


# ------------------------------------------------------------------------ comparisons


def position_account(mode: MarginMode = MarginMode.ISOLATED) -> tuple[Account, Market]:
    start = task_start(a_lesson(), 3)
    if mode is MarginMode.CROSS:
        account = set_leverage(start.account, start.market, "XBTUSDT", mode, D(10)).account
        return account, start.market
    return start.account, start.market


@pytest.mark.parametrize(
    ("comparison", "value", "met"),
    [
        ("below", "45250", False),
        ("below", "45250.5", True),
        ("at_most", "45250", True),
        ("at_most", "45249.99", False),
        ("above", "45250", False),
        ("above", "45249.5", True),
        ("at_least", "45250", True),
        ("at_least", "45250.01", False),
        ("equals", "45250", True),
        ("equals", "45250.00", True),
        ("equals", "45251", False),
    ],
)
def test_each_number_comparison(comparison: str, value: str, met: bool) -> None:
    account, market = position_account()
    goal = Goal("positions.XBTUSDT.liquidation_price", comparison, D(value))
    assert goal_result(goal, account, market).met is met


def test_equals_rounds_the_figure_to_the_places_written() -> None:
    # Cross at 10x: the liquidation price is 250 (rule 4), exactly.
    account, market = position_account(MarginMode.CROSS)
    figure = "balances.USDT.available_balance"
    assert goal_result(Goal(figure, "equals", D("9000")), account, market).met
    assert not goal_result(Goal(figure, "equals", D("9000.01")), account, market).met
    leverage = Goal("positions.XBTUSDT.effective_leverage", "equals", D("1"))
    assert goal_result(leverage, account, market).met
    assert goal_result(leverage, account, market).now_text == "1x"


def test_margin_mode_and_the_slider_setting() -> None:
    account, market = position_account()
    isolated = Goal("positions.XBTUSDT.margin_mode", "equals", "isolated")
    cross = Goal("positions.XBTUSDT.margin_mode", "equals", "cross")
    assert goal_result(isolated, account, market).met
    result = goal_result(cross, account, market)
    assert not result.met
    assert result.missing_text == "Your XBTUSDT margin mode is isolated; the goal is cross."
    flat = Account(wallets={"USDT": D(100)})
    setting = Goal("settings.XBTUSDT.leverage", "equals", D("100"))
    assert goal_result(setting, flat, market).met  # never configured: cross at the maximum
    assert goal_result(Goal("settings.XBTUSDT.margin_mode", "equals", "cross"), flat, market).met


def test_absent_positions_and_stops() -> None:
    account, market = position_account()
    closed = Goal("positions.XBTUSDT", "absent", True)
    result = goal_result(closed, account, market)
    assert not result.met
    assert result.label == "XBTUSDT position closed"
    assert result.missing_text == "Your XBTUSDT position is still open; the goal is to close it."
    flat = Account(wallets={"USDT": D(100)})
    assert goal_result(closed, flat, market).met
    opened = goal_result(Goal("positions.XBTUSDT", "absent", False), flat, market)
    assert opened.missing_text == "You have no XBTUSDT position open; the goal needs one."
    stop = Goal("positions.XBTUSDT.stop_loss", "absent", False)
    assert goal_result(stop, account, market).missing_text == (
        "Your XBTUSDT stop-loss is not set yet; the goal needs one."
    )


def test_a_figure_of_a_position_that_is_not_open_is_missing_in_words() -> None:
    _, market = position_account()
    flat = Account(wallets={"USDT": D(100)})
    goal = Goal("positions.XBTUSDT.liquidation_price", "below", D(44500))
    result = goal_result(goal, flat, market)
    assert not result.met
    assert result.missing_text == (
        "You have no XBTUSDT position open, so there is no liquidation price; "
        "the goal is below 44,500."
    )


def test_no_liquidation_price_is_below_every_price_for_a_long() -> None:
    _, market = position_account()
    # A long under cross with twice its value behind it: no positive price liquidates it.
    rich = set_leverage(
        Account(wallets={"USDT": D(20000)}), market, "XBTUSDT", MarginMode.CROSS, D(1)
    )
    long = place_order(rich.account, market, "XBTUSDT", Side.BUY, D("0.2")).account
    goal = Goal("positions.XBTUSDT.liquidation_price", "below", D(44500))
    result = goal_result(goal, long, market)
    assert result.met and result.now_text == "none"
    assert not goal_result(Goal(goal.figure, "above", D(1)), long, market).met


def test_no_bankruptcy_price_is_above_every_price_for_a_short() -> None:
    _, market = position_account()
    # An inverse short never goes bankrupt at any positive price once fully funded.
    xbtusd = Market(
        market.instruments | {"XBTUSD": BUILT_IN_INSTRUMENTS["XBTUSD"]}, {"XBTUSD": D(50000)}
    )
    short = place_order(Account(wallets={"XBT": D(1)}), xbtusd, "XBTUSD", Side.SELL, D(100))
    position = short.account.positions["XBTUSD"]
    assert position.qty == -100
    figure = "positions.XBTUSD.bankruptcy_price"
    result = goal_result(Goal(figure, "above", D("1000000000")), short.account, xbtusd)
    assert result.now_text == "none"
    assert result.met
    assert not goal_result(Goal(figure, "below", D("1000000000")), short.account, xbtusd).met


def test_a_price_no_positive_price_reaches_equals_nothing() -> None:
    _, market = position_account()
    xbtusd = Market(
        market.instruments | {"XBTUSD": BUILT_IN_INSTRUMENTS["XBTUSD"]}, {"XBTUSD": D(50000)}
    )
    short = place_order(Account(wallets={"XBT": D(1)}), xbtusd, "XBTUSD", Side.SELL, D(100))
    goal = Goal("positions.XBTUSD.bankruptcy_price", "equals", D("1000000"))
    assert not goal_result(goal, short.account, xbtusd).met


def test_a_setting_on_a_market_without_the_instrument_is_missing_not_an_error() -> None:
    flat = Account(wallets={"USDT": D(100)})
    market = Market({})
    result = goal_result(Goal("settings.XBTUSDT.leverage", "equals", D(10)), flat, market)
    assert not result.met
    assert result.missing_text == "Your XBTUSDT leverage setting is none; the goal is 10x."


def test_a_goal_compared_with_another_figure() -> None:
    account, market = position_account()
    goal = Goal("positions.XBTUSDT.stop_loss", "above", None, "positions.XBTUSDT.liquidation_price")
    unset = goal_result(goal, account, market)
    assert not unset.met
    assert unset.label == "XBTUSDT stop-loss above XBTUSDT liquidation price (45,250)"
    low = desk_action(
        account, market, Step(0, "stop", {"symbol": "XBTUSDT", "stop_loss": D(45000)})
    )
    assert low.positions["XBTUSDT"].stop_loss == 45000
    assert goal_result(goal, low, market).missing_text == (
        "Your XBTUSDT stop-loss is 45,000; the goal is above XBTUSDT liquidation price (45,250)."
    )
    high = desk_action(
        account, market, Step(0, "stop", {"symbol": "XBTUSDT", "stop_loss": D(46000)})
    )
    assert goal_result(goal, high, market).met


def test_a_stop_loss_task_is_solved_by_its_stop_action() -> None:
    task = with_task(
        prompt="Set a stop-loss that closes the position before the liquidation engine would.",
        goals=[
            {
                "figure": "positions.XBTUSDT.stop_loss",
                "above": "positions.XBTUSDT.liquidation_price",
            }
        ],
        solution=[{"op": "stop", "symbol": "XBTUSDT", "stop_loss": "47500"}],
    )
    lesson = a_lesson(task)
    (stop,) = lesson.tasks[3].solution
    assert (stop.op, stop.args) == ("stop", {"symbol": "XBTUSDT", "stop_loss": D(47500)})
    start = task_start(lesson, 3)
    solved = desk_action(start.account, start.market, stop)
    ticks = play_then(lesson.tasks[3], solved, start.market)
    # 46,000 is below the stop: the stop closes it at the mark, 800 lost instead of 1,000.
    assert [event.type for event in ticks[0].events] == ["order_triggered"]
    assert ticks[0].account.wallets["USDT"] == D("9200")


# --------------------------------------------------------------------- bad task files


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"goals": [{"figure": "positions.XBTUSDT.height", "below": "1"}]},
            "step 3, field 'task'.goals[0].figure: 'height' is not a figure a goal can check",
        ),
        (
            {"goals": [{"figure": "positions.DOGEUSDT.liquidation_price", "below": "1"}]},
            "step 3, field 'task'.goals[0].figure: no instrument 'DOGEUSDT'",
        ),
        (
            {"goals": [{"figure": "liquidation_price", "below": "1"}]},
            "step 3, field 'task'.goals[0].figure: name a figure like",
        ),
        (
            {"goals": [{"figure": "positions.XBTUSDT.liquidation_price", "under": "1"}]},
            "step 3, field 'task'.goals[0]: 'under' is not a comparison; use one of below,",
        ),
        (
            {
                "goals": [
                    {"figure": "positions.XBTUSDT.liquidation_price", "below": "1", "above": "0"}
                ]
            },
            "step 3, field 'task'.goals[0]: give exactly one comparison",
        ),
        (
            {"goals": [{"figure": "positions.XBTUSDT.liquidation_price", "below": "lots"}]},
            "step 3, field 'task'.goals[0].below: name a figure like",
        ),
        (
            {"goals": [{"figure": "positions.XBTUSDT.liquidation_price", "below": "4,4500"}]},
            "step 3, field 'task'.goals[0].below: '4,4500' is not a number",
        ),
        (
            {"goals": [{"figure": "positions.XBTUSDT.margin_mode", "below": "1"}]},
            'a margin mode equals "cross" or "isolated"',
        ),
        (
            {"goals": [{"figure": "positions.XBTUSDT", "below": "1"}]},
            "a whole position can only be checked with 'absent' (true: closed)",
        ),
        (
            {"goals": [{"figure": "positions.XBTUSDT", "absent": "yes"}]},
            "field 'task'.goals[0].absent: expected true or false",
        ),
        ({"goals": []}, "step 3, field 'task'.goals: expected a list of goals"),
        ({"prompt": " "}, "step 3, field 'task'.prompt: the task needs its text"),
        ({"hints": ["one", 2]}, "step 3, field 'task'.hints: expected a list of texts"),
        ({"solution": []}, "step 3, field 'task'.solution: at least one desk action"),
        (
            {"solution": [{"op": "mark", "symbol": "XBTUSDT", "price": "1"}]},
            "step 3, field 'task'.solution[0].op: 'mark' is not one of leverage, order, close, "
            "add_margin, stop",
        ),
        (
            {"solution": [{"op": "add_margin", "symbol": "XBTUSDT"}]},
            "step 3, field 'task'.solution: step 0 (add_margin), field 'amount': missing",
        ),
        (
            {"then": [{"symbol": "XBTUSDT", "price": "cheap"}]},
            "step 3, field 'task'.then: step 0 (mark), field 'price': 'cheap' is not a number",
        ),
        (
            {"then": [{"op": "order", "symbol": "XBTUSDT", "side": "buy", "qty": "1"}]},
            "step 3, field 'task'.then[0].op: 'order' is not one of mark, funding, realise",
        ),
        ({"colour": "red"}, "step 3, field 'task': 'colour' is not a field of a task"),
        (
            {"solution": [{"op": "order", "symbol": "XBTUSDT", "side": "buy", "qty": "0.0005"}]},
            "step 3, field 'task'.solution[0].qty: the desk trades XBTUSDT in steps of 0.001; "
            "0.0005 is not a whole number of them",
        ),
        (
            {"then": [{"symbol": "XBTUSDT", "price": "46000.3"}]},
            "step 3, field 'task'.then[0]: 46,000.3 is between the desk's XBTUSDT ticks of 0.5",
        ),
        (
            {"solution": [{"op": "stop", "symbol": "XBTUSDT", "stop_loss": "48000.25"}]},
            "step 3, field 'task'.solution[0]: 48,000.25 is between the desk's XBTUSDT ticks",
        ),
    ],
)
def test_a_malformed_task_is_refused_naming_the_line_step_and_field(
    changes: dict[str, Any], message: str
) -> None:
    text = lesson_text(with_task(**changes))
    starts = [n for n, line in enumerate(text.splitlines(), start=1) if line == "  {"]
    found = refusal(with_task(**changes))
    assert found.startswith(f"line {starts[3]}, step 3, field 'task'")
    assert message in found


def test_a_task_that_is_not_an_object_is_refused() -> None:
    assert "step 3, field 'task': expected an object ({...})" in refusal("add margin")


def test_a_solution_that_does_not_solve_the_task_is_refused() -> None:
    weak = with_task(solution=[{"op": "add_margin", "symbol": "XBTUSDT", "amount": "100"}])
    assert refusal(weak).endswith(
        "step 3, field 'task'.solution: it does not solve the task: Your XBTUSDT liquidation "
        "price is 44,750; the goal is below 44,500."
    )


def test_a_solution_the_engine_refuses_is_refused_with_the_engines_reason() -> None:
    greedy = with_task(solution=[{"op": "add_margin", "symbol": "XBTUSDT", "amount": "9500"}])
    message = refusal(greedy)
    assert (
        "step 3, field 'task'.solution[0] (add_margin XBTUSDT): the engine refuses it:" in message
    )
    assert "You can add at most 9,000 USDT, your available balance" in message


def test_a_task_already_solved_at_its_start_is_refused() -> None:
    solved = with_task(goals=[{"figure": "positions.XBTUSDT.liquidation_price", "below": "46000"}])
    assert "step 3, field 'task': the goals are already met when the task starts" in refusal(solved)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1e99999999999999999999", "is too large: numbers in a scenario file must be below 10^31"),
        ("1e40", "is too large"),
        ("0." + "0" * 40 + "1", "decimal places"),
    ],
)
def test_huge_numbers_in_a_goal_are_refused_before_any_arithmetic(value: str, message: str) -> None:
    task = with_task(goals=[{"figure": "positions.XBTUSDT.liquidation_price", "below": "@"}])
    text = lesson_text(task).replace('"@"', value)
    with pytest.raises(ScenarioFormatError) as info:
        parse_lesson(text)
    assert "field 'task'.goals[0].below" in info.value.message
    assert message in info.value.message


def test_every_bad_task_is_listed_at_once() -> None:
    steps = json.loads(json.dumps(STEPS))
    steps[1]["task"] = {"prompt": "x"}
    steps[3]["task"] = with_task(solution=[])
    text = json.dumps({"name": "x", "lesson": {"title": "t"}, "steps": steps}, indent=1)
    with pytest.raises(ScenarioFormatError) as info:
        parse_lesson(text)
    assert len(info.value.errors) == 2
    assert "step 1, field 'task'.goals" in info.value.errors[0]
    assert "step 3, field 'task'.solution" in info.value.errors[1]


def test_a_lesson_has_at_most_fifty_tasks() -> None:
    steps = json.loads(json.dumps(STEPS))
    steps += [{"op": "mark", "symbol": "XBTUSDT", "price": "50000", "task": {}} for _ in range(51)]
    text = json.dumps({"name": "x", "lesson": {"title": "t"}, "steps": steps})
    with pytest.raises(ScenarioFormatError) as info:
        parse_lesson(text)
    assert info.value.message == (
        "field 'steps': 51 steps have a task; a lesson may have at most 50"
    )


def test_parse_tasks_checks_a_plain_scenario_too() -> None:
    scenario = a_lesson().scenario
    tasks = parse_tasks(scenario)
    assert list(tasks) == [3] and isinstance(tasks[3], Task)
