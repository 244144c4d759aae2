"""The business rules' forecast for a campaign's review (issue 16, point 3).

How many of the campaign's profiles the rules will hold back when it starts,
given what was already sent and what is already scheduled in each cap's
window: a warning, never an error. It reads what the sender will read
(campaigns/engine/rules.py): the counters' recent sends, the pending
deliveries of other campaigns due by then, and the audiences of one-shot
campaigns and of recurring campaigns' occurrences scheduled inside the window
that have not started yet. A recurring campaign is forecast for its next
occurrence.

Not counted: API triggers still to come (nobody knows them yet).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Count, Q

from audiences.selectors import annotate_eligibility, audience_profiles, not_hidden_profiles
from campaigns.engine.clock import now as clock_now
from campaigns.models import Campaign, CampaignStatus, Delivery, RuleCounter, light_versions
from campaigns.rules import quiet_until, rules_for, zone

_EVERYONE = object()  # no reader: the operator's count (tests, scripts)
STARTED = ["materializing", "sending", "completed", "cancelled", "failed"]


def eligible_profiles(campaign: Campaign, version, user=_EVERYONE):
    """The profiles of the version's audience that may receive the campaign (consent,
    suppressions, identity), among those ``user`` is not hidden from (also the
    calendar's collisions, campaigns/calendar_selectors.py)."""
    profiles = audience_profiles(version.audience)
    if user is not _EVERYONE:
        # Counted for its reader, like an audience's size: never a profile
        # known only through restricted audiences the reader may not see.
        profiles = not_hidden_profiles(user, profiles)
    return annotate_eligibility(
        profiles, channel=campaign.channel, category=campaign.category
    ).filter(exclusion_reason__isnull=True)


def _start(version, moment: datetime) -> datetime:
    if version.start_at is not None and version.start_at > moment:
        return version.start_at
    return moment


def _first_send(version, moment: datetime) -> datetime | None:
    """When the version first sends: its start, or its next occurrence."""
    start = _start(version, moment)
    if not version.recurrence:
        return start
    from campaigns.engine.schedule import occurrences

    until = version.end_at or start + timedelta(days=400)
    return next(occurrences(version.recurrence, version.timezone, start, until), None)


def _recurring_in_window(rule, campaign: Campaign, window_start: datetime, start: datetime):
    """Other recurring campaigns with an occurrence in (window_start, start]
    whose run has not started: (campaign, occurrences) pairs. Two statements
    whatever the number of campaigns: the campaigns, then the started runs of
    all of them (a statement per campaign: ninth review, finding 2)."""
    from campaigns.engine.schedule import occurrences
    from campaigns.models import Run

    recurring = (
        Campaign.objects.filter(
            channel=rule.channel,
            category__in=rule.categories,
            exempt_from_rules=False,
            status__in=[CampaignStatus.SCHEDULED, CampaignStatus.LIVE],
            live_version__recurrence__isnull=False,
        )
        .exclude(pk=campaign.pk)
        .select_related("live_version__audience")
        .defer(*light_versions("live_version"))
    )
    due_by_campaign = []
    for other in recurring:
        version = other.live_version
        if version.audience_id is None:
            continue
        lo = max(window_start, version.start_at or window_start)
        hi = min(start, version.end_at) if version.end_at else start
        due = [
            moment
            for moment in occurrences(version.recurrence, version.timezone, lo, hi)
            if moment > window_start
        ]
        if due:
            due_by_campaign.append((other, due))
    if not due_by_campaign:
        return
    started = set(
        Run.objects.filter(
            campaign__in=[other.pk for other, _due in due_by_campaign],
            scheduled_for__in=sorted({m for _other, due in due_by_campaign for m in due}),
            status__in=STARTED,
        ).values_list("campaign_id", "scheduled_for")
    )
    for other, due in due_by_campaign:
        left = [moment for moment in due if (other.pk, moment) not in started]
        if left:
            yield other, len(left)


def forecast(
    campaign: Campaign, version, *, at: datetime | None = None, user=_EVERYONE
) -> dict[str, int]:
    """``{"frequency_cap": n, "quiet_hours": m}``: profiles the rules would hold
    back if the campaign started as scheduled (empty when no rule applies).
    ``user``: count only the profiles that reader is not hidden from (pages and
    the API always pass it; issue 10's oracle on hidden profiles)."""
    if version is None or version.audience_id is None:
        return {}
    rules = rules_for(campaign)
    if not rules:
        return {}
    start = _first_send(version, at or clock_now())
    if start is None:  # a recurrence with no occurrence left
        return {}
    eligible = eligible_profiles(campaign, version, user)
    quiet_ids = _quiet(rules, eligible, version, start)
    capped: set[int] = set()
    for rule in rules:
        if rule.has_cap:
            capped |= _capped(rule, campaign, eligible, start) - quiet_ids
    result = {}
    if capped:
        result["frequency_cap"] = len(capped)
    if quiet_ids:
        result["quiet_hours"] = len(quiet_ids)
    return result


def _quiet(rules, eligible, version, start: datetime) -> set[int]:
    quiet = [r for r in rules if r.has_quiet_hours]
    if not quiet:
        return set()
    zones = eligible.values("timezone").annotate(n=Count("id")).order_by()
    held_zones = []
    for row in zones:
        tz = zone(row["timezone"], version.timezone)
        moment = start
        if version.use_profile_timezone and version.start_at is not None:
            wall = start.astimezone(zone(version.timezone)).replace(tzinfo=None)
            moment = wall.replace(tzinfo=tz)
        if any(quiet_until(moment, r.quiet_start, r.quiet_end, tz) for r in quiet):
            held_zones.append(row["timezone"])
    if not held_zones:
        return set()
    return set(eligible.filter(timezone__in=held_zones).values_list("id", flat=True))


def _capped(rule, campaign: Campaign, eligible, start: datetime) -> set[int]:
    """The campaign's profiles that will already have ``maxMessages`` sends in
    the window ending at ``start``."""
    window_start = start - timedelta(hours=rule.cap_window_hours)
    ids = eligible.values("id")
    counts: Counter[int] = Counter()
    since, until = window_start.timestamp(), start.timestamp()
    for profile_id, recent in RuleCounter.objects.filter(rule=rule, profile_id__in=ids).values_list(
        "profile_id", "recent"
    ):
        counts[profile_id] += sum(1 for epoch, _pk in recent or [] if since < epoch <= until)
    pending = (
        Delivery.objects.filter(
            status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING], profile_id__in=ids
        )
        .filter(Q(send_after__isnull=True) | Q(send_after__lte=start))
        .filter(
            run__campaign__channel=rule.channel,
            run__campaign__category__in=rule.categories,
            run__campaign__exempt_from_rules=False,
        )
        .exclude(run__campaign=campaign)
        .values("profile_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in pending:
        counts[row["profile_id"]] += row["n"]
    planned = (
        Campaign.objects.filter(
            channel=rule.channel,
            category__in=rule.categories,
            exempt_from_rules=False,
            status=CampaignStatus.SCHEDULED,
            live_version__recurrence__isnull=True,
            live_version__start_at__gt=window_start,
            live_version__start_at__lte=start,
        )
        .exclude(pk=campaign.pk)
        # Once its run has started, its deliveries (pending or sent) count above.
        .exclude(runs__status__in=STARTED)
        .select_related("live_version__audience")
        .defer(*light_versions("live_version"))
    )
    weighted = [(other, 1) for other in planned if other.live_version.audience_id is not None]
    weighted += list(_recurring_in_window(rule, campaign, window_start, start))
    for profile_id, n in _planned_sends(weighted, ids):
        counts[profile_id] += n
    return {pk for pk, n in counts.items() if n >= rule.cap_max_messages}


def _planned_sends(weighted, ids):
    """(profile id, sends) for the profiles among ``ids`` that the campaigns of
    ``weighted`` — (campaign, sends each) pairs — will reach: one statement
    whatever their number, as the calendar's ``_reach`` (a ``UNION ALL`` member
    per campaign, each the campaign's ``eligible_profiles``, weighted, summed
    per profile). A statement per campaign made the review's forecast grow
    with the campaigns scheduled in a cap's window (ninth review, finding 2).
    Every number written into the SQL is an int built here; the rest are
    parameters."""
    from campaigns.calendar_selectors import _union_all

    if not weighted:
        return []
    members, params = [], []
    for other, times in weighted:
        sql, sql_params = (
            eligible_profiles(other, other.live_version).values("id").query.sql_with_params()
        )
        members.append(f"SELECT e.id AS pid, {int(times)} AS n FROM ({sql}) e")
        params.extend(sql_params)
    ids_sql, ids_params = ids.query.sql_with_params()
    query = (
        f"WITH m AS ({_union_all(members)})"
        f" SELECT m.pid, SUM(m.n) FROM m WHERE m.pid IN ({ids_sql}) GROUP BY m.pid"
    )
    with connection.cursor() as cursor:
        cursor.execute(query, [*params, *ids_params])
        return [(int(pid), int(n)) for pid, n in cursor.fetchall()]
