"""The liquidation index is conservative: marks inside a cross-linked account's bands can
never leave any of its positions at or through liquidation (hypothesis); and a tick finds
the positions a mark reached through the indexes, never by scanning positions."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox import engine
from sandbox.desk import services
from sandbox.desk.services import KEY_SCALE, index_keys
from sandbox.engine import BUILT_IN_INSTRUMENTS, MarginMode, Side
from sandbox.live.services import candidates_query

D = Decimal
SYMBOLS = ("XBTUSDT", "ETHUSDT", "SOLUSDT")


@st.composite
def linked_accounts(draw: st.DrawFn) -> tuple[engine.Account, engine.Market]:
    market = engine.Market(BUILT_IN_INSTRUMENTS).with_mark("XBTUSDT", D(60000))
    market = market.with_mark("ETHUSDT", D(3000)).with_mark("SOLUSDT", D(150))
    account = engine.deposit(engine.Account(), "USDT", D(draw(st.integers(500, 20000)))).account
    held = draw(st.lists(st.sampled_from(SYMBOLS), min_size=2, max_size=3, unique=True))
    for symbol in held:
        inst = market.instrument(symbol)
        leverage = D(draw(st.integers(2, int(inst.max_leverage))))
        account = engine.set_leverage(account, market, symbol, MarginMode.CROSS, leverage).account
        steps = draw(st.integers(1, 2000))
        side = draw(st.sampled_from([Side.BUY, Side.SELL]))
        try:
            account = engine.place_order(
                account, market, symbol, side, inst.qty_step * steps
            ).account
        except engine.Rejected:
            continue
    return account, market


@settings(max_examples=200, deadline=None)
@given(linked_accounts(), st.data())
def test_marks_inside_the_bands_never_liquidate(
    case: tuple[engine.Account, engine.Market], data: st.DataObject
) -> None:
    account, market = case
    keys = index_keys(account, market)
    moved = market
    for symbol, columns in keys.items():
        low, high = columns["band_low_key"], columns["band_high_key"]
        if high is None and not low:
            continue  # not cross-linked: its liquidation key is exact instead
        low_price = max(D(low or 0) / KEY_SCALE, market.instrument(symbol).tick_size)
        high_price = D(high) / KEY_SCALE if high is not None else market.marks[symbol] * 10
        if not low_price < high_price:
            continue
        fraction = D(data.draw(st.integers(1, 999))) / 1000
        price = low_price + (high_price - low_price) * fraction
        moved = moved.with_mark(symbol, price)
    figures = engine.account_figures(account, moved)
    assert not any(p.at_or_through_liquidation for p in figures.positions.values())


# ------------------------------------------------------------------ the tick's query plan


@pytest.mark.django_db
def test_each_condition_of_the_candidate_query_is_an_index_range_scan(seeded: None) -> None:
    """A tick that reaches nobody must cost the same at 1,000 and 100,000 positions: every
    branch of the candidate query searches one of the (market, instrument, key) indexes,
    and none scans the positions (SQLite's plan; tests/scale checks PostgreSQL's)."""
    market = services.account_create().market
    marks = {"XBTUSDT": D(60000), "ETHUSDT": D(3000)}

    plan = candidates_query(market.pk, marks).explain()

    searches = [line for line in plan.splitlines() if "desk_position" in line]
    assert len(searches) == 6 * len(marks)
    assert not [line for line in searches if "SCAN" in line]
    used = sorted(line.split("USING INDEX ")[1].split(" ")[0] for line in searches)
    assert used == sorted(
        [
            "position_band_low",
            "position_band_high",
            "position_liquidation",
            "position_liquidation",
            "position_below",
            "position_above",
        ]
        * len(marks)
    )
    # The liquidation index is searched on all four columns (the side too), not on its
    # first two only.
    liquidation = [line for line in searches if "position_liquidation" in line]
    assert all("is_long=?" in line and "liquidation_key" in line for line in liquidation)
