"""No float ever enters or leaves the engine, and the engine does not import Django."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import subprocess
import sys
from collections.abc import Callable, Mapping
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

import sandbox.engine as engine
from sandbox.engine import (
    BUILT_IN_INSTRUMENTS,
    Account,
    MarginMode,
    Side,
    account_figures,
    apply_mark,
    change_margin,
    close_position,
    deposit,
    margin_limits,
    pay_funding,
    place_order,
    realise_profit,
    reset_account,
    set_leverage,
)
from sandbox.engine.scenario import parse_scenario, run_scenario

from .helpers import ETHUSDT, XBTUSD, XBTUSDT, funded, market, opened

D = Decimal
ENGINE = Path(__file__).resolve().parents[2] / "sandbox" / "engine"
ROOT = Path(__file__).resolve().parents[2]

MKT = market(XBTUSDT, ETHUSDT, XBTUSD, XBTUSDT="20000", ETHUSDT="1000", XBTUSD="100")
CROSS = opened(funded(USDT="10000"), MKT, "XBTUSDT", Side.BUY, "0.1", MarginMode.CROSS, 10)
ISOLATED = opened(funded(XBT="100"), MKT, "XBTUSD", Side.BUY, "10000", MarginMode.ISOLATED, 25)

# Each call with a good Decimal succeeds; with a float in the same place it must raise
# TypeError (not be converted, not be Rejected). Keyed by the public function's name.
CALLS: dict[str, Callable[[Any], object]] = {
    "deposit": lambda v: deposit(CROSS, "USDT", v),
    "reset_account": lambda v: reset_account(CROSS, {"USDT": v}),
    "place_order": lambda v: place_order(CROSS, MKT, "ETHUSDT", Side.BUY, v),
    "set_leverage": lambda v: set_leverage(CROSS, MKT, "XBTUSDT", MarginMode.CROSS, v),
    "change_margin": lambda v: change_margin(ISOLATED, MKT, "XBTUSD", v),
    "pay_funding": lambda v: pay_funding(CROSS, MKT, "XBTUSDT", v),
    "tick_account": lambda v: engine.tick_account(
        CROSS, MKT, ["XBTUSDT"], funding_rates={"XBTUSDT": v}
    ),
    "tick_accounts": lambda v: list(
        engine.tick_accounts({1: CROSS}, MKT, ["XBTUSDT"], funding_rates={"XBTUSDT": v})
    ),
    "Market.with_mark": lambda v: MKT.with_mark("XBTUSDT", v),
    # A stop at 1 on a long at 20,000 is accepted (with a warning: beyond liquidation).
    "set_triggers": lambda v: engine.set_triggers(CROSS, MKT, "XBTUSDT", v, None),
}
# Public functions that take no number from the caller.
NO_NUMBERS = {
    "account_figures",
    "apply_mark",
    "close_position",
    "combine",
    "default_setting",
    "liquidation_cushions",
    "margin_limits",
    "realisable",
    "realise_profit",
}


@pytest.mark.parametrize("name", list(CALLS))
def test_numeric_arguments_refuse_floats(name: str) -> None:
    call = CALLS[name]
    assert call(D("1")) is not None
    assert call(1) is not None  # an int is exact, and accepted
    for bad in (1.0, 0.5, float("nan"), True):
        with pytest.raises(TypeError):
            call(bad)


def test_every_public_function_is_covered() -> None:
    functions = {name for name in engine.__all__ if inspect.isfunction(getattr(engine, name))}
    uncovered = functions - set(CALLS) - NO_NUMBERS
    assert uncovered == set(), f"add these to CALLS or NO_NUMBERS: {sorted(uncovered)}"


def test_a_float_refused_even_where_the_call_would_be_refused_anyway() -> None:
    # No position, cross position, unknown currency...: the float is still a TypeError.
    with pytest.raises(TypeError):
        change_margin(CROSS, MKT, "XBTUSDT", 1.0)
    with pytest.raises(TypeError):
        pay_funding(funded(USDT="1"), MKT, "XBTUSDT", 0.1)
    with pytest.raises(TypeError):
        deposit(Account(), "", -1.0)


def test_a_float_wallet_in_an_account_never_comes_out_as_a_figure() -> None:
    # Account is public API too: a float slipped into it is refused when it is built.
    with pytest.raises(TypeError, match="wallet USDT must be a Decimal"):
        Account(wallets={"USDT": 100.0})  # type: ignore[dict-item]
    account = Account(wallets={"USDT": Decimal(100)})
    balance = account_figures(account, MKT).balances["USDT"]
    assert type(balance.wallet_balance) is Decimal, balance
    assert type(balance.available_internal) is Decimal, balance


# ------------------------------------------------------------ walking every output


def find_floats(value: object, path: str = "", seen: list[str] | None = None) -> list[str]:
    """Paths of every float reachable from ``value`` (fields, properties, containers)."""
    found: list[str] = [] if seen is None else seen
    if isinstance(value, float):
        found.append(path)
    elif isinstance(value, str | bytes | bool | int | Decimal | Enum) or value is None:
        pass
    elif isinstance(value, Mapping):
        for key, item in value.items():
            find_floats(key, f"{path}[{key!r}]<key>", found)
            find_floats(item, f"{path}[{key!r}]", found)
    elif isinstance(value, list | tuple):
        for number, item in enumerate(value):
            find_floats(item, f"{path}[{number}]", found)
    elif dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            find_floats(getattr(value, field.name), f"{path}.{field.name}", found)
        for name, attribute in vars(type(value)).items():
            if isinstance(attribute, property):
                find_floats(getattr(value, name), f"{path}.{name}", found)
    else:
        raise AssertionError(f"unexpected {type(value).__name__} at {path}")
    return found


def count_decimals(value: object) -> int:
    if isinstance(value, Decimal):
        return 1
    if isinstance(value, Mapping):
        return sum(count_decimals(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(count_decimals(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(count_decimals(getattr(value, f.name)) for f in dataclasses.fields(value))
    return 0


def realistic_outputs() -> list[object]:
    """Outcomes and figures of every kind: fills, fees, funding, realisation, liquidation."""
    plain = market(XBTUSDT, ETHUSDT, XBTUSD, XBTUSDT="20000", ETHUSDT="1000", XBTUSD="100")
    fee_market = market(*BUILT_IN_INSTRUMENTS.values(), XBTUSDT="20000", XBTUSD="50000")
    outputs: list[object] = []
    step = deposit(Account(), "USDT", D("10000"))
    outputs.append(step)
    step = place_order(step.account, fee_market, "XBTUSDT", Side.BUY, D("0.123"))
    outputs.append(step)
    outputs.append(account_figures(step.account, fee_market))
    mkt = fee_market.with_mark("XBTUSDT", D("20345.67"))
    outputs.append(realise_profit(step.account, mkt))
    outputs.append(pay_funding(step.account, mkt, "XBTUSDT", D("0.0001")))
    outputs.append(close_position(step.account, mkt, "XBTUSDT"))
    isolated = opened(
        funded(XBT="100"), plain, "XBTUSD", Side.BUY, "10000", MarginMode.ISOLATED, 25
    )
    outputs.append(margin_limits(isolated, plain, "XBTUSD"))
    outputs.append(change_margin(isolated, plain, "XBTUSD", D("1.5")))
    crashed = plain.with_mark("XBTUSD", D("94"))
    outputs.append(apply_mark(isolated, crashed, "XBTUSD"))
    outputs.append(account_figures(isolated, plain.with_mark("XBTUSD", D("97.5"))))
    outputs.append(engine.liquidation_cushions(isolated, plain.with_mark("XBTUSD", D("97.5"))))
    outputs.append(reset_account(isolated, {"XBT": D("1")}))
    outputs.append(set_leverage(isolated, plain, "XBTUSD", MarginMode.CROSS, D(10)))
    folders = [ROOT / "scenarios", ROOT.parent / "shared" / "scenarios"]
    paths = [path for folder in folders if folder.is_dir() for path in folder.glob("*.json")]
    for path in sorted(paths):
        scenario = parse_scenario(path.read_bytes())
        outputs.append(scenario)
        result = run_scenario(scenario)
        outputs.append(result.records)
        outputs.extend(record.values() for record in result.records)
        outputs.append(result.to_json())
    return outputs


def test_no_float_anywhere_in_a_realistic_run() -> None:
    outputs = realistic_outputs()
    assert count_decimals(outputs) > 200
    assert find_floats(outputs, "outputs") == []


def test_walker_finds_a_float() -> None:
    @dataclasses.dataclass
    class Holder:
        inner: tuple[object, ...]

        @property
        def derived(self) -> float:
            return 1.5

    assert find_floats(Holder(({"a": 0.5},)), "h") == ["h.inner[0]['a']", "h.derived"]


# ------------------------------------------------------------------------- no Django


def imported_modules(path: Path) -> list[tuple[int, str]]:
    modules: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.extend((0, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            modules.append((node.level, node.module or ""))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and getattr(node.func, "id", getattr(node.func, "attr", "")) == "import_module"
        ):
            modules.append((0, ast.unparse(node)))
    return modules


def test_engine_source_imports_only_the_standard_library_and_itself() -> None:
    files = sorted(ENGINE.glob("*.py"))
    assert files
    for path in files:
        for level, module in imported_modules(path):
            assert "django" not in module.lower(), f"{path.name} imports {module}"
            if level == 0:
                top = module.split(".")[0]
                assert top in sys.stdlib_module_names or top == "__future__", (
                    f"{path.name} imports {module}, which is not the standard library"
                )
            else:
                assert level == 1, f"{path.name} imports from outside the engine: {module}"


def test_importing_the_engine_loads_no_django() -> None:
    code = (
        "import sys\n"
        "import sandbox.engine, sandbox.engine.scenario\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'django')\n"
        "print(','.join(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == ""
