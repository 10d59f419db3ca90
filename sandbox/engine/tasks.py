"""Lesson tasks: a step that asks the learner to act on their own desk, and the engine's check.

A step of a lesson file may carry a ``"task"`` object (the scenario runner ignores it for
its figures, as it ignores ``"question"``, but validates it: see :func:`parse_tasks`)::

    "task": {
      "prompt": "Add margin until your liquidation price is below 44,500.",
      "goals": [
        {"figure": "positions.XBTUSDT.liquidation_price", "below": "44500"},
        {"figure": "positions.XBTUSDT.margin_mode", "equals": "isolated"}
      ],
      "hints": ["Open the position's Margin dialog.", "Each 100 USDT moves it 500."],
      "solution": [{"op": "add_margin", "symbol": "XBTUSDT", "amount": "200"}],
      "then": [{"symbol": "XBTUSDT", "price": "46000"}, {"symbol": "XBTUSDT", "price": "44700"}],
      "explanation": "What the fall did to the position you changed, and why."
    }

* The learner's desk starts from the lesson's state **after this step** (:func:`task_start`):
  the file's instruments, the marks so far, the account's wallets, positions (with their
  stops) and margin settings.
* ``goals``: each names a figure and one comparison. Figures are ``balances.CUR.<name>``,
  ``positions.SYM.<name>``, ``positions.SYM`` itself (with ``absent``: closed or open),
  and ``settings.SYM.margin_mode`` / ``settings.SYM.leverage`` (the slider's choice, with
  or without a position). Comparisons: ``below``, ``at_most``, ``above``, ``at_least``,
  ``equals`` (a number written with n decimals matches the figure rounded half-up to n,
  as ``expect`` does; ``margin_mode`` takes ``"cross"`` or ``"isolated"``), and
  ``absent`` (``true``: no such position, no stop-loss, no price; ``false``: there is
  one). A compared value is exact decimal text, or another figure's path
  (``{"figure": "positions.XBTUSDT.stop_loss", "above": "positions.XBTUSDT.liquidation_price"}``).
* ``hints``: shown one at a time on request. ``explanation``: shown once the market has
  moved on.
* ``solution``: the desk actions that solve the task from its start: ``leverage``,
  ``order``, ``close``, ``add_margin`` (as in a scenario) and ``stop`` (``symbol``,
  ``stop_loss`` and/or ``take_profit``; a price or null). The file is refused unless the
  start does **not** meet the goals and the solution, every action accepted, **does**:
  every task can be solved, and none is solved already.
* ``then``: the scripted market after the task, one tick a move: a mark
  (``{"symbol": ..., "price": ...}``), a funding payment
  (``{"op": "funding", "symbol": ..., "rate": ...}``) or a profit realisation
  (``{"op": "realise"}``).

:func:`task_check` checks the goals against the learner's real account and says, in plain
words, what is still missing. Pure Python, Decimal throughout, no Django.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Protocol

from . import display
from .account import Account, Event
from .errors import Rejected
from .figures import PositionFigures, account_figures
from .instruments import BUILT_IN_INSTRUMENTS, Instrument
from .market import Market
from .money import exact, is_multiple
from .operations import (
    apply_mark,
    change_margin,
    close_position,
    default_setting,
    pay_funding,
    place_order,
    realise_profit,
    set_leverage,
    set_triggers,
)
from .scenario import (
    BEYOND_PRECISION,
    POSITION_FIGURES,
    Scenario,
    ScenarioFormatError,
    ScenarioState,
    Step,
    _number,
    _step,
    figure_matches,
    step_lines,
)

COMPARISONS = ("below", "at_most", "above", "at_least", "equals", "absent")
NUMBER_COMPARISONS = ("below", "at_most", "above", "at_least")
#: The actions a learner takes on the desk (a solution may use only these).
DESK_ACTIONS = ("leverage", "order", "close", "add_margin", "stop")
#: What may happen to the market after a task.
THEN_OPS = ("mark", "funding", "realise")

BALANCE_GOALS = ("wallet_balance", "available_balance", "unrealised_pnl", "margin_balance")
POSITION_GOALS = (
    *POSITION_FIGURES,
    "stop_loss",
    "take_profit",
    "effective_leverage",
    "distance_to_liquidation",
    "realised_pnl",
)
SETTING_GOALS = ("margin_mode", "leverage")

MAX_GOALS = 10
MAX_HINTS = 10
MAX_SOLUTION = 50
MAX_THEN = 200
MAX_TASKS = 50  # in one lesson: each is run through the engine when the file is read

_LABELS = display.FIGURE_NAMES
_PRICES = frozenset(
    {
        "avg_cost_price",
        "avg_entry_price",
        "mark_price",
        "liquidation_price",
        "bankruptcy_price",
        "stop_loss",
        "take_profit",
    }
)
_WORDS = {
    "below": "below",
    "at_most": "at most",
    "above": "above",
    "at_least": "at least",
}


# ------------------------------------------------------------------------------ types


@dataclass(frozen=True, slots=True)
class Goal:
    """One figure and one comparison. ``value`` is a Decimal (or "cross"/"isolated" for a
    margin mode, or a bool for ``absent``); ``reference`` names another figure to compare
    with instead of a fixed value."""

    figure: str
    comparison: str
    value: Decimal | str | bool | None = None
    reference: str = ""

    @property
    def root(self) -> str:
        return self.figure.split(".")[0]

    @property
    def key(self) -> str:
        """The currency or symbol the goal is about."""
        return self.figure.split(".")[1]

    @property
    def name(self) -> str:
        """The figure's name ("" for a whole position)."""
        parts = self.figure.split(".")
        return parts[2] if len(parts) == 3 else ""


@dataclass(frozen=True, slots=True)
class Task:
    """A task on the learner's desk, asked at step ``index`` of a lesson."""

    index: int
    prompt: str
    goals: tuple[Goal, ...]
    hints: tuple[str, ...]
    solution: tuple[Step, ...]
    then: tuple[Step, ...]
    explanation: str

    @property
    def symbol(self) -> str:
        """The instrument the task is about: the first one its goals or solution name."""
        for goal in self.goals:
            if goal.root in ("positions", "settings"):
                return goal.key
        for step in self.solution:
            if "symbol" in step.args:
                return str(step.args["symbol"])
        return ""


@dataclass(frozen=True, slots=True)
class TaskStart:
    """What the learner's desk starts from: the lesson's market (instruments and marks)
    and account (wallets, positions, stops, margin settings) after the task's step."""

    market: Market
    account: Account
    insurance: Mapping[str, Decimal]

    @property
    def instruments(self) -> Mapping[str, Instrument]:
        return self.market.instruments


@dataclass(frozen=True, slots=True)
class GoalResult:
    goal: Goal
    met: bool
    label: str  # the goal in words: "XBTUSDT liquidation price below 44,500"
    now_text: str  # the figure now: "45,250"
    missing_text: str  # "" when met; else what is still missing, in a sentence


@dataclass(frozen=True, slots=True)
class TaskCheck:
    done: bool
    goals: tuple[GoalResult, ...]

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(result.missing_text for result in self.goals if not result.met)


@dataclass(frozen=True, slots=True)
class ThenTick:
    """One move of the market after a task, and what it did to the account."""

    move: Step
    market: Market
    account: Account
    events: tuple[Event, ...]


# ----------------------------------------------------------------------------- figures


def _position_figures(account: Account, market: Market, symbol: str) -> PositionFigures | None:
    if symbol not in account.positions:
        return None
    return account_figures(account, market).positions[symbol]


@exact
def figure_value(account: Account, market: Market, path: str) -> Any:
    """The value of a goal's figure on an account (None when there is none: no such
    position, no stop-loss, no liquidation price). ``positions.SYM`` gives the position's
    figures or None."""
    parts = path.split(".")
    root, key = parts[0], parts[1]
    name = parts[2] if len(parts) == 3 else ""
    if root == "balances":
        balance = account_figures(account, market).balances.get(key)
        if balance is None:
            return Decimal(0)
        return getattr(balance, name)
    if root == "settings":
        setting = account.settings.get(key)
        if setting is None:
            inst = market.instruments.get(key)
            if inst is None:  # a market that does not trade it: no choice made
                return None
            setting = default_setting(inst)
        return setting.mode.value if name == "margin_mode" else setting.leverage
    position = _position_figures(account, market, key)
    if not name or position is None:
        return position
    if name == "margin_mode":
        return position.margin_mode.value
    return getattr(position, name)


def _unit(goal_figure: str, market: Market) -> tuple[str, Instrument | None]:
    parts = goal_figure.split(".")
    if parts[0] == "balances":
        return parts[1], None
    inst = market.instruments.get(parts[1])
    return (inst.settle if inst else ""), inst


def figure_text(path: str, value: Any, market: Market) -> str:
    """A figure as the desk prints it (prices at the tick, money at the currency's
    precision, leverage with an x)."""
    if value is None:
        return display.NONE
    if isinstance(value, str):
        return value
    name = path.split(".")[-1]
    currency, inst = _unit(path, market)
    if name in _PRICES:
        return display.price(value, inst.tick_size if inst else None)
    if name in ("leverage", "effective_leverage"):
        return display.leverage(value)
    if name == "qty":
        return display.qty(value, inst.qty_step if inst else None)
    if name == "distance_to_liquidation":
        return display.percent(value)
    return f"{display.money(value, currency)} {currency}".strip()


def _subject(path: str) -> str:
    """'your XBTUSDT liquidation price', 'your USDT available balance'."""
    parts = path.split(".")
    if len(parts) == 2:
        return f"your {parts[1]} position"
    if parts[0] == "settings":
        return f"your {parts[1]} {_LABELS[parts[2]]} setting"
    return f"your {parts[1]} {_LABELS[parts[2]]}"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _wanted(goal: Goal, market: Market, account: Account) -> str:
    """The goal's condition in words: 'below 44,500', 'isolated', 'no position'."""
    if goal.comparison == "absent":
        if not goal.name:
            return "closed" if goal.value else "open"
        return "none" if goal.value else "set"
    if goal.reference:
        other = figure_value(account, market, goal.reference)
        name = _subject(goal.reference).removeprefix("your ")
        shown = f"{name} ({figure_text(goal.reference, other, market)})"
        return f"{_WORDS.get(goal.comparison, 'equal to')} {shown}"
    shown = figure_text(goal.figure, goal.value, market)
    return shown if goal.comparison == "equals" else f"{_WORDS[goal.comparison]} {shown}"


def _compare(comparison: str, value: Decimal, target: Decimal, written: bool) -> bool:
    if comparison == "below":
        return value < target
    if comparison == "at_most":
        return value <= target
    if comparison == "above":
        return value > target
    if comparison == "at_least":
        return value >= target
    # equals: a value written with n decimals matches the figure rounded to n
    if not value.is_finite():
        return False
    return figure_matches(target, value) if written else value == target


def _no_price_side(goal: Goal, account: Account) -> Decimal | None:
    """A liquidation or bankruptcy price that no positive price reaches lies beyond every
    price: below all of them for a long, above all for a short. None for other figures."""
    if goal.name not in ("liquidation_price", "bankruptcy_price"):
        return None
    position = account.positions.get(goal.key)
    if position is None:
        return None
    return Decimal(0) if position.qty > 0 else Decimal("Infinity")


@exact
def goal_result(goal: Goal, account: Account, market: Market) -> GoalResult:
    """Whether one goal is met on this account, and what is missing if not."""
    value = figure_value(account, market, goal.figure)
    subject = _subject(goal.figure)
    wanted = _wanted(goal, market, account)
    label = f"{subject.removeprefix('your ')} {wanted}"
    if not goal.name:  # a whole position
        now = "open" if value is not None else "closed"
        met = (value is None) == bool(goal.value)
        missing = (
            ""
            if met
            else (
                f"{_capital(subject)} is still open; the goal is to close it."
                if goal.value
                else f"You have no {goal.key} position open; the goal needs one."
            )
        )
        return GoalResult(goal, met, f"{goal.key} position {wanted}", now, missing)
    now = figure_text(goal.figure, value, market)
    if goal.comparison == "absent":
        met = (value is None) == bool(goal.value)
        if met:
            return GoalResult(goal, True, label, now, "")
        if goal.value:
            return GoalResult(
                goal, False, label, now, f"{_capital(subject)} is {now}; the goal is none."
            )
        return GoalResult(
            goal, False, label, now, f"{_capital(subject)} is not set yet; the goal needs one."
        )
    if goal.root == "positions" and goal.key not in account.positions:
        missing = (
            f"You have no {goal.key} position open, so there is no "
            f"{_LABELS[goal.name]}; the goal is {wanted}."
        )
        return GoalResult(goal, False, label, now, missing)
    target: Any = goal.value
    if goal.reference:
        target = figure_value(account, market, goal.reference)
    if isinstance(value, str) or isinstance(target, str):
        met = value == target
    else:
        if value is None:
            value = _no_price_side(goal, account)
        if target is None and goal.reference:
            # Compared with a price no positive price reaches (no liquidation price).
            target = _no_price_side(replace(goal, figure=goal.reference), account)
        met = (
            value is not None
            and target is not None
            and _compare(goal.comparison, value, target, written=not goal.reference)
        )
    if met:
        return GoalResult(goal, True, label, now, "")
    return GoalResult(
        goal, False, label, now, f"{_capital(subject)} is {now}; the goal is {wanted}."
    )


@exact
def task_check(task: Task, account: Account, market: Market) -> TaskCheck:
    """Check every goal of ``task`` against the learner's account on their market."""
    results = tuple(goal_result(goal, account, market) for goal in task.goals)
    return TaskCheck(all(result.met for result in results), results)


# ------------------------------------------------------------------------------- state


def _lesson_state(scenario: Scenario, upto: int) -> ScenarioState:
    state = ScenarioState(scenario.instruments)
    for step in scenario.steps[: upto + 1]:
        state.apply(step)
    return state


class _HasScenario(Protocol):
    @property
    def scenario(self) -> Scenario: ...


def task_start(lesson: Scenario | _HasScenario, index: int) -> TaskStart:
    """The state a task's desk starts from: the lesson (a :class:`~.lessons.Lesson` or its
    scenario) replayed through step ``index``."""
    scenario = lesson if isinstance(lesson, Scenario) else lesson.scenario
    if not 0 <= index < len(scenario.steps):
        raise IndexError(f"the lesson has steps 0 to {len(scenario.steps) - 1}")
    state = _lesson_state(scenario, index)
    return TaskStart(state.market, state.account, dict(state.insurance))


@exact
def desk_action(account: Account, market: Market, step: Step) -> Account:
    """Apply one of a solution's desk actions; raises Rejected as the desk would refuse."""
    a = step.args
    if step.op == "leverage":
        leverage = a.get("leverage", market.instrument(a["symbol"]).max_leverage)
        return set_leverage(account, market, a["symbol"], a["mode"], leverage).account
    if step.op == "order":
        return place_order(account, market, a["symbol"], a["side"], a["qty"]).account
    if step.op == "close":
        return close_position(account, market, a["symbol"]).account
    if step.op == "add_margin":
        return change_margin(account, market, a["symbol"], a["amount"]).account
    # stop: a field left out keeps what the position has
    position = account.positions.get(a["symbol"])
    stop = a.get("stop_loss", position.stop_loss if position else None)
    target = a.get("take_profit", position.take_profit if position else None)
    return set_triggers(account, market, a["symbol"], stop, target).account


@exact
def then_tick(account: Account, market: Market, move: Step) -> ThenTick:
    """One of the ``then`` moves applied to an account, as a market tick applies it: a new
    mark fires the stops it reaches and liquidates what it pushes through; a funding
    payment is paid at the mark; a realisation moves cross profit into the wallet."""
    a = move.args
    if move.op == "mark":
        market = market.with_mark(a["symbol"], a["price"])
        outcome = apply_mark(account, market, a["symbol"])
    elif move.op == "realise":
        outcome = realise_profit(account, market)
    else:
        outcome = pay_funding(account, market, a["symbol"], a["rate"])
    return ThenTick(move, market, outcome.account, outcome.events)


def task_then(task: Task) -> tuple[Step, ...]:
    """The scripted market after the task, one a tick: mark moves (``op`` "mark",
    ``symbol``, ``price``), funding payments (``op`` "funding", ``symbol``, ``rate``) and
    profit realisations (``op`` "realise")."""
    return task.then


@exact
def play_then(task: Task, account: Account, market: Market) -> tuple[ThenTick, ...]:
    """Every ``then`` move applied in turn to an account: what the crash does to it."""
    ticks = []
    for move in task.then:
        tick = then_tick(account, market, move)
        ticks.append(tick)
        account, market = tick.account, tick.market
    return tuple(ticks)


# ----------------------------------------------------------------------------- reading


def _where(index: int, field: str = "") -> str:
    return f"step {index}, field 'task'" + (f".{field}" if field else "")


def _goal_path(path: object, where: str, instruments: Mapping[str, Instrument]) -> str:
    parts = path.split(".") if isinstance(path, str) else []
    shape = (
        "name a figure like 'positions.XBTUSDT.liquidation_price', "
        "'balances.USDT.available_balance', 'settings.XBTUSDT.leverage' or 'positions.XBTUSDT'"
    )
    if not 2 <= len(parts) <= 3 or parts[0] not in ("balances", "positions", "settings"):
        raise ScenarioFormatError(f"{where}: {shape}")
    root, key = parts[0], parts[1]
    if root in ("positions", "settings") and key not in instruments:
        raise ScenarioFormatError(
            f"{where}: no instrument {key!r} in the file or the built-in table"
        )
    if len(parts) == 2:
        if root != "positions":
            raise ScenarioFormatError(f"{where}: {shape}")
        return str(path)
    known = {"balances": BALANCE_GOALS, "positions": POSITION_GOALS, "settings": SETTING_GOALS}
    if parts[2] not in known[root]:
        raise ScenarioFormatError(
            f"{where}: {parts[2]!r} is not a figure a goal can check; one of "
            + ", ".join(known[root])
        )
    return str(path)


def _goal(raw: object, where: str, instruments: Mapping[str, Instrument]) -> Goal:
    if not isinstance(raw, dict):
        raise ScenarioFormatError(f"{where}: expected an object ({{...}})")
    unknown = sorted(k for k in raw if k != "figure" and k not in COMPARISONS)
    if unknown:
        raise ScenarioFormatError(
            f"{where}: {unknown[0]!r} is not a comparison; use one of " + ", ".join(COMPARISONS)
        )
    figure = _goal_path(raw.get("figure"), f"{where}.figure", instruments)
    found = [k for k in COMPARISONS if k in raw]
    if len(found) != 1:
        raise ScenarioFormatError(
            f"{where}: give exactly one comparison ({', '.join(COMPARISONS)})"
        )
    comparison = found[0]
    value = raw[comparison]
    here = f"{where}.{comparison}"
    name = figure.split(".")[2] if figure.count(".") == 2 else ""
    if comparison == "absent":
        if not isinstance(value, bool):
            raise ScenarioFormatError(f"{here}: expected true or false")
        if name and name not in (
            "stop_loss",
            "take_profit",
            "liquidation_price",
            "bankruptcy_price",
        ):
            raise ScenarioFormatError(
                f"{here}: {name} always has a value while the position is open; "
                f"use 'absent' on the position ('{figure.rpartition('.')[0]}')"
            )
        return Goal(figure, comparison, value)
    if not name:
        raise ScenarioFormatError(
            f"{here}: a whole position can only be checked with 'absent' (true: closed)"
        )
    if name == "margin_mode":
        if comparison != "equals" or value not in ("cross", "isolated"):
            raise ScenarioFormatError(f'{here}: a margin mode equals "cross" or "isolated"')
        return Goal(figure, comparison, str(value))
    if isinstance(value, str) and value[:1].isalpha():
        reference = _goal_path(value, here, instruments)
        other = reference.split(".")
        if len(other) != 3 or other[2] == "margin_mode":
            raise ScenarioFormatError(f"{here}: compare with a numeric figure, like {figure!r}")
        return Goal(figure, comparison, None, reference)
    return Goal(figure, comparison, _number(value, here))


def _steps(
    raw: object,
    where: str,
    instruments: Mapping[str, Instrument],
    allowed: Sequence[str],
    most: int,
    *,
    mark_by_default: bool = False,
) -> tuple[Step, ...]:
    if not isinstance(raw, list):
        raise ScenarioFormatError(f"{where}: expected a list of steps")
    if len(raw) > most:
        raise ScenarioFormatError(f"{where}: at most {most} steps")
    steps = []
    for number, item in enumerate(raw):
        here = f"{where}[{number}]"
        if isinstance(item, dict) and mark_by_default and "op" not in item:
            item = {"op": "mark", **item}
        if not isinstance(item, dict):
            raise ScenarioFormatError(f"{here}: expected an object ({{...}})")
        op = item.get("op")
        if op not in allowed:
            raise ScenarioFormatError(f"{here}.op: {op!r} is not one of " + ", ".join(allowed))
        if op == "stop":
            steps.append(_stop(number, item, here, instruments))
            continue
        try:
            steps.append(exact(_step)(number, item, instruments))
        except ScenarioFormatError as problem:
            raise ScenarioFormatError(f"{where}: {problem.message}") from None
    return tuple(steps)


def _stop(
    number: int, item: dict[str, Any], where: str, instruments: Mapping[str, Instrument]
) -> Step:
    symbol = item.get("symbol")
    if not isinstance(symbol, str) or symbol not in instruments:
        raise ScenarioFormatError(f"{where}.symbol: name an instrument of the file")
    args: dict[str, Any] = {"symbol": symbol}
    for name in ("stop_loss", "take_profit"):
        if name in item:
            args[name] = None if item[name] is None else _number(item[name], f"{where}.{name}")
    if len(args) == 1:
        raise ScenarioFormatError(f"{where}: give a stop_loss or a take_profit (a price or null)")
    return Step(index=number, op="stop", args=args)


def _texts(raw: object, where: str, most: int) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(t, str) and t.strip() for t in raw):
        raise ScenarioFormatError(f"{where}: expected a list of texts")
    if len(raw) > most:
        raise ScenarioFormatError(f"{where}: at most {most}")
    return tuple(t.strip() for t in raw)


def parse_task(index: int, raw: object, instruments: Mapping[str, Instrument]) -> Task:
    """Read the ``task`` of step ``index`` (its form only; :func:`check_task` runs it)."""
    if not isinstance(raw, dict):
        raise ScenarioFormatError(f"{_where(index)}: expected an object ({{...}})")
    prompt = raw.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ScenarioFormatError(f"{_where(index, 'prompt')}: the task needs its text")
    goals_raw = raw.get("goals")
    if not isinstance(goals_raw, list) or not goals_raw:
        raise ScenarioFormatError(f"{_where(index, 'goals')}: expected a list of goals")
    if len(goals_raw) > MAX_GOALS:
        raise ScenarioFormatError(f"{_where(index, 'goals')}: at most {MAX_GOALS} goals")
    goals = tuple(
        _goal(goal, _where(index, f"goals[{n}]"), instruments) for n, goal in enumerate(goals_raw)
    )
    hints = _texts(raw.get("hints", []), _where(index, "hints"), MAX_HINTS)
    if "solution" not in raw:
        raise ScenarioFormatError(
            f"{_where(index, 'solution')}: missing; list the desk actions that solve the task"
        )
    solution = _steps(
        raw["solution"], _where(index, "solution"), instruments, DESK_ACTIONS, MAX_SOLUTION
    )
    if not solution:
        raise ScenarioFormatError(f"{_where(index, 'solution')}: at least one desk action")
    then = _steps(
        raw.get("then", []),
        _where(index, "then"),
        instruments,
        THEN_OPS,
        MAX_THEN,
        mark_by_default=True,
    )
    _on_desk_steps(index, solution, then)
    explanation = raw.get("explanation", "")
    if not isinstance(explanation, str):
        raise ScenarioFormatError(f"{_where(index, 'explanation')}: expected text")
    unknown = sorted(set(raw) - {"prompt", "goals", "hints", "solution", "then", "explanation"})
    if unknown:
        raise ScenarioFormatError(f"{_where(index)}: {unknown[0]!r} is not a field of a task")
    return Task(index, prompt.strip(), goals, hints, solution, then, explanation.strip())


def _on_desk_steps(index: int, solution: Sequence[Step], then: Sequence[Step]) -> None:
    """A task is played on the desk, whose contracts (the built-in table's) trade in their
    own quantity steps and price ticks: a solution's order the desk could not place, or a
    move to a price the desk's market would round to its tick, is refused."""
    for field_name, steps in (("solution", solution), ("then", then)):
        for number, step in enumerate(steps):
            desk = BUILT_IN_INSTRUMENTS.get(str(step.args.get("symbol", "")))
            if desk is None:
                continue
            where = _where(index, f"{field_name}[{number}]")
            qty = step.args.get("qty")
            if isinstance(qty, Decimal) and not is_multiple(qty, desk.qty_step):
                raise ScenarioFormatError(
                    f"{where}.qty: the desk trades {desk.symbol} in steps of "
                    f"{display.qty(desk.qty_step)}; {display.qty(qty)} is not a whole number "
                    "of them"
                )
            prices = [step.args.get(k) for k in ("price", "stop_loss", "take_profit")]
            for price in prices:
                if price is not None and not is_multiple(price, desk.tick_size):
                    raise ScenarioFormatError(
                        f"{where}: {display.qty(price)} is between the desk's {desk.symbol} "
                        f"ticks of {display.qty(desk.tick_size)}"
                    )


def _describe(step: Step) -> str:
    return f"{step.op} {step.args.get('symbol', '')}".strip()


def check_task(task: Task, start: TaskStart) -> None:
    """Refuse a task already solved at its start, or one its own solution does not solve."""
    where = _where(task.index)
    before = task_check(task, start.account, start.market)
    if before.done:
        raise ScenarioFormatError(
            f"{where}: the goals are already met when the task starts, so there is nothing "
            "to do; change the goals or the steps before it"
        )
    account = start.account
    for number, step in enumerate(task.solution):
        try:
            account = desk_action(account, start.market, step)
        except Rejected as refusal:
            raise ScenarioFormatError(
                f"{_where(task.index, f'solution[{number}]')} ({_describe(step)}): the engine "
                f"refuses it: {refusal.message}"
            ) from None
        except decimal.DecimalException:
            raise ScenarioFormatError(
                f"{_where(task.index, f'solution[{number}]')}: {BEYOND_PRECISION}"
            ) from None
    after = task_check(task, account, start.market)
    if not after.done:
        raise ScenarioFormatError(
            f"{where}.solution: it does not solve the task: " + " ".join(after.missing)
        )


def parse_tasks(scenario: Scenario, text: str | bytes = "") -> dict[int, Task]:
    """Read and check every step's ``task`` (the lesson replayed once through the engine);
    every problem, with its line, in one ScenarioFormatError."""
    errors: list[str] = []
    tasks: dict[int, Task] = {}
    lines: dict[int, int] | None = None
    count = sum(1 for step in scenario.steps if "task" in step.extra)
    if count > MAX_TASKS:
        raise ScenarioFormatError(
            f"field 'steps': {count} steps have a task; a lesson may have at most {MAX_TASKS}"
        )
    state = ScenarioState(scenario.instruments)
    for step in scenario.steps:
        state.apply(step)
        if "task" not in step.extra:
            continue
        try:
            task = parse_task(step.index, step.extra["task"], scenario.instruments)
            check_task(task, TaskStart(state.market, state.account, dict(state.insurance)))
        except ScenarioFormatError as problem:
            if lines is None:
                lines = step_lines(text) if text else {}
            where = f"line {lines[step.index]}, " if step.index in lines else ""
            errors.extend(where + error for error in problem.errors)
            continue
        tasks[step.index] = task
    if errors:
        raise ScenarioFormatError(errors[0], errors)
    return tasks


__all__ = [
    "COMPARISONS",
    "DESK_ACTIONS",
    "Goal",
    "GoalResult",
    "Task",
    "TaskCheck",
    "TaskStart",
    "ThenTick",
    "check_task",
    "desk_action",
    "figure_text",
    "figure_value",
    "goal_result",
    "parse_task",
    "parse_tasks",
    "play_then",
    "task_check",
    "task_start",
    "task_then",
    "then_tick",
]
