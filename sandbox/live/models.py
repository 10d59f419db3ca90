"""The live market's history: every tick's mark prices, for charts and replays."""

from __future__ import annotations

from django.db import models

from sandbox.desk.fields import ExactDecimalField
from sandbox.desk.models import Market


class MarkTick(models.Model):
    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="ticks")
    sequence = models.BigIntegerField()
    symbol = models.CharField(max_length=20)
    price = ExactDecimalField()
    sim_seconds = ExactDecimalField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["market", "symbol", "sequence"], name="one_mark_per_tick"
            )
        ]
