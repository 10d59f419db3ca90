"""Bad input, refused actions and requests that are not the learner's to make.

Every refusal must say what was wrong in the response and change nothing: wallets,
positions, settings, marks, the insurance fund, and the ledger and fill counts are
compared before and after. With htmx a refused action answers only its own section
(status 200, no "desk-changed" event); without htmx the page comes back with status 400.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from sandbox.desk.models import PaperAccount
from tests.web.conftest import Learner
from tests.web.desks import (
    figures,
    isolated_long,
    mark_price,
    page,
    sections,
    snapshot,
)

D = Decimal
EXPONENT_QTY = (
    "Write the quantity in plain digits, like 0.5: exponent notation (such as 1e3) is not accepted."
)
EXPONENT_MARK = (
    "Write the mark price in plain digits, like 60000: exponent notation (such as 1e3) is not "
    "accepted."
)
NOT_A_NUMBER = ["abc", "NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf", "1,000", "0x10"]


def refused(
    learner: Learner,
    name: str,
    data: dict[str, Any],
    *,
    htmx: bool,
    section: str,
    message: str,
    symbol: str = "XBTUSDT",
) -> Any:
    """Post an action that must be refused; check the answer and that nothing changed."""
    learner.client.raise_request_exception = False  # a crash shows as a 500, not a traceback
    before = snapshot(learner.account)

    response = learner.post(name, data, symbol=symbol, htmx=htmx)

    text = page(response)
    if htmx:
        assert response.status_code == 200, response.status_code
        assert sections(response) == [(section, False)]
        assert "HX-Trigger" not in response
    else:
        assert response.status_code == 400, response.status_code
        assert text.startswith("<!doctype html>")
    assert message in text, f"{message!r} not in the response"
    assert snapshot(learner.account) == before
    return response


def refused_form(learner: Learner, name: str, data: dict[str, Any], *, htmx: bool) -> Any:
    """A margin post that must be refused: it answers with the margin form, not a section."""
    learner.client.raise_request_exception = False
    before = snapshot(learner.account)

    response = learner.post(name, data, htmx=htmx)

    if htmx:
        assert response.status_code == 200
        assert page(response).lstrip().startswith('<div id="margin-form">')
        assert "HX-Trigger" not in response
        assert "HX-Retarget" not in response
    else:
        assert response.status_code == 400
        assert page(response).startswith("<!doctype html>")
    assert snapshot(learner.account) == before
    return response


both = pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])


# ---------------------------------------------------------------------------------------
# The order ticket.
# ---------------------------------------------------------------------------------------

QTY_ERRORS = [
    ("0", "Enter a quantity above zero."),
    ("0.000", "Enter a quantity above zero."),
    ("-1", "Enter a quantity above zero."),
    ("-0.5", "Enter a quantity above zero."),
    ("", "Enter a quantity."),
    ("   ", "Enter a quantity."),
    ("0.0001", "A quantity can have at most 3 decimal places here."),
    ("1.0005", "A quantity can have at most 3 decimal places here."),
    ("1000000001", "That quantity is too large: the most is 1,000,000,000."),
    ("1" * 31, "That quantity is too long to be a number we can use."),
    *[(text, "Enter the quantity as a number, like 0.5.") for text in NOT_A_NUMBER],
    # Exponent notation is not what a learner means to type: refused with a sentence.
    ("1e9", EXPONENT_QTY),
    ("1e3", EXPONENT_QTY),
    ("1E+2", EXPONENT_QTY),
    ("1e-4", EXPONENT_QTY),
    ("5E-9999", EXPONENT_QTY),
    ("1E400", EXPONENT_QTY),
    ("1e-", "Enter the quantity as a number, like 0.5."),
    ("e5", "Enter the quantity as a number, like 0.5."),
]


@both
@pytest.mark.parametrize(("qty", "message"), QTY_ERRORS)
def test_order_quantity_errors(learner: Learner, htmx: bool, qty: str, message: str) -> None:
    response = refused(
        learner,
        "order_submit",
        {"side": "buy", "qty": qty},
        htmx=htmx,
        section="ticket",
        message=message,
    )
    text = page(response)
    assert "The order was not placed: correct the fields below." in text
    assert f'<span id="qty-error" class="error">{message}</span>' in text
    assert 'aria-invalid="true" aria-describedby="qty-error"' in text


@both
@pytest.mark.parametrize("qty", ["1e1000000", "1E+999999999"])
def test_order_quantity_with_a_huge_exponent_is_refused_cleanly(
    learner: Learner, htmx: bool, qty: str
) -> None:
    refused(
        learner,
        "order_submit",
        {"side": "buy", "qty": qty},
        htmx=htmx,
        section="ticket",
        message=EXPONENT_QTY,
    )


@both
def test_order_quantity_with_a_tiny_exponent_is_refused_cleanly(
    learner: Learner, htmx: bool
) -> None:
    refused(
        learner,
        "order_submit",
        {"side": "buy", "qty": "1e-999999999"},
        htmx=htmx,
        section="ticket",
        message=EXPONENT_QTY,
    )


@both
def test_a_quantity_beyond_the_accounts_means_is_refused_by_the_engine(
    learner: Learner, htmx: bool
) -> None:
    # 1000 XBT: worth 60,000,000; IM 600,000 and fee 30,000 at cross 100x.
    refused(
        learner,
        "order_submit",
        {"side": "buy", "qty": "1000"},
        htmx=htmx,
        section="ticket",
        message="Not enough available balance: this order needs 620,000 USDT more than you have "
        "available.",
    )


@both
def test_inverse_quantity_must_be_whole_contracts(learner: Learner, htmx: bool) -> None:
    refused(
        learner,
        "order_submit",
        {"side": "buy", "qty": "1.5"},
        htmx=htmx,
        section="ticket",
        message="A quantity can have at most 0 decimal places here.",
        symbol="XBTUSD",
    )


@both
@pytest.mark.parametrize("side", ["", "long", "BUY"])
def test_order_side_must_be_buy_or_sell(learner: Learner, htmx: bool, side: str) -> None:
    refused(
        learner,
        "order_submit",
        {"side": side, "qty": "1"},
        htmx=htmx,
        section="ticket",
        message="Choose buy or sell.",
    )


@both
def test_order_without_enough_balance_says_how_much_more_is_needed(
    learner: Learner, htmx: bool
) -> None:
    learner.post("leverage_apply", {"stop": "1"})

    # Isolated 1x: 60,000 of margin and 30 of fee against 10,000 available.
    response = refused(
        learner,
        "order_submit",
        {"side": "buy", "qty": "1"},
        htmx=htmx,
        section="ticket",
        message="Not enough available balance: this order needs 50,030 USDT more than you have "
        "available.",
    )
    text = page(response)
    assert "<strong>Not done:</strong>" in text
    assert 'role="alert"' in text
    assert 'value="1"' in text  # the ticket keeps what was typed


@both
def test_second_order_beyond_the_balance_is_refused(learner: Learner, htmx: bool) -> None:
    isolated_long(learner, stop=10, qty="1")

    # 3,970 left; another 6,000 of margin and 30 of fee needs 2,060 more.
    refused(
        learner,
        "order_submit",
        {"side": "buy", "qty": "1"},
        htmx=htmx,
        section="ticket",
        message="Not enough available balance: this order needs 2,060 USDT more than you have "
        "available.",
    )


# ---------------------------------------------------------------------------------------
# The leverage slider.
# ---------------------------------------------------------------------------------------

STOP_ERRORS = [
    ("-1", "Leverage runs from Cross to 100x isolated on XBTUSDT; -1 is outside that."),
    ("101", "Leverage runs from Cross to 100x isolated on XBTUSDT; 101 is outside that."),
    ("1.5", "Choose a leverage stop on the slider."),
    ("10x", "Choose a leverage stop on the slider."),
    ("abc", "Choose a leverage stop on the slider."),
    ("NaN", "Choose a leverage stop on the slider."),
    ("1e1", "Choose a leverage stop on the slider."),
    ("", "Choose a leverage."),
    # Digits int() reads but the slider never sends: Arabic-Indic and fullwidth five.
    ("\u0665", "Choose a leverage stop on the slider."),
    ("\uff15", "Choose a leverage stop on the slider."),
    ("1\u0660", "Choose a leverage stop on the slider."),
    # Far more digits than a stop has (int() refuses past 4,300 of them).
    ("9" * 10_000, "Choose a leverage stop on the slider."),
]


@both
@pytest.mark.parametrize(("stop", "message"), STOP_ERRORS)
def test_leverage_stop_errors(learner: Learner, htmx: bool, stop: str, message: str) -> None:
    response = refused(
        learner,
        "leverage_apply",
        {"stop": stop},
        htmx=htmx,
        section="leverage",
        message="The leverage was not changed: " + message,
    )
    assert f'<p class="error" id="leverage-error">{message}</p>' in page(response)


@both
def test_leverage_stop_beyond_the_instruments_maximum(learner: Learner, htmx: bool) -> None:
    refused(
        learner,
        "leverage_apply",
        {"stop": "51"},
        htmx=htmx,
        section="leverage",
        message="Leverage runs from Cross to 50x isolated on ETHUSDT; 51 is outside that.",
        symbol="ETHUSDT",
    )


@both
def test_leverage_the_balance_cannot_carry_is_refused(learner: Learner, htmx: bool) -> None:
    learner.post("order_submit", {"side": "buy", "qty": "1"})  # cross 100x

    # Isolated 1x would set aside 60,000; the wallet holds 9,970.
    refused(
        learner,
        "leverage_apply",
        {"stop": "1"},
        htmx=htmx,
        section="leverage",
        message="Not enough available balance: switching XBTUSDT to isolated margin at 1x "
        "needs 50,030 USDT more than you have available.",
    )


# ---------------------------------------------------------------------------------------
# Isolated margin.
# ---------------------------------------------------------------------------------------


@both
def test_adding_more_margin_than_is_available(learner: Learner, htmx: bool) -> None:
    isolated_long(learner)

    response = refused_form(learner, "margin", {"direction": "add", "amount": "3970.01"}, htmx=htmx)

    assert (
        "You can add at most 3,970 USDT, your available balance; 3,970.01 USDT needs 0.01 USDT "
        "more." in page(response)
    )


@both
def test_removing_margin_below_the_minimum(learner: Learner, htmx: bool) -> None:
    isolated_long(learner)

    response = refused_form(
        learner, "margin", {"direction": "remove", "amount": "5400.00000001"}, htmx=htmx
    )

    assert (
        "You can remove at most 5,400 USDT: the position must keep at least 600 USDT (its "
        "margin at 100x, and enough to stay clear of liquidation)." in page(response)
    )


@both
def test_removing_margin_is_limited_by_liquidation_after_a_loss(
    learner: Learner, htmx: bool
) -> None:
    isolated_long(learner)
    learner.post("mark_set", {"price": "57000"})  # unrealised −3,000

    # Margin + PnL must stay above the maintenance margin (300): at least 3,300.00000001.
    response = refused_form(learner, "margin", {"direction": "remove", "amount": "2700"}, htmx=htmx)

    # Limits at USDT's 4 places, rounded towards what is allowed: "at most 2,700" would
    # quote the amount just refused.
    assert "You can remove at most 2,699.9999 USDT" in page(response)
    assert "the position must keep at least 3,300.0001 USDT" in page(response)


MARGIN_AMOUNT_ERRORS = [
    ("0", "above zero."),
    ("-100", "above zero."),
    ("", "Enter a"),
    ("abc", "Enter the amount as a number, like 25."),
    ("NaN", "Enter the amount as a number, like 25."),
    ("Infinity", "Enter the amount as a number, like 25."),
    ("0.000000001", "can have at most 8 decimal places here."),
    ("1000000001", "That amount is too large: the most is 1,000,000,000."),
]


@both
@pytest.mark.parametrize(("amount", "message"), MARGIN_AMOUNT_ERRORS)
def test_margin_amount_errors(learner: Learner, htmx: bool, amount: str, message: str) -> None:
    isolated_long(learner)

    response = refused_form(learner, "margin", {"direction": "add", "amount": amount}, htmx=htmx)

    text = page(response)
    assert "The margin was not changed: correct the fields below." in text
    assert '<span id="margin-amount-error" class="error">' in text
    assert message in text


@both
def test_margin_messages_are_grammatical(learner: Learner, htmx: bool) -> None:
    isolated_long(learner)

    zero = refused_form(learner, "margin", {"direction": "add", "amount": "0"}, htmx=htmx)
    empty = refused_form(learner, "margin", {"direction": "add", "amount": ""}, htmx=htmx)

    assert "Enter an amount above zero." in page(zero)
    assert "Enter an amount." in page(empty)


@both
def test_margin_direction_must_be_add_or_remove(learner: Learner, htmx: bool) -> None:
    isolated_long(learner)

    response = refused_form(learner, "margin", {"direction": "double", "amount": "10"}, htmx=htmx)

    assert "Choose add or remove." in page(response)


@both
def test_margin_on_a_cross_position_is_refused(learner: Learner, htmx: bool) -> None:
    learner.post("order_submit", {"side": "buy", "qty": "1"})  # cross 100x

    response = refused_form(learner, "margin", {"direction": "add", "amount": "100"}, htmx=htmx)

    assert (
        "XBTUSDT has no isolated position. Margin can be added only to an isolated position; "
        "a cross position already uses your whole available balance." in page(response)
    )


@both
def test_margin_with_no_position_is_refused(learner: Learner, htmx: bool) -> None:
    response = refused_form(learner, "margin", {"direction": "add", "amount": "100"}, htmx=htmx)

    assert "XBTUSDT has no isolated position." in page(response)


# ---------------------------------------------------------------------------------------
# The mark price.
# ---------------------------------------------------------------------------------------

MARK_ERRORS = [
    ("0", "Enter a mark price above zero."),
    ("-60000", "Enter a mark price above zero."),
    ("", "Enter a mark price."),
    ("abc", "Enter the mark price as a number, like 60000."),
    ("NaN", "Enter the mark price as a number, like 60000."),
    ("-Infinity", "Enter the mark price as a number, like 60000."),
    ("60,000", "Enter the mark price as a number, like 60000."),
    ("1.000000001", "A mark price can have at most 8 decimal places here."),
    ("1000000001", "That mark price is too large: the most is 1,000,000,000."),
    ("1E400", EXPONENT_MARK),
    ("1e9", EXPONENT_MARK),
    ("6e4", EXPONENT_MARK),
]


@both
@pytest.mark.parametrize(("price", "message"), MARK_ERRORS)
def test_mark_price_errors(learner: Learner, htmx: bool, price: str, message: str) -> None:
    isolated_long(learner)

    response = refused(
        learner,
        "mark_set",
        {"price": price},
        htmx=htmx,
        section="market",
        message="The mark price was not changed: " + message,
    )
    assert f'<span id="mark-error" class="error">{message}</span>' in page(response)
    assert mark_price(response) == "60,000"


@both
@pytest.mark.parametrize(
    ("price", "message"),
    [
        ("1e1000000", EXPONENT_MARK),
        ("1e-999999999", EXPONENT_MARK),
    ],
)
def test_mark_price_with_an_extreme_exponent_is_refused_cleanly(
    learner: Learner, htmx: bool, price: str, message: str
) -> None:
    refused(learner, "mark_set", {"price": price}, htmx=htmx, section="market", message=message)


HAND_MARK_ERRORS = [
    # Off XBTUSDT's tick (0.5): the nearest ticks are offered.
    (
        "60000.3",
        "XBTUSDT prices move in ticks of 0.5; 60,000.3 is between ticks. Try 60,000 or 60,000.5.",
    ),
    ("0.2", "XBTUSDT prices move in ticks of 0.5; 0.2 is between ticks. Try 0.5."),
    # Beyond a hundredfold of the current mark (60,000) either way.
    (
        "6000000.5",
        "A mark set by hand must be within a hundredfold of the current mark (60,000): "
        "from 600 to 6,000,000 on XBTUSDT; 6,000,000.5 is above that.",
    ),
    (
        "599.5",
        "A mark set by hand must be within a hundredfold of the current mark (60,000): "
        "from 600 to 6,000,000 on XBTUSDT; 599.5 is below that.",
    ),
    (
        "1000000000",
        "A mark set by hand must be within a hundredfold of the current mark "
        "(60,000): from 600 to 6,000,000 on XBTUSDT; 1,000,000,000 is above that.",
    ),
]


@both
@pytest.mark.parametrize(("price", "message"), HAND_MARK_ERRORS)
def test_a_mark_set_by_hand_is_on_the_tick_and_near_the_mark(
    learner: Learner, htmx: bool, price: str, message: str
) -> None:
    isolated_long(learner)

    response = refused(
        learner, "mark_set", {"price": price}, htmx=htmx, section="market", message=message
    )
    assert mark_price(response) == "60,000"


@both
def test_a_mark_set_by_hand_at_the_ends_of_its_range_is_taken(learner: Learner, htmx: bool) -> None:
    learner.post("mark_set", {"price": "6000000"}, htmx=htmx)
    assert mark_price(learner.get("desk")) == "6,000,000"
    # The range follows the new mark: a hundredth of 6,000,000 is 60,000.
    learner.post("mark_set", {"price": "60000"}, htmx=htmx)
    assert mark_price(learner.get("desk")) == "60,000"
    learner.post("mark_set", {"price": "600"}, htmx=htmx)
    assert mark_price(learner.get("desk")) == "600"


# ---------------------------------------------------------------------------------------
# Closing what is not there.
# ---------------------------------------------------------------------------------------


@both
def test_closing_with_no_position(learner: Learner, htmx: bool) -> None:
    refused(
        learner,
        "position_close",
        {},
        htmx=htmx,
        section="positions",
        message="You have no open XBTUSDT position to close.",
    )


# ---------------------------------------------------------------------------------------
# Whose account: another learner's account, unknown symbols and accounts.
# ---------------------------------------------------------------------------------------

ACTIONS: list[tuple[str, dict[str, str]]] = [
    ("order_submit", {"side": "buy", "qty": "1"}),
    ("position_close", {}),
    ("leverage_apply", {"stop": "10"}),
    ("mark_set", {"price": "50000"}),
    ("margin", {"direction": "add", "amount": "100"}),
    ("account_reset", {"symbol": "XBTUSDT"}),
]
GET_VIEWS = ["desk", "order_preview", "leverage_preview", "margin"]


@pytest.mark.parametrize("name", GET_VIEWS)
def test_another_learners_pages_are_not_found(
    learner: Learner, other_learner: Learner, name: str
) -> None:
    assert other_learner.client.get(other_learner.url(name)).status_code == 200

    response = learner.client.get(other_learner.url(name), {"side": "buy", "qty": "1"})

    assert response.status_code == 404


@both
@pytest.mark.parametrize(("name", "data"), ACTIONS, ids=[name for name, _ in ACTIONS])
def test_actions_on_another_learners_account_are_not_found(
    learner: Learner, other_learner: Learner, htmx: bool, name: str, data: dict[str, str]
) -> None:
    isolated_long(other_learner)
    theirs = snapshot(other_learner.account)
    mine = snapshot(learner.account)
    headers = {"HX-Request": "true"} if htmx else {}

    response = learner.client.post(other_learner.url(name), data, headers=headers)

    assert response.status_code == 404
    assert snapshot(other_learner.account) == theirs
    assert snapshot(learner.account) == mine


@both
@pytest.mark.parametrize(("name", "data"), ACTIONS, ids=[name for name, _ in ACTIONS])
def test_actions_from_a_browser_without_an_account_are_not_found(
    learner: Learner, htmx: bool, name: str, data: dict[str, str]
) -> None:
    before = snapshot(learner.account)
    headers = {"HX-Request": "true"} if htmx else {}

    response = Client().post(learner.url(name), data, headers=headers)

    assert response.status_code == 404
    assert snapshot(learner.account) == before


def test_an_account_that_does_not_exist_is_not_found(learner: Learner) -> None:
    missing = PaperAccount.objects.order_by("-id").values_list("id", flat=True)[0] + 1000

    assert learner.client.get(f"/desk/{missing}/XBTUSDT/").status_code == 404
    assert learner.client.post(f"/desk/{missing}/XBTUSDT/mark/", {"price": "1"}).status_code == 404


@pytest.mark.parametrize("name", GET_VIEWS)
def test_unknown_symbol_pages_are_not_found(learner: Learner, name: str) -> None:
    assert learner.get(name, symbol="DOGEUSDT").status_code == 404


@both
@pytest.mark.parametrize(("name", "data"), ACTIONS[:-1], ids=[name for name, _ in ACTIONS[:-1]])
def test_unknown_symbol_actions_are_not_found(
    learner: Learner, htmx: bool, name: str, data: dict[str, str]
) -> None:
    before = snapshot(learner.account)

    response = learner.post(name, data, symbol="DOGEUSDT", htmx=htmx)

    assert response.status_code == 404
    assert snapshot(learner.account) == before


# ---------------------------------------------------------------------------------------
# Methods.
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["order_submit", "position_close", "leverage_apply", "mark_set"])
def test_get_on_a_post_only_action_is_not_allowed(learner: Learner, name: str) -> None:
    before = snapshot(learner.account)

    response = learner.get(name, {"side": "buy", "qty": "1", "stop": "1", "price": "1"})

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert snapshot(learner.account) == before


def test_get_on_reset_is_not_allowed(learner: Learner) -> None:
    response = learner.client.get(learner.url("account_reset"))

    assert response.status_code == 405
    assert response["Allow"] == "POST"


@pytest.mark.parametrize("name", ["desk", "order_preview", "leverage_preview"])
def test_post_on_a_get_only_view_is_not_allowed(learner: Learner, name: str) -> None:
    before = snapshot(learner.account)

    response = learner.post(name, {"side": "buy", "qty": "1", "stop": "1"})

    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert snapshot(learner.account) == before


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_margin_accepts_only_get_and_post(learner: Learner, method: str) -> None:
    isolated_long(learner)
    before = snapshot(learner.account)

    response = getattr(learner.client, method)(learner.url("margin"))

    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"
    assert snapshot(learner.account) == before


# ---------------------------------------------------------------------------------------
# CSRF.
# ---------------------------------------------------------------------------------------


def csrf_checking(learner: Learner) -> Client:
    """A browser that enforces CSRF checks, holding the learner's cookies."""
    client = Client(enforce_csrf_checks=True)
    for key, morsel in learner.client.cookies.items():
        client.cookies[key] = morsel.value
    return client


@both
@pytest.mark.parametrize(("name", "data"), ACTIONS, ids=[name for name, _ in ACTIONS])
def test_a_post_without_a_csrf_token_is_refused(
    learner: Learner, htmx: bool, name: str, data: dict[str, str]
) -> None:
    isolated_long(learner)
    client = csrf_checking(learner)
    assert client.get(learner.url("desk")).status_code == 200  # the learner's own desk
    before = snapshot(learner.account)
    headers = {"HX-Request": "true"} if htmx else {}

    response = client.post(learner.url(name), data, headers=headers)

    assert response.status_code == 403
    assert snapshot(learner.account) == before


def test_the_same_post_with_the_csrf_token_is_accepted(learner: Learner) -> None:
    client = csrf_checking(learner)
    desk = client.get(learner.url("desk"))
    token = client.cookies["csrftoken"].value
    assert token

    refused_post = client.post(learner.url("mark_set"), {"price": "61000"})
    assert refused_post.status_code == 403
    assert snapshot(learner.account)["marks"]["XBTUSDT"] == D("60000")

    accepted = client.post(
        learner.url("mark_set"), {"price": "61000"}, headers={"X-CSRFToken": token}
    )

    assert desk.status_code == 200
    assert accepted.status_code == 302
    assert snapshot(learner.account)["marks"]["XBTUSDT"] == D("61000")


# ---------------------------------------------------------------------------------------
# Refusals leave the previews and the page consistent.
# ---------------------------------------------------------------------------------------


def test_a_refused_order_does_not_touch_the_other_sections(learner: Learner) -> None:
    isolated_long(learner)

    response = learner.post("order_submit", {"side": "buy", "qty": "2"}, htmx=True)

    # Only the ticket: balances, positions and history are not re-sent.
    assert sections(response) == [("ticket", False)]
    assert figures(response) == {}
