"""``python manage.py run_scenario FILE``: output, exit codes and messages (FORMAT.md).

The command needs no database, so these tests run it as a subprocess with no fixtures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "scenarios"
SHARED_FILES = sorted(SHARED.glob("*.json")) if SHARED.is_dir() else []

KAREN_OPEN: list[dict[str, Any]] = [
    {"op": "deposit", "currency": "USDT", "amount": "10000"},
    {"op": "mark", "symbol": "ETHUSDT", "price": "1000"},
    {"op": "leverage", "symbol": "ETHUSDT", "mode": "cross", "leverage": "50"},
    {"op": "order", "symbol": "ETHUSDT", "side": "buy", "qty": "20"},
]
ETH = {"kind": "linear", "settle": "USDT", "maint_margin_rate": "0.01", "max_leverage": "50"}


def run_command(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "run_scenario", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write(tmp_path: Path, steps: list[dict[str, Any]], name: str = "scenario.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"instruments": {"ETHUSDT": ETH}, "steps": steps}, indent=1))
    return path


@pytest.mark.skipif(not SHARED_FILES, reason=f"no shared scenarios in {SHARED}")
@pytest.mark.parametrize("path", SHARED_FILES, ids=[p.name for p in SHARED_FILES])
def test_shared_scenarios_run_cleanly(path: Path) -> None:
    done = run_command(str(path))
    assert done.returncode == 0, done.stderr
    output = json.loads(done.stdout)
    assert list(output) == ["steps"]
    steps = json.loads(path.read_text())["steps"]
    assert len(output["steps"]) == len(steps)
    assert [record["index"] for record in output["steps"]] == list(range(len(steps)))
    assert [record["op"] for record in output["steps"]] == [step["op"] for step in steps]
    assert all(record["ok"] for record in output["steps"])
    assert done.stderr.strip() == ""


def test_failing_expectation_exits_1_and_names_step_figure_expected_actual(
    tmp_path: Path,
) -> None:
    steps = [*KAREN_OPEN]
    steps[3] = {
        **steps[3],
        "expect": {
            "positions": {"ETHUSDT": {"liquidation_price": "511"}},
            "balances": {"USDT": {"available_balance": "9600"}},
        },
    }
    done = run_command(str(write(tmp_path, steps)))
    assert done.returncode == 1
    assert "step 3 (order): positions.ETHUSDT.liquidation_price expected 511, got 510" in (
        done.stderr
    )
    assert "available_balance" not in done.stderr  # only the mismatch is named
    # The figures are still printed in full.
    output = json.loads(done.stdout)
    assert output["steps"][3]["positions"]["ETHUSDT"]["liquidation_price"] == "510"


def test_malformed_file_exits_2_naming_step_and_field_with_nothing_on_stdout(
    tmp_path: Path,
) -> None:
    steps = [*KAREN_OPEN, {"op": "order", "symbol": "ETHUSDT", "side": "long", "qty": "1"}]
    done = run_command(str(write(tmp_path, steps)))
    assert done.returncode == 2
    assert "step 4" in done.stderr
    assert "'side'" in done.stderr
    assert done.stdout == ""
    missing = [KAREN_OPEN[0], {"op": "deposit", "currency": "USDT"}]
    done = run_command(str(write(tmp_path, missing, "missing.json")))
    assert done.returncode == 2
    assert "step 1 (deposit), field 'amount': missing" in done.stderr
    assert done.stdout == ""


def test_numbers_beyond_the_limits_exit_2_with_the_limit_named(tmp_path: Path) -> None:
    limits = "numbers in a scenario file must be below 10^31 and have at most 30 decimal places"
    cases = [
        ("1e31", "step 0 (deposit), field 'amount': '1e31' is too large: " + limits),
        ("1e99999999999999999999", "'1e99999999999999999999' is too large: " + limits),
        ("1" * 100_000, "'11111111111111111111…11111111' (100,000 characters) is too large"),
    ]
    for amount, message in cases:
        steps = [{"op": "deposit", "currency": "USDT", "amount": amount}]
        done = run_command(str(write(tmp_path, steps)))
        assert done.returncode == 2
        assert message in done.stderr
        assert len(done.stderr) < 400  # the 100,000 digits are not echoed back
        assert done.stdout == ""
    # The same numbers written as bare JSON numbers.
    path = tmp_path / "bare.json"
    path.write_text('{"steps": [{"op": "deposit", "currency": "USDT", "amount": 1e31}]}')
    done = run_command(str(path))
    assert done.returncode == 2
    assert "field 'amount': 1E+31 is too large: " + limits in done.stderr


def test_a_tiny_bankruptcy_price_is_printed_not_0(tmp_path: Path) -> None:
    tiny = {"kind": "linear", "settle": "USDT", "maint_margin_rate": "0", "qty_step": "1"}
    steps = [
        {"op": "deposit", "currency": "USDT", "amount": "2000000"},
        {"op": "mark", "symbol": "TINYUSDT", "price": "1"},
        {"op": "leverage", "symbol": "TINYUSDT", "mode": "isolated", "leverage": "2"},
        {"op": "order", "symbol": "TINYUSDT", "side": "buy", "qty": "1000000"},
        {"op": "add_margin", "symbol": "TINYUSDT", "amount": "499999.9999"},
        {"op": "add_margin", "symbol": "TINYUSDT", "amount": "0.0001"},
    ]
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({"instruments": {"TINYUSDT": tiny}, "steps": steps}))
    done = run_command(str(path))
    assert done.returncode == 0, done.stderr
    records = json.loads(done.stdout)["steps"]
    position = records[4]["positions"]["TINYUSDT"]
    assert position["bankruptcy_price"] == position["liquidation_price"] == "0.0000000001"
    position = records[5]["positions"]["TINYUSDT"]
    assert position["bankruptcy_price"] is position["liquidation_price"] is None


def test_bad_json_exits_2_with_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "steps": [\n    {"op": "deposit",, }\n  ]\n}')
    done = run_command(str(path))
    assert done.returncode == 2
    assert "line 3, column" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("opening", ["[", '{"steps":'])
def test_a_file_nested_100000_deep_exits_2_naming_the_limit(tmp_path: Path, opening: str) -> None:
    path = tmp_path / "nested.json"
    closing = "]" if opening == "[" else "}"
    path.write_text(opening * 100_000 + closing * 100_000)
    done = run_command(str(path))
    assert done.returncode == 2
    assert "line 1: arrays and objects nest more than 20 deep here" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_file_exits_2(tmp_path: Path) -> None:
    done = run_command(str(tmp_path / "nowhere.json"))
    assert done.returncode == 2
    assert "nowhere.json" in done.stderr
    assert done.stdout == ""


def test_reads_standard_input_with_a_dash() -> None:
    text = json.dumps({"instruments": {"ETHUSDT": ETH}, "steps": KAREN_OPEN})
    done = run_command("-", stdin=text)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)["steps"][3]
    assert record["balances"]["USDT"]["available_balance"] == "9600"
