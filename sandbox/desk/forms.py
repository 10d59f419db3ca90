"""Forms for the desk. Numbers are read as exact decimals (never floats), and every
error is a sentence a learner can act on."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django import forms

from sandbox.engine import MarginMode, Side, display
from sandbox.engine.money import MONEY_PLACES, decimal_places, parse_decimal

from .models import Instrument

MAX_NUMBER_TEXT = 30
MAX_DIGITS = 20
MAX_QTY = Decimal("1000000000")
MAX_PRICE = Decimal("1000000000")
MAX_AMOUNT = Decimal("1000000000")
MAX_WHOLE_TEXT = 12
# ASCII digits only: int() would also read '٥' (Arabic-Indic) or '５' (fullwidth) as 5.
WHOLE = re.compile(r"[+-]?[0-9]+")


def parse_whole(text: str, *, most: int) -> int | None:
    """A whole number typed by a person (a speed, a leverage): ASCII digits only, no sign,
    no spaces. None when ``text`` is not one; ``most + 1`` when it is larger than
    ``most``, found without reading it (int() of thousands of digits is slow, and refused
    past 4,300), so the caller's range check says what is allowed."""
    if not (text.isascii() and text.isdigit()):
        return None
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(most)):
        return most + 1
    return int(digits)


class WholeNumberField(forms.IntegerField):
    """An integer field that reads ASCII digits only (an optional sign), at most
    ``MAX_WHOLE_TEXT`` characters: Django's own reads any Unicode digit and any length."""

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        text = str(value).strip()
        if len(text) > MAX_WHOLE_TEXT or not WHOLE.fullmatch(text):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return int(text)


class ExactDecimalField(forms.CharField):
    """A decimal typed by a person: plain digits (no exponent), positive, bounded, with
    limited decimal places."""

    def __init__(
        self, *, noun: str, places: int, maximum: Decimal, example: str, **kwargs: Any
    ) -> None:
        self.noun = noun
        self.a_noun = ("an " if noun[0] in "aeiou" else "a ") + noun
        self.places = places
        self.maximum = maximum
        self.example = example
        kwargs.setdefault("max_length", MAX_NUMBER_TEXT)
        kwargs.setdefault(
            "error_messages",
            {
                "required": f"Enter {'an' if noun[0] in 'aeiou' else 'a'} {noun}.",
                "max_length": f"That {noun} is too long to be a number we can use.",
            },
        )
        super().__init__(**kwargs)

    def clean(self, value: Any) -> Decimal | None:
        text = super().clean(value)
        if not text and not self.required:
            return None
        number = parse_decimal(text)
        if number is None:
            raise forms.ValidationError(f"Enter the {self.noun} as a number, like {self.example}.")
        if "e" in text.lower():
            # 1e9 reads as a number, but it is not a figure a learner means to type.
            raise forms.ValidationError(
                f"Write the {self.noun} in plain digits, like {self.example}: exponent "
                "notation (such as 1e3) is not accepted."
            )
        if number <= 0:
            raise forms.ValidationError(f"Enter {self.a_noun} above zero.")
        # Compare sizes before any arithmetic: 1e1000000 must not reach the engine.
        if number.adjusted() > MAX_DIGITS or number > self.maximum:
            raise forms.ValidationError(
                f"That {self.noun} is too large: the most is {display.number(self.maximum)}."
            )
        if number.adjusted() < -MAX_DIGITS or decimal_places(number.normalize()) > self.places:
            raise forms.ValidationError(
                f"{self.a_noun[0].upper()}{self.a_noun[1:]} can have at most {self.places} "
                "decimal places here."
            )
        return number


class OrderForm(forms.Form):
    side = forms.ChoiceField(
        choices=[(Side.BUY.value, "Buy / long"), (Side.SELL.value, "Sell / short")],
        widget=forms.RadioSelect,
        error_messages={"required": "Choose buy or sell.", "invalid_choice": "Choose buy or sell."},
    )

    def __init__(self, *args: Any, instrument: Instrument, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        step_places = decimal_places(instrument.qty_step.normalize())
        self.fields["qty"] = ExactDecimalField(
            noun="quantity",
            places=step_places,
            maximum=MAX_QTY,
            example="1" if step_places == 0 else "0.5",
        )

    def cleaned_side(self) -> Side:
        return Side(self.cleaned_data["side"])


class LeverageForm(forms.Form):
    """The slider: stop 0 is cross margin, stop N is isolated at Nx."""

    stop = WholeNumberField(
        error_messages={
            "required": "Choose a leverage.",
            "invalid": "Choose a leverage stop on the slider.",
        }
    )

    def __init__(
        self, *args: Any, instrument: Instrument, max_leverage: Decimal, **kwargs: Any
    ) -> None:
        """``max_leverage`` is the market's own (a classroom may cap it below the
        instrument's)."""
        super().__init__(*args, **kwargs)
        self.instrument = instrument
        self.max_leverage = max_leverage
        self.max_stop = int(max_leverage)

    def clean_stop(self) -> int:
        stop: int = self.cleaned_data["stop"]
        if not 0 <= stop <= self.max_stop:
            raise forms.ValidationError(
                f"Leverage runs from Cross to {self.max_stop}x isolated on "
                f"{self.instrument.symbol}; {stop} is outside that."
            )
        return stop

    def margin_choice(self) -> tuple[MarginMode, Decimal]:
        """Cross uses the instrument's maximum leverage for its initial margin."""
        stop = self.cleaned_data["stop"]
        if stop == 0:
            return MarginMode.CROSS, self.max_leverage
        return MarginMode.ISOLATED, Decimal(stop)


class MarginForm(forms.Form):
    direction = forms.ChoiceField(
        choices=[("add", "Add margin"), ("remove", "Remove margin")],
        widget=forms.RadioSelect,
        initial="add",
        error_messages={
            "required": "Choose add or remove.",
            "invalid_choice": "Choose add or remove.",
        },
    )
    amount = ExactDecimalField(noun="amount", places=MONEY_PLACES, maximum=MAX_AMOUNT, example="25")

    def signed_amount(self) -> Decimal:
        amount: Decimal = self.cleaned_data["amount"]
        return -amount if self.cleaned_data["direction"] == "remove" else amount


class MarkForm(forms.Form):
    price = ExactDecimalField(
        noun="mark price", places=MONEY_PLACES, maximum=MAX_PRICE, example="60000"
    )


class TriggerForm(forms.Form):
    """Stop-loss and take-profit prices; a blank field clears that trigger."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, noun in (("stop_loss", "stop-loss price"), ("take_profit", "take-profit price")):
            self.fields[name] = ExactDecimalField(
                noun=noun, places=MONEY_PLACES, maximum=MAX_PRICE, example="55000", required=False
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in ("stop_loss", "take_profit"):
            if data.get(name) in ("", None):
                data[name] = None
        return data
