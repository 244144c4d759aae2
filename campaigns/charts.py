"""The report's charts: server-side SVG (pygal) in the page's font and colours.

Each chart comes in two sizes: ``wide`` for a desktop card and ``compact`` for
a phone, where a wide image scaled down would shrink its labels to specks.
"""

from __future__ import annotations

from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from campaigns.reports import Activity

# The page's own font stack (static/css/volley.css): an SVG shown as an image
# cannot load the page's fonts, but the system font it names is the same one.
FONT = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica Neue, Arial, sans-serif"
SIZES = {"wide": (1100, 300, 12), "compact": (360, 280, 4)}  # width, height, x labels


def _style(**overrides):
    from pygal.style import Style

    return Style(
        background="transparent",
        plot_background="transparent",
        foreground="#1d232b",
        foreground_strong="#1d232b",
        foreground_subtle="#5d6875",
        colors=("#2f5bea", "#f08a24", "#1f8a4c"),
        font_family=FONT,
        label_font_family=FONT,
        major_label_font_family=FONT,
        legend_font_family=FONT,
        title_font_family=FONT,
        tooltip_font_family=FONT,
        value_font_family=FONT,
        label_font_size=13,
        major_label_font_size=13,
        legend_font_size=13,
        value_label_font_size=13,
        no_data_font_size=16,
        guide_stroke_color="#e6e9ee",
        major_guide_stroke_color="#e6e9ee",
        guide_stroke_dasharray="0",
        major_guide_stroke_dasharray="0",
        opacity="0.9",
        opacity_hover="1",
        transition="none",
        **overrides,
    )


def _time_label(activity: Activity, moment) -> str:
    moment = localtime(moment)
    if activity.step >= 86400:
        return date_format(moment, "SHORT_DATE_FORMAT")
    times = activity.times
    same_day = localtime(times[0]).date() == localtime(times[-1]).date()
    if activity.step < 60:
        return date_format(moment, "H:i:s")
    if same_day:
        return date_format(moment, "H:i")
    return date_format(moment, "j M H:i")


def step_label(step: int) -> str:
    """ "1 second", "5 minutes", "1 hour", "1 day", "7 days" in the active language."""
    for unit, text in (
        (86400, lambda n: ngettext("%(n)d day", "%(n)d days", n)),
        (3600, lambda n: ngettext("%(n)d hour", "%(n)d hours", n)),
        (60, lambda n: ngettext("%(n)d minute", "%(n)d minutes", n)),
        (1, lambda n: ngettext("%(n)d second", "%(n)d seconds", n)),
    ):
        if step % unit == 0:
            return text(step // unit) % {"n": step // unit}
    return ""


def _base(chart_class, activity: Activity, size: str, style=None, **options):
    width, height, labels = SIZES.get(size, SIZES["wide"])
    times = activity.times
    chart = chart_class(
        width=width,
        height=height,
        explicit_size=False,
        style=style or _style(),
        show_minor_x_labels=False,
        x_labels_major_every=max(1, -(-len(times) // labels)),
        truncate_label=-1,
        show_x_guides=False,
        show_y_guides=True,
        min_scale=3,
        max_scale=5,
        margin=8,
        spacing=12,
        include_x_axis=True,
        disable_xml_declaration=True,
        # No tooltip script from the internet: the page must not call out to a CDN.
        js=[],
        **options,
    )
    chart.x_labels = [_time_label(activity, t) for t in times]
    return chart


def count_ticks(highest: int, most: int = 5) -> list[int]:
    """Whole-number axis ticks from 0 covering ``highest`` in at most ``most``
    steps of 1, 2, 5, 10, 20, 50…: counts are never 0.8 of a message."""
    magnitude = 1
    while True:
        for base in (1, 2, 5):
            step = base * magnitude
            if -(-highest // step) <= most:
                top = max(1, -(-highest // step)) * step
                return list(range(0, top + 1, step))
        magnitude *= 10


def _counts_axis(chart, *series: list[int]) -> None:
    ticks = count_ticks(max((max(values, default=0) for values in series), default=0))
    chart.y_labels = ticks
    chart.range = (0, ticks[-1])


def send_chart(activity: Activity, size: str = "wide") -> str:
    """Messages sent per bucket, as bars."""
    import pygal

    chart = _base(pygal.Bar, activity, size, show_legend=False)
    _counts_axis(chart, activity.series["sent"])
    chart.add(_("Sent"), activity.series["sent"])
    return chart.render(is_unicode=True)


def engagement_chart(activity: Activity, size: str = "wide") -> str:
    """Unique opens and unique clicks per bucket, as two lines."""
    import pygal

    chart = _base(
        pygal.Line,
        activity,
        size,
        show_legend=True,
        legend_at_bottom=True,
        legend_at_bottom_columns=2,
        dots_size=2.5,
        style=_style(stroke_width="2.5", stroke_width_hover="3"),
        fill=False,
    )
    _counts_axis(chart, activity.series["opened"], activity.series["clicked"])
    chart.add(_("Unique opens"), activity.series["opened"])
    chart.add(_("Unique clicks"), activity.series["clicked"])
    return chart.render(is_unicode=True)
