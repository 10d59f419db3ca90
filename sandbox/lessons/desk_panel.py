"""The task panel on a lesson desk: the task's prompt, each goal met or not with what is
still missing, hints, and what happened when the market moved on. Plugged into the
desk's screen when Django starts (:class:`sandbox.lessons.apps.LessonsConfig`), so the
desk draws it without importing the lessons app."""

from __future__ import annotations

from collections.abc import Collection

from sandbox.desk.models import Market
from sandbox.desk.screen import PanelView

from .selectors import task_views
from .services import progress_task_done

PARTIAL = "lessons/task_panel.html#task"


class TaskPanel:
    """A lesson task account's panel. A lesson market does not tick by itself, so only a
    whole desk (a page, an action's answer) draws it."""

    partial = PARTIAL

    def load(
        self, market: Market, account_ids: Collection[int], *, fresh: bool
    ) -> dict[int, PanelView]:
        if market.kind != Market.Kind.LESSON or not fresh:
            return {}
        found = {}
        for account_id, view in task_views(market, account_ids).items():
            row = view.row
            if view.check.done:  # the learner met every goal: recorded once
                progress_task_done(account=row.learner, lesson=row.lesson, step=row.step)
            found[account_id] = PanelView({"lesson_task": view})
        return found
