"""``python manage.py run_scenario FILE`` checks a lesson's task steps (docs/lessons.md):
a task whose solution fails is a malformed file (exit 2, naming the line and step), and a
good one is reported on stderr while stdout stays the format's JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

STEPS: list[dict[str, Any]] = [
    {"op": "deposit", "currency": "USDT", "amount": "1000"},
    {"op": "mark", "symbol": "XBTUSDT", "price": "50000"},
    {"op": "leverage", "symbol": "XBTUSDT", "mode": "isolated", "leverage": "20"},
    {"op": "order", "symbol": "XBTUSDT", "side": "buy", "qty": "0.04"},
]
TASK: dict[str, Any] = {
    "prompt": "Bring the liquidation price below 46,000.",
    "goals": [{"figure": "positions.XBTUSDT.liquidation_price", "below": "46000"}],
    "solution": [{"op": "add_margin", "symbol": "XBTUSDT", "amount": "80"}],
    "then": [{"symbol": "XBTUSDT", "price": "46000"}],
}


def run(tmp_path: Path, task: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    steps = json.loads(json.dumps(STEPS))
    steps[3]["task"] = task
    path = tmp_path / "task.json"
    path.write_text(json.dumps({"name": "A task", "steps": steps}, indent=1))
    return subprocess.run(
        [sys.executable, "manage.py", "run_scenario", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_good_task_is_reported_and_stdout_is_unchanged(tmp_path: Path) -> None:
    done = run(tmp_path, TASK)
    assert done.returncode == 0, done.stderr
    output = json.loads(done.stdout)
    assert list(output) == ["steps"] and len(output["steps"]) == 4
    assert "task" not in json.dumps(output)
    assert done.stderr.strip() == (
        "step 3: a task with 1 goal(s), solved by its 1 desk action(s); then 1 market "
        "move(s), which bring the untouched start: liquidation XBTUSDT"
    )


def test_a_solution_that_fails_is_a_malformed_file(tmp_path: Path) -> None:
    weak = {**TASK, "solution": [{"op": "add_margin", "symbol": "XBTUSDT", "amount": "10"}]}
    done = run(tmp_path, weak)
    assert done.returncode == 2
    assert done.stdout == ""
    line = json.dumps({"name": "A task", "steps": STEPS}, indent=1).splitlines()
    starts = [n for n, text in enumerate(line, start=1) if text == "  {"]
    assert (
        f"line {starts[3]}, step 3, field 'task'.solution: it does not solve the task: Your "
        "XBTUSDT liquidation price is 47,500; the goal is below 46,000." in done.stderr
    )
