"""Building large markets fast: engine states computed in memory, rows inserted in bulk."""

from __future__ import annotations

import random
from decimal import Decimal

from sandbox import engine
from sandbox.desk.models import MarginSettingRow, Market, MarkPrice, PaperAccount, Position, Wallet
from sandbox.desk.selectors import engine_market
from sandbox.desk.services import index_keys

D = Decimal
MARKS = {"XBTUSDT": D(60000), "ETHUSDT": D(3000)}


def build_market(positions: int, near: int, seed: int = 7) -> Market:
    """A market with ``positions`` open positions in positions/2 accounts: a third of the
    accounts hold two isolated positions, a third one cross and one isolated, a third two
    cross positions (cross-linked). ``near`` isolated XBT longs sit just above their
    liquidation price, so a 0.8% fall liquidates a few of them."""
    rng = random.Random(seed)
    market = Market.objects.create(name=f"bench {positions}", kind=Market.Kind.ROOM, running=False)
    for symbol, price in MARKS.items():
        MarkPrice.objects.create(market=market, instrument_id=symbol, price=price)
    view = engine_market(market)
    accounts = positions // 2
    rows = PaperAccount.objects.bulk_create(PaperAccount(market=market) for _ in range(accounts))
    wallets, held, settings = [], [], []
    for number, account in enumerate(rows):
        state = engine.deposit(engine.Account(), "USDT", D(10000)).account
        kind = number % 3
        plan = [
            ("XBTUSDT", engine.MarginMode.ISOLATED if kind < 2 else engine.MarginMode.CROSS),
            ("ETHUSDT", engine.MarginMode.ISOLATED if kind == 0 else engine.MarginMode.CROSS),
        ]
        for symbol, mode in plan:
            inst = view.instrument(symbol)
            high = number < near and symbol == "XBTUSDT" and kind == 0
            leverage = D(95) if high else D(rng.randint(2, 20))
            qty = inst.qty_step * rng.randint(10, 60)
            side = engine.Side.BUY if high or rng.random() < 0.5 else engine.Side.SELL
            state = engine.set_leverage(state, view, symbol, mode, leverage).account
            state = engine.place_order(state, view, symbol, side, qty).account
        keys = index_keys(state, view)
        wallets += [
            Wallet(account=account, currency=c, balance=b) for c, b in state.wallets.items()
        ]
        for symbol, p in state.positions.items():
            held.append(
                Position(
                    account=account,
                    market=market,
                    instrument_id=symbol,
                    qty=p.qty,
                    cost_value=p.cost_value,
                    entry_value=p.entry_value,
                    mode=p.mode.value,
                    leverage=p.leverage,
                    position_margin=p.position_margin,
                    realised_pnl=p.realised_pnl,
                    **keys[symbol],
                )
            )
            settings.append(
                MarginSettingRow(
                    account=account, instrument_id=symbol, mode=p.mode.value, leverage=p.leverage
                )
            )
        if kind == 2:
            account.cross_linked = True
    PaperAccount.objects.bulk_update(rows, ["cross_linked"], batch_size=2000)
    Wallet.objects.bulk_create(wallets, batch_size=2000)
    Position.objects.bulk_create(held, batch_size=2000)
    MarginSettingRow.objects.bulk_create(settings, batch_size=2000)
    return market
