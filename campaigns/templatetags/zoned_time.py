"""``{% zoned_time value zone %}``: a campaign's moment in the campaign's own time
zone, with the viewer's time beside it when their clock reads differently
(issue 12 #7: 09:00 Europe/Amsterdam is not "8 a.m. UTC (Europe/Amsterdam)")."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.translation import gettext as _

from config.timezones import zoned

register = template.Library()


@register.simple_tag
def zoned_time(value, zone_name: str = "UTC", empty: str = "—"):
    shown = zoned(value, zone_name)
    if shown is None:
        return empty
    main = format_html(
        '<time datetime="{}">{} <span class="tz">{}</span></time>',
        value.isoformat(),
        shown["when"],
        shown["zone"],
    )
    if not shown["viewer_when"]:
        return main
    beside = _("%(when)s your time, %(zone)s") % {
        "when": shown["viewer_when"],
        "zone": shown["viewer_zone"],
    }
    return format_html('{} <span class="muted viewer-time">({})</span>', main, beside)
