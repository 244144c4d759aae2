"""Leases for the small sends people ask for: campaign proofs and test messages.

The request records a ``queued`` row and hands it to the cluster on commit.
A worker claims it with a compare-and-set (``queued`` → ``sending``) that also
sets a lease; it records ``sent`` or ``failed`` only while the row is still
``sending``. What can go wrong, and what ``sweep`` (every minute) does:

* the task was lost (a broker restart, a cluster down when it was enqueued):
  the row stays ``queued`` past its lease, so it is handed to the cluster
  again — a second task finds the row claimed and does nothing;
* the worker died mid-send (SIGKILL, out of memory, a host lost): the row
  stays ``sending`` past its lease. The provider may or may not have accepted
  the message, so it is sent once more *automatically* and counted in
  ``duplicates`` (what the page and the API show as "may have arrived twice";
  a test message records each recipient's answer as it comes, so only the
  one in flight is in doubt and the others are not sent again);
  after that, a second dead lease makes it ``failed`` with a reason, and a
  person decides with the Retry action. Duplicates are bounded by one resend
  of one row's messages, never silent.

The models share the fields of ``channels.models.LeasedSend``; this module
never imports them (campaigns' ``Proof`` lives above channels).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation

from config.env import env_int

QUEUED, SENDING, SENT, FAILED = "queued", "sending", "sent", "failed"
# Claims of one row before a dead lease fails it instead of sending again.
AUTOMATIC_ATTEMPTS = 2
# Rows looked at per sweep and per kind: the rest wait a minute.
SWEEP_LIMIT = 500


def lease_seconds() -> int:
    """How long a claimed send may take before its worker is presumed dead
    (``TEST_SEND_LEASE_SECONDS``; far above one provider call's timeout)."""
    if hasattr(settings, "TEST_SEND_LEASE_SECONDS"):
        return int(settings.TEST_SEND_LEASE_SECONDS)
    return env_int("TEST_SEND_LEASE_SECONDS", 120, minimum=1)


def lease_from(moment):
    return moment + timedelta(seconds=lease_seconds())


def queued_fields() -> dict:
    """The lease fields of a row being queued now (new, or retried)."""
    return {"status": QUEUED, "lease_expires_at": lease_from(timezone.now())}


def claim(model, pk: int, **fields) -> bool:
    """Take a queued row for this worker (False: another worker has it, or it is done)."""
    moment = timezone.now()
    return bool(
        model.objects.filter(pk=pk, status=QUEUED).update(
            status=SENDING,
            attempts=F("attempts") + 1,
            lease_expires_at=lease_from(moment),
            **fields,
        )
    )


def finish(model, pk: int, **fields) -> bool:
    """Record the outcome of a claimed row (False: the sweep took it back meanwhile)."""
    return bool(model.objects.filter(pk=pk, status=SENDING).update(lease_expires_at=None, **fields))


def retry(model, pk: int, **fields) -> bool:
    """A person's Retry of a failed row: queued again with fresh attempts."""
    return bool(
        model.objects.filter(pk=pk, status=FAILED).update(
            attempts=0, error="", **queued_fields(), **fields
        )
    )


def sweep(
    model,
    *,
    enqueue: Callable[[int], None],
    reason,
    on_failed: Callable[[list[int], str], None] | None = None,
    messages: Callable[[int], int] = lambda pk: 1,
) -> dict[str, int]:
    """Resolve the rows of ``model`` whose lease expired (see the module's
    docstring). ``enqueue(pk)`` hands a row to the cluster on commit; rows
    given up become ``failed`` with ``reason`` (a lazy text, in the language
    the row was asked in; then ``on_failed(pks, reason)``,
    in the same transaction); ``messages(pk)`` is how many messages one send of
    a row is (counted as possible duplicates when it is resent). Safe on many
    clusters at once: every change is a compare-and-set."""
    moment = timezone.now()
    done = {"requeued": 0, "resent": 0, "failed": 0}
    lost = model.objects.filter(status=QUEUED, lease_expires_at__lt=moment)
    for pk in list(lost.values_list("pk", flat=True)[:SWEEP_LIMIT]):
        with transaction.atomic():
            if lost.filter(pk=pk).update(lease_expires_at=lease_from(moment)):
                enqueue(pk)
                done["requeued"] += 1
    stale = model.objects.filter(status=SENDING, lease_expires_at__lt=moment)
    rows = list(stale.values_list("pk", "attempts")[:SWEEP_LIMIT])
    dead = [pk for pk, attempts in rows if attempts >= AUTOMATIC_ATTEMPTS]
    for pk in (pk for pk, attempts in rows if attempts < AUTOMATIC_ATTEMPTS):
        with transaction.atomic():
            if stale.filter(pk=pk, attempts__lt=AUTOMATIC_ATTEMPTS).update(
                status=QUEUED,
                duplicates=F("duplicates") + messages(pk),
                lease_expires_at=lease_from(moment),
            ):
                enqueue(pk)
                done["resent"] += 1
    for pk in dead:
        locale = model.objects.filter(pk=pk).values_list("locale", flat=True).first()
        with translation.override(locale or None):
            text = str(reason)[:2000]
        with transaction.atomic():
            if stale.filter(pk=pk).update(status=FAILED, lease_expires_at=None, error=text):
                if on_failed is not None:
                    on_failed([pk], text)
                done["failed"] += 1
    return done
