"""The stop barrier: nothing is sent after a stop returns (SPEC §3, §5).

One concept, the *send permit* (``SendPermit``): a sender calls a provider only
while it holds a permit for the message's campaign, and no lock or transaction
is held during that call.

* A sender takes its permit in the short transaction that claims its batch:
  there it takes the campaign's *gate* shared, reads that the campaign may send,
  that the run is still sending and that its channel configuration is active,
  and writes the permit (``admit``,
  ``grant``). It releases the permit in the transaction that records the batch's
  outcomes (``release``) and renews it, re-checking the status the same way,
  while a long batch lasts. Between messages it looks at the status again
  (``still_open``, a plain read at most every ``LOOK_SECONDS``), so it gives up
  soon after a stop instead of at the end of its batch.
* A transition out of a sendable status (stop, archive) takes the gate
  exclusive before writing the status (``close``), and once its transaction has
  committed it waits until every permit of the campaign is released or has
  expired (``wait_for_senders``) before the caller goes on.

So a sender that asked before the stop committed holds a permit the stop waits
for, and one that asks afterwards reads the new status and sends nothing.

The gate makes "read the status, write the permit" atomic with respect to the
stop's write. SQLite: every write transaction is IMMEDIATE and holds the one
database write lock, which is that gate; it is held for milliseconds, never
while a provider answers. PostgreSQL: a transaction-scoped advisory lock, not
``SELECT … FOR SHARE`` on the campaign row, because a new share lock is granted
while an UPDATE of the row waits, whereas advisory locks queue fairly.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.db import connection, transaction

from campaigns.engine.clock import now
from campaigns.engine.conf import knob
from campaigns.models import Run, SendPermit
from channels.models import ChannelConfiguration

# Statuses in which a campaign's runs may send (one-shot runs outlive "live").
SENDABLE = frozenset({"live", "scheduled", "completed"})

# A sender looks at the status between messages at most this often (seconds).
LOOK_SECONDS = 0.05

# First half of the two-key advisory lock: keeps our keys apart from other users'.
_NAMESPACE = 0x566F6C  # "Vol"


def permit_seconds() -> int:
    """How long a permit lasts unless renewed: longer than any single provider
    call may take (the transports' timeouts), so an expired permit means a dead
    sender, never one still talking to a provider."""
    from django.conf import settings

    longest_call = max(
        int(getattr(settings, "EMAIL_TIMEOUT", None) or 30),
        int(getattr(settings, "WEBHOOK_TIMEOUT_SECONDS", 10)),
    )
    return max(knob("ENGINE_PERMIT_SECONDS"), longest_call + 5)


# ----------------------------------------------------------------- senders


def admit(campaign_of: dict[int, int]) -> set[int]:
    """Inside the sender's transaction: which runs (run id → campaign id) may send.

    Takes each campaign's gate shared, in order (no deadlock between senders).
    """
    if not campaign_of:
        return set()
    enter(campaign_of.values())
    return still_open(list(campaign_of))


def enter(campaign_ids) -> None:
    """Take the campaigns' gates shared, in order, for the rest of the
    transaction (``admit`` does; taking them again there costs nothing). A
    transaction that locks runs of those campaigns and then admits them takes
    the gates first, as a stop does, so the two never wait for each other."""
    if connection.vendor == "postgresql":
        for campaign_id in sorted(set(campaign_ids)):
            _lock("pg_advisory_xact_lock_shared", campaign_id)


def grant(campaign_ids, holder: str) -> float:
    """Inside the same transaction as ``admit``: write (or renew) the holder's
    permits. Returns the ``time.monotonic()`` after which it must not call a
    provider without renewing them. Permits of other campaigns the holder has
    are left alone (a renewal that no longer admits a stopped campaign keeps
    its permit until ``release``: the transport may still be finishing a
    message admitted before the stop)."""
    seconds = permit_seconds()
    started = time.monotonic()
    expires = now() + timedelta(seconds=seconds)
    campaign_ids = sorted(set(campaign_ids))
    SendPermit.objects.bulk_create(
        [SendPermit(campaign_id=c, holder=holder, expires_at=expires) for c in campaign_ids],
        update_conflicts=True,
        unique_fields=["campaign", "holder"],
        update_fields=["expires_at"],
    )
    # Leave a margin for clocks and for the call that starts just before the end.
    return started + seconds - min(5, seconds / 4)


def release(holder: str) -> None:
    """The holder calls no provider any more (with the batch's outcomes)."""
    SendPermit.objects.filter(holder=holder).delete()


_STILL_OPEN = """
WITH r AS MATERIALIZED (
    SELECT id, status, campaign_id, version_id FROM {run} WHERE {ids}
)
SELECT r.id FROM r
JOIN {campaign} c ON c.id = r.campaign_id
JOIN {version} v ON v.id = r.version_id
JOIN {configuration} cc ON cc.id = v.channel_configuration_id
WHERE r.status = 'sending' AND c.status IN ({sendable}) AND cc.status = %s
"""


def still_open(run_ids) -> set[int]:
    """The runs still sending in a campaign that may send, through a channel
    configuration that is active (a plain read: a look between messages; the
    promise is the permit). A run left out only because its configuration was
    deactivated is failed by its sender (``runs.fail_for_inactive_configuration``).

    The runs are found by primary key alone (``MATERIALIZED``, their status
    tested after): left to itself, PostgreSQL's planner, misled by statistics
    older than a fast-growing run table, started from the campaigns and scanned
    every sending run of each — 40 ms a look instead of 0.1 ms, three looks per
    batch; and with the status inside the CTE it ANDed the status index, whose
    'sending' entries of every trigger since the last vacuum it read each time
    (200,000 entries, 4 ms a look, under a sustained trigger load).
    """
    run_ids = list(run_ids)
    if not run_ids:
        return set()
    from campaigns.models import Campaign, CampaignVersion

    # PostgreSQL: one array parameter, so the statement's text is the same for
    # any number of runs (the driver converts it once, not at every look).
    postgres = connection.vendor == "postgresql"
    sql = _STILL_OPEN.format(
        run=Run._meta.db_table,
        campaign=Campaign._meta.db_table,
        version=CampaignVersion._meta.db_table,
        configuration=ChannelConfiguration._meta.db_table,
        ids="id = ANY(%s::bigint[])" if postgres else f"id IN ({', '.join(['%s'] * len(run_ids))})",
        sendable=", ".join(["%s"] * len(SENDABLE)),
    )
    # As an array literal: psycopg adapts a list parameter element by element.
    ids = ["{" + ",".join(str(int(pk)) for pk in run_ids) + "}"] if postgres else run_ids
    with connection.cursor() as cursor:
        cursor.execute(sql, [*ids, *sorted(SENDABLE), ChannelConfiguration.Status.ACTIVE])
        return {row[0] for row in cursor.fetchall()}


# ----------------------------------------------------------------- transitions


def close(campaign_id: int, from_status: str, to_status: str) -> None:
    """In the transition's transaction, before its UPDATE, when sending must end:
    new permits wait for this transaction; once it has committed, the caller
    waits for the permits already given (see ``wait_for_senders``)."""
    if from_status in SENDABLE and to_status not in SENDABLE:
        if connection.vendor == "postgresql":
            _lock("pg_advisory_xact_lock", campaign_id)
        transaction.on_commit(lambda: wait_for_senders(campaign_id))


def wait_for_senders(campaign_id: int) -> None:
    """Until no sender may be calling a provider for the campaign: every permit
    released, or expired (its sender died). Bounded by one permit's lifetime: a
    permit cannot be renewed once the campaign may no longer send."""
    give_up = time.monotonic() + permit_seconds() + 1
    pause = 0.005
    while time.monotonic() < give_up:
        if not SendPermit.objects.filter(campaign_id=campaign_id, expires_at__gt=now()).exists():
            return
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _lock(function: str, campaign_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s, %s)", [_NAMESPACE, campaign_id])
