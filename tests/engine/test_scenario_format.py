"""Scenario files: reading them (shared/scenarios/FORMAT.md) and the output contract."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest

from sandbox.engine import BUILT_IN_INSTRUMENTS, ContractKind, MarginMode, Side
from sandbox.engine.scenario import (
    BEYOND_PRECISION,
    ScenarioFormatError,
    ScenarioRun,
    check_expectations,
    figure_matches,
    parse_scenario,
    run_scenario,
)

D = Decimal

ETH = {"kind": "linear", "settle": "USDT", "maint_margin_rate": "0.01", "max_leverage": "50"}
XBT = {"kind": "inverse", "settle": "XBT", "maint_margin_rate": "0.01", "max_leverage": "100"}


def text(*steps: dict[str, Any], instruments: dict[str, Any] | None = None) -> str:
    return json.dumps(
        {
            "name": "test",
            "instruments": {"ETHUSDT": ETH, "XBTUSD": XBT} if instruments is None else instruments,
            "steps": list(steps),
        },
        indent=1,
    )


def run(*steps: dict[str, Any]) -> ScenarioRun:
    return run_scenario(parse_scenario(text(*steps)))


KAREN_OPEN = (
    {"op": "deposit", "currency": "USDT", "amount": "10000"},
    {"op": "mark", "symbol": "ETHUSDT", "price": "1000"},
    {"op": "leverage", "symbol": "ETHUSDT", "mode": "cross", "leverage": "50"},
    {"op": "order", "symbol": "ETHUSDT", "side": "buy", "qty": "20"},
)
ISOLATED_OPEN = (
    {"op": "deposit", "currency": "XBT", "amount": "100"},
    {"op": "mark", "symbol": "XBTUSD", "price": "100"},
    {"op": "leverage", "symbol": "XBTUSD", "mode": "isolated", "leverage": "25"},
    {"op": "order", "symbol": "XBTUSD", "side": "buy", "qty": "10000"},
)


# --------------------------------------------------------------------------- parsing


def test_parsing_a_file() -> None:
    scenario = parse_scenario(
        text(*KAREN_OPEN, {"op": "close", "symbol": "ETHUSDT", "note": "done", "lesson": 3})
    )
    assert scenario.name == "test"
    assert [s.index for s in scenario.steps] == [0, 1, 2, 3, 4]
    assert [s.op for s in scenario.steps] == ["deposit", "mark", "leverage", "order", "close"]
    assert scenario.steps[0].args == {"currency": "USDT", "amount": D("10000")}
    assert scenario.steps[2].args["mode"] is MarginMode.CROSS
    assert scenario.steps[3].args["side"] is Side.BUY
    assert scenario.steps[4].note == "done"
    assert scenario.steps[4].extra == {"lesson": D("3")}
    assert scenario.steps[4].expect is None
    # Built-in instruments stay available next to the file's own.
    assert set(BUILT_IN_INSTRUMENTS) <= set(scenario.instruments)


def test_a_file_instrument_takes_the_formats_defaults_not_the_built_in_table() -> None:
    scenario = parse_scenario(
        text(instruments={"XBTUSDT": {}, "FOO": {"kind": "inverse", "settle": "FOO"}})
    )
    xbt = scenario.instruments["XBTUSDT"]
    # kind and settle may come from the built-in table; the numbers are the format's.
    assert (xbt.kind, xbt.settle) == (ContractKind.LINEAR, "USDT")
    assert (xbt.maint_margin_rate, xbt.max_leverage, xbt.taker_fee) == (D("0.005"), 100, 0)
    assert BUILT_IN_INSTRUMENTS["XBTUSDT"].taker_fee == D("0.0005")
    foo = scenario.instruments["FOO"]
    assert (foo.kind, foo.settle) == (ContractKind.INVERSE, "FOO")


def test_json_numbers_are_read_as_exact_decimals() -> None:
    scenario = parse_scenario(
        text(
            {"op": "deposit", "currency": "USDT", "amount": 0.1},
            {"op": "deposit", "currency": "USDT", "amount": 1e-3},
            {"op": "deposit", "currency": "USDT", "amount": 12345678901234567890.123456789},
            {"op": "deposit", "currency": "USDT", "amount": 1.10},
        )
    )
    amounts = [s.args["amount"] for s in scenario.steps]
    assert all(type(a) is Decimal for a in amounts)
    # json.dumps writes 1e-3 as 0.001 and 1.10 as 1.1 (it is a float here); the exact text
    # matters more than the dump, so check the raw text path too.
    assert amounts[0] == D("0.1")
    assert amounts[1] == D("0.001")
    assert amounts[3] == D("1.1")
    raw = (
        '{"steps": [{"op": "deposit", "currency": "USDT", '
        '"amount": 12345678901234567890.123456789},'
        '{"op": "mark", "symbol": "XBTUSDT", "price": 1.10},'
        '{"op": "mark", "symbol": "XBTUSDT", "price": 1E+3},'
        '{"op": "mark", "symbol": "XBTUSDT", "price": 7,'
        ' "expect": {"index": 3, "balances": {"USDT": {"wallet_balance": 0.30}}}}]}'
    )
    steps = parse_scenario(raw).steps
    assert steps[0].args["amount"] == D("12345678901234567890.123456789")
    assert str(steps[1].args["price"]) == "1.10"
    assert steps[2].args["price"] == 1000
    assert type(steps[3].args["price"]) is Decimal
    assert steps[3].expect == {"index": 3, "balances": {"USDT": {"wallet_balance": D("0.30")}}}
    assert str(steps[3].expect["balances"]["USDT"]["wallet_balance"]) == "0.30"


def test_leverage_may_be_left_out_in_cross_mode() -> None:
    result = run(
        {"op": "leverage", "symbol": "ETHUSDT", "mode": "cross"},
        {"op": "deposit", "currency": "USDT", "amount": "1000"},
        {"op": "mark", "symbol": "ETHUSDT", "price": "1000"},
        {"op": "order", "symbol": "ETHUSDT", "side": "buy", "qty": "1"},
    )
    assert result.records[3].values()["positions"]["ETHUSDT"]["leverage"] == 50


# --------------------------------------------------------------------- the records


BALANCE_KEYS = ["wallet_balance", "available_balance", "unrealised_pnl", "margin_balance"]
POSITION_KEYS = [
    "qty",
    "margin_mode",
    "leverage",
    "avg_cost_price",
    "avg_entry_price",
    "mark_price",
    "unrealised_pnl",
    "initial_margin",
    "maintenance_margin",
    "position_margin",
    "liquidation_price",
    "bankruptcy_price",
]
NUMBER = re.compile(r"^-?(0|[1-9]\d*)(\.\d{0,7}[1-9])?$")


def walk_numbers(record: dict[str, Any]) -> list[Any]:
    found: list[Any] = []
    for balance in record["balances"].values():
        found.extend(balance.values())
    for position in record["positions"].values():
        found.extend(v for k, v in position.items() if k != "margin_mode")
    found.extend(record["insurance_fund"].values())
    for event in record["events"]:
        found.extend(v for k, v in event.items() if k not in ("type", "symbol"))
    return found


def test_record_shape_and_key_names_are_the_formats() -> None:
    result = run(
        *ISOLATED_OPEN,
        {"op": "funding", "symbol": "XBTUSD", "rate": "0.0001"},
        {"op": "mark", "symbol": "XBTUSD", "price": "94"},
        {"op": "mark", "symbol": "XBTUSD", "price": "0"},
    )
    output = result.to_json()
    assert list(output) == ["steps"]
    records = output["steps"]
    assert [r["index"] for r in records] == list(range(7))
    for record in records:
        expected = ["index", "op", "ok", "balances", "positions", "insurance_fund", "events"]
        if not record["ok"]:
            expected.insert(3, "error")
        assert list(record) == expected
        assert isinstance(record["index"], int)
        assert isinstance(record["ok"], bool)
        for balance in record["balances"].values():
            assert list(balance) == BALANCE_KEYS
        for position in record["positions"].values():
            assert list(position) == POSITION_KEYS
    assert records[3]["positions"]["XBTUSD"]["margin_mode"] == "isolated"
    funding = records[4]["events"]
    assert funding == [{"type": "funding", "symbol": "XBTUSD", "amount": "-0.01"}]
    (liquidation,) = records[5]["events"]
    assert list(liquidation) == [
        "type",
        "symbol",
        "liquidation_price",
        "bankruptcy_price",
        "mark_price",
        "loss",
    ]
    assert liquidation["type"] == "liquidation"
    assert [r["op"] for r in records] == [
        "deposit",
        "mark",
        "leverage",
        "order",
        "funding",
        "mark",
        "mark",
    ]
    # It is JSON through and through.
    assert json.loads(json.dumps(output)) == output


def test_profit_realised_event_shape() -> None:
    result = run(
        *KAREN_OPEN,
        {"op": "mark", "symbol": "ETHUSDT", "price": "1100"},
        {"op": "realise"},
    )
    assert result.to_json()["steps"][5]["events"] == [
        {"type": "profit_realised", "symbol": "ETHUSDT", "amount": "2000"}
    ]


def test_decimals_are_plain_strings_with_at_most_eight_places() -> None:
    result = run(
        *ISOLATED_OPEN,
        {"op": "mark", "symbol": "XBTUSD", "price": "97.5"},
        {"op": "funding", "symbol": "XBTUSD", "rate": "0.00012345"},
        {"op": "mark", "symbol": "XBTUSD", "price": "94"},
        {"op": "deposit", "currency": "USDT", "amount": "1000000000000"},
    )
    seen = 0
    for record in result.to_json()["steps"]:
        for value in walk_numbers(record):
            if value is None:
                continue
            seen += 1
            assert isinstance(value, str)
            assert NUMBER.match(value), value
            assert value != "-0"
    assert seen > 50
    record = result.to_json()["steps"][3]
    assert record["positions"]["XBTUSD"]["liquidation_price"] == "97.08737864"
    assert record["positions"]["XBTUSD"]["unrealised_pnl"] == "0"
    assert result.to_json()["steps"][0]["insurance_fund"] == {"XBT": "0"}
    assert result.to_json()["steps"][7]["balances"]["USDT"]["wallet_balance"] == "1000000000000"


TINY = {"kind": "linear", "settle": "USDT", "maint_margin_rate": "0", "qty_step": "1"}


def test_a_price_below_eight_places_is_printed_with_its_digits_and_null_when_not_positive() -> None:
    # 1,000,000 at 1, isolated 2x (margin 500,000) plus 499,999.9999: bankrupt at
    # (1,000,000 − 999,999.9999) / 1,000,000 = 0.0000000001; plus 0.0001 more: no price.
    # An inverse long of 1 contract at 1 with 1,000,000,001 XBT behind it: 1 / 1,000,000,002.
    scenario = parse_scenario(
        text(
            {"op": "deposit", "currency": "USDT", "amount": "2000000"},
            {"op": "deposit", "currency": "XBT", "amount": "1000000001"},
            {"op": "mark", "symbol": "TINYUSDT", "price": "1"},
            {"op": "mark", "symbol": "XBTUSD", "price": "1"},
            {"op": "leverage", "symbol": "TINYUSDT", "mode": "isolated", "leverage": "2"},
            {"op": "order", "symbol": "TINYUSDT", "side": "buy", "qty": "1000000"},
            {"op": "add_margin", "symbol": "TINYUSDT", "amount": "499999.9999"},
            {"op": "leverage", "symbol": "XBTUSD", "mode": "isolated", "leverage": "1"},
            {"op": "order", "symbol": "XBTUSD", "side": "buy", "qty": "1"},
            {
                "op": "add_margin",
                "symbol": "XBTUSD",
                "amount": "1000000000",
                "expect": {"positions": {"XBTUSD": {"bankruptcy_price": "0.000000001001"}}},
            },
            {"op": "add_margin", "symbol": "TINYUSDT", "amount": "0.0001"},
            instruments={"TINYUSDT": TINY, "XBTUSD": {**XBT, "qty_step": "1"}},
        )
    )
    result = run_scenario(scenario)
    records = result.to_json()["steps"]
    assert all(record["ok"] for record in records)
    tiny = records[9]["positions"]["TINYUSDT"]
    assert (tiny["liquidation_price"], tiny["bankruptcy_price"]) == ("0.0000000001",) * 2
    assert records[9]["positions"]["XBTUSD"]["bankruptcy_price"] == "0.000000001"
    gone = records[10]["positions"]["TINYUSDT"]
    assert (gone["liquidation_price"], gone["bankruptcy_price"]) == (None, None)
    # A mismatch shows the tiny price with its digits, to as many places as expected.
    assert [str(m) for m in result.mismatches] == [
        "step 9 (add_margin): positions.XBTUSD.bankruptcy_price expected 0.000000001001, "
        "got 0.000000001"
    ]


def test_a_rejected_step_is_ok_false_with_an_error_and_changes_nothing() -> None:
    refusals = [
        {"op": "mark", "symbol": "ETHUSDT", "price": "0"},
        {"op": "mark", "symbol": "ETHUSDT", "price": "-5"},
        {"op": "order", "symbol": "ETHUSDT", "side": "buy", "qty": "0"},
        {"op": "order", "symbol": "ETHUSDT", "side": "buy", "qty": "1000"},
        {"op": "order", "symbol": "XBTUSD", "side": "buy", "qty": "1"},
        {"op": "close", "symbol": "XBTUSD"},
        {"op": "add_margin", "symbol": "ETHUSDT", "amount": "1"},
        {"op": "leverage", "symbol": "ETHUSDT", "mode": "isolated", "leverage": "51"},
        {"op": "deposit", "currency": "USDT", "amount": "0"},
        {"op": "deposit", "currency": "USDT", "amount": "0.000000001"},
    ]
    result = run(*KAREN_OPEN, {"op": "mark", "symbol": "ETHUSDT", "price": "990"}, *refusals)
    records = result.to_json()["steps"]
    previous = records[4]
    assert previous["ok"] is True
    for record in records[5:]:
        assert record["ok"] is False
        assert record["error"], record
        for key in ("balances", "positions", "insurance_fund"):
            assert record[key] == previous[key]
        assert record["events"] == []
    assert result.mismatches == ()
    assert "no mark price" in records[9]["error"]
    assert (
        "Margin can only be added to or removed from an isolated position" in records[11]["error"]
    )


def test_available_balance_is_floored_at_zero() -> None:
    result = run(
        {"op": "deposit", "currency": "USDT", "amount": "1000"},
        {"op": "mark", "symbol": "ETHUSDT", "price": "1000"},
        {"op": "order", "symbol": "ETHUSDT", "side": "buy", "qty": "20"},
        {"op": "mark", "symbol": "ETHUSDT", "price": "965"},
    )
    record = result.to_json()["steps"][3]
    # 1000 − 400 − 700 = −100, shown as 0; the position is still open.
    assert record["balances"]["USDT"]["available_balance"] == "0"
    assert record["balances"]["USDT"]["margin_balance"] == "300"
    assert "ETHUSDT" in record["positions"]


def test_positions_holds_open_positions_only() -> None:
    result = run(*KAREN_OPEN, {"op": "close", "symbol": "ETHUSDT"})
    records = result.to_json()["steps"]
    assert list(records[3]["positions"]) == ["ETHUSDT"]
    assert records[3]["positions"]["ETHUSDT"]["qty"] == "20"
    assert records[4]["positions"] == {}
    short = run(*KAREN_OPEN, {"op": "order", "symbol": "ETHUSDT", "side": "sell", "qty": "30"})
    assert short.to_json()["steps"][4]["positions"]["ETHUSDT"]["qty"] == "-10"


# ---------------------------------------------------------------------- expectations


def expect_on_last(*steps: dict[str, Any], expect: dict[str, Any]) -> list[str]:
    *head, last = steps
    return [str(m) for m in run(*head, {**last, "expect": expect}).mismatches]


def test_expectations_that_hold_report_nothing() -> None:
    assert (
        expect_on_last(
            *KAREN_OPEN,
            expect={
                "index": 3,
                "op": "order",
                "ok": True,
                "balances": {"USDT": {"available_balance": "9600", "wallet_balance": 10000}},
                "positions": {
                    "ETHUSDT": {"liquidation_price": "510", "margin_mode": "cross", "qty": 20},
                    "XBTUSD": None,
                },
                "insurance_fund": {"USDT": "0"},
                "events": [],
            },
        )
        == []
    )


def test_a_mismatch_names_step_figure_expected_and_actual() -> None:
    found = expect_on_last(
        *KAREN_OPEN,
        expect={
            "positions": {"ETHUSDT": {"liquidation_price": "511", "bankruptcy_price": None}},
            "balances": {"USDT": {"available_balance": "9600.5"}, "XBT": {"wallet_balance": 0}},
        },
    )
    assert sorted(found) == sorted(
        [
            "step 3 (order): positions.ETHUSDT.liquidation_price expected 511, got 510",
            "step 3 (order): positions.ETHUSDT.bankruptcy_price expected null, got 500",
            "step 3 (order): balances.USDT.available_balance expected 9600.5, got 9600",
            "step 3 (order): balances.XBT.wallet_balance expected 0, got null",
        ]
    )


def test_null_position_expectations() -> None:
    closed = (*KAREN_OPEN, {"op": "close", "symbol": "ETHUSDT"})
    assert expect_on_last(*closed, expect={"positions": {"ETHUSDT": None}}) == []
    assert expect_on_last(*KAREN_OPEN, expect={"positions": {"ETHUSDT": None}}) == [
        "step 3 (order): positions.ETHUSDT expected closed, got open"
    ]
    assert expect_on_last(*closed, expect={"positions": {"ETHUSDT": {"qty": "20"}}}) == [
        "step 4 (close): positions.ETHUSDT expected open, got no position"
    ]


def test_rejected_step_expectations() -> None:
    bad_mark = {"op": "mark", "symbol": "ETHUSDT", "price": "0"}
    assert expect_on_last(bad_mark, expect={"ok": False, "error": "ABOVE ZERO"}) == []
    assert expect_on_last(bad_mark, expect={"ok": True}) == [
        "step 0 (mark): ok expected true, got false"
    ]
    good = {"op": "deposit", "currency": "USDT", "amount": "1"}
    assert expect_on_last(good, expect={"error": "above zero"}) == [
        "step 0 (deposit): error expected above zero, got no error"
    ]


def test_events_matching() -> None:
    steps = (*ISOLATED_OPEN, {"op": "mark", "symbol": "XBTUSD", "price": "94"})
    hit = {"type": "liquidation", "symbol": "XBTUSD", "loss": "-4", "liquidation_price": "97.09"}
    assert expect_on_last(*steps, expect={"events": [hit]}) == []
    assert expect_on_last(*steps, expect={"events": [{"type": "liquidation"}]}) == []
    found = expect_on_last(*steps, expect={"events": [{**hit, "loss": "-4.1"}]})
    assert len(found) == 1
    assert found[0].startswith("step 4 (mark): events expected ")
    assert found[0].endswith("got liquidation XBTUSD")
    wrong = expect_on_last(*steps, expect={"events": [{"type": "liquidation", "symbol": "ETH"}]})
    assert len(wrong) == 1
    quiet = expect_on_last(*ISOLATED_OPEN, expect={"events": [{"type": "liquidation"}]})
    assert quiet[0].endswith("got no events")


@pytest.mark.parametrize(
    ("expected", "actual", "matches"),
    [
        (D("633.33"), D(1900) / D(3), True),
        (D("633.3"), D(1900) / D(3), True),
        (D("633.334"), D(1900) / D(3), False),
        (D("97"), D("97.087378640776699"), True),
        (D("97.09"), D("97.087378640776699"), True),
        (D("97.08"), D("97.087378640776699"), False),
        (D("97.0"), D("97.087378640776699"), False),
        (D("98"), D("97.5"), True),  # half-up
        (D("-6"), D("-6.38297872"), True),
        (D("-2.38297873"), D("-2.382978725"), True),
        (D("0"), D("0.4"), True),
        (D("0"), D("0.5"), False),
        (D("1E+2"), D("100.3"), True),
        (None, None, True),
        (None, D("1"), False),
        (D("1"), None, False),
        ("cross", "cross", True),
        ("cross", "isolated", False),
        (True, True, True),
        (False, True, False),
    ],
)
def test_figure_matches_rounds_the_actual_value_to_the_expected_places(
    expected: Any, actual: Any, matches: bool
) -> None:
    assert figure_matches(expected, actual) is matches


def test_check_expectations_without_expect_is_empty() -> None:
    result = run(*KAREN_OPEN)
    scenario = parse_scenario(text(*KAREN_OPEN))
    assert check_expectations(scenario.steps[3], result.records[3]) == []


# ------------------------------------------------------------------ malformed files


def step_file(step: object, before: tuple[dict[str, Any], ...] = KAREN_OPEN) -> str:
    return text(*before, step)  # type: ignore[arg-type]


MALFORMED: list[tuple[str, str, tuple[str, ...]]] = [
    ("unknown op", step_file({"op": "fly"}), ("step 4", "'op'", "fly")),
    ("op missing", step_file({"symbol": "ETHUSDT"}), ("step 4", "'op'")),
    ("step not an object", step_file(["deposit"]), ("step 4",)),
    (
        "missing field",
        step_file({"op": "deposit", "currency": "USDT"}),
        ("step 4", "'amount'", "missing"),
    ),
    (
        "missing leverage when isolated",
        step_file({"op": "leverage", "symbol": "ETHUSDT", "mode": "isolated"}),
        ("step 4", "'leverage'", "missing"),
    ),
    (
        "word for a number",
        step_file({"op": "deposit", "currency": "USDT", "amount": "ten"}),
        ("step 4", "'amount'", "not a number"),
    ),
    (
        "thousands separator",
        step_file({"op": "mark", "symbol": "ETHUSDT", "price": "1,000"}),
        ("step 4", "'price'", "not a number"),
    ),
    (
        "boolean for a number",
        step_file({"op": "order", "symbol": "ETHUSDT", "side": "buy", "qty": True}),
        ("step 4", "'qty'"),
    ),
    (
        "NaN as text",
        step_file({"op": "funding", "symbol": "ETHUSDT", "rate": "NaN"}),
        ("step 4", "'rate'"),
    ),
    (
        "Infinity as text",
        step_file({"op": "mark", "symbol": "ETHUSDT", "price": "Infinity"}),
        ("step 4", "'price'"),
    ),
    (
        "bare NaN",
        step_file({"op": "deposit", "currency": "USDT", "amount": "@"}).replace('"@"', "NaN"),
        ("step 4", "'amount'"),
    ),
    (
        "bare Infinity",
        step_file({"op": "mark", "symbol": "ETHUSDT", "price": "@"}).replace('"@"', "Infinity"),
        ("step 4", "'price'"),
    ),
    (
        "bad side",
        step_file({"op": "order", "symbol": "ETHUSDT", "side": "long", "qty": "1"}),
        ("step 4", "'side'", '"buy" or "sell"'),
    ),
    (
        "bad mode",
        step_file({"op": "leverage", "symbol": "ETHUSDT", "mode": "both", "leverage": "2"}),
        ("step 4", "'mode'", '"cross" or "isolated"'),
    ),
    (
        "unknown symbol",
        step_file({"op": "mark", "symbol": "DOGEUSDT", "price": "1"}),
        ("step 4", "'symbol'", "DOGEUSDT"),
    ),
    (
        "unknown expect key",
        step_file({"op": "realise", "expect": {"balance": {}}}),
        ("step 4", "'expect'", "balance"),
    ),
    (
        "misspelt balance figure",
        step_file({"op": "realise", "expect": {"balances": {"USDT": {"walet_balance": "1"}}}}),
        ("step 4", "'expect'", "walet_balance"),
    ),
    (
        "misspelt position figure",
        step_file({"op": "realise", "expect": {"positions": {"ETHUSDT": {"liq": "1"}}}}),
        ("step 4", "'expect'", "liq"),
    ),
    (
        "bad event type",
        step_file({"op": "realise", "expect": {"events": [{"type": "boom"}]}}),
        ("step 4", "'expect'", "type"),
    ),
    (
        "word for an expected figure",
        step_file({"op": "realise", "expect": {"balances": {"USDT": {"wallet_balance": "x"}}}}),
        ("step 4", "'expect'", "wallet_balance"),
    ),
    ("ok not a boolean", step_file({"op": "realise", "expect": {"ok": "yes"}}), ("step 4", "ok")),
]


@pytest.mark.parametrize(
    ("source", "fragments"),
    [(source, fragments) for _, source, fragments in MALFORMED],
    ids=[name for name, _, _ in MALFORMED],
)
def test_malformed_step_names_the_step_and_field(source: str, fragments: tuple[str, ...]) -> None:
    with pytest.raises(ScenarioFormatError) as info:
        parse_scenario(source)
    for fragment in fragments:
        assert fragment in info.value.message, info.value.message
    assert str(info.value) == info.value.message


def test_bad_json_names_line_and_column() -> None:
    source = '{\n  "steps": [\n    {"op": "deposit",, "currency": "USDT"}\n  ]\n}'
    with pytest.raises(ScenarioFormatError) as info:
        parse_scenario(source)
    assert info.value.message.startswith("line 3, column 22: not valid JSON")


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("[]", "the file"),
        ('{"name": "x"}', "'steps'"),
        ('{"steps": {}}', "'steps'"),
        ('{"name": 3, "steps": []}', "'name'"),
        ('{"steps": [], "instruments": {"FOO": {"kind": "linear"}}}', "instruments.FOO"),
        ('{"steps": [], "instruments": {"FOO": {"settle": "X"}}}', "'kind'"),
        (
            '{"steps": [], "instruments": {"ETHUSDT": {"max_leverage": "0"}}}',
            "'max_leverage'",
        ),
        (
            '{"steps": [], "instruments": {"ETHUSDT": {"maint_margin_rate": "1"}}}',
            "'maint_margin_rate'",
        ),
        ('{"steps": [], "instruments": {"ETHUSDT": {"qty_step": "0"}}}', "'qty_step'"),
        ('{"steps": [], "instruments": {"ETHUSDT": {"taker_fee": "lots"}}}', "'taker_fee'"),
    ],
)
def test_malformed_file_level_fields(source: str, fragment: str) -> None:
    with pytest.raises(ScenarioFormatError) as info:
        parse_scenario(source)
    assert fragment in info.value.message


def test_a_malformed_step_anywhere_fails_the_whole_file() -> None:
    # Steps 0–3 are fine; step 4 is not. Nothing is returned to run.
    with pytest.raises(ScenarioFormatError, match="step 4"):
        parse_scenario(step_file({"op": "deposit", "currency": "USDT", "amount": "x"}))


def test_scenario_bytes_are_accepted() -> None:
    scenario = parse_scenario(text(*KAREN_OPEN).encode())
    assert len(scenario.steps) == 4


# ------------------------------------------------------------------ number limits

LIMITS = "numbers in a scenario file must be below 10^31 and have at most 30 decimal places"


def deposit_of(amount: str) -> str:
    """A file whose one deposit is ``amount``; a bare "@" is replaced by JSON numerals."""
    return text({"op": "deposit", "currency": "USDT", "amount": amount})


def bare(numeral: str) -> str:
    return text({"op": "deposit", "currency": "USDT", "amount": "@"}).replace('"@"', numeral)


NUMBER_LIMITS: list[tuple[str, str, str]] = [
    ("1e31 as text", deposit_of("1e31"), "'1e31' is too large: " + LIMITS),
    ("1e31 as a JSON number", bare("1e31"), "1E+31 is too large: " + LIMITS),
    ("32 digits", deposit_of("1" + "0" * 31), "is too large: " + LIMITS),
    ("exponent of a billion", deposit_of("1e999999999"), "'1e999999999' is too large: "),
    (
        "exponent beyond a decimal's, as text",
        deposit_of("1e99999999999999999999"),
        "'1e99999999999999999999' is too large: " + LIMITS,
    ),
    (
        "exponent beyond a decimal's, as a JSON number",
        bare("1e99999999999999999999"),
        "1e99999999999999999999 is too large: " + LIMITS,
    ),
    (
        "negative exponent beyond a decimal's",
        deposit_of("1e-99999999999999999999"),
        "is too small: " + LIMITS,
    ),
    ("31 decimal places", deposit_of("0." + "0" * 30 + "1"), "has 31 decimal places: "),
    ("1e-31", deposit_of("1e-31"), "'1e-31' has 31 decimal places: " + LIMITS),
    ("a zero of a trillion places", deposit_of("0e-999999999999"), "has 999,999,999,999 decimal"),
    (
        "100,000 digits",
        deposit_of("1" * 100_000),
        "'11111111111111111111…11111111' (100,000 characters) is too large",
    ),
    (
        "100,000 digits as a JSON number",
        bare("1" * 100_000),
        "11111111111111111111…11111111 (100,000 characters) is too large",
    ),
    ("100,000 decimals", deposit_of("1." + "2" * 100_000), "has 100,000 decimal places"),
]


@pytest.mark.parametrize(
    ("source", "message"),
    [(source, message) for _, source, message in NUMBER_LIMITS],
    ids=[name for name, _, _ in NUMBER_LIMITS],
)
def test_numbers_beyond_the_limits_are_refused_with_the_limit_named(
    source: str, message: str
) -> None:
    with pytest.raises(ScenarioFormatError) as info:
        parse_scenario(source)
    assert "step 0 (deposit), field 'amount': " in info.value.message
    assert message in info.value.message
    assert len(info.value.message) < 300  # a 100,000-digit number is not echoed whole


def test_numbers_within_the_limits_are_read_exactly() -> None:
    largest = "9999999999999999999999999999999.999999999999999999999999999999"
    scenario = parse_scenario(
        text(
            {"op": "deposit", "currency": "USDT", "amount": "9.99999999999999999999999999999e30"},
            {"op": "mark", "symbol": "ETHUSDT", "price": "1e-30"},
            {"op": "mark", "symbol": "ETHUSDT", "price": largest},
            {"op": "funding", "symbol": "ETHUSDT", "rate": "0e999999999"},
            {"op": "funding", "symbol": "ETHUSDT", "rate": "-0.000000000000000000000000000000"},
        )
    )
    amounts = [
        next(v for v in step.args.values() if isinstance(v, Decimal)) for step in scenario.steps
    ]
    assert amounts == [D("9.99999999999999999999999999999e30"), D("1e-30"), D(largest), 0, 0]
    assert str(amounts[3]) == "0"  # 0e999999999 is read as plain zero


def test_figures_too_large_for_exact_money_make_a_rejected_step_not_a_crash() -> None:
    # Each number is within the limits, but 10^30 × 10^30 is not money the engine can keep
    # to 8 places at 50 digits: the step is refused with a sentence, nothing changes.
    big = {"kind": "linear", "settle": "USDT", "qty_step": "1e-30"}
    result = run_scenario(
        parse_scenario(
            text(
                {"op": "deposit", "currency": "USDT", "amount": "1e30"},
                {"op": "mark", "symbol": "BIGUSDT", "price": "1e30"},
                {"op": "order", "symbol": "BIGUSDT", "side": "buy", "qty": "1e30"},
                {"op": "order", "symbol": "BIGUSDT", "side": "buy", "qty": "1e-30"},
                instruments={"BIGUSDT": big},
            )
        )
    )
    records = result.to_json()["steps"]
    assert [r["ok"] for r in records] == [True, True, False, True]
    assert records[2]["error"] == (
        "This step needs an amount of about 10^57, too large for the engine: it keeps money "
        "exact to 8 decimal places only below 10^42."
    )
    assert records[2]["positions"] == {} and records[2]["balances"] == records[1]["balances"]
    # 10^-30 at 10^30: a value of 1, whole steps of 10^-30 however far apart the sizes are.
    assert records[3]["positions"]["BIGUSDT"]["qty"] == "0"  # 10^-30 shown to 8 places
    assert result.records[3].figures.positions["BIGUSDT"].qty == D("1e-30")


def test_figures_beyond_the_engines_digits_make_a_rejected_step_not_a_crash() -> None:
    # An inverse long bought at 10^-30 and marked at 10^31: its profit and its value at
    # entry agree to more than 50 digits, so realising it would leave no value at entry.
    inverse = {"kind": "inverse", "settle": "XBT", "qty_step": "0.1"}
    result = run_scenario(
        parse_scenario(
            text(
                {"op": "deposit", "currency": "XBT", "amount": "1e30"},
                {"op": "mark", "symbol": "INV", "price": "1e-30"},
                {"op": "order", "symbol": "INV", "side": "buy", "qty": "0.5"},
                {"op": "mark", "symbol": "INV", "price": "9.99999999999999999999999999999e30"},
                {"op": "realise"},
                instruments={"INV": inverse},
            )
        )
    )
    records = result.to_json()["steps"]
    assert [r["ok"] for r in records] == [True, True, True, True, False]
    assert records[4]["error"] == BEYOND_PRECISION
    assert records[4]["positions"] == records[3]["positions"]
    assert json.loads(json.dumps(records)) == records


def test_a_mismatch_on_a_huge_figure_is_reported_not_a_crash() -> None:
    # 30 expected places of a figure of 31 digits: more than 50 digits to show.
    found = expect_on_last(
        {"op": "deposit", "currency": "USDT", "amount": "9999999999999999999999.99999999"},
        expect={"balances": {"USDT": {"wallet_balance": "1." + "0" * 29 + "1"}}},
    )
    assert found == [
        "step 0 (deposit): balances.USDT.wallet_balance expected 1."
        + "0" * 29
        + "1, got 9999999999999999999999.99999999"
    ]
