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

from .fields import ExactDecimalField, NullableExactDecimalField


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
    tick_size = ExactDecimalField(default=Decimal("0.01"))  # price increment
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
            tick_size=self.tick_size,
        )


def new_seed() -> int:
    return secrets.randbelow(2**62)


class Market(models.Model):
    """A set of mark prices that accounts trade against, and the clock that moves them.

    Each paper account gets its own practice market, so moving the mark by hand changes
    nobody else's positions. Classrooms and lessons get markets of their own. The live
    market ticks it: ``sequence`` counts the ticks applied (each exactly once, the state
    saved with it), ``sim_seconds`` is the simulated time, and the lease names the one
    ticker process allowed to tick it.
    """

    class Kind(models.TextChoices):
        PRACTICE = "practice", "practice market"
        TWINS = "twins", "side-by-side market"
        ROOM = "room", "classroom market"
        LESSON = "lesson", "lesson market"

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PRACTICE)
    created_at = models.DateTimeField(auto_now_add=True)
    # The price process (see sandbox.engine.pricepath), read afresh on every tick.
    seed = models.BigIntegerField(default=new_seed)
    volatility = ExactDecimalField(default=Decimal("0.8"))
    drift = ExactDecimalField(default=Decimal("0"))
    jump_intensity = ExactDecimalField(default=Decimal("0"))
    jump_mean = ExactDecimalField(default=Decimal("0"))
    jump_volatility = ExactDecimalField(default=Decimal("0.05"))
    # The clock.
    running = models.BooleanField(default=True)
    speed = models.PositiveIntegerField(default=1)  # simulated seconds per real second
    tick_seconds = ExactDecimalField(default=Decimal("1"))  # real seconds between ticks
    sequence = models.BigIntegerField(default=0)
    sim_seconds = ExactDecimalField(default=Decimal("0"))
    funding_enabled = models.BooleanField(default=True)
    # Stop the clock when a position on this market is liquidated (the side-by-side view
    # compares two positions up to that moment).
    stop_on_liquidation = models.BooleanField(default=False)
    last_watched = models.DateTimeField(null=True, blank=True)
    # Scripted moves waiting for the next ticks, per symbol, one a tick, as exact text:
    # {"XBTUSDT": ["-8"]} is a gap of -8% on the next tick; "=61000" sets the price.
    pending_gaps = models.JSONField(default=dict, blank=True)
    # What a classroom's teacher decides for its market.
    trading_open = models.BooleanField(default=True)
    # Closed to trading: learners may still close or reduce positions (reduce-only, as an
    # exchange does), unless the teacher freezes everything (False).
    closed_reduce_only = models.BooleanField(default=True, db_default=True)
    fees_enabled = models.BooleanField(default=True)
    max_leverage_cap = NullableExactDecimalField(blank=True)
    symbols = models.JSONField(default=list, blank=True)  # empty: every instrument
    # The lease: only its holder ticks the market, until it expires.
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

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
    # A side-by-side twin belongs to the learner's own account; label says which twin.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="twins"
    )
    label = models.CharField(max_length=60, blank=True)
    # True while two or more cross positions share a settle currency: their liquidation
    # prices then move with each other's marks, so every tick must look at them.
    cross_linked = models.BooleanField(default=False)
    # Moves on with every write of the account's wallets, positions or settings other than
    # a tick's (``desk.services.outcomes_save``): a ticker keeping the market's accounts in
    # memory between ticks reads again only those whose version moved (a tick's own writes
    # are told by the market's sequence).
    version = models.PositiveBigIntegerField(db_default=0)

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
    # The account's market, kept on the position too (written with every position, see
    # ``outcome_save``): a tick finds the positions a mark reached with one index range
    # per condition, (market, instrument, key), without a join through the accounts. The
    # indexes below all start with it, so it needs no index of its own.
    market = models.ForeignKey(
        Market, on_delete=models.CASCADE, related_name="positions", db_index=False
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT)
    qty = ExactDecimalField()
    cost_value = ExactDecimalField()
    entry_value = ExactDecimalField()
    mode = models.CharField(max_length=10, choices=MODE_CHOICES)
    leverage = ExactDecimalField()
    position_margin = ExactDecimalField(default=Decimal(0))
    realised_pnl = ExactDecimalField(default=Decimal(0))
    opened_at = models.DateTimeField(auto_now_add=True)
    # An integer index of the liquidation price (in units of 1e-8, rounded outwards) so a
    # tick can ask the database for just the positions a new mark may have crossed. The
    # exact test is always the engine's.
    is_long = models.BooleanField(default=True)
    liquidation_key = models.BigIntegerField(null=True, blank=True)
    # Stop-loss and take-profit: the trigger prices, and the same kind of index for them
    # (a trigger fires when the mark falls to trigger_below_key or rises to
    # trigger_above_key).
    stop_loss = NullableExactDecimalField(blank=True)
    take_profit = NullableExactDecimalField(blank=True)
    trigger_below_key = models.BigIntegerField(null=True, blank=True)
    trigger_above_key = models.BigIntegerField(null=True, blank=True)
    # For a cross position sharing funds with others (a cross-linked account): the marks
    # between which no position of the account can reach liquidation, whatever the other
    # marks do within their own bands. A tick looks at the account once a mark leaves it.
    band_low_key = models.BigIntegerField(null=True, blank=True)
    band_high_key = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["instrument__display_order", "instrument__symbol"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "instrument"], name="one_position_per_symbol"
            )
        ]
        # One index per condition of a tick's candidate query (see live.services): each
        # is a range scan within one market and instrument.
        indexes = [
            models.Index(
                fields=["market", "instrument", "is_long", "liquidation_key"],
                name="position_liquidation",
            ),
            models.Index(
                fields=["market", "instrument", "trigger_below_key"], name="position_below"
            ),
            models.Index(
                fields=["market", "instrument", "trigger_above_key"], name="position_above"
            ),
            models.Index(fields=["market", "instrument", "band_low_key"], name="position_band_low"),
            models.Index(
                fields=["market", "instrument", "band_high_key"], name="position_band_high"
            ),
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
    trigger = models.CharField(max_length=20, blank=True)  # stop_loss / take_profit
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    @property
    def kind(self) -> str:
        if self.liquidation:
            return "liquidation"
        return {"stop_loss": "stop-loss", "take_profit": "take-profit"}.get(
            self.trigger, "market order"
        )


class LiquidationRecord(models.Model):
    """A liquidation, in the learner's own numbers, kept for the notice and the chart."""

    account = models.ForeignKey(PaperAccount, on_delete=models.CASCADE, related_name="liquidations")
    symbol = models.CharField(max_length=20)
    settle = models.CharField(max_length=10)
    margin_mode = models.CharField(max_length=10, choices=MODE_CHOICES)
    qty = ExactDecimalField()
    avg_entry_price = ExactDecimalField()
    funds = ExactDecimalField()
    maintenance_margin = ExactDecimalField()
    liquidation_price = NullableExactDecimalField()
    bankruptcy_price = NullableExactDecimalField()
    mark_price = ExactDecimalField()
    loss = ExactDecimalField()
    insurance_fund_change = ExactDecimalField()
    sequence = models.BigIntegerField(default=0)  # the market tick it happened on
    acknowledged = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    @property
    def is_long(self) -> bool:
        return self.qty > 0

    @property
    def gapped(self) -> bool:
        """The mark jumped past the bankruptcy price: the insurance fund paid."""
        return self.insurance_fund_change < 0


class ManualMark(models.Model):
    """A mark set by hand (Set mark), after the market's tick ``sequence``: the chart
    draws it as a point of the price line."""

    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="manual_marks")
    symbol = models.CharField(max_length=20)
    sequence = models.BigIntegerField()  # the market tick it followed
    price = ExactDecimalField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["market", "symbol", "sequence"], name="manual_mark_window")]
