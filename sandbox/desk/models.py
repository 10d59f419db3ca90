"""Persistence of paper accounts. The figures themselves come from ``sandbox.engine``:
these rows only keep the state the engine needs (wallets, positions, settings) and the
history a learner reads (fills, ledger)."""

from __future__ import annotations

import secrets
from decimal import Decimal

from django.conf import settings
from django.db import models

from sandbox.engine import ContractKind, LedgerReason, MarginMode, Side
from sandbox.engine import Instrument as EngineInstrument

from .fields import ExactDecimalField


class Instrument(models.Model):
    """A contract learners can trade; the built-in table is loaded by ``seed_sandbox``."""

    symbol = models.CharField(max_length=20, primary_key=True)
    kind = models.CharField(max_length=10, choices=[(k.value, k.value) for k in ContractKind])
    settle = models.CharField(max_length=10)
    maint_margin_rate = ExactDecimalField()
    max_leverage = ExactDecimalField()
    taker_fee = ExactDecimalField()
    qty_step = ExactDecimalField()
    funding_rate = ExactDecimalField()
    display_order = models.PositiveSmallIntegerField(default=0)  # order in the picker

    class Meta:
        ordering = ["display_order", "symbol"]

    def __str__(self) -> str:
        return self.symbol

    def to_engine(self) -> EngineInstrument:
        return EngineInstrument(
            symbol=self.symbol,
            kind=ContractKind(self.kind),
            settle=self.settle,
            maint_margin_rate=self.maint_margin_rate,
            max_leverage=self.max_leverage,
            taker_fee=self.taker_fee,
            qty_step=self.qty_step,
            funding_rate=self.funding_rate,
        )


class Market(models.Model):
    """A set of mark prices that accounts trade against.

    Each paper account gets its own practice market, so moving the mark by hand changes
    nobody else's positions. Classrooms and lessons get markets of their own.
    """

    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class MarkPrice(models.Model):
    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="marks")
    instrument = models.ForeignKey(Instrument, on_delete=models.CASCADE)
    price = ExactDecimalField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["market", "instrument"], name="one_mark_per_symbol")
        ]


class InsuranceFund(models.Model):
    """What the market's liquidation engine has gained (or paid) per settle currency."""

    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="insurance_funds")
    currency = models.CharField(max_length=10)
    balance = ExactDecimalField(default=Decimal(0))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["market", "currency"], name="one_fund_per_currency")
        ]


def new_browser_key() -> str:
    return secrets.token_urlsafe(24)


class PaperAccount(models.Model):
    """A learner's paper account: tied to a browser until its owner signs up."""

    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="accounts")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="paper_accounts",
    )
    browser_key = models.CharField(max_length=64, unique=True, default=new_browser_key)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"paper account {self.pk}"


class Wallet(models.Model):
    account = models.ForeignKey(PaperAccount, on_delete=models.CASCADE, related_name="wallets")
    currency = models.CharField(max_length=10)
    balance = ExactDecimalField(default=Decimal(0))

    class Meta:
        ordering = ["currency"]
        constraints = [
            models.UniqueConstraint(fields=["account", "currency"], name="one_wallet_per_currency")
        ]


LEDGER_REASONS = {
    LedgerReason.DEPOSIT: "deposit",
    LedgerReason.TRADE_PNL: "PnL realised by an order",
    LedgerReason.PROFIT_REALISATION: "profit realisation",
    LedgerReason.LIQUIDATION: "liquidation",
    LedgerReason.TAKER_FEE: "taker fee",
    LedgerReason.FUNDING: "funding",
    LedgerReason.RESET: "account reset",
}
MODE_CHOICES = [(m.value, m.value) for m in MarginMode]


class Position(models.Model):
    """An open position, as the engine keeps it (values at avg cost and avg entry)."""

    account = models.ForeignKey(PaperAccount, on_delete=models.CASCADE, related_name="positions")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT)
    qty = ExactDecimalField()
    cost_value = ExactDecimalField()
    entry_value = ExactDecimalField()
    mode = models.CharField(max_length=10, choices=MODE_CHOICES)
    leverage = ExactDecimalField()
    position_margin = ExactDecimalField(default=Decimal(0))
    realised_pnl = ExactDecimalField(default=Decimal(0))
    opened_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["instrument__display_order", "instrument__symbol"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "instrument"], name="one_position_per_symbol"
            )
        ]


class MarginSettingRow(models.Model):
    """The margin mode and leverage a learner chose for a symbol."""

    account = models.ForeignKey(PaperAccount, on_delete=models.CASCADE, related_name="settings")
    instrument = models.ForeignKey(Instrument, on_delete=models.CASCADE)
    mode = models.CharField(max_length=10, choices=MODE_CHOICES)
    leverage = ExactDecimalField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "instrument"], name="one_setting_per_symbol")
        ]


class LedgerEntry(models.Model):
    """One wallet change and its reason. The entries of a wallet add up to its balance."""

    account = models.ForeignKey(PaperAccount, on_delete=models.CASCADE, related_name="ledger")
    currency = models.CharField(max_length=10)
    amount = ExactDecimalField()
    balance_after = ExactDecimalField()
    reason = models.CharField(
        max_length=30, choices=[(r.value, label) for r, label in LEDGER_REASONS.items()]
    )
    symbol = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]


class Fill(models.Model):
    account = models.ForeignKey(PaperAccount, on_delete=models.CASCADE, related_name="fills")
    symbol = models.CharField(max_length=20)
    side = models.CharField(max_length=4, choices=[(s.value, s.value) for s in Side])
    qty = ExactDecimalField()
    price = ExactDecimalField()
    value = ExactDecimalField()
    fee = ExactDecimalField()
    realised_pnl = ExactDecimalField()
    liquidation = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
