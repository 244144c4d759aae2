"""Fan-out: a run's deliveries from its audience, in one INSERT … SELECT.

The database evaluates the audience, the eligibility (consent, suppression,
identity) and writes one delivery per profile — no profile is loaded into
Python. ``ON CONFLICT DO NOTHING`` on the (run, profile) unique constraint makes
a repeated materialization (a task delivered twice, a crash half-way) harmless.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Count

from audiences.models import Profile
from audiences.selectors import annotate_eligibility, sendable_profiles
from campaigns.models import Delivery, Run

_INSERT = """
INSERT INTO {delivery} (run_id, profile_id, status, reason, error, address, attempts, claimed_by)
SELECT %s, sub.id,
       CASE WHEN sub.exclusion_reason IS NULL THEN 'pending' ELSE 'excluded' END,
       COALESCE(sub.exclusion_reason, ''), '', COALESCE(sub.address, ''), 0, ''
FROM ({select}) sub
WHERE 1 = 1
ON CONFLICT (run_id, profile_id) DO NOTHING
"""


def eligible_profiles(run: Run, profiles=None):
    campaign = run.campaign
    if profiles is None:
        # Never a profile the campaign's owner could not see (audiences/selectors.py).
        profiles = sendable_profiles(run.version.audience, campaign.created_by)
    return annotate_eligibility(profiles, channel=campaign.channel, category=campaign.category)


def insert_deliveries(run: Run, profiles=None) -> None:
    """Insert the run's deliveries (pending or excluded with a reason) in the database."""
    qs = eligible_profiles(run, profiles).order_by().values("id", "address", "exclusion_reason")
    select, params = qs.query.sql_with_params()
    sql = _INSERT.format(delivery=Delivery._meta.db_table, select=select)
    with connection.cursor() as cursor:
        cursor.execute(sql, [run.pk, *params])


def refresh_counters(run: Run) -> None:
    """Set targeted/excluded from one GROUP BY over the run's deliveries."""
    rows = Delivery.objects.filter(run=run).values("status").annotate(n=Count("id")).order_by()
    by_status = {row["status"]: row["n"] for row in rows}
    Run.objects.filter(pk=run.pk).update(
        targeted=sum(by_status.values()), excluded=by_status.get(Delivery.Status.EXCLUDED, 0)
    )


def spread_by_profile_timezone(run: Run, local_wall: datetime, default_tz: str) -> None:
    """Each pending delivery waits for ``local_wall`` in its profile's own time zone.

    One UPDATE per distinct time zone in the run, never one per delivery.
    """
    pending = Delivery.objects.filter(run=run, status=Delivery.Status.PENDING)
    zones = (
        Profile.objects.filter(pk__in=pending.values("profile_id"))
        .values_list("timezone", flat=True)
        .distinct()
    )
    for zone in list(zones):
        try:
            tz = ZoneInfo(zone or default_tz)
        except (KeyError, ValueError):
            tz = ZoneInfo(default_tz)
        pending.filter(profile__timezone=zone).update(send_after=local_wall.replace(tzinfo=tz))


def materialize(run: Run) -> None:
    """Fill ``run`` with its deliveries (idempotent) and its counters."""
    with transaction.atomic():
        if run.kind != Run.Kind.API_UNITARY:
            insert_deliveries(run)
        version = run.version
        if version.use_profile_timezone and run.scheduled_for is not None:
            campaign_tz = ZoneInfo(version.timezone or "UTC")
            wall = run.scheduled_for.astimezone(campaign_tz).replace(tzinfo=None)
            spread_by_profile_timezone(run, wall, version.timezone or "UTC")
        refresh_counters(run)
