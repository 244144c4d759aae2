"""Time: activation, due runs, recurring occurrences and the missed-occurrence rule.

Everything periodic goes through one idempotent ``tick()`` that computes the due
work from the database. Run's unique constraint on (campaign, kind,
scheduled_for) makes a tick that runs twice — or on two clusters at once —
create each run once.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction

from campaigns.engine.clock import now
from campaigns.engine.conf import knob
from campaigns.engine.messaging import compile_for_version
from campaigns.engine.runs import enqueue_start
from campaigns.models import Campaign, CampaignStatus, CampaignType, Run, light_versions
from campaigns.transitions import transition

# The earliest time zone is UTC+14: a "send in the profile's time zone" run is
# created that much before the campaign-time-zone instant.
PROFILE_TZ_LEAD = timedelta(hours=14)
MAX_SCAN_DAYS = 400


def occurrences(
    recurrence: dict, tz_name: str, after: datetime, until: datetime
) -> Iterator[datetime]:
    """Occurrence instants in [after, until] of a recurrence in local time ``tz_name``.

    ``daysOfWeek`` uses Monday = 0 … Sunday = 6 (Python's ``weekday()``); a
    ``dayOfMonth`` past the month's end means its last day.
    """
    tz = ZoneInfo(tz_name or "UTC")
    hour, minute = (int(part) for part in (recurrence.get("time") or "09:00").split(":"))
    frequency = recurrence.get("frequency", "daily")
    day = max(after, until - timedelta(days=MAX_SCAN_DAYS)).astimezone(tz).date()
    last = until.astimezone(tz).date()
    while day <= last:
        if _matches(frequency, recurrence, day):
            instant = datetime.combine(day, time(hour, minute), tzinfo=tz)
            if after <= instant <= until:
                yield instant
        day += timedelta(days=1)


def _matches(frequency: str, recurrence: dict, day: date) -> bool:
    if frequency == "weekly":
        return day.weekday() in (recurrence.get("daysOfWeek") or [])
    if frequency == "monthly":
        wanted = int(recurrence.get("dayOfMonth") or 1)
        return day.day == min(wanted, calendar.monthrange(day.year, day.month)[1])
    return True


def _validate(campaign: Campaign) -> str:
    version = campaign.live_version
    if version is None:
        return "The campaign has no version to send."
    config = version.channel_configuration
    if config is None or not config.is_active:
        return "The channel configuration is missing or deactivated."
    if campaign.type == CampaignType.SCHEDULED and version.audience_id is None:
        return "The campaign has no audience."
    try:
        compile_for_version(version, campaign.channel, campaign.category)
        for variant in (version.experiment or {}).get("variants") or []:
            compile_for_version(version, campaign.channel, campaign.category, variant["name"])
    except ValueError as exc:  # channels' RenderError: a template that cannot compile
        return f"The content cannot be rendered: {exc}"
    return ""


def activate_campaign(campaign_id: int) -> None:
    """Prepare an ``activating`` campaign: validate, go scheduled/live, plan runs."""
    campaign = (
        Campaign.objects.select_related("live_version__channel_configuration")
        .filter(pk=campaign_id)
        .first()
    )
    if campaign is None or campaign.status != CampaignStatus.ACTIVATING:
        return
    problem = _validate(campaign)
    if problem:
        transition(campaign, "activation_failed", extra={"failure_reason": problem})
        return
    moment = now()
    version = campaign.live_version
    start = version.start_at or moment
    lead = PROFILE_TZ_LEAD if version.use_profile_timezone else timedelta(0)
    action = "prepared_scheduled" if start - lead > moment else "prepared_live"
    with transaction.atomic():
        if (
            transition(campaign, action, extra={"activated_at": moment})
            and action == "prepared_live"
        ):
            plan_runs(campaign, moment)


def _create_run(campaign: Campaign, kind: str, when: datetime, **fields) -> Run | None:
    try:
        with transaction.atomic():
            return Run.objects.create(
                campaign=campaign,
                version=campaign.live_version,
                kind=kind,
                scheduled_for=when,
                **fields,
            )
    except IntegrityError:  # another tick (or cluster) created it first
        return None


def plan_runs(campaign: Campaign, moment: datetime) -> None:
    """Create (once) every run of a live scheduled campaign that is due at ``moment``."""
    version = campaign.live_version
    if campaign.type != CampaignType.SCHEDULED or version is None:
        return
    start = version.start_at or campaign.activated_at or moment
    lead = PROFILE_TZ_LEAD if version.use_profile_timezone else timedelta(0)
    if not version.recurrence:
        if start - lead <= moment and not campaign.runs.filter(kind=Run.Kind.ONE_SHOT).exists():
            run = _create_run(campaign, Run.Kind.ONE_SHOT, start)
            if run:
                enqueue_start(run)
        return
    latest = campaign.runs.filter(kind=Run.Kind.OCCURRENCE).order_by("-scheduled_for").first()
    lower = latest.scheduled_for + timedelta(seconds=1) if latest else start
    upper = moment + lead
    if version.end_at:
        upper = min(upper, version.end_at - timedelta(microseconds=1))
    tolerance = timedelta(seconds=knob("ENGINE_MISSED_TOLERANCE_SECONDS"))
    for instant in occurrences(version.recurrence, version.timezone, lower, upper):
        late = moment - (instant - lead)
        if late > tolerance:
            _create_run(
                campaign,
                Run.Kind.OCCURRENCE,
                instant,
                status=Run.Status.SKIPPED,
                finished_at=moment,
                error=f"Missed by {int(late.total_seconds() // 60)} minutes (worker unavailable); skipped instead of sending late.",
            )
            continue
        run = _create_run(campaign, Run.Kind.OCCURRENCE, instant)
        if run:
            enqueue_start(run)


def start_due_campaigns(moment: datetime) -> None:
    scheduled = Campaign.objects.filter(status=CampaignStatus.SCHEDULED).select_related(
        "live_version"
    )
    for campaign in scheduled:
        version = campaign.live_version
        if version is None:
            continue
        lead = PROFILE_TZ_LEAD if version.use_profile_timezone else timedelta(0)
        if (version.start_at or moment) - lead <= moment:
            transition(campaign, "start")


def plan_live_campaigns(moment: datetime) -> None:
    live = (
        Campaign.objects.filter(status=CampaignStatus.LIVE, type=CampaignType.SCHEDULED)
        .select_related("live_version")
        .defer(*light_versions("live_version"))
    )
    for campaign in live:
        plan_runs(campaign, moment)


def reschedule_campaign(campaign_id: int) -> None:
    """A new live version replaced the old one: queued runs and future ones use it."""
    campaign = Campaign.objects.select_related("live_version").filter(pk=campaign_id).first()
    if campaign is None or campaign.live_version is None:
        return
    Run.objects.filter(campaign=campaign, status=Run.Status.QUEUED).update(
        version=campaign.live_version
    )
    if campaign.status == CampaignStatus.LIVE:
        plan_runs(campaign, now())
