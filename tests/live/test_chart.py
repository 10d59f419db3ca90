"""The price chart's arithmetic: the shared window of prices, and each viewer's scale with
its reference lines, off-chart prices and liquidation markers.

Pure functions, no database. Scales and coordinates are worked out by hand from the
module's constants: a plot 220 high with 12 of padding (196 to draw in), 640 wide (616),
reference lines within 25% of the last price, a new scale 10% wider than its values on
each side, a kept scale while the values still fill 40% of it.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from sandbox.live.chart import (
    HEIGHT,
    KEEP_FILL,
    MARGIN,
    NEAR,
    PAD,
    WIDTH,
    Chart,
    ChartLine,
    ChartMarker,
    PriceWindow,
    build_chart,
    chart_view,
    price_window,
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
    assert (D(640), D(220), D(12)) == (WIDTH, HEIGHT, PAD)
    assert (D("0.25"), D("0.1"), D("0.4")) == (NEAR, MARGIN, KEEP_FILL)


# --------------------------------------------------------------------------- the window


def test_no_points_is_no_window() -> None:
    assert price_window([]) is None


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


# ---------------------------------------------------------------------------- the scale


def test_no_window_is_no_chart() -> None:
    assert chart_view(None, []) is None
    assert chart_view(None, [("entry", "avg entry", D("100"))], [(1, D("1"), "x")]) is None


def test_a_chart_without_lines_covers_the_prices_with_a_margin() -> None:
    chart = view()

    # Prices 99 to 101.5: a span of 2.5, 0.25 free on each side.
    assert chart.scale == (D("98.75"), D("101.75"))
    assert chart.view_box == "0 -101.75 2 3"
    assert (chart.lines, chart.off_chart, chart.markers) == ((), (), ())
    assert chart.redraws_every_tick is False
    assert chart.window == window()


def test_lines_near_the_price_widen_the_scale_and_far_ones_go_off_the_chart() -> None:
    chart = view(
        [
            ("entry", "avg entry", D("100")),
            ("liquidation", "liquidation", D("90")),  # 9 from 99: within 24.75
            ("bankruptcy", "bankruptcy", D("70")),  # 29 from 99: off the chart
        ]
    )

    # Values 90 to 101.5: a span of 11.5, 1.15 free on each side.
    assert chart.scale == (D("88.85"), D("102.65"))
    assert chart.view_box == "0 -102.65 2 13.8"
    # y = 12 + 196 × (102.65 − price) / 13.8
    assert chart.lines == (
        ChartLine("entry", "avg entry", D("100"), "49.6"),  # 49.637…
        ChartLine("liquidation", "liquidation", D("90"), "191.7"),  # 191.666…
    )
    assert chart.off_chart == (("bankruptcy", D("70")),)


def test_a_line_exactly_a_quarter_from_the_price_is_drawn_and_beyond_it_is_not() -> None:
    points = [(0, D("100"))]
    chart = view(
        [("above", "at the edge", D("125")), ("below", "just beyond", D("74.99"))], points=points
    )

    assert [line.label for line in chart.lines] == ["at the edge"]
    assert chart.off_chart == (("just beyond", D("74.99")),)
    # Values 100 to 125: 2.5 free on each side.
    assert chart.scale == (D("97.5"), D("127.5"))
    assert chart.lines[0].y == "28.3"  # 12 + 196 × 2.5 / 30 = 28.33…


def test_lines_without_a_price_are_left_out() -> None:
    chart = view([("liquidation", "liquidation", None), ("bankruptcy", "bankruptcy", None)])

    assert (chart.lines, chart.off_chart) == ((), ())
    assert chart.scale == (D("98.75"), D("101.75"))


def test_one_price_and_nothing_else_gets_a_margin_of_a_thousandth() -> None:
    chart = view(points=[(3, D("200"))])

    assert chart.scale == (D("199.8"), D("200.2"))
    assert chart.view_box == "0 -200.2 1 0.4"


def test_a_line_at_the_only_price_also_gets_a_margin_of_a_thousandth() -> None:
    chart = view([("entry", "avg entry", D("200"))], points=[(3, D("200")), (4, D("200"))])

    assert chart.scale == (D("199.8"), D("200.2"))
    assert chart.lines == (ChartLine("entry", "avg entry", D("200"), "110.0"),)  # the middle


def test_the_view_box_is_written_without_exponents_or_trailing_zeros() -> None:
    chart = view(points=[(0, D("60000.00")), (4, D("6.6E+4"))])

    # Values 60000 to 66000: 600 free on each side.
    assert chart.scale == (D("59400"), D("66600"))
    assert chart.view_box == "0 -66600 4 7200"


# ------------------------------------------------------------------------- a kept scale


def test_a_scale_is_kept_while_the_values_fit_it_and_fill_enough_of_it() -> None:
    kept = (D("98"), D("103"))  # span 5; the prices span 2.5, half of it

    chart = view(keep=kept)

    assert chart.scale == kept
    assert (chart.low, chart.high) == (D("98"), D("103"))
    assert chart.view_box == "0 -103 2 5"


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
    lines: list[tuple[str, str, Decimal | None]] = [("liquidation", "liquidation", D("90"))]

    assert view(lines, keep=kept).scale == (D("88.85"), D("102.65"))


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

    assert chart.lines == (ChartLine("entry", "avg entry", D("100"), "129.6"),)  # 12 + 196 × 3/5


# ------------------------------------------------------------------------------ markers


def test_a_marker_inside_the_window_is_drawn_and_redraws_every_tick() -> None:
    chart = view(markers=[(6, D("100"), "liquidated")])

    # x = 12 + 616 × (6 − 5) / 2; y = 12 + 196 × (101.75 − 100) / 3
    assert chart.markers == (ChartMarker("320.0", "126.3", "liquidated"),)
    assert chart.redraws_every_tick is True


def test_markers_at_the_ends_of_the_window_are_drawn() -> None:
    chart = view(markers=[(5, D("101"), "first"), (7, D("99"), "last")])

    assert [(m.x, m.label) for m in chart.markers] == [("12.0", "first"), ("628.0", "last")]


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
    assert chart.markers[0].y == "191.7"  # 12 + 196 × 7.15 / 7.8 = 191.66…


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
