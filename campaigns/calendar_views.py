"""`/calendar/` (issue 16 #4): the campaign calendar, month or week, in the
reader's time zone, from the same read as `GET /api/v1/calendar`
(campaigns/calendar_selectors.py). A plain table: each day a cell with its
campaigns (links) and its collisions in words, usable without a mouse or colour.
"""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dates import WEEKDAYS, WEEKDAYS_ABBR
from django.utils.formats import date_format, get_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET

from accounts.permissions import can
from campaigns.calendar_selectors import CalendarDay, CalendarFilters, campaign_calendar
from campaigns.models import Campaign
from campaigns.views import _visible_tags

# A month's padding (whole weeks) stays within the calendar's days.
EARLIEST, LATEST = date(1900, 2, 1), date(9998, 11, 30)


def _anchor(value: str | None, today: date) -> tuple[date, bool]:
    """The day the view is around: ``?date=YYYY-MM-DD``, else today (bad → today, flagged)."""
    if not value:
        return today, False
    try:
        day = date.fromisoformat(value.strip()[:10])
    except ValueError:
        return today, True
    return min(max(day, EARLIEST), LATEST), False


def _week_start(day: date, first_weekday: int) -> date:
    return day - timedelta(days=(day.weekday() - first_weekday) % 7)


def _range(view: str, anchor: date, first_weekday: int) -> tuple[date, date, date, date]:
    """(first shown day, last shown day, previous anchor, next anchor)."""
    if view == "week":
        first = _week_start(anchor, first_weekday)
        return first, first + timedelta(days=6), first - timedelta(days=7), first + timedelta(7)
    month = anchor.replace(day=1)
    following = (month + timedelta(days=32)).replace(day=1)
    first = _week_start(month, first_weekday)
    last = _week_start(following - timedelta(days=1), first_weekday) + timedelta(days=6)
    return first, last, (month - timedelta(days=1)).replace(day=1), following


def _day_label(day: date, calendar_day: CalendarDay) -> str:
    """What a screen reader says for a cell: the day in words, then what it holds."""
    parts = [f"{WEEKDAYS[day.weekday()]} {date_format(day, 'DATE_FORMAT')}"]
    n = len(calendar_day.entries)
    parts.append(
        ngettext("%(n)s campaign", "%(n)s campaigns", n) % {"n": n} if n else _("nothing planned")
    )
    for collision in calendar_day.collisions:
        parts.append(
            ngettext(
                "collision: %(n)s profile over the cap",
                "collision: %(n)s profiles over the cap",
                collision.profiles,
            )
            % {"n": collision.profiles}
        )
    return ", ".join(parts)


@login_required
@require_GET
def calendar_page(request: HttpRequest) -> HttpResponse:
    if not can(request.user, "campaign.view"):
        raise PermissionDenied
    view = "week" if request.GET.get("view") == "week" else "month"
    today = timezone.localdate()
    anchor, bad_date = _anchor(request.GET.get("date"), today)
    # Django's FIRST_DAY_OF_WEEK: 0 = Sunday; Python's weekday(): 0 = Monday.
    first_weekday = (int(get_format("FIRST_DAY_OF_WEEK")) - 1) % 7
    first, last, previous, following = _range(view, anchor, first_weekday)
    filters = CalendarFilters.from_query(request.GET)
    days = campaign_calendar(
        request.user, first, last, tz=timezone.get_current_timezone(), filters=filters
    )
    channels = dict(Campaign._meta.get_field("channel").flatchoices)
    cells = []
    for day in days:
        for entry in day.entries:
            entry.channel_label = channels.get(entry.campaign.channel, entry.campaign.channel)
            entry.local_times = [timezone.localtime(t) for t in entry.times]
        cells.append(
            {
                "day": day,
                "in_range": view == "week" or day.date.month == anchor.month,
                "is_today": day.date == today,
                "label": _day_label(day.date, day),
                "weekday": WEEKDAYS[day.date.weekday()],
            }
        )
    kept = {
        k: v
        for k, v in (
            ("channel", filters.channel),
            ("tag", filters.tag),
            ("drafts", "1" if filters.drafts else ""),
        )
        if v
    }

    def link(**params) -> str:
        return "?" + urlencode({**kept, **{k: v for k, v in params.items() if v}})

    if view == "week":
        title = _("%(first)s – %(last)s") % {
            "first": date_format(first, "DATE_FORMAT"),
            "last": date_format(last, "DATE_FORMAT"),
        }
    else:
        title = date_format(anchor, "YEAR_MONTH_FORMAT")
    order = [(first_weekday + i) % 7 for i in range(7)]
    return render(
        request,
        "campaigns/calendar.html",
        {
            "view": view,
            "title": title,
            "weeks": [cells[i : i + 7] for i in range(0, len(cells), 7)],
            "headers": [(WEEKDAYS[i], WEEKDAYS_ABBR[i]) for i in order],
            "empty": not any(day.entries for day in days),
            "filters": filters,
            "filtered": bool(filters.channel or filters.tag),
            "bad_date": bad_date,
            "channels": Campaign._meta.get_field("channel").choices,
            "tags": _visible_tags(request.user),
            "anchor": anchor.isoformat(),
            "links": {
                "previous": link(view=view, date=previous.isoformat()),
                "next": link(view=view, date=following.isoformat()),
                "today": link(view=view),
                "month": link(view="month", date=anchor.isoformat()),
                "week": link(view="week", date=anchor.isoformat()),
                "clear": "?" + urlencode({"view": view, "date": anchor.isoformat()}),
            },
            "can_create": can(request.user, "campaign.create"),
        },
    )
