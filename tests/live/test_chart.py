"""The price chart's arithmetic: the shared window of prices, and each viewer's scale with
its position lines (on the scale or as an arrow at its edge), labels kept apart, axes,
marks set by hand and liquidation markers; then the chart as the desk draws it.

Scales and coordinates are worked out by hand from the module's constants: a plot from
y 10 to 200 pixels (190 to draw in) taking the left 80% of the chart's width, 119 ticks
wide with the last at its right edge; a position's line joins the scale while the prices
still span a quarter of it; a new scale 10% wider than its values on each side, a kept
scale while the values still fill 40% of it; labels 15 pixels apart, between 22 and 196.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.template.loader import get_template

from sandbox.live.chart import (
    BOTTOM,
    DOWN,
    KEEP_FILL,
    LABEL_GAP,
    MARGIN,
    MIN_SPAN,
    PLOT_WIDTH,
    TOP,
    UP,
    WINDOW_TICKS,
    ZOOM_OUT,
    AxisTick,
    Chart,
    ChartLine,
    ChartMarker,
    PriceWindow,
    _spread,
    build_chart,
    chart_view,
    price_ticks,
    price_window,
    time_ticks,
)

D = Decimal

POINTS = [(5, D("100")), (6, D("101.5")), (7, D("99"))]


def window() -> PriceWindow:
    found = price_window(POINTS)
    assert found is not None
    return found


def view(
    lines: list[tuple[str, str, Decimal | None]] | None = None,
    markers: list[tuple[int, Decimal, str]] | None = None,
    keep: tuple[Decimal, Decimal] | None = None,
    points: list[tuple[int, Decimal]] | None = None,
) -> Chart:
    chart = chart_view(price_window(points or POINTS), lines or [], markers or [], keep=keep)
    assert chart is not None
    return chart


def test_the_constants_the_expected_values_below_are_worked_out_with() -> None:
    assert (10, 200, D(80), 120, 15) == (TOP, BOTTOM, PLOT_WIDTH, WINDOW_TICKS, LABEL_GAP)
    assert (D(4), D("0.1"), D("0.4"), D("0.001")) == (ZOOM_OUT, MARGIN, KEEP_FILL, MIN_SPAN)


# --------------------------------------------------------------------------- the window


def test_no_points_is_no_window() -> None:
    assert price_window([]) is None
    assert price_window([], [(1, D("5"))]) is None


def test_a_window_of_three_prices() -> None:
    found = window()

    assert found == PriceWindow(
        points="0,-100 1,-101.5 2,-99",
        first_tick=5,
        last_tick=7,
        first=D("100"),
        last=D("99"),
        low=D("99"),
        high=D("101.5"),
        count=3,
    )
    assert found.ticks == 2
    assert found.last_point == "2,-99"
    assert (found.manual, found.manual_path) == ((), "")


def test_a_window_writes_prices_plainly() -> None:
    # Trailing zeros and exponents never reach the SVG.
    found = price_window([(10, D("60000.00")), (11, D("6E+4")), (12, D("0.12300"))])

    assert found is not None
    assert found.points == "0,-60000 1,-60000 2,-0.123"
    assert found.last_point == "2,-0.123"


def test_a_window_of_one_price_is_one_tick_wide() -> None:
    found = price_window([(3, D("200"))])

    assert found is not None
    assert (found.first_tick, found.last_tick, found.count) == (3, 3, 1)
    assert found.ticks == 1  # never a zero-wide viewBox
    assert found.points == "0,-200"
    assert found.last_point == "0,-200"


def test_a_mark_set_by_hand_is_a_point_of_the_line_after_its_tick() -> None:
    # Set to 104 after tick 6, and to 98 after tick 7 (the last): the line jumps there.
    found = price_window(POINTS, [(6, D("104")), (7, D("98"))])

    assert found is not None
    assert found.points == "0,-100 1,-101.5 1,-104 2,-99 2,-98"
    assert found.manual == ((6, D("104")), (7, D("98")))
    assert found.manual_path == "M1,-104h0 M2,-98h0"
    assert (found.low, found.high, found.last, found.count) == (D("98"), D("104"), D("98"), 3)
    assert found.last_point == "2,-98"  # the dot is the mark the learner set


def test_marks_set_by_hand_outside_the_window_are_left_out() -> None:
    found = price_window(POINTS, [(4, D("1")), (8, D("500"))])

    assert found == window()


# ---------------------------------------------------------------------------- the scale


def test_no_window_is_no_chart() -> None:
    assert chart_view(None, []) is None
    assert chart_view(None, [("entry", "avg entry", D("100"))], [(1, D("1"), "x")]) is None


def test_a_chart_without_lines_covers_the_prices_with_a_margin() -> None:
    chart = view()

    # Prices 99 to 101.5: a span of 2.5, 0.25 free on each side.
    assert chart.scale == (D("98.75"), D("101.75"))
    # 119 ticks wide, the last tick (2 after the first) at the right edge.
    assert chart.view_box == "-117 -101.75 119 3"
    assert (chart.lines, chart.off_chart, chart.markers) == ((), (), ())
    assert chart.redraws_every_tick is False
    assert chart.window == window()


def test_near_lines_join_the_scale_and_a_far_one_is_an_arrow_at_its_edge() -> None:
    chart = view(
        [
            ("entry", "avg entry", D("100")),
            ("liquidation", "liquidation", D("92")),  # 92 to 101.5 is 9.5, within 4 × 2.5
            ("bankruptcy", "bankruptcy", D("91")),  # 91 to 101.5 is 10.5: too far
        ]
    )

    # Values 92 to 101.5: a span of 9.5, 0.95 free on each side.
    assert chart.scale == (D("91.05"), D("102.45"))
    # y = 10 + 190 × (102.45 − price) / 11.4; a label 4 above its line.
    assert chart.lines == (
        ChartLine("entry", "avg entry", D("100"), "50.8", "46.8"),  # 50.83…
        ChartLine("liquidation", "liquidation", D("92"), "184.2", "180.2"),  # 184.16…
        ChartLine("bankruptcy", "bankruptcy", D("91"), "200.0", "196.0", DOWN),
    )
    assert chart.off_chart == (("bankruptcy", D("91")),)
    assert chart.lines[2].off and not chart.lines[0].off


def test_a_line_far_above_is_an_arrow_at_the_top() -> None:
    chart = view([("liquidation", "liquidation", D("150"))])

    assert chart.scale == (D("98.75"), D("101.75"))  # the prices fill the plot
    assert chart.lines == (ChartLine("liquidation", "liquidation", D("150"), "10.0", "22.0", UP),)
    assert chart.lines[0].arrow_path == "M3 21.0 l5 -8 l5 8 z"  # pointing up, by its label


def test_an_arrow_at_the_bottom_points_down() -> None:
    chart = view([("liquidation", "liquidation", D("50"))])

    assert chart.lines[0].arrow_path == "M3 187.0 l5 8 l5 -8 z"  # label at 196


def test_a_line_exactly_four_price_spans_away_joins_the_scale() -> None:
    # One price of 100: its span is taken as a thousandth of it, 0.1, so lines within 0.4.
    chart = view(
        [("above", "at the edge", D("100.4")), ("below", "just beyond", D("99.59"))],
        points=[(0, D("100"))],
    )

    assert [line.label for line in chart.lines if not line.off] == ["at the edge"]
    assert chart.off_chart == (("just beyond", D("99.59")),)
    assert chart.scale == (D("99.96"), D("100.44"))  # 100 to 100.4, 0.04 free each side


def test_the_nearest_lines_join_first() -> None:
    # Listed far first: the near one still joins, the far one (alone 12.5 wide) does not.
    chart = view([("far", "far", D("89")), ("near", "near", D("98"))])

    assert chart.off_chart == (("far", D("89")),)
    assert chart.scale == (D("97.65"), D("101.85"))  # 98 to 101.5, 0.35 free each side


def test_lines_without_a_price_are_left_out() -> None:
    chart = view([("liquidation", "liquidation", None), ("bankruptcy", "bankruptcy", None)])

    assert (chart.lines, chart.off_chart) == ((), ())
    assert chart.scale == (D("98.75"), D("101.75"))


def test_one_price_and_nothing_else_gets_a_margin_of_a_thousandth() -> None:
    chart = view(points=[(3, D("200"))])

    assert chart.scale == (D("199.8"), D("200.2"))
    assert chart.view_box == "-119 -200.2 119 0.4"


def test_a_line_at_the_only_price_also_gets_a_margin_of_a_thousandth() -> None:
    chart = view([("entry", "avg entry", D("200"))], points=[(3, D("200")), (4, D("200"))])

    assert chart.scale == (D("199.8"), D("200.2"))
    assert chart.lines == (ChartLine("entry", "avg entry", D("200"), "105.0", "101.0"),)


def test_the_view_box_is_written_without_exponents_or_trailing_zeros() -> None:
    chart = view(points=[(0, D("60000.00")), (4, D("6.6E+4"))])

    # Values 60000 to 66000: 600 free on each side.
    assert chart.scale == (D("59400"), D("66600"))
    assert chart.view_box == "-115 -66600 119 7200"


def test_a_chart_may_be_as_wide_as_its_window() -> None:
    # A lesson's steps: the plot spans them, the first at the left edge.
    chart = chart_view(window(), [], span=None, unit="step")

    assert chart is not None
    assert chart.view_box == "0 -101.75 2 3"
    # (two steps back would sit at the left edge, half outside the chart)
    assert [t.text for t in chart.time_ticks] == ["\u22121 step", "now"]


# ------------------------------------------------------------------------------ labels


def test_labels_of_close_lines_are_moved_apart() -> None:
    # Liquidation and bankruptcy 0.01 apart: their lines nearly one, their labels not.
    chart = view(
        [("liquidation", "liquidation", D("99")), ("bankruptcy", "bankruptcy", D("98.99"))]
    )

    liquidation, bankruptcy = chart.lines
    assert (liquidation.y, bankruptcy.y) == ("183.5", "184.2")
    assert (liquidation.label_y, bankruptcy.label_y) == ("179.5", "194.5")


def test_labels_pushed_past_the_bottom_are_moved_up() -> None:
    assert _spread([D(196), D(196), D(196)], D(22), D(196)) == [D(166), D(181), D(196)]
    assert _spread([D(150), D(300)], D(22), D(196)) == [D(150), D(196)]


def test_labels_above_the_top_are_moved_down_and_keep_their_order() -> None:
    assert _spread([D(40), D(5), D(6)], D(22), D(196)) == [D(52), D(22), D(37)]
    assert _spread([], D(22), D(196)) == []


def test_an_arrows_label_and_a_line_at_the_edge_keep_apart() -> None:
    chart = view([("entry", "avg entry", D("98.8")), ("liquidation", "liquidation", D("50"))])

    labels = sorted(D(line.label_y) for line in chart.lines)
    assert labels[1] - labels[0] >= LABEL_GAP
    assert all(D(22) <= y <= D(196) for y in labels)


# ------------------------------------------------------------------------------- axes


def test_the_price_axis_has_round_prices_a_1_2_or_5_apart() -> None:
    assert price_ticks(D("98.75"), D("101.75")) == [D(99), D(100), D(101)]
    assert price_ticks(D("39990"), D("40110")) == [D(40000), D(40050), D(40100)]
    assert price_ticks(D("0.0991"), D("0.1004")) == [D("0.0995"), D("0.1")]
    assert price_ticks(D(5), D(5)) == []


def test_axis_prices_are_written_plainly() -> None:
    assert [format(p, "f") for p in price_ticks(D("39990"), D("40110"))] == [
        "40000",
        "40050",
        "40100",
    ]


def test_the_price_axis_labels_sit_at_their_prices_right_of_the_plot() -> None:
    chart = view()

    # y = 10 + 190 × (101.75 − price) / 3
    assert chart.price_ticks == (
        AxisTick("", D(99), "80.0%", "184.2", "start"),
        AxisTick("", D(100), "80.0%", "120.8", "start"),
        AxisTick("", D(101), "80.0%", "57.5", "start"),
    )


def test_the_time_axis_counts_ticks_back_from_now() -> None:
    # x = 80% × (119 − back) / 119
    assert time_ticks(119, "tick") == (
        AxisTick("\u221290 ticks", None, "19.5%", "", "middle"),
        AxisTick("\u221260 ticks", None, "39.7%", "", "middle"),
        AxisTick("\u221230 ticks", None, "59.8%", "", "middle"),
        AxisTick("now", None, "80.0%", "", "end"),
    )
    assert view().time_ticks == time_ticks(119, "tick")  # the same on every tick


def test_a_time_label_at_the_left_edge_is_left_out() -> None:
    # Four steps back would sit at x 0, half outside the chart.
    assert [t.text for t in time_ticks(4, "step")] == [
        "\u22123 steps",
        "\u22122 steps",
        "\u22121 step",
        "now",
    ]


# ------------------------------------------------------------------------- a kept scale


def test_a_scale_is_kept_while_the_values_fit_it_and_fill_enough_of_it() -> None:
    kept = (D("98"), D("103"))  # span 5; the prices span 2.5, half of it

    chart = view(keep=kept)

    assert chart.scale == kept
    assert chart.view_box == "-117 -103 119 5"


def test_a_scale_filled_exactly_forty_percent_is_kept() -> None:
    kept = (D("98"), D("104.25"))  # span 6.25; 40% of it is the prices' 2.5

    assert view(keep=kept).scale == kept


def test_a_scale_filled_less_than_forty_percent_is_replaced() -> None:
    kept = (D("98"), D("104.26"))  # 2.5 of 6.26 is 39.9%

    assert view(keep=kept).scale == (D("98.75"), D("101.75"))


def test_a_scale_the_price_left_is_replaced() -> None:
    above = (D("98"), D("101.4"))  # the high, 101.5, is above it
    below = (D("99.01"), D("102"))  # the low, 99, is below it

    assert view(keep=above).scale == (D("98.75"), D("101.75"))
    assert view(keep=below).scale == (D("98.75"), D("101.75"))


def test_a_scale_a_near_line_left_is_replaced() -> None:
    kept = (D("98"), D("103"))
    lines: list[tuple[str, str, Decimal | None]] = [("liquidation", "liquidation", D("92"))]

    assert view(lines, keep=kept).scale == (D("91.05"), D("102.45"))


def test_an_off_chart_line_does_not_break_a_kept_scale() -> None:
    kept = (D("98"), D("103"))
    lines: list[tuple[str, str, Decimal | None]] = [("bankruptcy", "bankruptcy", D("50"))]

    chart = view(lines, keep=kept)

    assert chart.scale == kept
    assert chart.off_chart == (("bankruptcy", D("50")),)


def test_lines_are_drawn_on_the_kept_scale() -> None:
    kept = (D("98"), D("103"))
    lines: list[tuple[str, str, Decimal | None]] = [("entry", "avg entry", D("100"))]

    chart = view(lines, keep=kept)

    assert chart.lines == (ChartLine("entry", "avg entry", D("100"), "124.0", "120.0"),)


# ------------------------------------------------------------------------------ markers


def test_a_marker_inside_the_window_is_drawn_and_redraws_every_tick() -> None:
    chart = view(markers=[(6, D("100"), "liquidated")])

    # x = 80% × (119 − 1) / 119; y = 10 + 190 × (101.75 − 100) / 3
    assert chart.markers == (ChartMarker("79.3%", "120.8", "liquidated"),)
    assert chart.redraws_every_tick is True


def test_markers_at_the_ends_of_the_window_are_drawn() -> None:
    chart = view(markers=[(5, D("101"), "first"), (7, D("99"), "last")])

    assert [(m.x, m.label) for m in chart.markers] == [("78.7%", "first"), ("80.0%", "last")]


def test_markers_outside_the_window_are_dropped() -> None:
    chart = view(markers=[(4, D("100"), "before"), (8, D("100"), "after")])

    assert chart.markers == ()
    assert chart.redraws_every_tick is False


def test_a_marker_outside_the_window_does_not_stretch_the_scale() -> None:
    assert view(markers=[(4, D("50"), "before")]).scale == view().scale


def test_a_marker_widens_the_scale() -> None:
    chart = view(markers=[(6, D("95"), "liquidated")])

    # Values 95 to 101.5: 0.65 free on each side.
    assert chart.scale == (D("94.35"), D("102.15"))
    assert chart.markers[0].y == "184.2"  # 10 + 190 × 7.15 / 7.8 = 184.16…


# ---------------------------------------------------------------------------- one call


@pytest.mark.parametrize(
    ("points", "lines", "markers"),
    [
        (POINTS, [], []),
        (POINTS, [("entry", "avg entry", D("100")), ("bankruptcy", "bankruptcy", D("70"))], []),
        (POINTS, [("liquidation", "liquidation", None)], [(6, D("100"), "liquidated")]),
        ([(3, D("200"))], [], [(9, D("200"), "outside")]),
    ],
    ids=["prices", "lines", "marker", "one-price"],
)
def test_build_chart_is_a_view_of_the_points_window(
    points: list[tuple[int, Decimal]],
    lines: list[tuple[str, str, Decimal | None]],
    markers: list[tuple[int, Decimal, str]],
) -> None:
    built = build_chart(points, lines, markers)

    assert built is not None
    assert built == chart_view(price_window(points), lines, markers)


def test_build_chart_of_no_points_is_none() -> None:
    assert build_chart([], [("entry", "avg entry", D("100"))]) is None


# ----------------------------------------------------------------------- as it is drawn


def drawn(chart: Chart) -> str:
    """The chart as the desk draws it (its prices at XBTUSDT's tick, looked up among the
    desk's instruments: the tests that use it need the database)."""
    html = get_template("live/live.html#chart").render(
        {"chart": chart, "instrument": {"symbol": "XBTUSDT"}, "position": None}
    )
    return re.sub(r"\s+", " ", html)


@pytest.mark.django_db
def test_the_chart_is_drawn_in_pixels_with_its_labels_as_text() -> None:
    chart = view(
        [
            ("entry", "avg entry", D("100")),
            ("liquidation", "liquidation", D("92")),
            ("bankruptcy", "bankruptcy", D("91")),
        ],
        markers=[(6, D("100"), "100")],
    )

    html = drawn(chart)

    outer = re.search(r"<svg [^>]*class=\"chart\"[^>]*>", html)
    assert outer is not None
    assert "viewBox" not in outer.group(0)  # text is not scaled down on a phone
    assert 'height="232"' in outer.group(0)
    assert ">avg entry 100</text>" in html
    assert ">liquidation 92</text>" in html
    assert ">bankruptcy 91 \u2193</text>" in html  # off the scale: an arrow
    assert 'y="196.0" class="ref-label ref-bankruptcy"' in html
    assert '<path d="M3 187.0 l5 8 l5 -8 z" class="ref-arrow ref-bankruptcy"/>' in html
    for price in ("95", "100"):  # the price axis, 5 apart
        assert f'dx="6" dy="4">{price}</text>' in html
    assert 'text-anchor="end">now</text>' in html
    assert 'text-anchor="middle">\u221230 ticks</text>' in html
    assert '<svg x="79.3%" y="50.8" overflow="visible" class="liq-marker">' in html
    assert "Bankruptcy price 91, off the chart below." in html
    assert "style=" not in html  # the Content-Security-Policy refuses inline styles


@pytest.mark.django_db
def test_marks_set_by_hand_are_drawn_as_dots_on_the_price_line() -> None:
    chart = chart_view(price_window(POINTS, [(6, D("104"))]), [])
    assert chart is not None

    html = drawn(chart)

    assert '<path d="M1,-104h0" class="hand-dot" vector-effect="non-scaling-stroke"/>' in html
    assert "Mark set by hand to 104 after tick 6." in html
    assert '<polyline points="0,-100 1,-101.5 1,-104 2,-99"' in html


@pytest.mark.django_db
def test_a_chart_without_marks_set_by_hand_draws_no_dots() -> None:
    assert "hand-dot" not in drawn(view())
