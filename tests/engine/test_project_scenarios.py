"""The project's own scenario files (the seed examples, future lessons) reproduce every
figure the source documents state, and check at least what the shared reference does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbox.engine.scenario import load_json, parse_scenario, run_scenario

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "scenarios"
SHARED = ROOT.parent / "shared" / "scenarios"
FILES = sorted(PROJECT.glob("*.json"))


def test_the_seed_examples_are_all_there() -> None:
    names = {path.name for path in FILES}
    assert {
        "karen-profit-realisation.json",
        "bryan-cross-two-positions.json",
        "isolated-100-xbt.json",
        "cross-100-xbt.json",
        "primer-20x-isolated.json",
    } <= names


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_project_scenario_reproduces_its_figures(path: Path) -> None:
    scenario = parse_scenario(path.read_bytes())
    run = run_scenario(scenario)
    assert [str(m) for m in run.mismatches] == []
    # Every step is accepted, unless the file itself says it must be refused.
    refused = {step.index for step in scenario.steps if (step.expect or {}).get("ok") is False}
    assert {record.index for record in run.records if not record.ok} == refused
    assert sum(1 for step in scenario.steps if step.expect) >= 2
    assert any(step.note for step in scenario.steps), "lessons need narration"


def _figures(expect: Any, prefix: str = "") -> set[str]:
    """Paths of every figure in an expectation (events by type and symbol)."""
    found: set[str] = set()
    for key, value in expect.items():
        if key == "events":
            found.update(f"events:{e['type']}:{e['symbol']}" for e in value)
        elif isinstance(value, dict):
            found.update(_figures(value, f"{prefix}{key}."))
        else:
            found.add(f"{prefix}{key}")
    return found


REFERENCED = [p for p in FILES if (SHARED / p.name).exists()]


@pytest.mark.skipif(not REFERENCED, reason="shared/scenarios is not beside this checkout")
@pytest.mark.parametrize("path", REFERENCED, ids=[p.name for p in REFERENCED])
def test_project_scenario_checks_every_reference_figure(path: Path) -> None:
    reference = SHARED / path.name
    ours = load_json(path.read_bytes())["steps"]
    theirs = load_json(reference.read_bytes())["steps"]
    assert [s["op"] for s in ours] == [s["op"] for s in theirs]
    for index, (mine, ref) in enumerate(zip(ours, theirs, strict=True)):
        missing = _figures(ref.get("expect", {})) - _figures(mine.get("expect", {}))
        assert not missing, f"step {index} does not check {sorted(missing)}"
