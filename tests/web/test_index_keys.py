"""The liquidation index is conservative: marks inside a cross-linked account's bands can
never leave any of its positions at or through liquidation (hypothesis)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox import engine
from sandbox.desk.services import KEY_SCALE, index_keys
from sandbox.engine import BUILT_IN_INSTRUMENTS, MarginMode, Side

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
