"""The simulated price path: replayable, exact (Decimal only), on the tick grid, and with
roughly the statistics of the geometric Brownian motion it claims to be."""

from __future__ import annotations

import decimal
from decimal import Decimal

import pytest

from sandbox.engine.money import engine_context
from sandbox.engine.pricepath import (
    SECONDS_PER_DAY,
    SECONDS_PER_YEAR,
    PriceProcess,
    gap_price,
    next_price,
    round_to_tick,
)

D = Decimal
HALF = D("0.5")
XBT_START = D(60000)
ONE_SECOND = D(1)
FLAT = PriceProcess(volatility=D(0), drift=D(0))


def step(
    process: PriceProcess,
    *,
    seed: int = 7,
    symbol: str = "XBTUSDT",
    tick: int = 1,
    price: Decimal = XBT_START,
    seconds: Decimal = ONE_SECOND,
    tick_size: Decimal = HALF,
) -> Decimal:
    return next_price(
        process,
        seed=seed,
        symbol=symbol,
        tick=tick,
        price=price,
        seconds=seconds,
        tick_size=tick_size,
    )


def path(
    process: PriceProcess,
    *,
    seed: int,
    count: int,
    seconds: Decimal,
    price: Decimal = XBT_START,
    tick_size: Decimal = HALF,
    symbol: str = "XBTUSDT",
) -> list[Decimal]:
    prices = [price]
    for tick in range(1, count + 1):
        prices.append(
            next_price(
                process,
                seed=seed,
                symbol=symbol,
                tick=tick,
                price=prices[-1],
                seconds=seconds,
                tick_size=tick_size,
            )
        )
    return prices


def log_returns(prices: list[Decimal]) -> list[Decimal]:
    with decimal.localcontext(engine_context()):
        return [(b / a).ln() for a, b in zip(prices, prices[1:], strict=False)]


def mean_and_stdev(values: list[Decimal]) -> tuple[Decimal, Decimal]:
    with decimal.localcontext(engine_context()):
        n = D(len(values))
        mean = sum(values, D(0)) / n
        variance = sum(((v - mean) ** 2 for v in values), D(0)) / (n - 1)
        return mean, variance.sqrt()


# ------------------------------------------------------------------------- determinism


def test_the_same_seed_symbol_tick_and_price_give_the_same_price() -> None:
    process = PriceProcess()
    first = [step(process, seed=42, tick=t) for t in range(1, 21)]
    again = [step(process, seed=42, tick=t) for t in range(1, 21)]

    assert first == again
    assert path(process, seed=42, count=50, seconds=D(1)) == path(
        process, seed=42, count=50, seconds=D(1)
    )


def test_known_values_do_not_change_between_machines() -> None:
    """Pinned output of seed 1: a change of the hash, the draws or the rounding shows."""
    process = PriceProcess()
    prices = [step(process, seed=1, tick=t) for t in range(1, 6)]

    assert prices == [D("59999.0"), D("59998.5"), D("59996.0"), D("60001.5"), D("60002.5")]


def test_different_seeds_give_different_paths() -> None:
    process = PriceProcess()
    one = path(process, seed=1, count=30, seconds=D(60))
    two = path(process, seed=2, count=30, seconds=D(60))

    assert one != two
    # Not one coincidence: most steps differ.
    assert sum(a != b for a, b in zip(one[1:], two[1:], strict=True)) >= 25


def test_different_symbols_and_ticks_draw_differently() -> None:
    process = PriceProcess()
    xbt = [step(process, symbol="XBTUSDT", tick=t, tick_size=D("0.01")) for t in range(1, 21)]
    xbtusd = [step(process, symbol="XBTUSD", tick=t, tick_size=D("0.01")) for t in range(1, 21)]

    assert xbt != xbtusd
    assert len(set(xbt)) > 15  # the tick number enters the draw


def test_the_callers_decimal_context_does_not_change_the_price() -> None:
    process = PriceProcess()
    expected = [step(process, tick=t) for t in range(1, 11)]
    with decimal.localcontext(decimal.Context(prec=6, rounding=decimal.ROUND_DOWN)):
        inside = [step(process, tick=t) for t in range(1, 11)]

    assert inside == expected


# ------------------------------------------------------------------ the grid and exactness


@pytest.mark.parametrize(
    ("symbol", "price", "tick_size"),
    [
        ("XBTUSDT", D("60000"), D("0.5")),
        ("ETHUSDT", D("3000"), D("0.01")),
        ("SOLUSDT", D("150"), D("0.01")),
        ("XBTUSD", D("60000"), D("0.5")),
    ],
)
def test_prices_are_positive_decimal_multiples_of_the_tick(
    symbol: str, price: Decimal, tick_size: Decimal
) -> None:
    # A violent process (high volatility, large downward jumps) over long steps.
    process = PriceProcess(
        volatility=D("3"),
        drift=D("-2"),
        jump_intensity=D("2"),
        jump_mean=D("-0.3"),
        jump_volatility=D("0.2"),
    )
    prices = path(process, seed=99, count=200, seconds=SECONDS_PER_DAY, price=price, symbol=symbol)

    for value in prices[1:]:
        assert type(value) is Decimal
        assert value > 0
        assert value % tick_size == 0, value
        assert value >= tick_size


def test_a_price_never_rounds_below_one_tick() -> None:
    # A fall of 99.9999% from 1.00 would be 0.000001: it stays at one tick.
    assert round_to_tick(D("0.000001"), D("0.01")) == D("0.01")
    assert gap_price(D("1"), D("-99.9999"), D("0.01")) == D("0.01")


def test_rounding_to_the_tick_is_half_even() -> None:
    assert round_to_tick(D("100.25"), HALF) == D("100.0")  # 200.5 ticks → 200
    assert round_to_tick(D("100.75"), HALF) == D("101.0")  # 201.5 ticks → 202
    assert round_to_tick(D("100.26"), HALF) == D("100.5")
    assert round_to_tick(D("3003.0015005"), D("0.01")) == D("3003.00")


def test_a_float_is_refused_not_converted() -> None:
    with pytest.raises(TypeError):
        step(PriceProcess(), price=60000.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        step(PriceProcess(), seconds=1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        gap_price(D(60000), -10.0, HALF)  # type: ignore[arg-type]


def test_the_default_process_is_all_decimal() -> None:
    process = PriceProcess()
    for name in ("volatility", "drift", "jump_intensity", "jump_mean", "jump_volatility"):
        assert type(getattr(process, name)) is Decimal


# --------------------------------------------------------------------- drift, no noise


def test_zero_volatility_and_zero_drift_keep_the_price() -> None:
    for tick in range(1, 51):
        assert step(FLAT, tick=tick, seconds=D(600)) == D(60000)
    assert step(FLAT, price=D("3000.01"), tick_size=D("0.01"), seconds=SECONDS_PER_YEAR) == D(
        "3000.01"
    )
    assert path(FLAT, seed=3, count=100, seconds=SECONDS_PER_DAY) == [D(60000)] * 101


def test_zero_volatility_with_jumps_disabled_ignores_the_jump_settings() -> None:
    process = PriceProcess(
        volatility=D(0), drift=D(0), jump_intensity=D(0), jump_mean=D("-0.5"), jump_volatility=D(1)
    )
    assert {step(process, tick=t, seconds=SECONDS_PER_DAY) for t in range(1, 101)} == {D(60000)}


def test_negative_drift_falls_by_exactly_exp_of_drift_times_time() -> None:
    # One year at drift -0.5: 60000 × e^-0.5 = 36391.8395827…, to the tick 0.5 → 36392.0.
    process = PriceProcess(volatility=D(0), drift=D("-0.5"))
    assert step(process, seconds=SECONDS_PER_YEAR) == D("36392.0")

    # A tenth of a year at drift -1: 3000 × e^-0.1 = 2714.51225…, to the cent → 2714.51.
    process = PriceProcess(volatility=D(0), drift=D("-1"))
    assert step(process, price=D(3000), seconds=SECONDS_PER_YEAR / 10, tick_size=D("0.01")) == D(
        "2714.51"
    )

    # The same with the expected value computed, not typed: every tick number agrees.
    with decimal.localcontext(engine_context()):
        expected = round_to_tick(D(60000) * D("-0.05").exp(), HALF)
    process = PriceProcess(volatility=D(0), drift=D("-0.05"))
    assert {step(process, tick=t, seconds=SECONDS_PER_YEAR) for t in range(1, 21)} == {expected}
    assert expected == D("57074.0")  # 60000 × e^-0.05 = 57073.77…


def test_a_positive_drift_compounds_step_by_step() -> None:
    # drift 31536 a year is exactly 0.001 a second: each step multiplies by e^0.001.
    process = PriceProcess(volatility=D(0), drift=D(31536))
    prices = path(process, seed=5, count=3, seconds=D(1), price=D(3000), tick_size=D("0.01"))

    assert prices == [D("3000"), D("3003.00"), D("3006.00"), D("3009.01")]


# ----------------------------------------------------------------------------- gaps


@pytest.mark.parametrize(
    ("price", "percent", "tick_size", "expected"),
    [
        (D("60000"), D("-10"), HALF, D("54000.0")),
        (D("60000"), D("-9.5"), HALF, D("54300.0")),
        (D("60000"), D("-20"), HALF, D("48000.0")),
        (D("60000"), D("5"), HALF, D("63000.0")),
        (D("60000"), D("900"), HALF, D("600000.0")),
        (D("60000"), D("-90"), HALF, D("6000.0")),
        (D("60000"), D("-33.3"), HALF, D("40020.0")),
        (D("60000"), D("0.0001"), HALF, D("60000.0")),  # 0.06 up: under half a tick
        (D("60600"), D("1"), HALF, D("61206.0")),
        (D("3000"), D("-7.77"), D("0.01"), D("2766.90")),
        (D("150"), D("5"), D("0.01"), D("157.50")),
        (D("150.01"), D("-10"), D("0.01"), D("135.01")),  # 135.009 → 135.01
    ],
)
def test_gap_price_exact_values(
    price: Decimal, percent: Decimal, tick_size: Decimal, expected: Decimal
) -> None:
    result = gap_price(price, percent, tick_size)

    assert type(result) is Decimal
    assert result == expected


# ---------------------------------------------------------------------- the statistics


def test_log_returns_have_roughly_the_gbm_mean_and_stdev() -> None:
    """3000 hourly steps at 80% volatility: per step σ√t ≈ 0.00855, mean (μ − σ²/2)t.

    The seed is fixed, so the test is deterministic; the bounds are a few standard errors
    wide, so a wrong formula (σ instead of σ√t, a missing ½σ², a biased draw) fails it.
    """
    sigma, drift, seconds, count = D("0.8"), D("2"), D(3600), 3000
    process = PriceProcess(volatility=sigma, drift=drift)
    prices = path(process, seed=2024, count=count, seconds=seconds, tick_size=D("0.00000001"))
    mean, stdev = mean_and_stdev(log_returns(prices))

    with decimal.localcontext(engine_context()):
        years = seconds / SECONDS_PER_YEAR
        expected_mean = (drift - sigma * sigma / 2) * years  # ≈ 0.000192
        expected_stdev = sigma * years.sqrt()  # ≈ 0.00855
        standard_error = expected_stdev / D(count).sqrt()  # ≈ 0.000156

    assert abs(mean - expected_mean) < 4 * standard_error, (mean, expected_mean)
    assert abs(stdev / expected_stdev - 1) < D("0.08"), (stdev, expected_stdev)


def test_the_draws_are_centred_and_spread_like_a_standard_normal() -> None:
    """The same check on many independent one-step moves from the same price."""
    sigma, seconds = D("1"), SECONDS_PER_YEAR / 365
    process = PriceProcess(volatility=sigma, drift=sigma * sigma / 2)  # zero mean log return
    start = D(60000)
    prices = [
        step(process, seed=11, tick=t, price=start, seconds=seconds, tick_size=D("0.00000001"))
        for t in range(1, 2001)
    ]
    with decimal.localcontext(engine_context()):
        returns = [(p / start).ln() for p in prices]
        per_step = sigma * (seconds / SECONDS_PER_YEAR).sqrt()
    mean, stdev = mean_and_stdev(returns)

    assert abs(mean) < 4 * per_step / D(2000).sqrt()
    assert abs(stdev / per_step - 1) < D("0.08")
    # Both directions occur, about equally often.
    ups = sum(p > start for p in prices)
    assert 900 < ups < 1100


def test_jumps_happen_about_as_often_as_their_intensity_says() -> None:
    # No diffusion; a jump is exactly −5%: chance per hourly step = 6 / 24 = 0.25.
    process = PriceProcess(
        volatility=D(0),
        drift=D(0),
        jump_intensity=D(6),
        jump_mean=D("-0.05"),
        jump_volatility=D(0),
    )
    with decimal.localcontext(engine_context()):
        jumped = round_to_tick(D(60000) * D("-0.05").exp(), HALF)
    results = [step(process, seed=8, tick=t, seconds=D(3600)) for t in range(1, 2001)]

    assert set(results) == {D(60000), jumped}
    share = D(results.count(jumped)) / D(len(results))
    assert D("0.22") < share < D("0.28"), share
