"""Retention of message data (SPEC §14), applied nightly by the cluster.

* Delivery rows older than ``RETENTION_DELIVERY_DAYS`` are anonymised, never
  deleted: no address, context, error or link to the profile is left, while
  the status, reason and event times that every report counts stay. Run
  counters are not touched, so reports read exactly the same afterwards.
* Raw tracking events (``DeliveryEvent``) older than ``RETENTION_EVENTS_DAYS``
  are deleted: report totals count the first occurrence kept on the delivery
  row (``campaigns.reports``), never the raw log; only the report's top links
  (which URL was clicked) are read from the log, so older clicks leave them.
* API-trigger contexts (``Run.context``, ``Delivery.context``) are cleared once
  the delivery is finished and older than ``RETENTION_CONTEXT_DAYS``: nothing
  pending is touched, so a context is kept exactly as long as it may be needed
  to send.
* Conversion events (``ConversionEvent``, posted by the customer's systems)
  that happened longer ago than ``RETENTION_CONVERSIONS_DAYS`` are deleted:
  a campaign's report counts the conversions whose events are still kept.
* Outbound webhook messages and their attempts (the endpoints' delivery log)
  older than ``WEBHOOK_RETENTION_DAYS`` are deleted.
* An uploaded CSV is deleted as soon as its import has finished
  (``audiences.importer.discard_file``); one left behind (a storage error, an
  import finished before that) goes the next night. The import's counts and
  first rejected rows stay.
* Proofs and configuration test messages that finished (sent or failed)
  longer ago than ``RETENTION_DELIVERY_DAYS`` are deleted with their
  recipients: they name team addresses and carry test data, and nothing
  reads them after their page's recent list.
* Provider feedback receipts (the ``eventId`` each feedback event counted
  once by) older than ``RETENTION_FEEDBACK_RECEIPT_DAYS`` are deleted: the
  feedback API refuses events older than ten minutes, and providers stop
  retrying within days.

Each batch is one short transaction over at most ``RETENTION_BATCH_SIZE`` rows
of finished runs, so a campaign sending meanwhile is never blocked for long and
never loses a row it still needs. Safe to run twice, and to stop half-way.

Batches are keyset batches (``pk > last``) over a partial index of the rows
still to do (``delivery_to_anonymise``, ``delivery_with_context``,
``run_with_context``): a batch starts where the last one stopped, and rows done
before (in this batch, on earlier nights) are no longer in the index, so a
night costs what is left to do, not what was done (security review 11, #8:
re-asking for the oldest rows each batch walked those already anonymised,
quadratic in one night's rows on PostgreSQL).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet

from campaigns.engine.clock import now
from campaigns.models import FINISHED_DELIVERY, NOT_ANONYMISED, Delivery, Run
from channels.models import DeliveryEvent

logger = logging.getLogger(__name__)

# Deliveries that will not be sent (again) by the engine.
FINISHED = list(FINISHED_DELIVERY)
ACTIVE_RUNS = [Run.Status.QUEUED, Run.Status.MATERIALIZING, Run.Status.SENDING]


def _in_batches(queryset: QuerySet, apply, *, limit: int | None) -> int:
    """Apply ``apply(ids)`` to ``queryset`` batch by batch; how many rows.

    Keyset batches: each starts after the last id of the one before, so no row
    is read twice in one pass, whatever ``apply`` left (a row that stopped
    matching meanwhile is skipped, as ``apply`` re-checks it)."""
    size = settings.RETENTION_BATCH_SIZE
    done = batches = last = 0
    while limit is None or batches < limit:
        with transaction.atomic():
            ids = list(
                queryset.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:size]
            )
            if not ids:
                break
            apply(ids)
        done += len(ids)
        batches += 1
        last = ids[-1]
    return done


def old_deliveries(moment) -> QuerySet[Delivery]:
    """Finished deliveries of finished runs older than the delivery window, not yet anonymised.

    The status and ``NOT_ANONYMISED`` conditions are those of the partial index
    ``delivery_to_anonymise``, written the same way so that both databases'
    planners see the query implies the index's condition."""
    cutoff = moment - timedelta(days=settings.RETENTION_DELIVERY_DAYS)
    return (
        Delivery.objects.filter(Q(status__in=FINISHED) & NOT_ANONYMISED)
        .filter(run__created_at__lt=cutoff)
        .exclude(run__status__in=ACTIVE_RUNS)
    )


def anonymise_deliveries(*, moment=None, max_batches: int | None = None) -> int:
    def apply(ids):
        Delivery.objects.filter(pk__in=ids, status__in=FINISHED).update(
            profile=None, address="", context=None, error=""
        )

    return _in_batches(old_deliveries(moment or now()), apply, limit=max_batches)


def delete_old_events(*, moment=None, max_batches: int | None = None) -> int:
    cutoff = (moment or now()) - timedelta(days=settings.RETENTION_EVENTS_DAYS)

    def apply(ids):
        DeliveryEvent.objects.filter(pk__in=ids).delete()

    return _in_batches(
        DeliveryEvent.objects.filter(created_at__lt=cutoff), apply, limit=max_batches
    )


def clear_old_contexts(*, moment=None, max_batches: int | None = None) -> int:
    cutoff = (moment or now()) - timedelta(days=settings.RETENTION_CONTEXT_DAYS)
    # The conditions of the partial index ``delivery_with_context``.
    deliveries = (
        Delivery.objects.filter(status__in=FINISHED, context__isnull=False)
        .filter(run__created_at__lt=cutoff)
        .exclude(run__status__in=ACTIVE_RUNS)
    )

    def clear_deliveries(ids):
        Delivery.objects.filter(pk__in=ids, status__in=FINISHED).update(context=None)

    cleared = _in_batches(deliveries, clear_deliveries, limit=max_batches)
    runs = Run.objects.filter(created_at__lt=cutoff, context__isnull=False).exclude(
        status__in=ACTIVE_RUNS
    )

    def clear_runs(ids):
        Run.objects.filter(pk__in=ids).exclude(status__in=ACTIVE_RUNS).update(context=None)

    return cleared + _in_batches(runs, clear_runs, limit=max_batches)


def delete_old_conversions(*, moment=None, max_batches: int | None = None) -> int:
    from audiences.models import ConversionEvent

    cutoff = (moment or now()) - timedelta(days=settings.RETENTION_CONVERSIONS_DAYS)

    def apply(ids):
        ConversionEvent.objects.filter(pk__in=ids).delete()

    return _in_batches(
        ConversionEvent.objects.filter(occurred_at__lt=cutoff), apply, limit=max_batches
    )


def delete_old_webhook_messages(*, moment=None, max_batches: int | None = None) -> int:
    """Outbound webhook messages (and their attempts) older than
    ``WEBHOOK_RETENTION_DAYS``, and those of endpoints deleted meanwhile."""
    from webhooks.models import Attempt, Endpoint, Message

    cutoff = (moment or now()) - timedelta(days=settings.WEBHOOK_RETENTION_DAYS)

    def apply(ids):
        Attempt.objects.filter(message_id__in=ids).delete()
        Message.objects.filter(pk__in=ids).delete()

    old = Message.objects.filter(created_at__lt=cutoff)
    orphans = Message.objects.exclude(endpoint_id__in=Endpoint.objects.values("pk"))
    return _in_batches(old, apply, limit=max_batches) + _in_batches(
        orphans, apply, limit=max_batches
    )


def delete_import_files(*, moment=None, max_batches: int | None = None) -> int:
    """Stored CSVs of imports that finished more than a day ago (see above)."""
    from audiences.importer import discard_file
    from audiences.models import ProfileImport

    cutoff = (moment or now()) - timedelta(days=1)
    finished = ProfileImport.objects.filter(finished_at__lt=cutoff).exclude(file="")
    size = settings.RETENTION_BATCH_SIZE
    done = batches = 0
    while max_batches is None or batches < max_batches:
        batch = list(finished.order_by("pk")[:size])
        if not batch:
            break
        for profile_import in batch:
            if not discard_file(profile_import):  # storage refused: try tomorrow
                return done
            done += 1
        batches += 1
    return done


def delete_old_test_sends(*, moment=None, max_batches: int | None = None) -> int:
    """Finished proofs and test messages older than the delivery window."""
    from campaigns.models import Proof
    from channels.models import TestMessage, TestMessageRecipient

    cutoff = (moment or now()) - timedelta(days=settings.RETENTION_DELIVERY_DAYS)

    def delete_proofs(ids):
        Proof.objects.filter(pk__in=ids).delete()

    def delete_test_messages(ids):
        TestMessageRecipient.objects.filter(test_message_id__in=ids).delete()
        TestMessage.objects.filter(pk__in=ids).delete()

    proofs = Proof.objects.filter(
        status__in=[Proof.Status.SENT, Proof.Status.FAILED], created_at__lt=cutoff
    )
    test_messages = TestMessage.objects.filter(
        status__in=[TestMessage.Status.SENT, TestMessage.Status.FAILED], created_at__lt=cutoff
    )
    return _in_batches(proofs, delete_proofs, limit=max_batches) + _in_batches(
        test_messages, delete_test_messages, limit=max_batches
    )


def delete_old_feedback_receipts(*, moment=None, max_batches: int | None = None) -> int:
    from channels.models import FeedbackReceipt

    cutoff = (moment or now()) - timedelta(days=settings.RETENTION_FEEDBACK_RECEIPT_DAYS)

    def apply(ids):
        FeedbackReceipt.objects.filter(pk__in=ids).delete()

    return _in_batches(
        FeedbackReceipt.objects.filter(received_at__lt=cutoff), apply, limit=max_batches
    )


def apply_retention(*, max_batches: int | None = None) -> dict[str, int]:
    """Apply every retention window once (the nightly task); counts of rows changed."""
    moment = now()
    result = {
        "contexts": clear_old_contexts(moment=moment, max_batches=max_batches),
        "deliveries": anonymise_deliveries(moment=moment, max_batches=max_batches),
        "events": delete_old_events(moment=moment, max_batches=max_batches),
        "conversions": delete_old_conversions(moment=moment, max_batches=max_batches),
        "webhooks": delete_old_webhook_messages(moment=moment, max_batches=max_batches),
        "import_files": delete_import_files(moment=moment, max_batches=max_batches),
        "feedback_receipts": delete_old_feedback_receipts(moment=moment, max_batches=max_batches),
        "test_sends": delete_old_test_sends(moment=moment, max_batches=max_batches),
    }
    logger.info(
        "Retention: %(deliveries)d deliveries anonymised, %(events)d events deleted, "
        "%(contexts)d contexts cleared, %(conversions)d conversion events deleted, "
        "%(webhooks)d webhook messages deleted, %(import_files)d import files and "
        "%(feedback_receipts)d feedback receipts, %(test_sends)d proofs and test messages deleted",
        result,
    )
    return result
