"""The trading desk through its views: every action with and without htmx, and the previews.

Figures are read from the rendered HTML (``data-figure`` cells, notices, history rows) and
from the database, and compared with values worked out by hand from the engine's rules:
XBTUSDT is linear, maintenance margin 0.5%, taker fee 0.05%, up to 100x.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client

from sandbox.desk.accounts import COOKIE, COOKIE_AGE
from sandbox.desk.models import (
    Fill,
    LedgerEntry,
    PaperAccount,
    Position,
)
from tests.web.conftest import Learner
from tests.web.desks import (
    ALL_SECTIONS,
    CROSS_NOTE,
    ON_THE_TICKET,
    D,
    answers,
    desk_url,
    figure_of,
    figures,
    fill_rows,
    follow,
    isolated_long,
    ledger_rows,
    mark_price,
    page,
    sections,
    snapshot,
    wallet,
)


def test_first_visit_creates_an_account_and_redirects_to_its_desk(seeded: None) -> None:
    client = Client()
    assert PaperAccount.objects.count() == 0

    response = client.get("/")

    account = PaperAccount.objects.get()
    assert account.user is None
    assert response.status_code == 302
    assert response["Location"] == desk_url(account)
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == COOKIE_AGE
    # The cookie is signed: it carries the account's browser key with a signature, and
    # a browser presenting it (and nothing else) is given the same account.
    assert account.browser_key in cookie.value
    assert cookie.value != account.browser_key
    same_browser = Client()
    same_browser.cookies[COOKIE] = cookie.value
    assert same_browser.get("/")["Location"] == desk_url(account)
    assert PaperAccount.objects.count() == 1
    # The new account has its starting balances, each recorded as a deposit.
    assert wallet(account, "USDT") == D("10000")
    assert wallet(account, "XBT") == D("1")
    assert list(
        LedgerEntry.objects.filter(account=account)
        .order_by("id")
        .values_list("currency", "amount", "reason", "balance_after")
    ) == [
        ("USDT", D("10000"), "deposit", D("10000")),
        ("XBT", D("1"), "deposit", D("1")),
    ]
    # Its own practice market, at the starting marks.
    assert snapshot(account)["marks"] == {
        "XBTUSDT": D("60000"),
        "ETHUSDT": D("3000"),
        "SOLUSDT": D("150"),
        "XBTUSD": D("60000"),
    }


def test_second_visit_reuses_the_same_account(seeded: None) -> None:
    client = Client()
    first = client.get("/")
    second = client.get("/")

    assert PaperAccount.objects.count() == 1
    assert second.status_code == 302
    assert second["Location"] == first["Location"]


def test_each_browser_gets_its_own_account_and_market(seeded: None) -> None:
    one, two = Client(), Client()
    one.get("/")
    two.get("/")

    first, second = PaperAccount.objects.order_by("id")
    assert first.pk != second.pk
    assert first.market_id != second.market_id
    assert first.browser_key != second.browser_key


@pytest.mark.parametrize("forge", ["bare key", "altered signature"])
def test_a_forged_cookie_is_ignored_and_a_new_account_made(learner: Learner, forge: str) -> None:
    signed = learner.client.cookies[COOKIE].value
    if forge == "bare key":
        value = learner.account.browser_key
    else:
        value = signed[:-1] + ("A" if signed[-1] != "A" else "B")
    learner.client.cookies[COOKIE] = value

    response = learner.client.get("/")

    newest = PaperAccount.objects.order_by("-id").first()
    assert newest is not None and newest.pk != learner.account.pk
    assert response["Location"] == desk_url(newest)
    assert learner.client.get(desk_url(learner.account)).status_code == 404


# ---------------------------------------------------------------------------------------
# The desk page.
# ---------------------------------------------------------------------------------------


def test_desk_shows_starting_balances_and_the_instrument_picker(learner: Learner) -> None:
    response = learner.client.get(learner.url("desk"))

    assert response.status_code == 200
    found_sections = sections(response)
    shown = [name for name, _ in found_sections if name in ALL_SECTIONS]
    assert sorted(shown) == sorted(set(ALL_SECTIONS) - ON_THE_TICKET)
    assert 'id="leverage"' in response.content.decode()
    assert not any(oob for _, oob in found_sections)
    found = figures(response)
    assert found["wallet-USDT"] == "10,000"
    assert found["available-USDT"] == "10,000"
    assert found["wallet-XBT"] == "1"
    assert found["available-XBT"] == "1"
    text = page(response)
    pk = learner.account.pk
    for symbol, kind, mark in [
        ("XBTUSDT", "linear, settled in USDT", "60,000"),
        ("ETHUSDT", "linear, settled in USDT", "3,000"),
        ("SOLUSDT", "linear, settled in USDT", "150"),
        ("XBTUSD", "inverse, settled in XBT", "60,000"),
    ]:
        link = re.search(
            rf'<a href="/desk/{pk}/{symbol}/"[^>]*>\s*<span class="symbol">{symbol}</span>\s*'
            rf'<span class="kind">{kind}</span>\s*<span class="mark">mark '
            rf'<span id="picker-{symbol}-mark">{mark}</span></span>',
            text,
        )
        assert link, f"no picker entry for {symbol} at {mark}"
    assert f'<a href="/desk/{pk}/XBTUSDT/" aria-current="page">' in text
    assert mark_price(response) == "60,000"
    assert "Maintenance margin 0.5%, up to 100x, taker fee 0.05%." in text
    assert "Your next XBTUSDT position will use <strong>cross margin</strong>:" in text
    assert "No open positions. Place an order to open one." in text
    assert "No fills yet." in text
    assert ledger_rows(response) == [
        ["XBT", "+1", "deposit", "", "1"],
        ["USDT", "+10,000", "deposit", "", "10,000"],
    ]


def test_desk_of_an_inverse_contract(learner: Learner) -> None:
    response = learner.client.get(learner.url("desk", "XBTUSD"))

    assert response.status_code == 200
    text = page(response)
    assert "XBTUSD mark price:" in text
    assert mark_price(response) == "60,000"
    assert "Inverse contract: quantity in USD contracts, value = qty / price" in text
    assert "Maintenance margin 0.35%, up to 100x, taker fee 0.05%." in text
    assert "Quantity in USD, in steps of 1." in text


# ---------------------------------------------------------------------------------------
# Orders.
# ---------------------------------------------------------------------------------------


def test_buy_at_isolated_10x_with_htmx(learner: Learner) -> None:
    assert learner.post("leverage_apply", {"stop": "10"}, htmx=True).status_code == 200

    response = learner.post("order_submit", {"side": "buy", "qty": "1"}, htmx=True)

    assert response.status_code == 200
    # The ticket answers in place; the other sections come out of band.
    answers(response, "ticket")
    assert "desk-changed" in response["HX-Trigger"]
    text = page(response)
    # The answer's message, where the focus goes after the action (desk.js).
    assert '<div class="notice success" role="status" tabindex="-1" data-focus>' in text
    assert "Bought 1 XBTUSDT at 60,000." in text
    assert (
        figures(response).items()
        >= {
            "wallet-USDT": "9,970",
            "available-USDT": "3,970",
            "wallet-XBT": "1",
            "available-XBT": "1",
            "mode": "Isolated 10x",
            "position-margin": "6,000",
            "liquidation-price": "54,300",
            "bankruptcy-price": "54,000",
        }.items()
    )
    row = re.search(r'<tr data-symbol="XBTUSDT">(.*?)</tr>', text, re.S)
    assert row is not None
    cells = [
        re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row[1], re.S)
    ]
    # side, qty, mode, avg cost, avg entry, mark, upnl, realised, IM, MM, PM, liq, bkr, distance
    assert cells[:14] == [
        "Long",
        "1",
        "Isolated 10x",
        "60,000",
        "60,000",
        "60,000",
        "0",
        "-30",
        "6,000",
        "300",
        "6,000",
        "54,300",
        "54,000",
        "9.5%",
    ]
    assert fill_rows(response) == [
        ["XBTUSDT", "buy", "1", "60,000", "60,000", "30", "0", "market order"]
    ]
    assert ledger_rows(response)[0] == ["USDT", "-30", "taker fee", "XBTUSDT", "9,970"]

    position = Position.objects.get(account=learner.account)
    assert (position.qty, position.mode, position.leverage) == (D("1"), "isolated", D("10"))
    assert position.position_margin == D("6000")
    assert wallet(learner.account) == D("9970")
    fee = LedgerEntry.objects.filter(account=learner.account).first()
    assert fee is not None
    assert (fee.reason, fee.amount, fee.balance_after) == ("taker_fee", D("-30"), D("9970"))
    fill = Fill.objects.get(account=learner.account)
    assert (fill.side, fill.qty, fill.price, fill.value, fill.fee) == (
        "buy",
        D("1"),
        D("60000"),
        D("60000"),
        D("30"),
    )
    assert fill.liquidation is False


def test_buy_without_htmx_redirects_and_the_desk_shows_the_position(learner: Learner) -> None:
    learner.post("leverage_apply", {"stop": "10"})

    response = learner.post("order_submit", {"side": "buy", "qty": "1"})

    assert response.status_code == 302
    assert response["Location"] == learner.url("desk")
    desk = follow(learner, response)
    assert desk.status_code == 200
    assert "Bought 1 XBTUSDT at 60,000." in page(desk)
    found = figures(desk)
    assert found["position-margin"] == "6,000"
    assert found["liquidation-price"] == "54,300"
    assert found["bankruptcy-price"] == "54,000"
    assert found["wallet-USDT"] == "9,970"
    assert ledger_rows(desk)[0] == ["USDT", "-30", "taker fee", "XBTUSDT", "9,970"]
    assert wallet(learner.account) == D("9970")


@pytest.mark.parametrize("htmx", [True, False])
def test_sell_at_isolated_10x_opens_a_short(learner: Learner, htmx: bool) -> None:
    learner.post("leverage_apply", {"stop": "10"}, htmx=htmx)

    response = learner.post("order_submit", {"side": "sell", "qty": "1"}, htmx=htmx)
    if not htmx:
        response = follow(learner, response)

    assert "Sold 1 XBTUSDT at 60,000." in page(response)
    assert "<td>Short</td>" in page(response)
    found = figures(response)
    # A short liquidates above the entry: 60,000 + (6,000 − 300) and 60,000 + 6,000.
    assert found["position-margin"] == "6,000"
    assert found["liquidation-price"] == "65,700"
    assert found["bankruptcy-price"] == "66,000"
    assert found["wallet-USDT"] == "9,970"
    position = Position.objects.get(account=learner.account)
    assert position.qty == D("-1")
    assert position.cost_value == D("-60000")


def test_sell_under_the_default_cross_margin(learner: Learner) -> None:
    response = learner.post("order_submit", {"side": "sell", "qty": "0.5"}, htmx=True)

    found = figures(response)
    # Cross at 100x: IM 300, fee 15; the whole available balance (9,685) stands behind it.
    assert found["mode"] == "Cross"
    assert found["position-margin"] == "300"
    assert found["wallet-USDT"] == "9,985"
    assert found["available-USDT"] == "9,685"
    assert found["liquidation-price"] == "79,670"
    assert found["bankruptcy-price"] == "79,970"
    # Cross positions have no margin of their own to change.
    text = page(response)
    assert (
        '<button type="button" class="secondary" disabled aria-describedby="cross-note-XBTUSDT">'
        in text
    )
    assert f'<small id="cross-note-XBTUSDT">{CROSS_NOTE}</small>' in text
    assert "data-margin-open" not in text


def test_buying_on_top_of_a_long_adds_to_it(learner: Learner) -> None:
    isolated_long(learner, stop=10, qty="0.5")
    learner.post("mark_set", {"price": "62000"})

    response = learner.post("order_submit", {"side": "buy", "qty": "0.5"}, htmx=True)

    position = Position.objects.get(account=learner.account)
    assert position.qty == D("1")
    assert position.cost_value == D("61000")  # 30,000 + 31,000
    assert position.position_margin == D("6100")  # 3,000 + 3,100
    # Fees 15 and 15.5.
    assert wallet(learner.account) == D("9969.5")
    assert figure_of(response, "position-margin") == "6,100"


# ---------------------------------------------------------------------------------------
# Closing.
# ---------------------------------------------------------------------------------------


def test_close_with_htmx_realises_the_pnl(learner: Learner) -> None:
    isolated_long(learner)
    learner.post("mark_set", {"price": "61000"})

    response = learner.post("position_close", {}, htmx=True)

    assert response.status_code == 200
    answers(response, "positions")
    assert "desk-changed" in response["HX-Trigger"]
    text = page(response)
    assert "Closed your XBTUSDT position; realised 1,000 USDT." in text
    assert "No open positions. Place an order to open one." in text
    # 10,000 − 30 (open fee) + 1,000 (PnL) − 30.5 (close fee at 61,000).
    assert figure_of(response, "wallet-USDT") == "10,939.5"
    assert ledger_rows(response)[:2] == [
        ["USDT", "-30.5", "taker fee", "XBTUSDT", "10,939.5"],
        ["USDT", "+1,000", "PnL realised by an order", "XBTUSDT", "10,970"],
    ]
    assert fill_rows(response)[0] == [
        "XBTUSDT",
        "sell",
        "1",
        "61,000",
        "61,000",
        "30.5",
        "+1,000",
        "market order",
    ]
    assert not Position.objects.filter(account=learner.account).exists()
    assert wallet(learner.account) == D("10939.5")


def test_close_without_htmx_redirects(learner: Learner) -> None:
    isolated_long(learner)
    learner.post("mark_set", {"price": "59000"})

    response = learner.post("position_close", {})

    assert response.status_code == 302
    desk = follow(learner, response)
    assert "Closed your XBTUSDT position; realised -1,000 USDT." in page(desk)
    assert not Position.objects.filter(account=learner.account).exists()
    # 10,000 − 30 − 1,000 − 29.5.
    assert wallet(learner.account) == D("8940.5")
    assert figure_of(desk, "wallet-USDT") == "8,940.5"


# ---------------------------------------------------------------------------------------
# Leverage.
# ---------------------------------------------------------------------------------------


def test_leverage_isolated_then_cross_with_no_position(learner: Learner) -> None:
    response = learner.post("leverage_apply", {"stop": "25"}, htmx=True)

    assert response.status_code == 200
    answers(response, "leverage")
    text = page(response)
    assert "XBTUSDT now uses isolated 25x." in text
    assert "<strong>isolated margin at 25x</strong>" in text
    assert (
        '<output id="leverage-value" for="leverage-stop" aria-live="polite">Isolated 25x</output>'
        in text
    )
    assert snapshot(learner.account)["settings"] == [("XBTUSDT", "isolated", D("25"))]

    response = learner.post("leverage_apply", {"stop": "0"}, htmx=True)

    text = page(response)
    assert "XBTUSDT now uses cross margin." in text
    assert "<strong>cross margin</strong>" in text
    assert "Cross margin</output>" in text
    # Cross uses the instrument's maximum leverage for its initial margin.
    assert snapshot(learner.account)["settings"] == [("XBTUSDT", "cross", D("100"))]
    # Choosing a setting moves no money.
    assert wallet(learner.account) == D("10000")
    assert LedgerEntry.objects.filter(account=learner.account).count() == 2


def test_leverage_without_htmx_redirects_with_a_message(learner: Learner) -> None:
    response = learner.post("leverage_apply", {"stop": "5"}, symbol="ETHUSDT")

    assert response.status_code == 302
    assert response["Location"] == learner.url("desk", "ETHUSDT")
    desk = follow(learner, response)
    assert "ETHUSDT now uses isolated 5x." in page(desk)
    assert snapshot(learner.account)["settings"] == [("ETHUSDT", "isolated", D("5"))]


@pytest.mark.parametrize("htmx", [True, False])
def test_leverage_on_an_open_position(learner: Learner, htmx: bool) -> None:
    learner.post("order_submit", {"side": "buy", "qty": "1"})  # cross 100x
    assert Position.objects.get(account=learner.account).position_margin == 0

    response = learner.post("leverage_apply", {"stop": "10"}, htmx=htmx)
    if not htmx:
        response = follow(learner, response)

    assert "Your XBTUSDT position uses <strong>isolated margin at 10x</strong>." in page(response)
    assert figure_of(response, "position-margin") == "6,000"
    assert figure_of(response, "liquidation-price") == "54,300"
    assert figure_of(response, "available-USDT") == "3,970"
    position = Position.objects.get(account=learner.account)
    assert (position.mode, position.leverage, position.position_margin) == (
        "isolated",
        D("10"),
        D("6000"),
    )

    response = learner.post("leverage_apply", {"stop": "0"}, htmx=htmx)
    if not htmx:
        response = follow(learner, response)

    position = Position.objects.get(account=learner.account)
    assert (position.mode, position.leverage, position.position_margin) == (
        "cross",
        D("100"),
        D("0"),
    )
    assert figure_of(response, "mode") == "Cross"
    assert figure_of(response, "available-USDT") == "9,370"
    assert CROSS_NOTE in page(response)
    # Switching margin modes moves no money.
    assert wallet(learner.account) == D("9970")


# ---------------------------------------------------------------------------------------
# The mark price, set by hand.
# ---------------------------------------------------------------------------------------


def test_set_mark_with_htmx(learner: Learner) -> None:
    isolated_long(learner)

    response = learner.post("mark_set", {"price": "61000.5"}, htmx=True)

    assert response.status_code == 200
    answers(response, "market")
    text = page(response)
    assert "XBTUSDT mark price set to 61,000.5." in text
    assert mark_price(response) == "61,000.5"
    assert '<span class="mark">mark <span id="picker-XBTUSDT-mark">61,000.5</span></span>' in text
    assert '<span id="pos-XBTUSDT-upnl" class="gain">+1,000.5</span>' in text  # unrealised PnL
    assert snapshot(learner.account)["marks"]["XBTUSDT"] == D("61000.5")
    assert Position.objects.filter(account=learner.account).exists()


def test_set_mark_without_htmx_redirects(learner: Learner) -> None:
    response = learner.post("mark_set", {"price": "3100"}, symbol="ETHUSDT")

    assert response.status_code == 302
    assert response["Location"] == learner.url("desk", "ETHUSDT")
    desk = follow(learner, response)
    assert "ETHUSDT mark price set to 3,100." in page(desk)
    assert mark_price(desk) == "3,100"
    assert snapshot(learner.account)["marks"]["ETHUSDT"] == D("3100")
    assert snapshot(learner.account)["marks"]["XBTUSDT"] == D("60000")


def test_a_mark_just_above_the_liquidation_price_liquidates_nothing(learner: Learner) -> None:
    isolated_long(learner)

    response = learner.post("mark_set", {"price": "54300.01"}, htmx=True)

    assert "Liquidated" not in page(response)
    assert Position.objects.filter(account=learner.account).exists()
    assert wallet(learner.account) == D("9970")


def test_a_mark_at_the_liquidation_price_liquidates_the_isolated_position(
    learner: Learner,
) -> None:
    isolated_long(learner)
    margin = Position.objects.get(account=learner.account).position_margin
    assert margin == D("6000")

    response = learner.post("mark_set", {"price": "54300"}, htmx=True)

    assert response.status_code == 200
    text = page(response)
    assert "XBTUSDT mark price set to 54,300." in text
    assert (
        "<strong>Liquidated:</strong> your XBTUSDT position was taken over at its bankruptcy "
        "price 54,000 (mark 54,300)." in text
    )
    assert "No open positions. Place an order to open one." in text
    assert not Position.objects.filter(account=learner.account).exists()
    # The fill history shows the take-over at the bankruptcy price.
    assert fill_rows(response)[0] == [
        "XBTUSDT",
        "sell",
        "1",
        "54,000",
        "54,000",
        "0",
        "-6,000",
        "liquidation",
    ]
    fill = Fill.objects.filter(account=learner.account).first()
    assert fill is not None and fill.liquidation is True
    # The ledger shows the loss of exactly the position margin.
    assert ledger_rows(response)[0] == ["USDT", "-6,000", "liquidation", "XBTUSDT", "3,970"]
    entry = LedgerEntry.objects.filter(account=learner.account).first()
    assert entry is not None
    assert (entry.reason, entry.amount, entry.balance_after) == ("liquidation", -margin, D("3970"))
    assert wallet(learner.account) == D("3970")
    assert figure_of(response, "wallet-USDT") == "3,970"
    # The insurance fund keeps what the mark was still better than bankruptcy: 300.
    assert snapshot(learner.account)["insurance"] == {"USDT": D("300")}


def test_liquidation_without_htmx_is_reported_on_the_desk(learner: Learner) -> None:
    isolated_long(learner)

    response = learner.post("mark_set", {"price": "50000"})

    assert response.status_code == 302
    desk = follow(learner, response)
    text = page(desk)
    assert '<p class="notice warning">XBTUSDT mark price set to 50,000.</p>' in text
    assert (
        '<p class="notice error">Your XBTUSDT position was liquidated: the mark reached its '
        "liquidation price.</p>" in text
    )
    assert not Position.objects.filter(account=learner.account).exists()
    assert fill_rows(desk)[0][-1] == "liquidation"
    assert ledger_rows(desk)[0] == ["USDT", "-6,000", "liquidation", "XBTUSDT", "3,970"]
    # Gapped through bankruptcy (54,000): the trader still loses only the margin; the
    # insurance fund pays the 4,000 beyond it.
    assert wallet(learner.account) == D("3970")
    assert snapshot(learner.account)["insurance"] == {"USDT": D("-4000")}


def test_the_liquidation_notice_states_the_loss_without_a_double_negative(
    learner: Learner,
) -> None:
    isolated_long(learner)

    response = learner.post("mark_set", {"price": "54300"}, htmx=True)

    text = page(response)
    assert "You lost 6,000 USDT." in text, re.findall(r"You lost [^.]*\.", text)


# ---------------------------------------------------------------------------------------
# Isolated margin: the dialog, its preview, and the change.
# ---------------------------------------------------------------------------------------


def test_margin_page_without_htmx_is_a_full_page(learner: Learner) -> None:
    isolated_long(learner)

    response = learner.get("margin")

    assert response.status_code == 200
    text = page(response)
    assert text.startswith("<!doctype html>")
    assert "<h1>Add or remove margin on XBTUSDT</h1>" in text
    assert f'<a href="{learner.url("desk")}">Back to the desk</a>' in text
    assert "XBTUSDT isolated position margin: <strong>6,000 USDT</strong>." in text
    assert "You can add up to <strong>3,970 USDT</strong> (your available balance)" in text
    assert "remove up to <strong>5,400 USDT</strong>" in text
    assert '<div id="margin-preview" aria-live="polite"> </div>' in text
    assert "margin-new" not in text


def test_margin_form_fragment_for_the_dialog(learner: Learner) -> None:
    isolated_long(learner)

    response = learner.get("margin", htmx=True, target="margin-dialog-body")

    text = page(response)
    assert response.status_code == 200
    assert text.lstrip().startswith('<div id="margin-form">')
    assert "<html" not in text
    assert "You can add up to <strong>3,970 USDT</strong>" in text


def test_margin_preview_fragment(learner: Learner) -> None:
    isolated_long(learner)

    response = learner.get(
        "margin", {"direction": "add", "amount": "100"}, htmx=True, target="margin-preview"
    )

    assert response.status_code == 200
    assert "<form" not in page(response)
    assert figures(response) == {
        "margin-new": "6,100 USDT",
        "margin-leverage": "9.84x",  # 60,000 / 6,100
        "margin-liquidation-price": "54,200",
    }
    assert "<dd>53,900</dd>" in page(response)  # bankruptcy price

    response = learner.get(
        "margin", {"direction": "remove", "amount": "5400"}, htmx=True, target="margin-preview"
    )

    assert figures(response) == {
        "margin-new": "600 USDT",
        "margin-leverage": "100x",
        "margin-liquidation-price": "59,700",
    }
    # A preview changes nothing.
    assert Position.objects.get(account=learner.account).position_margin == D("6000")


def test_margin_preview_shows_why_a_change_would_be_refused(learner: Learner) -> None:
    isolated_long(learner)

    response = learner.get(
        "margin", {"direction": "remove", "amount": "5400.01"}, htmx=True, target="margin-preview"
    )

    assert "This change would be refused: You can remove at most 5,400 USDT" in page(response)
    assert figures(response) == {}


def test_margin_preview_without_htmx(learner: Learner) -> None:
    isolated_long(learner)

    response = learner.get("margin", {"direction": "add", "amount": "1000"})

    assert response.status_code == 200
    assert page(response).startswith("<!doctype html>")
    assert figure_of(response, "margin-new") == "7,000 USDT"
    assert figure_of(response, "margin-liquidation-price") == "53,300"


def test_add_margin_with_htmx(learner: Learner) -> None:
    isolated_long(learner)
    ledger_before = LedgerEntry.objects.filter(account=learner.account).count()

    response = learner.post("margin", {"direction": "add", "amount": "1000"}, htmx=True)

    assert response.status_code == 200
    assert response["HX-Retarget"] == "#positions"
    assert response["HX-Reswap"] == "outerHTML"
    assert "desk-changed" in response["HX-Trigger"]
    # The dialog closes once the positions are redrawn (focus back on its opener).
    assert "margin-changed" in response["HX-Trigger-After-Settle"]
    answers(response, "positions")
    assert "Added 1,000 USDT of margin on XBTUSDT." in page(response)
    found = figures(response)
    assert found["position-margin"] == "7,000"
    assert found["liquidation-price"] == "53,300"
    assert found["bankruptcy-price"] == "53,000"
    assert found["wallet-USDT"] == "9,970"
    assert found["available-USDT"] == "2,970"
    assert Position.objects.get(account=learner.account).position_margin == D("7000")
    # Margin moves within the wallet: no ledger entry, the wallet stays.
    assert wallet(learner.account) == D("9970")
    assert LedgerEntry.objects.filter(account=learner.account).count() == ledger_before


def test_remove_margin_without_htmx(learner: Learner) -> None:
    isolated_long(learner)

    response = learner.post("margin", {"direction": "remove", "amount": "500"})

    assert response.status_code == 302
    assert response["Location"] == learner.url("desk")
    desk = follow(learner, response)
    assert "Removed 500 USDT of margin on XBTUSDT." in page(desk)
    assert figure_of(desk, "position-margin") == "5,500"
    assert figure_of(desk, "liquidation-price") == "54,800"
    assert figure_of(desk, "available-USDT") == "4,470"
    assert Position.objects.get(account=learner.account).position_margin == D("5500")


def test_cross_position_has_no_margin_control(learner: Learner) -> None:
    learner.post("order_submit", {"side": "buy", "qty": "1"})

    desk = learner.client.get(learner.url("desk"))

    text = page(desk)
    assert re.search(
        r'<button type="button" class="secondary" disabled aria-describedby="cross-note-XBTUSDT">'
        r"Margin…</button>\s*<small id=\"cross-note-XBTUSDT\">" + re.escape(CROSS_NOTE),
        text,
    )
    assert learner.url("margin") not in text
    # The margin page itself explains why there is nothing to change.
    response = learner.get("margin")
    assert response.status_code == 200
    assert (
        "XBTUSDT has no isolated position. Margin can be added only to an isolated position; "
        "a cross position already uses your whole available balance." in page(response)
    )
    assert "<form" not in page(response).split('<div id="margin-form">')[1]


# ---------------------------------------------------------------------------------------
# Reset.
# ---------------------------------------------------------------------------------------


def _trade_then_liquidate(learner: Learner) -> None:
    isolated_long(learner)
    learner.post("mark_set", {"price": "50000"})
    learner.post("leverage_apply", {"stop": "5"}, symbol="ETHUSDT")
    learner.post("order_submit", {"side": "sell", "qty": "1"}, symbol="ETHUSDT")
    learner.post("mark_set", {"price": "2900"}, symbol="ETHUSDT")
    assert wallet(learner.account) == D("3968.5")  # 10,000 − 30 − 6,000 − 1.5
    assert Position.objects.filter(account=learner.account).count() == 1


def test_reset_without_htmx(learner: Learner) -> None:
    _trade_then_liquidate(learner)
    ledger_before = LedgerEntry.objects.filter(account=learner.account).count()

    response = learner.client.post(learner.url("account_reset"), {"symbol": "ETHUSDT"})

    assert response.status_code == 302
    assert response["Location"] == learner.url("desk", "ETHUSDT")
    desk = follow(learner, response)
    assert "Your paper account is back to its starting balances." in page(desk)
    assert figure_of(desk, "wallet-USDT") == "10,000"
    assert figure_of(desk, "wallet-XBT") == "1"
    assert "No open positions." in page(desk)
    # The wallet change is one ledger entry, so the ledger still adds up.
    assert ledger_rows(desk)[0] == ["USDT", "+6,031.5", "account reset", "", "10,000"]
    state = snapshot(learner.account)
    assert state["wallets"] == {"USDT": D("10000"), "XBT": D("1")}
    assert state["positions"] == []
    assert state["settings"] == []
    assert state["ledger"] == ledger_before + 1
    entry = LedgerEntry.objects.filter(account=learner.account).first()
    assert entry is not None
    assert (entry.reason, entry.amount, entry.balance_after) == (
        "reset",
        D("6031.5"),
        D("10000"),
    )


def test_reset_with_htmx_asks_for_a_full_reload(learner: Learner) -> None:
    _trade_then_liquidate(learner)

    response = learner.client.post(
        learner.url("account_reset"), {"symbol": "XBTUSD"}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 204
    assert response["HX-Redirect"] == learner.url("desk", "XBTUSD")
    assert snapshot(learner.account)["wallets"] == {"USDT": D("10000"), "XBT": D("1")}
    assert not Position.objects.filter(account=learner.account).exists()
    assert LedgerEntry.objects.filter(account=learner.account, reason="reset").count() == 1


def test_reset_of_a_fresh_account_records_nothing_and_falls_back_to_the_default_symbol(
    learner: Learner,
) -> None:
    ledger_before = LedgerEntry.objects.filter(account=learner.account).count()

    response = learner.client.post(learner.url("account_reset"), {"symbol": "NOPE"})

    assert response.status_code == 302
    assert response["Location"] == learner.url("desk", "XBTUSDT")
    assert LedgerEntry.objects.filter(account=learner.account).count() == ledger_before


# ---------------------------------------------------------------------------------------
# Previews: the engine's figures before confirming.
# ---------------------------------------------------------------------------------------


def test_order_preview_at_the_default_cross_margin(learner: Learner) -> None:
    response = learner.get("order_preview", {"side": "buy", "qty": "1"}, htmx=True)

    assert response.status_code == 200
    assert "<section" not in page(response)
    assert figures(response) == {
        "order-value": "60,000 USDT",
        "order-initial-margin": "600 USDT",
        "order-fee": "30 USDT",
        # The whole available balance (9,370 after the order) plus its IM stands behind it.
        "order-liquidation-price": "50,330",
        "order-bankruptcy-price": "50,030",
    }
    assert "<dt>Margin</dt><dd>cross</dd>" in page(response)
    # A preview places nothing.
    assert snapshot(learner.account)["fills"] == 0


def test_order_preview_at_isolated_10x(learner: Learner) -> None:
    learner.post("leverage_apply", {"stop": "10"})

    response = learner.get("order_preview", {"side": "sell", "qty": "0.5"}, htmx=True)

    assert figures(response) == {
        "order-value": "30,000 USDT",
        "order-initial-margin": "3,000 USDT",
        "order-fee": "15 USDT",
        "order-liquidation-price": "65,700",
        "order-bankruptcy-price": "66,000",
    }
    assert "<dt>Margin</dt><dd>isolated 10x</dd>" in page(response)


def test_order_preview_gives_the_rejection_reason(learner: Learner) -> None:
    learner.post("leverage_apply", {"stop": "10"})

    response = learner.get("order_preview", {"side": "buy", "qty": "5"}, htmx=True)

    found = figures(response)
    assert found == {
        "order-value": "300,000 USDT",
        "order-initial-margin": "30,000 USDT",
        "order-fee": "150 USDT",
    }
    assert (
        '<div class="span"><dt>Would be refused</dt><dd class="error" role="alert">'
        "Not enough available balance: this order needs 20,150 USDT more than you have "
        "available.</dd></div>" in page(response)
    )


def test_order_preview_of_a_closing_order(learner: Learner) -> None:
    isolated_long(learner)

    response = learner.get("order_preview", {"side": "sell", "qty": "1"}, htmx=True)

    assert "The order closes the position." in page(response)
    assert figure_of(response, "order-initial-margin") == "0 USDT"
    assert figure_of(response, "order-fee") == "30 USDT"


def test_order_preview_of_invalid_input_shows_the_hint(learner: Learner) -> None:
    response = learner.get("order_preview", {"side": "buy", "qty": "abc"}, htmx=True)

    assert response.status_code == 200
    assert "Enter a quantity to see the order's value" in page(response)
    assert figures(response) == {}


def test_order_preview_without_javascript_on_the_desk(learner: Learner) -> None:
    response = learner.get("desk", {"side": "buy", "qty": "0.5"})

    assert response.status_code == 200
    assert figure_of(response, "order-value") == "30,000 USDT"
    assert figure_of(response, "order-fee") == "15 USDT"
    assert 'value="0.5"' in page(response)  # the ticket keeps what was typed


def test_leverage_preview_for_the_order_being_prepared(learner: Learner) -> None:
    """The slider's own request answers with the ticket's one preview: the order under the
    slider's setting (no position yet), which is the setting the order will open at."""
    response = learner.get("leverage_preview", {"stop": "20", "side": "buy", "qty": "1"}, htmx=True)

    assert response.status_code == 200
    assert figures(response) == {
        "order-value": "60,000 USDT",
        "order-initial-margin": "3,000 USDT",
        "order-fee": "30 USDT",
        "order-liquidation-price": "57,300",
        "order-bankruptcy-price": "57,000",
    }
    assert "<dt>Margin</dt><dd>isolated 20x</dd>" in page(response)
    assert snapshot(learner.account)["settings"] == []


def test_leverage_preview_of_an_open_position(learner: Learner) -> None:
    isolated_long(learner)

    response = learner.get("leverage_preview", {"stop": "100"}, htmx=True)

    assert figures(response) == {
        "preview-initial-margin": "600 USDT",
        "preview-liquidation-price": "59,700",
        "preview-bankruptcy-price": "59,400",
    }
    assert "<dt>Position margin</dt><dd>600 USDT</dd>" in page(response)
    assert Position.objects.get(account=learner.account).leverage == D("10")


def test_leverage_preview_gives_the_rejection_reason(learner: Learner) -> None:
    isolated_long(learner)

    response = learner.get("leverage_preview", {"stop": "5"}, htmx=True)

    # 5x needs 12,000 of margin; 9,970 is all there is: 2,030 short.
    assert (
        "This setting would be refused: Not enough available balance: switching XBTUSDT to "
        "isolated margin at 5x needs 2,030 USDT more than you have available." in page(response)
    )
    assert figures(response) == {}


def test_leverage_preview_without_a_quantity_shows_the_hint(learner: Learner) -> None:
    response = learner.get("leverage_preview", {"stop": "20"}, htmx=True)

    assert "Enter a quantity to see the order's value, margin, fee" in page(response)


def test_an_order_redraws_the_slider_with_the_ticket_that_holds_it(
    learner: Learner,
) -> None:
    def ticket(data: dict[str, str]) -> str:
        response = learner.post("order_submit", data, htmx=True)
        assert response.status_code == 200
        assert [name for name, _ in sections(response)][0] == "ticket"
        assert 'id="leverage-stop"' in response.content.decode()
        return page(response)

    # Opens the position: the slider now speaks of "your position".
    opened = ticket({"side": "buy", "qty": "1", "stop": "10"})
    assert "Your XBTUSDT position uses <strong>isolated margin at 10x</strong>." in opened
    # Adds to it: the mode and leverage stand.
    added = ticket({"side": "buy", "qty": "0.5", "stop": "10"})
    assert "Bought 0.5 XBTUSDT" in added
    assert "Your XBTUSDT position uses <strong>isolated margin at 10x</strong>." in added
    # Closes it: the slider speaks of the next position again, at the same stop.
    closed = ticket({"side": "sell", "qty": "1.5", "stop": "10"})
    assert "Your next XBTUSDT position will use <strong>isolated margin at 10x" in (closed)
    assert not Position.objects.filter(account=learner.account).exists()


# ---------------------------------------------------------------------------------------
# The slider on the ticket drives the order (#12).
# ---------------------------------------------------------------------------------------


def test_the_slider_sits_on_the_order_ticket(learner: Learner) -> None:
    text = learner.client.get(learner.url("desk")).content.decode()
    form = text[
        text.index('<form id="ticket-form"') : text.index(
            "</form>", text.index('<form id="ticket-form"')
        )
    ]
    assert 'type="range" id="leverage-stop" name="stop"' in form
    assert "[name=stop]" in form  # the order preview sends the slider's stop


@pytest.mark.parametrize("htmx", [True, False])
def test_an_order_opens_at_the_sliders_setting_without_apply(learner: Learner, htmx: bool) -> None:
    response = learner.post("order_submit", {"side": "buy", "qty": "1", "stop": "10"}, htmx=htmx)

    assert response.status_code == (200 if htmx else 302)
    position = Position.objects.get(account=learner.account)
    assert (position.mode, position.leverage, position.position_margin) == (
        "isolated",
        D("10"),
        D("6000"),
    )
    assert snapshot(learner.account)["settings"] == [("XBTUSDT", "isolated", D("10"))]


@pytest.mark.parametrize("stop", ["101", "abc", "-1", ""])
def test_an_order_with_a_bad_slider_stop_is_refused(learner: Learner, stop: str) -> None:
    before = snapshot(learner.account)

    response = learner.post("order_submit", {"side": "buy", "qty": "1", "stop": stop}, htmx=True)

    assert response.status_code == 200
    assert sections(response) == [("ticket", False)]
    assert "Not done:</strong> The order was not placed: " in page(response)
    assert snapshot(learner.account) == before


def test_an_order_on_a_position_whose_slider_moved_is_refused_until_applied(
    learner: Learner,
) -> None:
    isolated_long(learner)
    before = snapshot(learner.account)

    response = learner.post("order_submit", {"side": "buy", "qty": "0.1", "stop": "20"}, htmx=True)

    assert (
        "Your XBTUSDT position uses isolated 10x, not isolated 20x: apply the new leverage "
        "first, or move the slider back, then place the order." in page(response)
    )
    assert 'value="20"' in page(response)  # the slider stays where the learner left it
    assert snapshot(learner.account) == before


def test_the_order_preview_follows_the_slider(learner: Learner) -> None:
    response = learner.get("order_preview", {"side": "buy", "qty": "1", "stop": "10"}, htmx=True)

    assert "<dt>Margin</dt><dd>isolated 10x</dd>" in page(response)
    assert figure_of(response, "order-initial-margin") == "6,000 USDT"
    assert figure_of(response, "order-liquidation-price") == "54,300"
    # Cross at the far left.
    response = learner.get("order_preview", {"side": "buy", "qty": "1", "stop": "0"}, htmx=True)
    assert "<dt>Margin</dt><dd>cross</dd>" in page(response)


def test_on_an_open_position_the_moved_slider_previews_the_change_with_its_apply(
    learner: Learner,
) -> None:
    isolated_long(learner)

    response = learner.get("order_preview", {"side": "buy", "qty": "0.1", "stop": "20"}, htmx=True)

    text = page(response)
    assert (
        "Your position uses isolated 10x; the slider shows <strong>isolated 20x</strong>." in text
    )
    assert figure_of(response, "preview-liquidation-price") == "57,300"
    assert "order-liquidation-price" not in text  # no order figures under another leverage
    assert f'formaction="{learner.url("leverage_apply")}"' in text
    assert ">Apply isolated 20x</button>" in text
    # Back at the position's own stop: the order's preview, under the position's setting.
    response = learner.get("order_preview", {"side": "buy", "qty": "0.1", "stop": "10"}, htmx=True)
    assert "<dt>Margin</dt><dd>isolated 10x</dd>" in page(response)
    assert "Apply" not in page(response)


def test_the_moved_slider_without_javascript_previews_then_applies(learner: Learner) -> None:
    """The ticket's Preview button (a GET of the desk) and the Apply button (posting the
    ticket's fields to leverage_apply) do the same without JavaScript."""
    isolated_long(learner)

    preview = learner.get("desk", {"side": "buy", "qty": "", "stop": "20"})
    assert ">Apply isolated 20x</button>" in page(preview)
    response = learner.post("leverage_apply", {"side": "buy", "qty": "", "stop": "20"})

    assert response.status_code == 302
    assert Position.objects.get(account=learner.account).leverage == D("20")


def test_an_apply_that_would_be_refused_offers_no_apply(learner: Learner) -> None:
    isolated_long(learner)

    response = learner.get("order_preview", {"stop": "5"}, htmx=True)

    assert "This setting would be refused: Not enough available balance" in page(response)
    assert "Apply" not in page(response)


# ---------------------------------------------------------------------------------------
# Liquidation notices: the same live notice whatever caused it (#12).
# ---------------------------------------------------------------------------------------


def test_a_liquidation_by_set_mark_answers_with_the_live_notice(learner: Learner) -> None:
    isolated_long(learner)

    response = learner.post("mark_set", {"price": "54000"}, htmx=True)

    body = response.content.decode()
    assert re.search(r'<div id="liquidation-notices"[^>]*hx-swap-oob="true"', body)
    notices = body[body.index('id="liquidation-notices"') :]
    assert 'data-liquidation="XBTUSDT"' in notices
    assert "Liquidated: your XBTUSDT long (isolated margin)" in notices
    assert '<dd data-figure="liquidation-loss">6,000 USDT</dd>' in notices
    assert "<details open>" in notices
    # An action that liquidates nothing does not redraw the notices.
    calm = learner.post("mark_set", {"price": "54100"}, htmx=True)
    assert 'id="liquidation-notices"' not in calm.content.decode()


def test_a_liquidation_by_set_mark_without_javascript_shows_the_notice(learner: Learner) -> None:
    isolated_long(learner)

    desk = follow(learner, learner.post("mark_set", {"price": "54000"}))

    assert 'data-liquidation="XBTUSDT"' in page(desk)
    assert "6,000 USDT" in page(desk)


def test_the_history_lists_each_liquidation_with_its_breakdown(learner: Learner) -> None:
    isolated_long(learner)
    learner.post("mark_set", {"price": "54000"})
    record = learner.account.liquidations.get()
    record.acknowledged = True  # dismissed: still in the history
    record.save()

    text = page(learner.client.get(f"/desk/{learner.account.pk}/history/"))

    assert f'<article id="liquidation-{record.pk}"' in text
    assert "XBTUSDT long (isolated margin)" in text
    assert "<dt>Liquidation price</dt><dd>54,300</dd>" in text
    assert '<dd data-figure="liquidation-loss">6,000 USDT</dd>' in text
