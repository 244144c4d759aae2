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
from django.db.models import Count, Q

from audiences.models import Profile
from audiences.selectors import annotate_eligibility, sendable_profiles
from campaigns.engine.clock import now
from campaigns.models import Delivery, Run

# Experiments are for scheduled campaigns (SPEC §13): their one-shot and
# recurring runs; API triggers send the campaign's content.
EXPERIMENT_KINDS = (Run.Kind.ONE_SHOT, Run.Kind.OCCURRENCE)

_INSERT = """
INSERT INTO {delivery} (run_id, profile_id, status, reason, error, address, attempts, claimed_by)
SELECT %s, sub.id,
       CASE WHEN sub.exclusion_reason IS NULL THEN 'pending' ELSE 'excluded' END,
       COALESCE(sub.exclusion_reason, ''), '', COALESCE(sub.address, ''), 0, ''
FROM ({select}) sub
WHERE 1 = 1
ON CONFLICT (run_id, profile_id) DO NOTHING
"""


# An experiment's run (SPEC §13): the same fan-out, with each eligible profile's
# place decided in the statement from two numbers in [0, 1) that the database
# derives from SHA-256("<campaign>:<profile>") exactly as
# campaigns.experiments.unit_pair does: held out (excluded, reason
# ``holdout``), its variant, or — outside a test phase's share — waiting for
# the winner (pending until HELD_UNTIL), or the winner once there is one.
# A held-out person's row keeps the moment they would have been sent
# (``held_out_at``): their conversions count from there (campaigns/conversions.py).
_INSERT_EXPERIMENT = """
INSERT INTO {delivery} (run_id, profile_id, status, reason, error, address, attempts, claimed_by,
                        variant, send_after, held_out_at)
SELECT %s, sub.id,
       CASE WHEN sub.exclusion_reason IS NULL AND sub.u1 >= {holdout} THEN 'pending'
            ELSE 'excluded' END,
       COALESCE(sub.exclusion_reason, CASE WHEN sub.u1 < {holdout} THEN 'holdout' ELSE '' END),
       '', COALESCE(sub.address, ''), 0, '',
       CASE WHEN sub.exclusion_reason IS NOT NULL OR sub.u1 < {holdout} THEN ''
            WHEN sub.u2 >= {test} THEN %s
            {variants} END,
       CASE WHEN sub.exclusion_reason IS NULL AND sub.u1 >= {holdout} AND sub.u2 >= {test}
                 AND %s THEN %s END,
       CASE WHEN sub.exclusion_reason IS NULL AND sub.u1 < {holdout} THEN %s END
FROM ({units}) sub
WHERE 1 = 1
ON CONFLICT (run_id, profile_id) DO NOTHING
"""

# 52 bits of the hex digest as a number in [0, 1), per database.
_UNITS = {
    "postgresql": """SELECT s.*,
    (('x' || substr(s.hx, 1, 13))::bit(52)::bigint)::float8 / 4503599627370496::float8 AS u1,
    (('x' || substr(s.hx, 14, 13))::bit(52)::bigint)::float8 / 4503599627370496::float8 AS u2
FROM (SELECT s0.*, encode(sha256(convert_to('{campaign}:' || s0.id::text, 'UTF8')), 'hex') AS hx
      FROM ({select}) s0) s""",
    "sqlite": """SELECT s.*, volley_unit('{campaign}:' || s.id, 0) AS u1,
    volley_unit('{campaign}:' || s.id, 1) AS u2
FROM ({select}) s""",
}


def editors_of(campaign) -> list:
    """The users besides its owner who wrote ``campaign`` (``Campaign.editors``);
    None for one deleted since (who then sees only what everyone may)."""
    return users_by_id(list(campaign.editors or []))


def users_by_id(ids: list[int]) -> list:
    """The users of ``ids``, in order; None for one deleted since."""
    if not ids:
        return []
    from django.contrib.auth import get_user_model

    found = get_user_model().objects.in_bulk(ids)
    return [found.get(pk) for pk in ids]


def eligible_profiles(run: Run, profiles=None):
    campaign = run.campaign
    if profiles is None:
        # Never a profile the campaign's owner, or anyone who wrote it, could
        # not see (audiences/selectors.py).
        profiles = sendable_profiles(
            run.version.audience, campaign.created_by, editors_of(campaign)
        )
    return annotate_eligibility(profiles, channel=campaign.channel, category=campaign.category)


def insert_deliveries(run: Run, profiles=None) -> None:
    """Insert the run's deliveries (pending or excluded with a reason) in the database."""
    qs = eligible_profiles(run, profiles).order_by().values("id", "address", "exclusion_reason")
    select, params = qs.query.sql_with_params()
    experiment = run.version.experiment if run.kind in EXPERIMENT_KINDS else None
    if experiment:
        _insert_experiment(run, experiment, select, params)
        return
    sql = _INSERT.format(delivery=Delivery._meta.db_table, select=select)
    with connection.cursor() as cursor:
        cursor.execute(sql, [run.pk, *params])


def _insert_experiment(run: Run, experiment: dict, select: str, params) -> None:
    """The experiment's fan-out (see ``_INSERT_EXPERIMENT``), one statement.

    The bounds are floats computed here (``campaigns.experiments.thresholds``)
    and written into the statement as exact literals; names are parameters.
    """
    from campaigns.experiments import HELD_UNTIL, thresholds
    from campaigns.models import ExperimentWinner

    holdout, bounds, test = thresholds(experiment)
    winner = (
        ExperimentWinner.objects.filter(campaign_id=run.campaign_id)
        .values_list("variant", flat=True)
        .first()
    )
    if winner is not None and winner not in {name for name, _upper in bounds}:
        # Decided on an earlier version's variants (a recurring campaign changed
        # since): nobody waits, everyone gets their own variant.
        winner, test = None, 1.0
    variants = " ".join(f"WHEN sub.u1 < {upper!r} THEN %s" for _name, upper in bounds[:-1])
    variants += " ELSE %s"
    units = _UNITS["postgresql" if connection.vendor == "postgresql" else "sqlite"]
    sql = _INSERT_EXPERIMENT.format(
        delivery=Delivery._meta.db_table,
        holdout=repr(holdout),
        test=repr(test),
        variants=variants,
        units=units.format(campaign=int(run.campaign_id), select=select),
    )
    waits = winner is None and test < 1
    args = [run.pk, winner or "", *[name for name, _upper in bounds]]
    started = run.started_at or now()
    args += [waits, connection.ops.adapt_datetimefield_value(HELD_UNTIL)]
    args += [connection.ops.adapt_datetimefield_value(started)]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*args, *params])
    if waits:
        from campaigns.experiments import test_ends_at

        Run.objects.filter(pk=run.pk, test_ends_at__isnull=True).update(
            test_ends_at=test_ends_at(experiment, started)
        )


def refresh_counters(run: Run) -> None:
    """Set targeted/excluded from one GROUP BY over the run's deliveries."""
    rows = Delivery.objects.filter(run=run).values("status").annotate(n=Count("id")).order_by()
    by_status = {row["status"]: row["n"] for row in rows}
    Run.objects.filter(pk=run.pk).update(
        targeted=sum(by_status.values()), excluded=by_status.get(Delivery.Status.EXCLUDED, 0)
    )


def spread_by_profile_timezone(run: Run, local_wall: datetime, default_tz: str) -> None:
    """Each pending delivery waits for ``local_wall`` in its profile's own time
    zone, and each held-out person is held out at that moment (their
    conversions count from when they would have been sent).

    One UPDATE per distinct time zone in the run, never one per delivery.
    """
    from campaigns.experiments import HELD_UNTIL

    # Deliveries waiting for an experiment's winner keep waiting.
    pending = Delivery.objects.filter(run=run, status=Delivery.Status.PENDING).exclude(
        send_after=HELD_UNTIL
    )
    held_out = Delivery.objects.filter(
        run=run, status=Delivery.Status.EXCLUDED, reason=Delivery.Reason.HOLDOUT
    )
    zones = (
        Profile.objects.filter(
            Q(pk__in=pending.values("profile_id")) | Q(pk__in=held_out.values("profile_id"))
        )
        .values_list("timezone", flat=True)
        .distinct()
    )
    for zone in list(zones):
        try:
            tz = ZoneInfo(zone or default_tz)
        except (KeyError, ValueError):
            tz = ZoneInfo(default_tz)
        moment = local_wall.replace(tzinfo=tz)
        pending.filter(profile__timezone=zone).update(send_after=moment)
        held_out.filter(profile__timezone=zone).update(held_out_at=moment)


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
