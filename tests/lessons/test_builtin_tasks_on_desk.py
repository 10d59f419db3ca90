"""Every task of the built-in lessons, played on a real task desk: set up from the
engine's start, solved with the desk's own services (the actions the desk's controls
call), checked done by the task panel, and the market moved on through the live tick to
the same account the engine's ``play_then`` gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbox import engine
from sandbox.desk import selectors as desk_selectors
from sandbox.desk import services as desk
from sandbox.desk.models import PaperAccount
from sandbox.desk.services import account_create
from sandbox.engine.lessons import parse_lesson
from sandbox.engine.scenario import ScenarioFormatError, Step
from sandbox.engine.tasks import play_then, task_check
from sandbox.lessons.desk_panel import TaskPanel
from sandbox.lessons.models import Lesson
from sandbox.lessons.services import lessons_seed, task_move_on, task_open

pytestmark = pytest.mark.django_db
FOLDER = Path(__file__).resolve().parents[2] / "scenarios"


def built_in_tasks() -> list[Any]:
    found = []
    for path in sorted(FOLDER.glob("*.json")):
        try:
            lesson = parse_lesson(path.read_text(encoding="utf-8"))
        except ScenarioFormatError:
            continue
        if lesson.number is None:
            continue
        for index in sorted(lesson.tasks):
            found.append(pytest.param(lesson.title, index, id=f"{path.stem}-step-{index}"))
    return found


def desk_action(account: PaperAccount, step: Step) -> None:
    """One of a solution's actions, through the desk's service for it."""
    a = step.args
    symbol = a["symbol"]
    if step.op == "leverage":
        inst = desk_selectors.engine_market(account.market).instrument(symbol)
        leverage = a.get("leverage", inst.max_leverage)
        desk.leverage_set(account=account, symbol=symbol, mode=a["mode"], leverage=leverage)
    elif step.op == "order":
        desk.order_place(account=account, symbol=symbol, side=a["side"], qty=a["qty"])
    elif step.op == "close":
        desk.position_close(account=account, symbol=symbol)
    elif step.op == "add_margin":
        desk.margin_change(account=account, symbol=symbol, amount=a["amount"])
    else:
        held = desk_selectors.engine_account(account).positions.get(symbol)
        desk.triggers_set(
            account=account,
            symbol=symbol,
            stop_loss=a.get("stop_loss", held.stop_loss if held else None),
            take_profit=a.get("take_profit", held.take_profit if held else None),
        )


@pytest.mark.parametrize(("title", "index"), built_in_tasks())
def test_a_built_in_task_plays_on_the_desk_as_in_the_engine(
    seeded: None, title: str, index: int
) -> None:
    lessons_seed()
    lesson = Lesson.objects.get(title=title, built_in=True)
    spec = lesson.parsed().tasks[index]
    row = task_open(learner=account_create(), lesson=lesson, index=index)
    account = PaperAccount.objects.get(pk=row.account_id)
    market = account.market

    def state() -> tuple[engine.Account, engine.Market]:
        account.refresh_from_db()
        return desk_selectors.engine_account(account), desk_selectors.engine_market(market)

    assert not task_check(spec, *state()).done
    for step in spec.solution:
        desk_action(account, step)
    assert task_check(spec, *state()).done
    shown = TaskPanel().load(market, [account.pk], fresh=True)[account.pk]
    assert shown.context["lesson_task"].check.done
    expected = play_then(spec, *state())
    task_move_on(task=row)
    after, prices = state()
    assert after == (expected[-1].account if expected else state()[0])
    market.refresh_from_db()
    assert market.sequence == sum(1 for move in spec.then if move.op == "mark")
