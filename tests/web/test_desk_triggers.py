"""Stop-loss and take-profit on the desk: setting them, refusals, and a stop that fires."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sandbox import engine
from sandbox.desk import services
from sandbox.desk.models import Fill, Position

from .conftest import Learner


def open_long(learner: Learner) -> None:
    # 1 XBTUSDT long at 60,000, isolated 10x: liquidation 54,300 (mmr 0.5%).
    services.leverage_set(
        account=learner.account,
        symbol="XBTUSDT",
        mode=engine.MarginMode.ISOLATED,
        leverage=Decimal(10),
    )
    services.order_place(
        account=learner.account, symbol="XBTUSDT", side=engine.Side.BUY, qty=Decimal(1)
    )


@pytest.mark.parametrize("htmx", [True, False])
def test_setting_a_stop_and_a_target(learner: Learner, htmx: bool) -> None:
    open_long(learner)
    response = learner.post(
        "triggers_set", {"stop_loss": "57000", "take_profit": "66000"}, htmx=htmx
    )
    position = Position.objects.get(account=learner.account)
    assert (position.stop_loss, position.take_profit) == (Decimal(57000), Decimal(66000))
    assert position.trigger_below_key == 57000 * 10**8
    assert position.trigger_above_key == 66000 * 10**8
    if htmx:
        assert "XBTUSDT: stop-loss 57,000 and take-profit 66,000." in response.content.decode()
    else:
        assert response.status_code == 302
    page = learner.get("desk").content.decode()
    assert '<td data-figure="triggers">57,000 / 66,000</td>' in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"stop_loss": "61000", "take_profit": ""},
            "A stop-loss on a long must be below the mark (60,000)",
        ),
        (
            {"stop_loss": "", "take_profit": "59000"},
            "A take-profit on a long must be above the mark (60,000)",
        ),
        ({"stop_loss": "abc", "take_profit": ""}, "Enter the stop-loss price as a number"),
        ({"stop_loss": "-5", "take_profit": ""}, "Enter a stop-loss price above zero."),
    ],
)
def test_bad_triggers_are_refused_in_place_and_change_nothing(
    learner: Learner, data: dict[str, str], message: str
) -> None:
    open_long(learner)
    response = learner.post("triggers_set", data, htmx=True)
    assert message in response.content.decode()
    position = Position.objects.get(account=learner.account)
    assert (position.stop_loss, position.take_profit) == (None, None)


def test_a_stop_beyond_liquidation_is_set_with_a_warning(learner: Learner) -> None:
    open_long(learner)
    response = learner.post("triggers_set", {"stop_loss": "54000", "take_profit": ""}, htmx=True)
    assert "beyond the liquidation price (54,300)" in response.content.decode()
    assert Position.objects.get(account=learner.account).stop_loss == Decimal(54000)


def test_triggers_need_an_open_position(learner: Learner) -> None:
    response = learner.post("triggers_set", {"stop_loss": "50000", "take_profit": ""}, htmx=True)
    assert "You have no open XBTUSDT position" in response.content.decode()


def test_a_mark_set_by_hand_fires_the_stop(learner: Learner) -> None:
    open_long(learner)
    learner.post("triggers_set", {"stop_loss": "57000", "take_profit": ""})
    response = learner.post("mark_set", {"price": "56000"}, htmx=True)
    text = response.content.decode()
    assert (
        "Your stop-loss at 57,000 fired: the XBTUSDT position was closed at the mark, 56,000"
        in text
    )
    assert not Position.objects.filter(account=learner.account).exists()
    fill = Fill.objects.filter(account=learner.account).first()
    assert fill is not None and fill.kind == "stop-loss" and fill.price == Decimal(56000)
