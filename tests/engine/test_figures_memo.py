"""The engine remembers the last figures it computed in a thread: an equal account on the
very same market gets them again (a tick's last liquidation check and the index written
after it); anything else is computed afresh."""

from __future__ import annotations

import threading
from decimal import Decimal

from sandbox import engine
from sandbox.engine import figures as module

D = Decimal


def market() -> engine.Market:
    return engine.Market(engine.BUILT_IN_INSTRUMENTS).with_mark("XBTUSDT", D(60000))


def long_position(view: engine.Market) -> engine.Account:
    account = engine.deposit(engine.Account(), "USDT", D(10000)).account
    return engine.place_order(account, view, "XBTUSDT", engine.Side.BUY, D("0.1")).account


def test_an_equal_account_on_the_same_market_gets_the_same_figures() -> None:
    view = market()
    account = long_position(view)
    first = engine.account_figures(account, view)
    equal = engine.Account(
        wallets=dict(account.wallets),
        positions=dict(account.positions),
        settings=dict(account.settings),
    )

    assert equal is not account
    assert engine.account_figures(equal, view) is first


def test_another_market_or_account_is_computed_afresh_and_exactly() -> None:
    view = market()
    account = long_position(view)
    first = engine.account_figures(account, view)
    same_marks = view.with_mark("XBTUSDT", D(60000))  # equal, but another object
    moved = view.with_mark("XBTUSDT", D(59000))
    richer = engine.deposit(account, "USDT", D(1)).account

    again = engine.account_figures(account, same_marks)
    assert again is not first and again == first
    assert engine.account_figures(account, moved).positions["XBTUSDT"].unrealised_pnl == D(-100)
    assert engine.account_figures(richer, moved).balances["USDT"].wallet_balance == (
        first.balances["USDT"].wallet_balance + 1
    )


def test_each_thread_remembers_its_own() -> None:
    view = market()
    account = long_position(view)
    engine.account_figures(account, view)
    seen: list[object] = []

    thread = threading.Thread(target=lambda: seen.append(module._last.figures))
    thread.start()
    thread.join()

    assert seen == [None]
    assert module._last.figures is not None
