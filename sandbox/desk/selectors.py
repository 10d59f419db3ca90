"""Read queries: turn rows into the engine's immutable state, and fetch history."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from django.db.models import QuerySet

from sandbox import engine

from .models import (
    Fill,
    Instrument,
    LedgerEntry,
    MarginSettingRow,
    Market,
    MarkPrice,
    PaperAccount,
    Position,
    Wallet,
)


def instruments() -> list[Instrument]:
    return list(Instrument.objects.all())


def market_instruments(market: Market) -> list[Instrument]:
    """The instruments traded on a market (a classroom may offer only some)."""
    rows = instruments()
    if market.symbols:
        rows = [row for row in rows if row.symbol in market.symbols]
    return rows


def engine_market(market: Market) -> engine.Market:
    """The engine's view of a market, with the market's own terms applied: no taker fee
    when fees are off, and leverage capped where a teacher capped it."""
    marks = {row.instrument_id: row.price for row in MarkPrice.objects.filter(market=market)}
    table = {}
    for row in market_instruments(market):
        inst = row.to_engine()
        if not market.fees_enabled:
            inst = replace(inst, taker_fee=Decimal(0))
        if market.max_leverage_cap is not None:
            inst = replace(inst, max_leverage=min(inst.max_leverage, market.max_leverage_cap))
        table[row.symbol] = inst
    return engine.Market(table, {s: p for s, p in marks.items() if s in table})


def engine_accounts(account_ids: list[int]) -> dict[int, engine.Account]:
    """Many accounts as the engine sees them, in three queries (a tick's candidates)."""
    wallets: dict[int, dict[str, Decimal]] = {pk: {} for pk in account_ids}
    positions: dict[int, dict[str, engine.Position]] = {pk: {} for pk in account_ids}
    settings: dict[int, dict[str, engine.MarginSetting]] = {pk: {} for pk in account_ids}
    for w in Wallet.objects.filter(account_id__in=account_ids):
        wallets[w.account_id][w.currency] = w.balance
    for p in Position.objects.filter(account_id__in=account_ids):
        positions[p.account_id][p.instrument_id] = _engine_position(p)
    for row in MarginSettingRow.objects.filter(account_id__in=account_ids):
        settings[row.account_id][row.instrument_id] = engine.MarginSetting(
            engine.MarginMode(row.mode), row.leverage
        )
    return {
        pk: engine.Account(wallets=wallets[pk], positions=positions[pk], settings=settings[pk])
        for pk in account_ids
    }


def _engine_position(p: Position) -> engine.Position:
    return engine.Position(
        symbol=p.instrument_id,
        qty=p.qty,
        cost_value=p.cost_value,
        entry_value=p.entry_value,
        mode=engine.MarginMode(p.mode),
        leverage=p.leverage,
        position_margin=p.position_margin,
        realised_pnl=p.realised_pnl,
        stop_loss=p.stop_loss,
        take_profit=p.take_profit,
    )


def engine_account(account: PaperAccount) -> engine.Account:
    return engine.Account(
        wallets={w.currency: w.balance for w in Wallet.objects.filter(account=account)},
        positions={
            p.instrument_id: _engine_position(p) for p in Position.objects.filter(account=account)
        },
        settings={
            s.instrument_id: engine.MarginSetting(engine.MarginMode(s.mode), s.leverage)
            for s in MarginSettingRow.objects.filter(account=account)
        },
    )


@dataclass(frozen=True)
class AccountState:
    """An account as the engine sees it, with the market it trades in."""

    account: engine.Account
    market: engine.Market
    figures: engine.AccountFigures


def account_state(account: PaperAccount) -> AccountState:
    state = engine_account(account)
    market = engine_market(account.market)
    return AccountState(state, market, engine.account_figures(state, market))


def recent_fills(account: PaperAccount, limit: int = 50) -> QuerySet[Fill]:
    return Fill.objects.filter(account=account)[:limit]


def recent_ledger(account: PaperAccount, limit: int = 50) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(account=account)[:limit]
