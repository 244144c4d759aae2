"""The viewer's time zone for every page (issue 12 #7).

The zone a person chose in their settings (kept in the session at sign-in and
when saved, so no request pays a query for it), else the browser's own zone
(the ``volley_tz`` cookie set by static/js/timezone.js), else UTC. Pages then
show times in it; campaign times are shown in the campaign's zone with this
one beside them (campaigns/templatetags/zoned_time.py).
"""

from __future__ import annotations

from urllib.parse import unquote
from zoneinfo import ZoneInfo

from django.utils import timezone

from config.timezones import is_time_zone

SESSION_KEY = "volley_time_zone"
COOKIE = "volley_tz"


def viewer_time_zone(request) -> tuple[str, str]:
    """(zone name, where it comes from: "setting", "browser" or "")."""
    session = getattr(request, "session", None)
    chosen = session.get(SESSION_KEY, "") if session is not None else ""
    if chosen and is_time_zone(chosen):
        return chosen, "setting"
    # The script encodes the name (America/New_York → America%2FNew_York).
    browser = unquote(request.COOKIES.get(COOKIE, ""))
    if browser and is_time_zone(browser):
        return browser, "browser"
    return "", ""


class ViewerTimeZoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone, _source = viewer_time_zone(request)
        if zone:
            timezone.activate(ZoneInfo(zone))
        else:
            timezone.deactivate()
        return self.get_response(request)


def remember_time_zone(request, user) -> None:
    """Copy the user's chosen zone into the session (at sign-in, when saved)."""
    from accounts.models import UserPreference

    zone = (
        UserPreference.objects.filter(user=user).values_list("time_zone", flat=True).first() or ""
    )
    if zone:
        request.session[SESSION_KEY] = zone
    else:
        request.session.pop(SESSION_KEY, None)
