"""Scenario files: one paper account walked through a list of steps.

The format is the contract in ``shared/scenarios/FORMAT.md``. A file is validated whole
before anything runs (:func:`parse_scenario` raises :class:`ScenarioFormatError` naming
the step and field), so a malformed file is never half-run. :class:`ScenarioState`
applies steps one at a time (the lesson player uses it), and :func:`run_scenario` runs a
whole file and checks every ``expect``.

Choices the format leaves open, made here:

* An instrument the file defines is complete in itself: fields it leaves out take the
  format's defaults (maintenance margin rate 0.005, maximum leverage 100, taker fee 0),
  not the built-in table's. ``kind`` and ``settle`` may be left out only for a symbol the
  built-in table knows. ``qty_step``, ``funding_rate`` and ``tick_size`` are optional extras.
* ``leverage`` may be left out of a ``leverage`` step in cross mode: cross then uses the
  instrument's maximum leverage, as a symbol never configured does.
* A step that is well formed but refused by the rules (a mark of zero, a quantity of
  zero, too little balance...) is a *rejected* step: ``ok`` is false, with an ``error``,
  and every figure stays as it was. Only what cannot be read (unknown op or symbol, a
  missing field, a word where a number belongs, a bad side or mode) makes the file
  malformed.
* Keys a step does not use are ignored (lessons add their own); unknown keys inside
  ``expect`` are errors, since a misspelt figure would otherwise check nothing.
"""

from __future__ import annotations

import decimal
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .account import Account, Event, LiquidationEvent, MarginMode, Side, TriggerEvent
from .errors import Rejected
from .figures import AccountFigures, account_figures
from .instruments import BUILT_IN_INSTRUMENTS, ContractKind, Instrument
from .market import Market
from .money import (
    MONEY_PLACES,
    ZERO,
    decimal_places,
    exact,
    format_decimal,
    format_price,
    parse_decimal,
    price_places,
    round_half_up,
)
from .operations import (
    apply_mark,
    change_margin,
    close_position,
    deposit,
    pay_funding,
    place_order,
    realise_profit,
    set_leverage,
)


class ScenarioFormatError(Exception):
    """A file that cannot be read as a scenario; the message says where and why.

    ``errors`` lists every problem found (each step is checked, so a teacher sees them
    all at once); ``message`` is all of them, one a line.
    """

    def __init__(self, message: str, errors: Sequence[str] | None = None) -> None:
        self.errors = list(errors or [message])
        self.message = "\n".join(self.errors)
        super().__init__(self.message)


def step_lines(text: str | bytes) -> dict[int, int]:
    """The line each step of a scenario file starts on (for messages); {} if unreadable."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return {}
    decoder = json.JSONDecoder()

    def skip(i: int) -> int:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        return i

    try:
        i = skip(0)
        if text[i] != "{":
            return {}
        i += 1
        while True:
            i = skip(i)
            if text[i] == "}":
                return {}
            key, i = decoder.raw_decode(text, i)
            i = skip(i)
            i = skip(i + 1)  # the colon
            if key == "steps" and text[i] == "[":
                lines: dict[int, int] = {}
                i, index = i + 1, 0
                while True:
                    i = skip(i)
                    if text[i] == "]":
                        return lines
                    lines[index] = text.count("\n", 0, i) + 1
                    _, i = decoder.raw_decode(text, i)
                    i = skip(i)
                    if text[i] == ",":
                        i, index = i + 1, index + 1
            _, i = decoder.raw_decode(text, i)
            i = skip(i)
            if text[i] == ",":
                i += 1
    except (ValueError, IndexError):
        return {}


# ----------------------------------------------------------------------------- reading

OP_FIELDS: dict[str, tuple[str, ...]] = {
    "deposit": ("currency", "amount"),
    "mark": ("symbol", "price"),
    "leverage": ("symbol", "mode", "leverage"),
    "order": ("symbol", "side", "qty"),
    "close": ("symbol",),
    "add_margin": ("symbol", "amount"),
    "realise": (),
    "funding": ("symbol", "rate"),
}
NUMBER_FIELDS = {"amount", "price", "leverage", "qty", "rate"}
BALANCE_FIGURES = ("wallet_balance", "available_balance", "unrealised_pnl", "margin_balance")
POSITION_FIGURES = (
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
)
EVENT_FIGURES = ("liquidation_price", "bankruptcy_price", "mark_price", "loss", "amount")
EXPECT_KEYS = ("index", "op", "ok", "error", "balances", "positions", "insurance_fund", "events")
INSTRUMENT_NUMBERS = (
    "maint_margin_rate",
    "max_leverage",
    "taker_fee",
    "qty_step",
    "funding_rate",
    "tick_size",
)


@dataclass(frozen=True, slots=True)
class Step:
    index: int
    op: str
    args: Mapping[str, Any]
    note: str = ""
    expect: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    instruments: Mapping[str, Instrument]
    steps: tuple[Step, ...]
    source: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)  # keys the format leaves to others


class _Constant(str):
    """A bare NaN or Infinity in the JSON: kept so the error can name the step and field."""


def _read_constant(name: str) -> _Constant:
    return _Constant(name)


# The numbers a file may hold: below 10**31 in size, with at most 30 decimal places (so
# the smallest above zero is 10**-30). Within them the engine's 50-digit arithmetic keeps
# money exact; and a number like 1e999999999 or 100,000 digits is refused at once,
# before any arithmetic.
MAX_EXPONENT = 30
MAX_PLACES = 30
NUMBER_LIMITS = (
    f"numbers in a scenario file must be below 10^{MAX_EXPONENT + 1} and have at most "
    f"{MAX_PLACES} decimal places"
)
_NUMERAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


class _Numeral(str):
    """A JSON number beyond what a decimal can hold (1e99999999999999999999): kept as
    written so the error can name the step and field."""


def _read_numeral(text: str) -> Decimal | _Numeral:
    try:
        return Decimal(text)
    except decimal.InvalidOperation:
        return _Numeral(text)


def _quoted(value: object, *, quote: bool = True) -> str:
    """The value as written, for a message (text in quotes); a very long one is cut short."""
    text = value if isinstance(value, str) else str(value)
    shown = text if len(text) <= 40 else f"{text[:20]}…{text[-8:]}"
    if quote and isinstance(value, str) and not isinstance(value, _Numeral):
        shown = repr(shown)
    return shown if len(text) <= 40 else f"{shown} ({len(text):,} characters)"


def _number(value: object, where: str) -> Decimal:
    if isinstance(value, _Constant):
        raise ScenarioFormatError(f"{where}: {value} is not a finite number")
    if isinstance(value, Decimal):
        parsed: Decimal | None = value
    elif isinstance(value, str):
        parsed = parse_decimal(value)
        if parsed is None and _NUMERAL.fullmatch(value.strip()):
            # Well written, but with an exponent beyond what a decimal can hold.
            size = "small" if re.search(r"[eE]-", value) else "large"
            raise ScenarioFormatError(f"{where}: {_quoted(value)} is too {size}: {NUMBER_LIMITS}")
        if parsed is None:
            raise ScenarioFormatError(
                f'{where}: {_quoted(value)} is not a number (write it like "12.5")'
            )
    else:
        got = _quoted(json.dumps(value, default=str), quote=False)
        raise ScenarioFormatError(f"{where}: expected a number, got {got}")
    assert parsed is not None
    if not parsed.is_finite():
        raise ScenarioFormatError(f"{where}: {_quoted(value)} is not a finite number")
    if parsed.is_zero() and parsed.adjusted() > 0:
        return ZERO  # 0e999999999 is plain zero
    if parsed.adjusted() > MAX_EXPONENT:
        raise ScenarioFormatError(f"{where}: {_quoted(value)} is too large: {NUMBER_LIMITS}")
    if decimal_places(parsed) > MAX_PLACES:
        raise ScenarioFormatError(
            f"{where}: {_quoted(value)} has {decimal_places(parsed):,} decimal places: "
            f"{NUMBER_LIMITS}"
        )
    return parsed


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ScenarioFormatError(f"{where}: expected a non-empty text")
    return value


def _object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ScenarioFormatError(f"{where}: expected an object ({{...}})")
    return value


# How deep arrays and objects may nest in a scenario (or lesson) file. The format needs 8 at
# most; JSON's reader recurses once a level, so a file of 100,000 nested arrays would exhaust
# Python's stack before any message could be given.
MAX_NESTING = 20
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def check_nesting(text: str | bytes) -> None:
    """Refuse a file whose arrays and objects nest deeper than MAX_NESTING, counting the
    brackets outside strings (no recursion, so any depth is measured)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return  # not text: the JSON reader says so
    outside_strings = _JSON_STRING.sub('""', text)
    depth = 0
    for bracket in _BRACKET.finditer(outside_strings):
        depth += 1 if bracket.group() in "[{" else -1
        if depth > MAX_NESTING:
            line = outside_strings.count("\n", 0, bracket.start()) + 1
            raise ScenarioFormatError(
                f"line {line}: arrays and objects nest more than {MAX_NESTING} deep here; "
                f"a scenario or lesson file needs far fewer levels"
            )


def load_json(text: str | bytes) -> Any:
    """Parse JSON with every number as an exact Decimal (never a float)."""
    check_nesting(text)
    try:
        return json.loads(
            text, parse_float=_read_numeral, parse_int=_read_numeral, parse_constant=_read_constant
        )
    except json.JSONDecodeError as error:
        raise ScenarioFormatError(
            f"line {error.lineno}, column {error.colno}: not valid JSON ({error.msg})"
        ) from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ScenarioFormatError(f"not a readable scenario file: {error}") from None


def _instrument(symbol: str, spec: object) -> Instrument:
    where = f"instruments.{symbol}"
    data = _object(spec, where)
    built_in = BUILT_IN_INSTRUMENTS.get(symbol)
    kind_text = data.get("kind", built_in.kind.value if built_in else None)
    if kind_text not in ("linear", "inverse"):
        raise ScenarioFormatError(f'{where}, field \'kind\': expected "linear" or "inverse"')
    settle = data.get("settle", built_in.settle if built_in else None)
    settle = _text(settle, f"{where}, field 'settle'")
    numbers: dict[str, Decimal] = {}
    for name in INSTRUMENT_NUMBERS:
        if name in data:
            numbers[name] = _number(data[name], f"{where}, field '{name}'")
    instrument = Instrument(symbol=symbol, kind=ContractKind(kind_text), settle=settle, **numbers)
    checks = (
        ("maint_margin_rate", 0 <= instrument.maint_margin_rate < 1, "from 0 up to (not) 1"),
        ("max_leverage", instrument.max_leverage >= 1, "at least 1"),
        ("taker_fee", 0 <= instrument.taker_fee < 1, "from 0 up to (not) 1"),
        ("qty_step", instrument.qty_step > 0, "above 0"),
        ("tick_size", instrument.tick_size > 0, "above 0"),
    )
    for name, ok, wanted in checks:
        if not ok:
            raise ScenarioFormatError(f"{where}, field '{name}': must be {wanted}")
    return instrument


def _step(index: int, raw: object, instruments: Mapping[str, Instrument]) -> Step:
    where = f"step {index}"
    data = _object(raw, where)
    op = data.get("op")
    if op not in OP_FIELDS:
        known = ", ".join(OP_FIELDS)
        raise ScenarioFormatError(f"{where}, field 'op': {op!r} is not one of {known}")
    where = f"step {index} ({op})"
    args: dict[str, Any] = {}
    for name in OP_FIELDS[op]:
        here = f"{where}, field '{name}'"
        if name not in data:
            if op == "leverage" and name == "leverage" and data.get("mode") == "cross":
                continue
            raise ScenarioFormatError(f"{here}: missing")
        value = data[name]
        if name in NUMBER_FIELDS:
            args[name] = _number(value, here)
        elif name == "symbol":
            symbol = _text(value, here)
            if symbol not in instruments:
                raise ScenarioFormatError(
                    f"{here}: no instrument {symbol!r} in the file or the built-in table"
                )
            args[name] = symbol
        elif name == "side":
            if value not in ("buy", "sell"):
                raise ScenarioFormatError(f'{here}: expected "buy" or "sell"')
            args[name] = Side(value)
        elif name == "mode":
            if value not in ("cross", "isolated"):
                raise ScenarioFormatError(f'{here}: expected "cross" or "isolated"')
            args[name] = MarginMode(value)
        else:
            args[name] = _text(value, here)
    note = data.get("note", "")
    if not isinstance(note, str):
        raise ScenarioFormatError(f"{where}, field 'note': expected text")
    expect = None
    if "expect" in data:
        expect = _expectation(data["expect"], f"{where}, field 'expect'")
    extra = {k: v for k, v in data.items() if k not in {"op", "note", "expect", *OP_FIELDS[op]}}
    return Step(index=index, op=op, args=args, note=note, expect=expect, extra=extra)


def _figure(value: object, where: str, *, text: bool = False) -> Decimal | str | None:
    if value is None:
        return None
    if text:
        return _text(value, where)
    return _number(value, where)


def _figures(raw: object, names: Sequence[str], where: str) -> dict[str, Any]:
    data = _object(raw, where)
    result: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            raise ScenarioFormatError(f"{where}: {key!r} is not a figure that can be checked")
        result[key] = _figure(
            value, f"{where}.{key}", text=key in ("margin_mode", "type", "symbol")
        )
    return result


def _expectation(raw: object, where: str) -> dict[str, Any]:
    data = _object(raw, where)
    result: dict[str, Any] = {}
    for key, value in data.items():
        here = f"{where}.{key}"
        if key not in EXPECT_KEYS:
            raise ScenarioFormatError(f"{where}: {key!r} is not part of a step record")
        if key == "ok":
            if not isinstance(value, bool):
                raise ScenarioFormatError(f"{here}: expected true or false")
            result[key] = value
        elif key in ("op", "error"):
            result[key] = _text(value, here)
        elif key == "index":
            result[key] = _number(value, here)
        elif key == "balances":
            result[key] = {
                currency: _figures(figs, BALANCE_FIGURES, f"{here}.{currency}")
                for currency, figs in _object(value, here).items()
            }
        elif key == "positions":
            result[key] = {
                symbol: None
                if figs is None
                else _figures(figs, POSITION_FIGURES, f"{here}.{symbol}")
                for symbol, figs in _object(value, here).items()
            }
        elif key == "insurance_fund":
            result[key] = {
                currency: _number(amount, f"{here}.{currency}")
                for currency, amount in _object(value, here).items()
            }
        else:  # events
            if not isinstance(value, list):
                raise ScenarioFormatError(f"{here}: expected a list of events")
            events = []
            for number, event in enumerate(value):
                spot = f"{here}[{number}]"
                figures = _figures(event, ("type", "symbol", *EVENT_FIGURES), spot)
                if figures.get("type") not in ("liquidation", "profit_realised", "funding"):
                    raise ScenarioFormatError(
                        f'{spot}.type: expected "liquidation", "profit_realised" or "funding"'
                    )
                events.append(figures)
            result[key] = events
    return result


def parse_scenario(text: str | bytes) -> Scenario:
    """Read and validate a whole scenario file; raise ScenarioFormatError if anything is off."""
    data = _object(load_json(text), "the file")
    name = data.get("name", "")
    if not isinstance(name, str):
        raise ScenarioFormatError("field 'name': expected text")
    instruments: dict[str, Instrument] = dict(BUILT_IN_INSTRUMENTS)
    for symbol, spec in _object(data.get("instruments", {}), "field 'instruments'").items():
        instruments[symbol] = _instrument(symbol, spec)
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list):
        raise ScenarioFormatError("field 'steps': expected a list of steps")
    steps: list[Step] = []
    errors: list[str] = []
    lines: dict[int, int] | None = None
    for index, raw in enumerate(raw_steps):
        try:
            steps.append(exact(_step)(index, raw, instruments))
        except ScenarioFormatError as problem:
            if lines is None:
                lines = step_lines(text)
            where = f"line {lines[index]}, " if index in lines else ""
            errors.extend(where + error for error in problem.errors)
    if errors:
        raise ScenarioFormatError(errors[0], errors)
    source = data.get("source", "")
    return Scenario(
        name=name,
        instruments=instruments,
        steps=tuple(steps),
        source=source if isinstance(source, str) else "",
        extra={
            k: v for k, v in data.items() if k not in ("name", "instruments", "steps", "source")
        },
    )


# ----------------------------------------------------------------------------- running


@dataclass(frozen=True, slots=True)
class StepRecord:
    """The state after one step: what ``run_scenario`` prints for it."""

    index: int
    op: str
    ok: bool
    error: str
    figures: AccountFigures
    insurance_fund: Mapping[str, Decimal]
    events: tuple[Event, ...]

    def values(self) -> dict[str, Any]:
        """The record with exact values (Decimals and None), before formatting."""
        record: dict[str, Any] = {"index": self.index, "op": self.op, "ok": self.ok}
        if not self.ok:
            record["error"] = self.error
        record["balances"] = {
            currency: {
                "wallet_balance": b.wallet_balance,
                "available_balance": b.available_balance,
                "unrealised_pnl": b.unrealised_pnl,
                "margin_balance": b.margin_balance,
            }
            for currency, b in sorted(self.figures.balances.items())
        }
        record["positions"] = {
            symbol: {
                "qty": p.qty,
                "margin_mode": p.margin_mode.value,
                "leverage": p.leverage,
                "avg_cost_price": p.avg_cost_price,
                "avg_entry_price": p.avg_entry_price,
                "mark_price": p.mark_price,
                "unrealised_pnl": p.unrealised_pnl,
                "initial_margin": p.initial_margin,
                "maintenance_margin": p.maintenance_margin,
                "position_margin": p.position_margin,
                "liquidation_price": p.liquidation_price,
                "bankruptcy_price": p.bankruptcy_price,
            }
            for symbol, p in sorted(self.figures.positions.items())
        }
        record["insurance_fund"] = dict(sorted(self.insurance_fund.items()))
        record["events"] = [event_values(e) for e in self.events]
        return record

    def to_json(self) -> dict[str, Any]:
        formatted: dict[str, Any] = _formatted(self.values())
        return formatted


def event_values(event: Event) -> dict[str, Any]:
    if isinstance(event, LiquidationEvent):
        return {
            "type": event.type,
            "symbol": event.symbol,
            "liquidation_price": event.liquidation_price,
            "bankruptcy_price": event.bankruptcy_price,
            "mark_price": event.mark_price,
            "loss": event.loss,
        }
    if isinstance(event, TriggerEvent):
        return {
            "type": event.type,
            "symbol": event.symbol,
            "trigger_price": event.trigger_price,
            "mark_price": event.mark_price,
            "amount": event.realised_pnl,
        }
    return {"type": event.type, "symbol": event.symbol, "amount": event.amount}


PRICE_FIGURES = frozenset(
    {
        "avg_cost_price",
        "avg_entry_price",
        "mark_price",
        "liquidation_price",
        "bankruptcy_price",
        "trigger_price",
    }
)


def _formatted(value: Any, key: str = "") -> Any:
    """Decimals as plain strings with up to 8 places; a price keeps more places where 8
    would print a positive price as 0, and is null where it is not positive."""
    if isinstance(value, Decimal):
        return format_price(value) if key in PRICE_FIGURES else format_decimal(value)
    if isinstance(value, dict):
        return {k: _formatted(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_formatted(v) for v in value]
    return value


BEYOND_PRECISION = (
    "The engine cannot work this step out exactly: its figures are too far apart in size "
    "for the 50 significant digits it computes with. Use numbers closer in size."
)


class ScenarioState:
    """One account, its market and insurance fund, advanced one step at a time."""

    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self.account = Account()
        self.market = Market(instruments)
        self.insurance: dict[str, Decimal] = {}

    def apply(self, step: Step) -> StepRecord:
        """Apply a step; a step the rules refuse leaves everything as it was."""
        a = step.args
        actions: dict[str, Callable[[], tuple[Market, Any]]] = {
            "deposit": lambda: (self.market, deposit(self.account, a["currency"], a["amount"])),
            "mark": lambda: self._mark(a["symbol"], a["price"]),
            "leverage": lambda: (
                self.market,
                set_leverage(
                    self.account,
                    self.market,
                    a["symbol"],
                    a["mode"],
                    a.get("leverage", self.market.instrument(a["symbol"]).max_leverage),
                ),
            ),
            "order": lambda: (
                self.market,
                place_order(self.account, self.market, a["symbol"], a["side"], a["qty"]),
            ),
            "close": lambda: (self.market, close_position(self.account, self.market, a["symbol"])),
            "add_margin": lambda: (
                self.market,
                change_margin(self.account, self.market, a["symbol"], a["amount"]),
            ),
            "realise": lambda: (self.market, realise_profit(self.account, self.market)),
            "funding": lambda: (
                self.market,
                pay_funding(self.account, self.market, a["symbol"], a["rate"]),
            ),
        }
        try:
            market, outcome = actions[step.op]()
        except Rejected as refusal:
            return self._record(step, ok=False, error=refusal.message, events=())
        except decimal.DecimalException:
            # Figures of a file's extreme sizes (prices 10^60 apart, say) can need more
            # digits than the engine computes with; the step is refused, not half done.
            return self._record(step, ok=False, error=BEYOND_PRECISION, events=())
        self.market = market
        self.account = outcome.account
        for currency, change in outcome.insurance.items():
            self.insurance[currency] = self.insurance.get(currency, ZERO) + change
        return self._record(step, ok=True, error="", events=outcome.events)

    def _mark(self, symbol: str, price: Decimal) -> tuple[Market, Any]:
        market = self.market.with_mark(symbol, price)
        return market, apply_mark(self.account, market, symbol)

    def _record(self, step: Step, *, ok: bool, error: str, events: tuple[Event, ...]) -> StepRecord:
        figures = account_figures(self.account, self.market)
        insurance = dict.fromkeys(figures.balances, ZERO)
        insurance.update(self.insurance)
        return StepRecord(step.index, step.op, ok, error, figures, insurance, events)


# ------------------------------------------------------------------------ expectations


@dataclass(frozen=True, slots=True)
class Mismatch:
    index: int
    op: str
    figure: str
    expected: str
    actual: str

    def __str__(self) -> str:
        return (
            f"step {self.index} ({self.op}): {self.figure} expected {self.expected}, "
            f"got {self.actual}"
        )


def _shown(value: Any, path: str = "", places: int = MONEY_PLACES) -> str:
    if value is None:
        return "null"
    if isinstance(value, Decimal):
        # A positive price too small for the places is shown with its first digits, not 0.
        if path.rpartition(".")[2] in PRICE_FIGURES:
            return format_decimal(value, price_places(value, places))
        return format_decimal(value, places)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def figure_matches(expected: Any, actual: Any) -> bool:
    """A figure written with n decimals matches the actual value rounded half-up to n."""
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, Decimal):
        if not isinstance(actual, Decimal):
            return False
        return round_half_up(actual, decimal_places(expected)) == expected
    return bool(expected == actual)


@dataclass(frozen=True, slots=True)
class StatedFigure:
    """One figure a step states (its ``expect``), beside what the engine shows."""

    path: str  # "positions.ETHUSDT.liquidation_price", "events", ...
    expected: Any
    actual: Any
    agrees: bool

    @property
    def expected_text(self) -> str:
        """The expected figure as written (to its own places)."""
        if isinstance(self.expected, Decimal):
            return _shown(self.expected, self.path, decimal_places(self.expected))
        return _shown(self.expected, self.path)

    @property
    def actual_text(self) -> str:
        """The engine's figure, to 8 places or to as many as the expected figure has."""
        places = MONEY_PLACES
        if isinstance(self.expected, Decimal):
            places = max(places, decimal_places(self.expected))
        return _shown(self.actual, self.path, places)


def stated_figures(step: Step, record: StepRecord) -> list[StatedFigure]:
    """Every figure of ``step.expect``, each with the engine's value and whether they agree."""
    if not step.expect:
        return []
    actual = record.values()
    found: list[StatedFigure] = []

    def add(path: str, expected: Any, value: Any, agrees: bool | None = None) -> None:
        ok = figure_matches(expected, value) if agrees is None else agrees
        found.append(StatedFigure(path, expected, value, ok))

    for key, expected in step.expect.items():
        if key in ("ok", "op"):
            add(key, expected, actual[key])
        elif key == "index":
            add(key, expected, Decimal(actual[key]))
        elif key == "error":
            got = actual.get("error", "")
            add("error", expected, got or "no error", expected.casefold() in got.casefold())
        elif key == "balances":
            for currency, figures in expected.items():
                balance = actual["balances"].get(currency)
                for name, value in figures.items():
                    add(f"balances.{currency}.{name}", value, balance and balance[name])
        elif key == "insurance_fund":
            for currency, value in expected.items():
                add(f"insurance_fund.{currency}", value, actual["insurance_fund"].get(currency))
        elif key == "positions":
            for symbol, figures in expected.items():
                position = actual["positions"].get(symbol)
                if figures is None:
                    shown = "open" if position is not None else "closed"
                    add(f"positions.{symbol}", "closed", shown, position is None)
                elif position is None:
                    add(f"positions.{symbol}", "open", "no position", False)
                else:
                    for name, value in figures.items():
                        add(f"positions.{symbol}.{name}", value, position[name])
        else:  # events
            for wanted in expected:
                matched = any(
                    all(figure_matches(v, event.get(k)) for k, v in wanted.items())
                    for event in actual["events"]
                )
                seen = ", ".join(f"{e['type']} {e['symbol']}" for e in actual["events"])
                add("events", json.dumps(_formatted(wanted)), seen or "no events", matched)
    return found


def check_expectations(step: Step, record: StepRecord) -> list[Mismatch]:
    """Every figure of ``step.expect`` that the record does not show."""
    return [
        Mismatch(step.index, step.op, f.path, f.expected_text, f.actual_text)
        for f in stated_figures(step, record)
        if not f.agrees
    ]


@dataclass(frozen=True, slots=True)
class ScenarioRun:
    records: tuple[StepRecord, ...]
    mismatches: tuple[Mismatch, ...]

    def to_json(self) -> dict[str, Any]:
        return {"steps": [record.to_json() for record in self.records]}


def run_scenario(scenario: Scenario) -> ScenarioRun:
    state = ScenarioState(scenario.instruments)
    records: list[StepRecord] = []
    mismatches: list[Mismatch] = []
    for step in scenario.steps:
        record = state.apply(step)
        records.append(record)
        mismatches.extend(check_expectations(step, record))
    return ScenarioRun(tuple(records), tuple(mismatches))
