"""The gate between a batch being sent and a status change that forbids sending.

A batch sends inside a transaction that holds the campaign's gate *shared*; a
transition out of a sendable status (stop, archive) takes it *exclusive* before
writing the status. So the transition waits for the batches in flight, and a
batch that asks after it sees the new status and cancels instead of sending.

PostgreSQL: a transaction-scoped advisory lock. Not ``SELECT … FOR SHARE`` on
the campaign row: a new share lock is granted while an UPDATE of the row is
waiting, so overlapping batches starve the stop until the run has sent
everything. Advisory locks queue fairly: once the stop waits, new batches wait
behind it. SQLite: every write transaction is IMMEDIATE and holds the one
database write lock, so the gate is that lock and nothing more is needed here.
"""

from __future__ import annotations

from django.db import connection

# Statuses in which a campaign's runs may send (one-shot runs outlive "live").
SENDABLE = frozenset({"live", "scheduled", "completed"})

# First half of the two-key advisory lock: keeps our keys apart from other users'.
_NAMESPACE = 0x566F6C  # "Vol"


def enter_batch(campaign_id: int) -> None:
    """In the batch transaction, before reading the campaign status."""
    _lock("pg_advisory_xact_lock_shared", campaign_id)


def close_for_batches(campaign_id: int, from_status: str, to_status: str) -> None:
    """In the transition's transaction, before its UPDATE, when sending must end."""
    if from_status in SENDABLE and to_status not in SENDABLE:
        _lock("pg_advisory_xact_lock", campaign_id)


def _lock(function: str, campaign_id: int) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s, %s)", [_NAMESPACE, campaign_id])
