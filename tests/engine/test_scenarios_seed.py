"""The shared scenario files (figures from the source documents) run with no mismatch, and
their headline figures are checked again here, straight from the records."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sandbox.engine.scenario import ScenarioRun, parse_scenario, run_scenario

D = Decimal

SCENARIOS = Path(__file__).resolve().parents[3] / "shared" / "scenarios"
FILES = sorted(SCENARIOS.glob("*.json")) if SCENARIOS.is_dir() else []

needs_shared = pytest.mark.skipif(
    not SCENARIOS.is_dir(), reason=f"shared scenario folder {SCENARIOS} is absent"
)


def run(name: str) -> ScenarioRun:
    path = SCENARIOS / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return run_scenario(parse_scenario(path.read_bytes()))


def values(result: ScenarioRun, index: int) -> dict[str, Any]:
    record = result.records[index]
    assert record.index == index
    return record.values()


def prices(record: dict[str, Any], symbol: str) -> tuple[Decimal, Decimal]:
    position = record["positions"][symbol]
    return position["liquidation_price"], position["bankruptcy_price"]


@needs_shared
def test_the_shared_folder_has_scenarios() -> None:
    assert FILES, f"no *.json in {SCENARIOS}"


@needs_shared
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_shared_scenario_runs_with_no_mismatch(path: Path) -> None:
    scenario = parse_scenario(path.read_bytes())
    result = run_scenario(scenario)
    assert [str(m) for m in result.mismatches] == []
    assert len(result.records) == len(scenario.steps)
    assert all(record.ok for record in result.records), [
        (r.index, r.error) for r in result.records if not r.ok
    ]
    assert any(step.expect for step in scenario.steps)


@needs_shared
def test_karen_headline_figures() -> None:
    result = run("karen-profit-realisation.json")
    available = [
        values(result, i)["balances"]["USDT"]["available_balance"] for i in (3, 5, 6, 8, 9, 11)
    ]
    assert available == [9600, 11600, 8600, 7420, 4420, 16420]
    assert prices(values(result, 3), "ETHUSDT") == (510, 500)
    assert prices(values(result, 5), "ETHUSDT") == (510, 500)
    liquidation, bankruptcy = prices(values(result, 8), "ETHUSDT")
    assert liquidation == 643
    assert bankruptcy.quantize(D("0.01")) == D("633.33")
    position = values(result, 8)["positions"]["ETHUSDT"]
    assert position["avg_cost_price"].quantize(D("0.01")) == D("966.67")
    assert position["avg_entry_price"].quantize(D("0.01")) == D("1033.33")
    assert (position["initial_margin"], position["maintenance_margin"]) == (580, 290)
    assert values(result, 11)["positions"]["ETHUSDT"]["avg_entry_price"] == 1200
    printed = result.records[8].to_json()["positions"]["ETHUSDT"]
    assert printed["liquidation_price"] == "643"
    assert printed["bankruptcy_price"] == "633.33333333"


@needs_shared
def test_bryan_headline_figures() -> None:
    result = run("bryan-cross-two-positions.json")
    record = values(result, 6)
    assert record["balances"]["USDT"]["available_balance"] == 4200
    assert prices(record, "XBTUSDT") == (15600, 15400)
    assert prices(record, "ETHUSDT") == (1220, 1230)
    record = values(result, 9)
    assert record["balances"]["USDT"]["available_balance"] == 8200
    assert prices(record, "XBTUSDT") == (13600, 13400)
    assert prices(record, "ETHUSDT") == (1320, 1330)
    record = values(result, 10)
    assert record["balances"]["USDT"]["available_balance"] == 200
    assert prices(record, "XBTUSDT") == (21600, 21400)
    assert prices(record, "ETHUSDT") == (1320, 1330)
    # XBTUSDT liquidated at 21600 first ...
    record = values(result, 11)
    assert [(e["type"], e["symbol"]) for e in record["events"]] == [("liquidation", "XBTUSDT")]
    event = record["events"][0]
    assert (event["liquidation_price"], event["bankruptcy_price"], event["mark_price"]) == (
        21600,
        21400,
        21600,
    )
    assert event["loss"] == -600
    assert set(record["positions"]) == {"ETHUSDT"}
    assert prices(record, "ETHUSDT") == (1310, 1320)
    assert record["balances"]["USDT"]["available_balance"] == 0
    # ... then ETHUSDT at 1310.
    record = values(result, 12)
    assert [(e["type"], e["symbol"]) for e in record["events"]] == [("liquidation", "ETHUSDT")]
    assert record["events"][0]["liquidation_price"] == 1310
    assert record["positions"] == {}
    assert record["balances"]["USDT"]["wallet_balance"] == 0
    assert record["insurance_fund"] == {"USDT": 400}


@needs_shared
def test_isolated_100_xbt_headline_figures() -> None:
    result = run("isolated-100-xbt.json")
    record = values(result, 3)
    assert record["balances"]["XBT"]["available_balance"] == 96
    position = record["positions"]["XBTUSD"]
    assert position["position_margin"] == 4
    assert position["liquidation_price"].quantize(D("1")) == 97
    assert abs(position["liquidation_price"] - D("97.087")) < D("0.001")
    # The fall to 94: liquidated on the way down, only the 4 XBT of margin lost.
    record = values(result, 5)
    assert record["positions"] == {}
    assert record["balances"]["XBT"]["wallet_balance"] == 96
    (event,) = record["events"]
    assert event["type"] == "liquidation"
    assert abs(event["liquidation_price"] - 97) < D("0.1")
    assert event["mark_price"] == 94
    assert event["loss"] == -4
    assert record["insurance_fund"]["XBT"] == D("-2.38297873")
    assert result.records[5].to_json()["insurance_fund"] == {"XBT": "-2.38297873"}


@needs_shared
def test_cross_100_xbt_headline_figures() -> None:
    result = run("cross-100-xbt.json")
    record = values(result, 5)
    position = record["positions"]["XBTUSD"]
    assert record["events"] == []
    # 100 − 10000/94 = −6.38297872...: "about 6 XBT" of unrealised loss, still open.
    assert position["unrealised_pnl"].quantize(D("1e-8")) == D("-6.38297872")
    assert position["unrealised_pnl"].quantize(D("1")) == -6
    assert record["balances"]["XBT"]["wallet_balance"] == 100
    assert position["liquidation_price"].quantize(D("1e-8")) == D("50.25125628")
