"""``python manage.py run_scenario FILE``: run a scenario file through the margin engine.

Prints ``{"steps": [...]}`` (one record a step, as shared/scenarios/FORMAT.md describes)
on stdout. Exits 1 and names each mismatch on stderr when an ``expect`` fails, and 2 with
a message naming the step and field when the file is malformed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox.engine.scenario import ScenarioFormatError, parse_scenario, run_scenario


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
        except ScenarioFormatError as error:
            raise CommandError(f"{name}: {error.message}", returncode=2) from None
        run = run_scenario(scenario)
        self.stdout.write(json.dumps(run.to_json(), indent=2, ensure_ascii=False))
        if run.mismatches:
            for mismatch in run.mismatches:
                self.stderr.write(str(mismatch))
            raise CommandError(
                f"{len(run.mismatches)} expected figure(s) did not match", returncode=1
            )
