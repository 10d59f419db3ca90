"""Building large markets fast: engine states computed in memory (once per distinct
account), rows inserted with one statement per table run for many rows."""

from __future__ import annotations

import random
import secrets
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from sandbox import engine
from sandbox.desk.fields import ExactDecimalField
from sandbox.desk.models import (
    LedgerEntry,
    MarginSettingRow,
    Market,
    MarkPrice,
    PaperAccount,
    Position,
    Wallet,
)
from sandbox.desk.selectors import engine_market
from sandbox.desk.services import KEY_FIELDS, index_keys

D = Decimal
MARKS = {"XBTUSDT": D(60000), "ETHUSDT": D(3000)}
LEVERAGES = (2, 3, 5, 8, 10, 15, 20)
STEPS = (10, 20, 30, 45, 60)  # quantities, in the instrument's quantity steps
_text = ExactDecimalField().get_prep_value

Plan = tuple[tuple[str, engine.MarginMode, Decimal, Decimal, engine.Side], ...]
Rows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]], bool]


def build_market(positions: int, near: int, seed: int = 7) -> Market:
    """A classroom market with ``positions`` open positions in positions/2 accounts: a
    third of the accounts hold two isolated positions, a third one cross and one isolated,
    a third two cross positions (cross-linked). ``near`` isolated XBT longs at 95x sit
    just above their liquidation price, so a 0.8% fall liquidates them. Each account has
    its deposit and fees in the ledger, which adds up to its wallet."""
    rng = random.Random(seed)
    market = Market.objects.create(name=f"bench {positions}", kind=Market.Kind.ROOM, running=False)
    for symbol, price in MARKS.items():
        MarkPrice.objects.create(market=market, instrument_id=symbol, price=price)
    view = engine_market(market)
    plans: list[Plan] = []
    for number in range(positions // 2):
        kind = number % 3
        high = number < near and kind == 0
        plan = []
        for symbol, mode in (
            ("XBTUSDT", engine.MarginMode.ISOLATED if kind < 2 else engine.MarginMode.CROSS),
            ("ETHUSDT", engine.MarginMode.ISOLATED if kind == 0 else engine.MarginMode.CROSS),
        ):
            near_xbt = high and symbol == "XBTUSDT"
            leverage = D(95) if near_xbt else D(rng.choice(LEVERAGES))
            qty = view.instrument(symbol).qty_step * rng.choice(STEPS)
            long = near_xbt or rng.random() < 0.5
            plan.append(
                (symbol, mode, leverage, qty, engine.Side.BUY if long else engine.Side.SELL)
            )
        plans.append(tuple(plan))
    insert_accounts(market, view, plans)
    return market


def add_near(market: Market, count: int) -> list[int]:
    """``count`` new accounts, each with an isolated XBT long at 95x opened at the current
    mark: a fall of 0.8% takes them over."""
    view = engine_market(market)
    qty = view.instrument("XBTUSDT").qty_step * 20
    plan = (("XBTUSDT", engine.MarginMode.ISOLATED, D(95), qty, engine.Side.BUY),)
    return insert_accounts(market, view, [plan] * count)


def _rows(plan: Plan, view: engine.Market) -> Rows:
    """One account's rows (without its id): wallets, ledger, positions, settings."""
    state = engine.Account()
    outcomes = [engine.deposit(state, "USDT", D(10000))]
    state = outcomes[-1].account
    for symbol, mode, leverage, qty, side in plan:
        state = engine.set_leverage(state, view, symbol, mode, leverage).account
        outcomes.append(engine.place_order(state, view, symbol, side, qty))
        state = outcomes[-1].account
    keys = index_keys(state, view)
    running: dict[str, Decimal] = {}
    ledger = []
    for entry in (e for outcome in outcomes for e in outcome.ledger):
        running[entry.currency] = running.get(entry.currency, D(0)) + entry.amount
        ledger.append(
            (
                entry.currency,
                _text(entry.amount),
                _text(running[entry.currency]),
                entry.reason.value,
                entry.symbol,
            )
        )
    held = [
        (
            symbol,
            _text(p.qty),
            _text(p.cost_value),
            _text(p.entry_value),
            p.mode.value,
            _text(p.leverage),
            _text(p.position_margin),
            _text(p.realised_pnl),
            *(keys[symbol][name] for name in KEY_FIELDS),
        )
        for symbol, p in state.positions.items()
    ]
    wallets = [(c, _text(b)) for c, b in state.wallets.items()]
    linked = any(k["band_high_key"] is not None or k["band_low_key"] for k in keys.values())
    return wallets, ledger, held, linked


def insert_accounts(market: Market, view: engine.Market, plans: list[Plan]) -> list[int]:
    """New accounts on ``market``, one per plan of orders (computed by the engine once per
    distinct plan), written with one ``executemany`` per table. Returns their ids."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    computed: dict[Plan, Rows] = {}
    quote = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        rows = [
            computed[plan] if plan in computed else computed.setdefault(plan, _rows(plan, view))
            for plan in plans
        ]
        cursor.executemany(
            f"INSERT INTO {quote(PaperAccount._meta.db_table)} (market_id, browser_key, "
            "created_at, label, cross_linked) VALUES (%s, %s, %s, '', %s)",
            [(market.pk, secrets.token_urlsafe(24), now, linked) for _, _, _, linked in rows],
        )
        # (Ids are handed out in the order of the rows: the newest of the market's.)
        newest = PaperAccount.objects.filter(market=market).order_by("-pk")[: len(plans)]
        ids = sorted(newest.values_list("pk", flat=True))
        cursor.executemany(
            f"INSERT INTO {quote(Wallet._meta.db_table)} (account_id, currency, balance) "
            "VALUES (%s, %s, %s)",
            [(pk, *w) for pk, (wallets, _, _, _) in zip(ids, rows, strict=True) for w in wallets],
        )
        cursor.executemany(
            f"INSERT INTO {quote(LedgerEntry._meta.db_table)} (account_id, currency, amount, "
            "balance_after, reason, symbol, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (pk, *e, now)
                for pk, (_, ledger, _, _) in zip(ids, rows, strict=True)
                for e in ledger
            ],
        )
        columns = (
            "account_id, market_id, instrument_id, qty, cost_value, entry_value, mode, "
            "leverage, position_margin, realised_pnl, " + ", ".join(KEY_FIELDS) + ", opened_at"
        )
        cursor.executemany(
            f"INSERT INTO {quote(Position._meta.db_table)} ({columns}) "
            f"VALUES ({', '.join(['%s'] * (len(KEY_FIELDS) + 11))})",
            [
                (pk, market.pk, *p, now)
                for pk, (_, _, held, _) in zip(ids, rows, strict=True)
                for p in held
            ],
        )
        cursor.executemany(
            f"INSERT INTO {quote(MarginSettingRow._meta.db_table)} (account_id, "
            "instrument_id, mode, leverage) VALUES (%s, %s, %s, %s)",
            [
                (pk, p[0], p[4], p[5])
                for pk, (_, _, held, _) in zip(ids, rows, strict=True)
                for p in held
            ],
        )
    return ids
