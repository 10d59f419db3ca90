"""The chart's prices as the selectors read them: the recent ticks, and the marks set by
hand among them (kept by Set mark, drawn as points of the price line)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sandbox import engine
from sandbox.desk import services as desk_services
from sandbox.desk.models import ManualMark, Market
from sandbox.live import services
from sandbox.live.selectors import CHART_TICKS, chart_marks, manual_marks

from .conftest import Learner, quiet, reload, schedule_gap

D = Decimal


def ticked(learner: Learner, *gaps: str) -> Market:
    """The learner's quiet market after one tick per gap (percent) on XBTUSDT."""
    market = quiet(learner.account.market)
    for gap in gaps:
        schedule_gap(market, "XBTUSDT", gap)
        assert services.market_tick(market_id=market.pk) is not None
    return reload(market)


def test_set_mark_is_kept_after_the_tick_it_followed(learner: Learner) -> None:
    market = ticked(learner, "1", "1")  # 60,600, then 61,206

    desk_services.mark_set(account=learner.account, symbol="XBTUSDT", price=D("61500"))

    row = ManualMark.objects.get()
    assert (row.market_id, row.symbol, row.sequence, row.price) == (
        market.pk,
        "XBTUSDT",
        2,
        D("61500"),
    )
    assert chart_marks(market, "XBTUSDT") == ([(1, D("60600")), (2, D("61206"))], [(2, D("61500"))])


def test_a_refused_mark_is_not_kept(learner: Learner) -> None:
    ticked(learner, "1")

    with pytest.raises(engine.Rejected):
        desk_services.mark_set(account=learner.account, symbol="XBTUSDT", price=D("-5"))

    assert not ManualMark.objects.exists()


def test_marks_set_before_the_window_or_on_another_symbol_are_left_out(learner: Learner) -> None:
    market = ticked(learner)
    desk_services.mark_set(account=learner.account, symbol="XBTUSDT", price=D("60100"))
    desk_services.mark_set(account=learner.account, symbol="ETHUSDT", price=D("3100"))
    ticked(learner, "1")

    assert manual_marks(market, "XBTUSDT", since=1) == []
    assert manual_marks(market, "XBTUSDT", since=0) == [(0, D("60100"))]
    assert manual_marks(market, "ETHUSDT", since=0) == [(0, D("3100"))]


def test_no_ticks_no_chart_prices(learner: Learner) -> None:
    market = quiet(learner.account.market)
    desk_services.mark_set(account=learner.account, symbol="XBTUSDT", price=D("60100"))

    assert chart_marks(market, "XBTUSDT") == ([], [])


def test_only_the_latest_marks_set_by_hand_are_read(learner: Learner) -> None:
    # A paused market may be set by hand any number of times: the chart reads a window's worth.
    market = ticked(learner, "1")
    ManualMark.objects.bulk_create(
        ManualMark(market=market, symbol="XBTUSDT", sequence=1, price=D(60000 + n))
        for n in range(CHART_TICKS + 5)
    )

    found = manual_marks(market, "XBTUSDT", since=1)

    assert len(found) == CHART_TICKS
    assert found[0] == (1, D(60005)) and found[-1] == (1, D(60000 + CHART_TICKS + 4))


def test_the_desk_draws_a_mark_set_by_hand_as_a_point(learner: Learner) -> None:
    ticked(learner, "1")
    learner.post("mark_set", {"price": "61000"})

    page = learner.client.get(learner.url("desk")).content.decode()

    assert '<path d="M0,-61000h0" class="hand-dot"' in page
    assert "Mark set by hand to 61,000 after tick 1." in page
