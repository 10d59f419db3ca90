"""Simulated mark prices: geometric Brownian motion with optional jumps and gaps.

Exact and replayable. No float is used: the random numbers come from a hash of
(seed, symbol, tick number), turned into Decimal uniforms and then into normal variates
by the polar method (which needs only ``ln`` and ``sqrt``, both exact-context Decimal
operations). So tick *n* of a market always gives the same price from the same previous
price, on any machine, and a restarted server needs no random-number state to go on.

One step over ``dt`` simulated seconds::

    log return = (drift − volatility² / 2) · t + volatility · √t · Z   (+ a jump, sometimes)
    price      = previous × exp(log return), rounded to the instrument's tick size

where ``t`` is ``dt`` in years, ``Z`` is standard normal, and a jump (with probability
``jump_intensity`` per simulated day × the step's length in days) adds a normal log move of
mean ``jump_mean`` and spread ``jump_volatility``. A **gap** is a move applied in one
step, with no prices in between, so positions can be taken over beyond their liquidation
price.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from .money import ONE, ZERO, exact

SECONDS_PER_YEAR = Decimal(365 * 24 * 3600)
SECONDS_PER_DAY = Decimal(24 * 3600)
_TWO_64 = Decimal(2) ** 64


@dataclass(frozen=True, slots=True)
class PriceProcess:
    """How a market's prices move. Rates are annual; ``jump_intensity`` is per day."""

    volatility: Decimal = Decimal("0.8")
    drift: Decimal = ZERO
    jump_intensity: Decimal = ZERO
    jump_mean: Decimal = ZERO
    jump_volatility: Decimal = Decimal("0.05")


def _uniform(seed: int, symbol: str, tick: int, draw: int) -> Decimal:
    """A uniform number in (0, 1), the same for the same arguments everywhere."""
    digest = hashlib.blake2b(f"{seed}:{symbol}:{tick}:{draw}".encode(), digest_size=8).digest()
    return (Decimal(int.from_bytes(digest, "big")) + Decimal("0.5")) / _TWO_64


def _normal(seed: int, symbol: str, tick: int, stream: int) -> Decimal:
    """A standard normal variate (Marsaglia's polar method)."""
    draw = 0
    while True:
        u = 2 * _uniform(seed, symbol, tick, stream * 1000 + draw) - 1
        v = 2 * _uniform(seed, symbol, tick, stream * 1000 + draw + 1) - 1
        draw += 2
        s = u * u + v * v
        if 0 < s < 1:
            return u * (-2 * s.ln() / s).sqrt()


def round_to_tick(price: Decimal, tick_size: Decimal) -> Decimal:
    """The nearest multiple of the tick size, never below one tick."""
    ticks = (price / tick_size).quantize(ONE, rounding=ROUND_HALF_EVEN)
    return max(ticks, ONE) * tick_size


@exact
def next_price(
    process: PriceProcess,
    *,
    seed: int,
    symbol: str,
    tick: int,
    price: Decimal,
    seconds: Decimal,
    tick_size: Decimal,
) -> Decimal:
    """The mark after tick number ``tick``, ``seconds`` of simulated time after ``price``."""
    years = seconds / SECONDS_PER_YEAR
    sigma = process.volatility
    log_return = (process.drift - sigma * sigma / 2) * years
    log_return += sigma * years.sqrt() * _normal(seed, symbol, tick, 0)
    if process.jump_intensity > 0:
        chance = process.jump_intensity * seconds / SECONDS_PER_DAY
        if _uniform(seed, symbol, tick, 999_999) < chance:
            log_return += process.jump_mean + process.jump_volatility * _normal(
                seed, symbol, tick, 1
            )
    return round_to_tick(price * log_return.exp(), tick_size)


@exact
def gap_price(price: Decimal, percent: Decimal, tick_size: Decimal) -> Decimal:
    """The price after a gap of ``percent`` (negative for a fall), in one step."""
    return round_to_tick(price * (1 + percent / 100), tick_size)


@exact
def crash_moves(percent: Decimal, ticks: int) -> list[Decimal]:
    """Equal moves (in percent) that compound to a fall of ``percent`` over ``ticks``.

    The last move absorbs the rounding, so the whole fall is exactly ``percent``.
    """
    factor = (1 - percent / 100).ln() / ticks
    step = ((factor.exp() - 1) * 100).quantize(Decimal("0.0001"))
    moves = [step] * (ticks - 1)
    reached = Decimal(1)
    for move in moves:
        reached *= 1 + move / 100
    moves.append(((1 - percent / 100) / reached - 1) * 100)
    return moves


@exact
def path_moves(prices: list[Decimal]) -> list[Decimal]:
    """The moves, in percent, from each price of a path to the next."""
    return [(after / before - 1) * 100 for before, after in zip(prices, prices[1:], strict=False)]
