"""Read queries of the lessons app: a learner's progress in each lesson."""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import reverse

from sandbox import engine
from sandbox.desk import selectors as desk_selectors
from sandbox.desk.models import Fill, LiquidationRecord, Market, PaperAccount
from sandbox.desk.templatetags import figures
from sandbox.engine import display
from sandbox.engine.scenario import ScenarioFormatError, Step
from sandbox.engine.tasks import Task, TaskCheck, task_check, task_then

from .models import Lesson, LessonProgress, TaskAccount


@dataclass(frozen=True)
class Progress:
    """How far a learner got in one lesson, in the words the lessons list uses."""

    steps: int
    furthest: int  # 1-based number of the furthest step seen
    done: bool
    tasks: int  # tasks the lesson has
    tasks_done: int
    questions: int  # questions the lesson asks
    answered: int  # questions answered (right or not)
    right_first_time: int

    @property
    def started(self) -> bool:
        return self.furthest > 0


def progress_from(lesson: Lesson, row: LessonProgress | None) -> Progress | None:
    """One lesson's progress summary (None when the lesson file no longer reads)."""
    try:
        parsed = lesson.parsed()
    except ScenarioFormatError:
        return None
    tasks = set(parsed.tasks)
    questions = set(parsed.questions)
    if row is None:
        return Progress(parsed.steps, 0, False, len(tasks), 0, len(questions), 0, 0)
    answers = {int(k): v for k, v in row.questions.items() if str(k).isdigit()}
    return Progress(
        steps=parsed.steps,
        furthest=min(row.furthest_step, parsed.steps - 1) + 1,
        done=row.completed_at is not None,
        tasks=len(tasks),
        tasks_done=len(tasks & set(row.tasks_done)),
        questions=len(questions),
        answered=sum(1 for step in answers if step in questions),
        right_first_time=sum(
            1 for step, entry in answers.items() if step in questions and entry.get("first_try")
        ),
    )


def lessons_progress(
    account: PaperAccount | None, lessons: Iterable[Lesson]
) -> dict[int, Progress]:
    """Each lesson's progress for ``account`` (by lesson id), read in one query."""
    rows: dict[int, LessonProgress] = {}
    if account is not None:
        rows = {row.lesson_id: row for row in LessonProgress.objects.filter(account=account)}
    found = {}
    for lesson in lessons:
        summary = progress_from(lesson, rows.get(lesson.pk))
        if summary is not None:
            found[lesson.pk] = summary
    return found


def furthest_step(account: PaperAccount | None, lesson: Lesson) -> int:
    """The 0-based index of the furthest step the learner saw (0 if none)."""
    if account is None:
        return 0
    row = LessonProgress.objects.filter(account=account, lesson=lesson).first()
    return row.furthest_step if row else 0


# ------------------------------------------------------------------------------ tasks


@dataclass
class TaskView:
    """What the task panel on a lesson desk shows."""

    row: TaskAccount
    task: Task
    check: TaskCheck
    hints: tuple[str, ...]  # the hints asked for so far
    more_hints: bool
    moves: list[str]  # the "then" moves, in words
    liquidations: list[LiquidationRecord]  # what the moves liquidated
    stops: list[Fill]  # the stop-losses and take-profits they fired
    lesson_url: str  # back to the lesson, at the step after the task
    task_url: str  # the task's own step
    restart_url: str  # the task set back to its start (a post)

    @property
    def moved(self) -> bool:
        return self.row.moved_at is not None

    @property
    def number(self) -> int:
        return self.row.step + 1

    @property
    def met(self) -> int:
        return sum(1 for goal in self.check.goals if goal.met)


def task_of(row: TaskAccount) -> Task | None:
    """The task a task account plays (None once its lesson no longer has it)."""
    try:
        return row.lesson.parsed().tasks.get(row.step)
    except ScenarioFormatError:
        return None


def move_text(move: Step, market: engine.Market) -> str:
    """A ``then`` move in words: "XBTUSDT mark 44,700", "XBTUSDT funding at a rate of
    0.1%", "profit realisation"."""
    if move.op == "realise":
        return "profit realisation"
    symbol = str(move.args["symbol"])
    if move.op == "mark":
        tick = market.instruments[symbol].tick_size if symbol in market.instruments else None
        return f"{symbol} mark {display.price(move.args['price'], tick)}"
    return f"{symbol} funding at a rate of {figures.percent_of(move.args['rate'])}"


def task_view(row: TaskAccount, state: engine.Account, prices: engine.Market) -> TaskView:
    """The panel of a task account, from its engine state on its market."""
    lesson = row.lesson
    task = lesson.parsed().tasks[row.step]
    check = task_check(task, state, prices)
    liquidations: list[LiquidationRecord] = []
    stops: list[Fill] = []
    if row.moved_at is not None:
        liquidations = list(
            LiquidationRecord.objects.filter(
                account_id=row.account_id, created_at__gte=row.moved_at
            )
        )
        stops = list(
            Fill.objects.filter(account_id=row.account_id, created_at__gte=row.moved_at).exclude(
                trigger=""
            )
        )
    steps = lesson.parsed().steps
    query = "?" + urlencode({"account": row.learner_id})
    step_url = functools.partial(reverse, "lesson_step")
    return TaskView(
        row=row,
        task=task,
        check=check,
        hints=task.hints[: row.hints_shown],
        more_hints=row.hints_shown < len(task.hints),
        moves=[move_text(move, prices) for move in task_then(task)],
        liquidations=liquidations,
        stops=stops,
        lesson_url=step_url(kwargs={"slug": lesson.slug, "number": min(row.step + 2, steps)})
        + query,
        task_url=step_url(kwargs={"slug": lesson.slug, "number": row.step + 1}) + query,
        restart_url=reverse("task_open", kwargs={"slug": lesson.slug, "number": row.step + 1})
        + query,
    )


def task_views(market: Market, account_ids: Collection[int]) -> dict[int, TaskView]:
    """The task panel of each of these accounts that plays a task on ``market``."""
    rows = list(
        TaskAccount.objects.filter(
            account_id__in=account_ids, account__market=market
        ).select_related("lesson", "account")
    )
    if not rows:
        return {}
    states = desk_selectors.engine_accounts([row.account_id for row in rows])
    prices = desk_selectors.engine_market(market)
    found = {}
    for row in rows:
        try:
            found[row.account_id] = task_view(row, states[row.account_id], prices)
        except (ScenarioFormatError, KeyError):
            continue  # the lesson was changed since: its task is gone
    return found
