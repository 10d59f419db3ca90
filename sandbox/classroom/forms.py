"""Forms for creating and joining rooms."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from sandbox.desk.forms import ExactDecimalField, WholeNumberField
from sandbox.desk.models import Instrument
from sandbox.engine.valuation import base_and_quote

from .models import CODE_LENGTH


class RoomForm(forms.Form):
    name = forms.CharField(
        max_length=100, error_messages={"required": "Give the room a name, like Year 12 Economics."}
    )
    usdt = ExactDecimalField(
        noun="starting USDT balance", places=2, maximum=Decimal(10**9), example="10000"
    )
    xbt = ExactDecimalField(
        noun="starting XBT balance", places=8, maximum=Decimal(10**6), example="1", required=False
    )
    max_leverage = WholeNumberField(
        min_value=1,
        max_value=100,
        initial=100,
        error_messages={
            "required": "Choose the highest leverage learners may use.",
            "invalid": "Enter the highest leverage as a whole number.",
            "min_value": "The highest leverage is at least 1x.",
            "max_value": "The highest leverage is at most 100x.",
        },
    )
    fees = forms.BooleanField(required=False, initial=True, label="Charge taker fees")
    funding = forms.BooleanField(required=False, initial=True, label="Pay funding every 8 hours")
    leaderboard = forms.BooleanField(
        required=False, initial=True, label="Learners see the leaderboard"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["symbols"] = forms.MultipleChoiceField(
            choices=[(i.symbol, f"{i.symbol} ({i.kind})") for i in Instrument.objects.all()],
            widget=forms.CheckboxSelectMultiple,
            initial=["XBTUSDT"],
            error_messages={"required": "Choose at least one instrument to trade."},
        )

    def clean(self) -> dict[str, Any]:
        """An XBT balance needs an XBT contract in the room: there it is traded, and its
        mark values it on the class board."""
        data = super().clean() or {}
        symbols = data.get("symbols")
        if data.get("xbt") and symbols:
            priced = [
                row.symbol
                for row in Instrument.objects.all()
                if "XBT" in (row.settle, base_and_quote(row.to_engine())[0])
            ]
            if not set(priced) & set(symbols):
                self.add_error(
                    "xbt",
                    f"A starting XBT balance needs {' or '.join(priced) or 'an XBT contract'} "
                    "in the room, where XBT is traded and valued: choose one, or leave the XBT "
                    "balance empty.",
                )
        return data


class JoinForm(forms.Form):
    code = forms.CharField(
        max_length=CODE_LENGTH * 2,
        error_messages={"required": "Enter the room code your teacher shows."},
    )
    # Long enough to reach the service's own, clearer limit of 24 characters.
    name = forms.CharField(
        max_length=1000, error_messages={"required": "Enter a name the class will see."}
    )

    def clean_code(self) -> str:
        code: str = self.cleaned_data["code"]
        return "".join(code.split()).upper()
