"""The chart's price line, written in one place for the desk page and for a tick's push
(which sends it alone when the viewer's scale has not changed)."""

from __future__ import annotations

from django import template
from django.template.loader import get_template
from django.utils.safestring import SafeString, mark_safe

from sandbox.live.chart import Chart

register = template.Library()


def plot_prices(chart: Chart, instrument: object = None) -> SafeString:
    """The inside of the price line's frame: the same for every viewer of the window
    (its prices written at ``instrument``'s tick precision)."""
    context = {"chart": chart, "instrument": instrument}
    return mark_safe(get_template("live/live.html#plot_prices").render(context))


@register.simple_tag
def chart_plot(
    chart: Chart, prices: str | None = None, oob: bool = False, instrument: object = None
) -> SafeString:
    """The frame that puts the shared price line on this viewer's scale (``viewBox``)."""
    oob_attr = ' hx-swap-oob="true"' if oob else ""
    inside = prices or plot_prices(chart, instrument)
    return mark_safe(
        f'<svg id="chart-plot"{oob_attr} x="0" y="{chart.top}" '
        f'width="{chart.plot_width}" height="{chart.plot_height}" viewBox="{chart.view_box}" '
        f'preserveAspectRatio="none" overflow="visible">{inside}</svg>'
    )
