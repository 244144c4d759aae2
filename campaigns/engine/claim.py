"""Claiming batches of deliveries under a lease, and giving back expired leases.

PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets any number of senders on any number
of hosts take disjoint batches without waiting for each other. SQLite: Django
opens IMMEDIATE transactions (see config/env.py), which serialize writers, so the
same UPDATE … WHERE id IN (SELECT … LIMIT n) is safe without row locks.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Count, F

from campaigns.engine.clock import now
from campaigns.models import Delivery, Run

_CLAIM = """
UPDATE {delivery}
SET status = 'sending', lease_expires_at = %s, claimed_by = %s, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM {delivery}
    WHERE run_id IN ({runs}) AND status = 'pending' AND (send_after IS NULL OR send_after <= %s)
    ORDER BY id
    LIMIT %s
    {lock}
)
RETURNING id, run_id
"""


def claim(run_id: int, size: int, token: str, lease_seconds: int) -> list[int]:
    """Mark up to ``size`` due pending deliveries of the run as ours; their ids."""
    return sorted(pk for pk, _run in claim_for_runs([run_id], size, token, lease_seconds))


def claim_for_runs(
    run_ids: list[int], size: int, token: str, lease_seconds: int
) -> list[tuple[int, int]]:
    """Up to ``size`` due pending deliveries of any of the runs: (id, run id) pairs."""
    if size <= 0 or not run_ids:
        return []
    moment = now()
    adapt = connection.ops.adapt_datetimefield_value
    lock = "FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    sql = _CLAIM.format(
        delivery=Delivery._meta.db_table, runs=", ".join(["%s"] * len(run_ids)), lock=lock
    )
    lease = adapt(moment + timedelta(seconds=lease_seconds))
    # Inside the sender's claim transaction: no savepoint of its own.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(sql, [lease, token, *run_ids, adapt(moment), size])
        return sorted(cursor.fetchall())


def reclaim_expired(run_id: int | None = None, *, kinds: list[str] | None = None) -> int:
    """Give deliveries whose lease expired back to ``pending``.

    Their sender died (or stalled) somewhere between claim and record: the
    provider may or may not have accepted them, so each re-send is counted as a
    possible duplicate on the run. At most one claimed batch per dead sender.
    """
    moment = now()
    expired = Delivery.objects.filter(status=Delivery.Status.SENDING, lease_expires_at__lt=moment)
    if run_id is not None:
        expired = expired.filter(run_id=run_id)
    if kinds is not None:
        expired = expired.filter(run__kind__in=kinds)
    total = 0
    with transaction.atomic():
        # A stopped run's abandoned batch is cancelled, never handed out again.
        expired.exclude(run__status=Run.Status.SENDING).update(
            status=Delivery.Status.CANCELLED, lease_expires_at=None
        )
        per_run = expired.values("run_id").annotate(n=Count("id")).order_by()
        for row in list(per_run):
            n = expired.filter(run_id=row["run_id"]).update(
                status=Delivery.Status.PENDING, claimed_by="", lease_expires_at=None
            )
            Run.objects.filter(pk=row["run_id"]).update(duplicates=F("duplicates") + n)
            total += n
    return total
