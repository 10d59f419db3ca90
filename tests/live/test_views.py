"""The practice market's clock controls and dismissing a liquidation notice, as pages."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.template.loader import get_template
from django.test import Client
from django.urls import reverse

from sandbox.desk.models import Instrument, LiquidationRecord, Market
from sandbox.live import services
from sandbox.live.selectors import MarginAlert

from .conftest import BUY, ISOLATED, Learner, open_position, quiet, reload, schedule_gap

D = Decimal


def clock(learner: Learner, data: dict[str, Any], symbol: str = "XBTUSDT", **kw: Any) -> Any:
    return learner.post("clock", data, symbol=symbol, **kw)


def market_of(learner: Learner) -> Market:
    return reload(learner.account.market)


def clock_state(market: Market) -> tuple[bool, int, dict[str, str]]:
    row = reload(market)
    return row.running, row.speed, dict(row.pending_gaps)


def refusal(response: Any) -> str:
    """The refusal a no-JavaScript post gets: the desk again, status 400, with the notice."""
    assert response.status_code == 400
    return response.content.decode()


# ---------------------------------------------------------------------------- clock


def test_pause_and_go_on(learner: Learner) -> None:
    response = clock(learner, {"action": "pause"})

    assert response.status_code == 302
    assert response.url == learner.url("desk")
    assert market_of(learner).running is False
    page = learner.client.get(response.url).content.decode()
    assert "The market is stopped. Prices hold until you go on." in page
    assert "<strong>paused</strong>" in page
    assert 'value="go">Go on</button>' in page

    response = clock(learner, {"action": "go"})

    assert response.status_code == 302
    assert market_of(learner).running is True
    assert "The market is moving again." in learner.client.get(response.url).content.decode()


def test_a_paused_market_is_not_claimed_by_a_ticker(learner: Learner) -> None:
    services.market_watched(market_id=learner.account.market_id)
    clock(learner, {"action": "pause"})

    assert services.leases_claim("ticker-a") == []

    clock(learner, {"action": "go"})
    assert [pk for pk, _ in services.leases_claim("ticker-a")] == [learner.account.market_id]


@pytest.mark.parametrize("speed", ["1", "10", "60", "600", "42"])
def test_a_valid_speed_is_set(learner: Learner, speed: str) -> None:
    response = clock(learner, {"action": "speed", "speed": speed})

    assert response.status_code == 302
    assert market_of(learner).speed == int(speed)
    page = learner.client.get(response.url).content.decode()
    assert f"The market now runs at {int(speed)}x." in page


@pytest.mark.parametrize(
    ("speed", "message"),
    [
        ("0", "The speed must be from 1x to 600x."),
        ("601", "The speed must be from 1x to 600x."),
        ("99999999999999999999", "The speed must be from 1x to 600x."),
        ("", "Choose a speed from the list."),
        ("abc", "Choose a speed from the list."),
        ("-10", "Choose a speed from the list."),
        ("1.5", "Choose a speed from the list."),
        (" 10", "Choose a speed from the list."),
        # A character Python calls a digit but int() cannot read (superscript two).
        ("\u00b2", "Choose a speed from the list."),
        # Digits int() reads, but not typed with the desk's list: Arabic-Indic, fullwidth.
        ("\u0665", "Choose a speed from the list."),
        ("\uff15", "Choose a speed from the list."),
        # More digits than int() reads (4,300): said to be too fast, not a crash.
        ("9" * 10_000, "The speed must be from 1x to 600x."),
    ],
)
def test_an_invalid_speed_is_refused_and_changes_nothing(
    learner: Learner, speed: str, message: str
) -> None:
    before = clock_state(learner.account.market)

    page = refusal(clock(learner, {"action": "speed", "speed": speed}))

    assert message in page
    assert "Not done:" in page
    assert clock_state(learner.account.market) == before


@pytest.mark.parametrize(
    ("symbol", "percent", "stored"),
    [
        ("XBTUSDT", "-10", "-10"),
        ("XBTUSDT", "20", "20"),
        ("ETHUSDT", "-5", "-5"),
        ("SOLUSDT", "-20", "-20"),
        ("XBTUSD", "20", "20"),
        ("XBTUSDT", "-2.5", "-2.5"),
    ],
)
def test_a_valid_gap_is_scheduled_for_the_next_tick(
    learner: Learner, symbol: str, percent: str, stored: str
) -> None:
    response = clock(learner, {"action": "gap", "percent": percent}, symbol=symbol)

    assert response.status_code == 302
    assert response.url == learner.url("desk", symbol)
    assert market_of(learner).pending_gaps == {symbol: [stored]}
    page = learner.client.get(response.url).content.decode()
    assert f"On the next tick {symbol} jumps {percent}% at once" in page


def test_gaps_on_two_symbols_wait_together_and_the_tick_applies_both(learner: Learner) -> None:
    market = quiet(learner.account.market)
    clock(learner, {"action": "gap", "percent": "-10"})
    clock(learner, {"action": "gap", "percent": "5"}, symbol="ETHUSDT")
    clock(learner, {"action": "gap", "percent": "-20"})  # replaces the first XBTUSDT gap

    assert market_of(learner).pending_gaps == {"XBTUSDT": ["-20"], "ETHUSDT": ["5"]}
    result = services.market_tick(market_id=market.pk)
    assert result is not None
    assert (result.marks["XBTUSDT"], result.marks["ETHUSDT"]) == (D("48000.0"), D("3150.00"))
    assert market_of(learner).pending_gaps == {}


LEARNER_GAP = "A gap on your practice market must be a move from -20% to +20%, other than 0."


@pytest.mark.parametrize(
    ("percent", "message"),
    [
        ("0", LEARNER_GAP),
        ("-0", LEARNER_GAP),
        # What the README and the desk's list offer is what the server takes: ±20%.
        ("-20.01", LEARNER_GAP),
        ("20.01", LEARNER_GAP),
        ("-90", LEARNER_GAP),
        ("-100", LEARNER_GAP),
        ("900", LEARNER_GAP),
        ("1e3", LEARNER_GAP),
        ("", "Choose the size of the gap from the list."),
        # Too long to be a gap from the list: refused, not cut to "-10.00000000".
        ("-10.000000001", "Choose the size of the gap from the list."),
        ("1" * 10_000, "Choose the size of the gap from the list."),
        ("ten", "Choose the size of the gap from the list."),
        ("NaN", "Choose the size of the gap from the list."),
        ("Infinity", "Choose the size of the gap from the list."),
        ("-10%", "Choose the size of the gap from the list."),
        ("1,5", "Choose the size of the gap from the list."),
    ],
)
def test_an_invalid_gap_is_refused_and_changes_nothing(
    learner: Learner, percent: str, message: str
) -> None:
    before = clock_state(learner.account.market)

    page = refusal(clock(learner, {"action": "gap", "percent": percent}))

    assert message in page
    assert clock_state(learner.account.market) == before


@pytest.mark.parametrize("action", ["", "stop", "reset", "PAUSE"])
def test_an_unknown_action_is_refused(learner: Learner, action: str) -> None:
    before = clock_state(learner.account.market)

    page = refusal(clock(learner, {"action": action}))

    assert "Choose stop, go on, a speed or a gap." in page
    assert clock_state(learner.account.market) == before


@pytest.mark.parametrize(
    "data",
    [
        {"action": "pause"},
        {"action": "go"},
        {"action": "speed", "speed": "600"},
        {"action": "gap", "percent": "-10"},
    ],
)
def test_a_market_that_is_not_a_practice_market_is_refused(
    learner: Learner, data: dict[str, str]
) -> None:
    Market.objects.filter(pk=learner.account.market_id).update(kind=Market.Kind.ROOM)
    before = clock_state(learner.account.market)

    page = refusal(clock(learner, data))

    assert "Only your own practice market can be controlled here." in page
    assert clock_state(learner.account.market) == before


def test_the_controls_answer_htmx_with_the_market_section(learner: Learner) -> None:
    response = clock(learner, {"action": "speed", "speed": "60"}, htmx=True)

    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="market"')
    assert "The market now runs at 60x." in body
    assert market_of(learner).speed == 60

    refused = clock(learner, {"action": "speed", "speed": "700"}, htmx=True)
    body = refused.content.decode()
    assert "The speed must be from 1x to 600x." in body
    assert 'id="balances"' not in body  # a refusal answers only its own section
    assert market_of(learner).speed == 60


def test_another_learners_clock_is_not_found(learner: Learner, other_learner: Learner) -> None:
    url = reverse("clock", kwargs={"account_id": other_learner.account.pk, "symbol": "XBTUSDT"})

    response = learner.client.post(url, {"action": "pause"})

    assert response.status_code == 404
    assert market_of(other_learner).running is True


def test_the_clock_of_an_unknown_symbol_is_not_found(learner: Learner) -> None:
    response = clock(learner, {"action": "pause"}, symbol="NOPE")

    assert response.status_code == 404
    assert market_of(learner).running is True


def test_the_service_keeps_a_learners_gap_within_20_percent(learner: Learner) -> None:
    """Not only the form: the service itself refuses a wider gap on a practice market."""
    market = learner.account.market
    for percent in ("-20.01", "25", "-90", "900"):
        with pytest.raises(services.ControlError, match="from -20% to \\+20%"):
            services.learner_gap(market=market, symbol="XBTUSDT", percent=D(percent))
    assert clock_state(market)[2] == {}

    services.learner_gap(market=market, symbol="XBTUSDT", percent=D("-20"))
    assert clock_state(market)[2] == {"XBTUSDT": ["-20"]}


@pytest.mark.parametrize("data", [{"action": "pause"}, {"action": "speed", "speed": "60"}])
def test_a_room_learners_clock_on_an_instrument_the_room_does_not_trade_is_not_found(
    learner: Learner, data: dict[str, str]
) -> None:
    """It used to draw the desk for an instrument the market has no price for: a 500."""
    Market.objects.filter(pk=learner.account.market_id).update(
        kind=Market.Kind.ROOM, symbols=["XBTUSDT"]
    )
    before = clock_state(learner.account.market)
    learner.client.raise_request_exception = False

    for htmx in (False, True):
        response = clock(learner, data, symbol="SOLUSDT", htmx=htmx)

        assert response.status_code == 404
        assert "There is nothing here for you" in response.content.decode()
    assert clock_state(learner.account.market) == before


def test_the_clock_takes_posts_only(learner: Learner) -> None:
    response = learner.client.get(learner.url("clock"), {"action": "pause"})

    assert response.status_code == 405
    assert market_of(learner).running is True


# ----------------------------------------------------------------- liquidation notices


def liquidated(learner: Learner) -> LiquidationRecord:
    """0.1 XBTUSDT isolated 10x, then a gap to its liquidation price 54300."""
    market = quiet(learner.account.market)
    open_position(learner.account, "XBTUSDT", BUY, "0.1", ISOLATED, "10")
    schedule_gap(market, "XBTUSDT", "-9.5")
    assert services.market_tick(market_id=market.pk) is not None
    return LiquidationRecord.objects.get(account=learner.account)


def dismiss_url(account_id: int, record_id: int) -> str:
    return reverse("liquidation_dismiss", kwargs={"account_id": account_id, "record_id": record_id})


def test_the_desk_shows_an_open_liquidation_notice_until_dismissed(learner: Learner) -> None:
    record = liquidated(learner)
    page = learner.get("desk").content.decode()
    assert f'id="liq-{record.pk}-title"' in page
    assert dismiss_url(learner.account.pk, record.pk) in page

    response = learner.client.post(
        dismiss_url(learner.account.pk, record.pk), {"symbol": "XBTUSDT"}
    )

    assert response.status_code == 302
    assert response.url == learner.url("desk")
    record.refresh_from_db()
    assert record.acknowledged is True
    assert f'id="liq-{record.pk}-title"' not in learner.get("desk").content.decode()
    # The record itself is kept (for the chart marker), only the notice goes.
    assert LiquidationRecord.objects.filter(pk=record.pk).exists()


def test_dismissing_returns_to_the_symbol_the_learner_was_viewing(learner: Learner) -> None:
    record = liquidated(learner)

    to_eth = learner.client.post(dismiss_url(learner.account.pk, record.pk), {"symbol": "ETHUSDT"})
    assert to_eth.url == learner.url("desk", "ETHUSDT")

    bogus = learner.client.post(dismiss_url(learner.account.pk, record.pk), {"symbol": "NOPE"})
    assert bogus.url == learner.url("desk", "XBTUSDT")

    missing = learner.client.post(dismiss_url(learner.account.pk, record.pk))
    assert missing.url == learner.url("desk", "XBTUSDT")


def test_another_learners_notice_cannot_be_dismissed(
    learner: Learner, other_learner: Learner
) -> None:
    record = liquidated(learner)

    # Through the other learner's own account: the record is not theirs.
    own = other_learner.client.post(dismiss_url(other_learner.account.pk, record.pk))
    # Through the learner's account: the account is not theirs.
    foreign = other_learner.client.post(dismiss_url(learner.account.pk, record.pk))

    assert own.status_code == 404
    assert foreign.status_code == 404
    record.refresh_from_db()
    assert record.acknowledged is False


def test_an_unknown_notice_is_not_found(learner: Learner) -> None:
    response = learner.client.post(dismiss_url(learner.account.pk, 999999))

    assert response.status_code == 404


def test_dismissing_takes_posts_only(learner: Learner) -> None:
    record = liquidated(learner)

    response = learner.client.get(dismiss_url(learner.account.pk, record.pk))

    assert response.status_code == 405
    record.refresh_from_db()
    assert record.acknowledged is False


def test_dismiss_with_htmx_answers_with_the_notices_left(learner: Learner) -> None:
    """With CSRF checked, as in production: htmx sends the page's token in a header (the
    body's hx-headers), so a notice the live feed drew (without a request, so without a
    token of its own) dismisses too."""
    record = liquidated(learner)
    client = Client(enforce_csrf_checks=True)
    client.cookies = learner.client.cookies
    client.get(learner.url("desk"))
    token = client.cookies["csrftoken"].value

    refused = client.post(
        dismiss_url(learner.account.pk, record.pk), headers={"HX-Request": "true"}
    )
    assert refused.status_code == 403
    response = client.post(
        dismiss_url(learner.account.pk, record.pk),
        {"symbol": "XBTUSDT"},
        headers={"HX-Request": "true", "X-CSRFToken": token},
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert body.strip().startswith('<div id="liquidation-notices"')
    assert "data-liquidation" not in body
    record.refresh_from_db()
    assert record.acknowledged is True


def test_a_notice_drawn_by_the_feed_dismisses_through_htmx(learner: Learner) -> None:
    record = liquidated(learner)
    context = {
        "account": learner.account,
        "instrument": Instrument.objects.get(symbol="XBTUSDT"),
        "liquidations": [record],
    }

    drawn = get_template("live/live.html#liquidations").render(context)  # no request

    url = dismiss_url(learner.account.pk, record.pk)
    assert f'hx-post="{url}" hx-target="#liquidation-notices" hx-swap="outerHTML"' in drawn
    assert f'href="/desk/{learner.account.pk}/history/#liquidation-{record.pk}"' in drawn


def test_several_notices_collapse_into_a_list_with_the_newest_open(learner: Learner) -> None:
    first = liquidated(learner)
    market = learner.account.market
    open_position(learner.account, "XBTUSDT", BUY, "0.1", ISOLATED, "10")
    schedule_gap(market, "XBTUSDT", "-9.5")
    assert services.market_tick(market_id=market.pk) is not None
    newest = LiquidationRecord.objects.exclude(pk=first.pk).get(account=learner.account)

    text = learner.get("desk").content.decode()

    notices = text[text.index('id="liquidation-notices"') :]
    assert "2 liquidations you have not dismissed yet; the newest is open." in notices
    assert notices.index(f'id="liquidation-{newest.pk}"') < notices.index(
        f'id="liquidation-{first.pk}"'
    )
    newest_part = notices[notices.index(f'id="liquidation-{newest.pk}"') :]
    first_part = notices[notices.index(f'id="liquidation-{first.pk}"') :]
    assert newest_part.index("<details open>") < newest_part.index("</details>")
    assert first_part.index("<details >") < first_part.index("</details>")


def test_margin_calls_name_their_levels_so_a_same_level_redraw_is_not_announced(
    seeded: None,
) -> None:
    """desk.js keeps out a redraw of the alerts whose data-levels match the page's: the
    assertive live region changes only when a margin call begins or turns urgent."""
    alerts = [
        MarginAlert("XBTUSDT", "warning", D("4.1"), D("56600"), D("54300")),
        MarginAlert("ETHUSDT", "danger", D("1.5"), D("2030"), D("2000")),
    ]

    drawn = get_template("live/live.html#alerts").render({"alerts": alerts, "oob": True})
    calm = get_template("live/live.html#alerts").render({"alerts": [], "oob": True})

    assert 'data-levels="XBTUSDT:warning ETHUSDT:danger "' in drawn
    assert 'data-levels=""' in calm
