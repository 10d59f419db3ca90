"""The market an account trades in, handed to another process."""

from __future__ import annotations

import pickle
from decimal import Decimal

import pytest

from sandbox import engine

from .helpers import XBTUSD, XBTUSDT


def test_a_market_pickles_to_an_equal_market_with_the_same_instruments_and_marks() -> None:
    market = engine.Market(
        {"XBTUSDT": XBTUSDT, "XBTUSD": XBTUSD},
        {"XBTUSDT": Decimal("60000.5"), "XBTUSD": Decimal("59999")},
    )

    copy = pickle.loads(pickle.dumps(market))

    assert copy == market
    assert copy.mark("XBTUSDT") == Decimal("60000.5")
    assert copy.instrument("XBTUSD") == XBTUSD
    with pytest.raises(TypeError):
        copy.marks["XBTUSDT"] = Decimal(1)  # type: ignore[index]
