"""Time zones: the IANA list every form picks from and every boundary checks.

One list (``zoneinfo.available_timezones()`` plus ``UTC``), one test
(``is_time_zone``) shared by campaigns (their schedule's zone), profiles (their
own zone) and users (the zone they read times in), and one form field: a text
input tied to a ``<datalist>`` of the names, which browsers filter as one types
("amst" finds Europe/Amsterdam) and which the server validates against the
same list (issue 12 #7).
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import datetime
from zoneinfo import ZoneInfo

from django import forms
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

DATALIST_ID = "iana-time-zones"


@functools.cache
def time_zone_names() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones() | {"UTC"}))


@functools.cache
def _names() -> frozenset[str]:
    return frozenset(time_zone_names())


def is_time_zone(name: str) -> bool:
    return name in _names()


class TimeZoneInput(forms.TextInput):
    """A text input with the IANA names as suggestions (searchable as one types)."""

    def __init__(self, attrs=None):
        super().__init__(
            {"list": DATALIST_ID, "autocomplete": "off", "spellcheck": "false", **(attrs or {})}
        )

    def render(self, name, value, attrs=None, renderer=None):
        field = super().render(name, value, attrs, renderer)
        options = format_html_join("", '<option value="{}">', ((n,) for n in time_zone_names()))
        return format_html('{}<datalist id="{}">{}</datalist>', field, DATALIST_ID, options)


class TimeZoneField(forms.CharField):
    """An IANA time zone name, picked from the list; anything else is refused."""

    widget = TimeZoneInput
    default_error_messages = {
        "unknown": gettext_lazy(
            "“%(value)s” is not a time zone of the list; pick one such as Europe/Amsterdam."
        )
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 64)
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        if value and not is_time_zone(value):
            raise forms.ValidationError(
                self.error_messages["unknown"], code="unknown", params={"value": value}
            )
        return value


def zoned(value: datetime | None, zone_name: str) -> dict | None:
    """``value`` as shown to a person: in ``zone_name`` (the campaign's zone) and,
    when it differs, in the viewer's zone (the active one) beside it."""
    if value is None:
        return None
    try:
        zone = ZoneInfo(zone_name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone, zone_name = ZoneInfo("UTC"), "UTC"
    viewer_name = timezone.get_current_timezone_name()
    local = value.astimezone(zone)
    viewer = timezone.localtime(value)
    shown = {
        "when": date_format(local, "SHORT_DATETIME_FORMAT"),
        "zone": zone_name or "UTC",
        "viewer_when": "",
        "viewer_zone": viewer_name,
    }
    if local.replace(tzinfo=None) != viewer.replace(tzinfo=None):
        shown["viewer_when"] = date_format(viewer, "SHORT_DATETIME_FORMAT")
    return shown


def zoned_text(value: datetime | None, zone_name: str, *, beside: bool = True) -> str:
    """``9:00 Europe/Amsterdam (8:00 your time, UTC)`` — for messages and titles."""
    shown = zoned(value, zone_name)
    if shown is None:
        return ""
    text = f"{shown['when']} {shown['zone']}"
    if beside and shown["viewer_when"]:
        text += " " + _("(%(when)s your time, %(zone)s)") % {
            "when": shown["viewer_when"],
            "zone": shown["viewer_zone"],
        }
    return text
