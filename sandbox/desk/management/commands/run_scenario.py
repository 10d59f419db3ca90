"""``python manage.py run_scenario FILE``: run a scenario file through the margin engine.

Prints ``{"steps": [...]}`` (one record a step, as shared/scenarios/FORMAT.md describes)
on stdout. Exits 1 and names each mismatch on stderr when an ``expect`` fails, and 2 with
a message naming the step and field when the file is malformed.

A lesson's ``task`` steps (docs/lessons.md) are checked too: a task whose solution the
engine refuses or that does not meet its goals, or one already solved at its start, makes
the file malformed (exit 2). Each task that passes is reported on stderr, so stdout stays
the format's JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox.engine.scenario import ScenarioFormatError, parse_scenario, run_scenario
from sandbox.engine.tasks import parse_tasks, play_then, task_start


class Command(BaseCommand):
    help = "Run a scenario file through the margin engine and print every step's figures."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="path to a scenario JSON file, or - for stdin")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["file"]
        try:
            text = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as error:
            raise CommandError(f"cannot read {name}: {error.strerror}", returncode=2) from None
        try:
            scenario = parse_scenario(text)
            tasks = parse_tasks(scenario, text)
        except ScenarioFormatError as error:
            raise CommandError(f"{name}: {error.message}", returncode=2) from None
        run = run_scenario(scenario)
        self.stdout.write(json.dumps(run.to_json(), indent=2, ensure_ascii=False))
        for index, task in tasks.items():
            start = task_start(scenario, index)
            untouched = play_then(task, start.account, start.market)
            events = [f"{e.type} {e.symbol}" for tick in untouched for e in tick.events]
            self.stderr.write(
                f"step {index}: a task with {len(task.goals)} goal(s), solved by its "
                f"{len(task.solution)} desk action(s); then {len(task.then)} market move(s), "
                f"which bring the untouched start: {', '.join(events) or 'nothing'}"
            )
        if run.mismatches:
            for mismatch in run.mismatches:
                self.stderr.write(str(mismatch))
            raise CommandError(
                f"{len(run.mismatches)} expected figure(s) did not match", returncode=1
            )
