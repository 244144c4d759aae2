"""`GET /api/v1/calendar?from=YYYY-MM-DD&to=YYYY-MM-DD` (SPEC §12): the campaign
calendar as data, from the same read as the `/calendar/` page
(campaigns/calendar_selectors.py).

Days are those of the key owner's time zone (their settings), else UTC. A
missing, malformed or inverted date, or a range over ``MAX_DAYS`` days, is a
400 problem naming the parameter.
"""

from __future__ import annotations

import re
from datetime import date

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from accounts.permissions import can
from audiences.models import Channel
from campaigns.calendar_selectors import (
    FIRST_DAY,
    LAST_DAY,
    MAX_DAYS,
    CalendarDay,
    CalendarFilters,
    campaign_calendar,
    clean_tag,
)
from config.problems import ApiProblem
from config.schemas import CamelOut
from config.timezones import is_time_zone

calendar_router = Router(tags=["calendar"])

ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# A range the endpoint cannot answer is a validation error like any other (SPEC §7: 400).
UNPROCESSABLE = 400


class CalendarQuery(Schema):
    # Plain strings: every refusal is this endpoint's own 400, named by parameter.
    from_: str | None = Field(None, alias="from", description="First day, YYYY-MM-DD")
    to: str | None = Field(None, description=f"Last day (inclusive), at most {MAX_DAYS} days on")
    channel: str | None = Field(None, description="email, sms or push")
    tag: str | None = Field(None, description="Only campaigns with this tag")
    drafts: bool = Field(False, description="Also drafts and campaigns in review with a start")


class CalendarCampaignOut(CamelOut):
    id: int
    name: str
    channel: str
    runs: int


class CollisionOut(CamelOut):
    rule_id: int
    profiles: int
    campaign_ids: list[int]


class CalendarDayOut(CamelOut):
    date: date
    campaigns: list[CalendarCampaignOut]
    collisions: list[CollisionOut]


class CalendarOut(CamelOut):
    days: list[CalendarDayOut]


def parse_range(first: str | None, last: str | None) -> tuple[date, date]:
    """(first, last) or a 400 naming each bad parameter."""
    errors: dict[str, list[str]] = {}
    days: dict[str, date] = {}
    for name, value in (("from", first), ("to", last)):
        if not value:
            errors[name] = [_("Give a date as YYYY-MM-DD.")]
            continue
        try:
            days[name] = date.fromisoformat(value) if ISO_DAY.fullmatch(value) else None
        except ValueError:
            days[name] = None
        if days[name] is None:
            errors[name] = [_("“%(value)s” is not a date as YYYY-MM-DD.") % {"value": value[:20]}]
    for name, day in days.items():
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            errors[name] = [
                _("Choose a day between %(first)s and %(last)s.")
                % {"first": FIRST_DAY.isoformat(), "last": LAST_DAY.isoformat()}
            ]
    if not errors:
        if days["to"] < days["from"]:
            errors["to"] = [_("The last day comes before the first.")]
        elif (days["to"] - days["from"]).days + 1 > MAX_DAYS:
            errors["to"] = [_("At most %(n)s days at a time.") % {"n": MAX_DAYS}]
    if errors:
        raise ApiProblem(
            UNPROCESSABLE,
            _("The calendar cannot answer these parameters."),
            title=_("Invalid parameters"),
            errors=errors,
        )
    return days["from"], days["to"]


def _zone(user):
    from zoneinfo import ZoneInfo

    from accounts.models import UserPreference

    name = UserPreference.objects.filter(user=user).values_list("time_zone", flat=True).first()
    return ZoneInfo(name if name and is_time_zone(name) else "UTC")


def day_out(day: CalendarDay) -> dict:
    return {
        "date": day.date,
        "campaigns": [
            {"id": e.id, "name": e.campaign.name, "channel": e.campaign.channel, "runs": e.runs}
            for e in day.entries
        ],
        "collisions": [
            {"rule_id": c.rule.pk, "profiles": c.profiles, "campaign_ids": c.campaign_ids}
            for c in day.collisions
        ],
    }


@calendar_router.get("", response=CalendarOut, by_alias=True, summary="The campaign calendar")
def calendar(request: HttpRequest, query: Query[CalendarQuery]):
    """Each day's campaigns (their sends that day as ``runs``; API-triggered live
    campaigns on every day of their window with 0) and the frequency-cap
    collisions: how many profiles the reader may see would get more than the
    rule allows, and the campaigns involved."""
    if not can(request.user, "campaign.view"):
        raise PermissionDenied
    first, last = parse_range(query.from_, query.to)
    channel = (query.channel or "").strip()
    if channel and channel not in Channel.values:
        raise ApiProblem(
            UNPROCESSABLE,
            _("The calendar cannot answer these parameters."),
            title=_("Invalid parameters"),
            errors={"channel": [_("Choose email, sms or push.")]},
        )
    filters = CalendarFilters(channel=channel, tag=clean_tag(query.tag), drafts=query.drafts)
    days = campaign_calendar(request.user, first, last, tz=_zone(request.user), filters=filters)
    return {"days": [day_out(day) for day in days]}
