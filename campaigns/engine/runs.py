"""A run's life: queued → materializing → sending → completed (or cancelled)."""

from __future__ import annotations

import os

from django.db import transaction
from django.db.models import Count, F, Q

from campaigns import webhook_events
from campaigns.engine.clock import now
from campaigns.engine.conf import knob
from campaigns.engine.materialize import materialize
from campaigns.models import Delivery, Run
from channels.models import ChannelConfiguration
from webhooks import outbox

ACTIVE = [Run.Status.QUEUED, Run.Status.MATERIALIZING, Run.Status.SENDING]


_brokers: dict[tuple[int, str], object] = {}


def _broker():
    """One broker per process: django-q2's ``async_task`` otherwise builds a new
    broker — with the Redis broker a new connection pool, TCP connection and
    handshake — for every task, which dominated the cost of an API trigger."""
    from django_q.brokers import get_broker
    from django_q.conf import Conf

    key = (os.getpid(), Conf.CLUSTER_NAME)
    if key not in _brokers:
        _brokers.clear()  # a forked child must not share its parent's sockets
        _brokers[key] = get_broker()
    return _brokers[key]


def enqueue(func: str, *args, task_name: str | None = None) -> None:
    """Hand work to the cluster once the current transaction has committed."""
    from django_q.tasks import async_task

    transaction.on_commit(lambda: async_task(func, *args, task_name=task_name, broker=_broker()))


def enqueue_start(run: Run) -> None:
    enqueue("campaigns.tasks.start_run", run.pk, task_name=f"run-{run.pk}")


def enqueue_senders(run_id: int, count: int) -> None:
    for _ in range(count):
        enqueue("campaigns.tasks.send_run", run_id, task_name=f"send-{run_id}")


def start_run(run_id: int) -> bool:
    """Materialize a due run and open it for sending. Safe to run twice.

    Returns True when the run is now ``sending`` (the caller may send inline).
    """
    moment = now()
    run = Run.objects.select_related("campaign", "version").filter(pk=run_id).first()
    if run is None or run.status not in (Run.Status.QUEUED, Run.Status.MATERIALIZING):
        return run is not None and run.status == Run.Status.SENDING
    if run.scheduled_for and run.kind == Run.Kind.API_AUDIENCE and run.scheduled_for > moment:
        return False
    Run.objects.filter(pk=run.pk, status=Run.Status.QUEUED).update(
        status=Run.Status.MATERIALIZING, started_at=moment
    )
    materialize(run)
    with transaction.atomic():
        opened = Run.objects.filter(pk=run.pk, status=Run.Status.MATERIALIZING).update(
            status=Run.Status.SENDING
        )
        if opened:
            enqueue_senders(run.pk, _extra_senders(run))
    finish_if_done(run.pk)
    return bool(opened)


def _extra_senders(run: Run) -> int:
    """Senders to enqueue beside the one that sends inline: none for a unitary
    trigger (at most 20 recipients, less than one batch), whose extra tasks
    would only find nothing to claim — three wasted tasks per API call."""
    if run.kind == Run.Kind.API_UNITARY:
        return 0
    return max(knob("ENGINE_SENDERS") - 1, 0)


def refresh_outcome_counters(run_id: int) -> None:
    rows = Delivery.objects.filter(run_id=run_id).values("status").annotate(n=Count("id"))
    by_status = {row["status"]: row["n"] for row in rows.order_by()}
    Run.objects.filter(pk=run_id).update(
        targeted=sum(by_status.values()),
        excluded=by_status.get(Delivery.Status.EXCLUDED, 0),
        sent=by_status.get(Delivery.Status.SENT, 0),
        failed=by_status.get(Delivery.Status.FAILED, 0),
    )


def finish_if_done(run_id: int) -> bool:
    """Close a sending run with nothing left pending or in flight (exact counters)."""
    unfinished = Delivery.objects.filter(
        run_id=run_id, status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING]
    )
    if unfinished.exists():
        return False
    with transaction.atomic():
        closed = Run.objects.filter(pk=run_id, status=Run.Status.SENDING).update(
            status=Run.Status.COMPLETED, finished_at=now()
        )
        if closed:
            refresh_outcome_counters(run_id)
            webhook_events.executions_completed([run_id], now())
    return bool(closed)


def fail_for_inactive_configuration(run_ids, *, token: str = "") -> set[int]:
    """Inside a sender's transaction: of ``run_ids`` (runs it may not send), those
    whose channel configuration is deactivated (or gone) send nothing more
    (a stopped run is the stop's: its unsent deliveries are cancelled).

    Their pending deliveries (and those ``token`` holds) fail with the reason
    ``configuration_deactivated``, counted on the run, and a run still sending
    fails with that reason: the report says why, and "retry failed deliveries"
    sends them once the configuration is active again. Deliveries another
    sender holds are its own to record. Returns the runs refused this way.
    """
    if not run_ids:
        return set()
    refused = set(
        Run.objects.filter(pk__in=list(run_ids), status__in=[Run.Status.SENDING, Run.Status.FAILED])
        .exclude(version__channel_configuration__status=ChannelConfiguration.Status.ACTIVE)
        .values_list("pk", flat=True)
    )
    reason = Delivery.Reason.CONFIGURATION_DEACTIVATED
    unsent = Q(status=Delivery.Status.PENDING)
    if token:
        unsent |= Q(status=Delivery.Status.SENDING, claimed_by=token)
    moment = now()
    for run_id in sorted(refused):
        unsent_rows = Delivery.objects.filter(run_id=run_id).filter(unsent)
        failing = (
            list(unsent_rows.values_list("id", flat=True))
            if outbox.subscribed("delivery.failed")
            else []
        )
        n = unsent_rows.update(status=Delivery.Status.FAILED, reason=reason, lease_expires_at=None)
        if n:
            Run.objects.filter(pk=run_id).update(failed=F("failed") + n)
            webhook_events.deliveries("delivery.failed", failing, moment)
        if Run.objects.filter(pk=run_id, status=Run.Status.SENDING).update(
            status=Run.Status.FAILED, error=reason, finished_at=moment
        ):
            webhook_events.executions_completed([run_id], moment)
    return refused


def retry_failed(*, campaign, run_id: int | None = None) -> int:
    """Put failed deliveries back in the queue (the report's "retry" action).

    Eligibility was decided when the run was materialized; a retry may come days
    later. A failed delivery whose person may no longer receive the message (on
    the suppression list since, consent withdrawn, no address any more) is
    recorded as excluded with that reason instead of being sent (SPEC §6:
    nobody on the suppression list gets marketing; transactional sends never go
    to hard bounces or complaints); an erased person's delivery stays failed.

    Returns how many deliveries will be tried again.
    """
    failed = Delivery.objects.filter(run__campaign=campaign, status=Delivery.Status.FAILED)
    if run_id is not None:
        failed = failed.filter(run_id=run_id)
    with transaction.atomic():
        touched = set(failed.values_list("run_id", flat=True).distinct())
        _exclude_no_longer_eligible(campaign, failed)
        retry = failed.filter(profile__isnull=False)
        run_ids = list(retry.values_list("run_id", flat=True).distinct())
        count = retry.update(
            status=Delivery.Status.PENDING,
            attempts=0,
            send_after=None,
            claimed_by="",
            reason="",
            lease_expires_at=None,
        )
        for rid in run_ids:
            # A run failed for its deactivated configuration is tried again too
            # (and fails again, saying why, while the configuration stays off).
            Run.objects.filter(pk=rid, status=Run.Status.COMPLETED).update(
                status=Run.Status.SENDING, finished_at=None
            )
            Run.objects.filter(
                pk=rid, status=Run.Status.FAILED, error=Delivery.Reason.CONFIGURATION_DEACTIVATED
            ).update(status=Run.Status.SENDING, finished_at=None, error="")
            enqueue_senders(rid, knob("ENGINE_SENDERS"))
        for rid in touched:
            refresh_outcome_counters(rid)
    return count


def _exclude_no_longer_eligible(campaign, failed) -> None:
    """Mark ``failed`` deliveries whose person may not receive ``campaign`` now as
    excluded, with the reason materialization would give today (the profile's
    current consent and identity, and the suppression list for both its current
    address and the one the delivery was sent to)."""
    from django.db.models import Exists, OuterRef, Q, Subquery

    from audiences.models import Profile, Suppression
    from audiences.selectors import HARD_REASONS, annotate_eligibility

    reason_now = annotate_eligibility(
        Profile.objects.filter(pk=OuterRef("profile_id")),
        channel=campaign.channel,
        category=campaign.category,
    ).values("exclusion_reason")[:1]
    suppressed = Suppression.objects.filter(channel=campaign.channel, address=OuterRef("address"))
    if campaign.category == "transactional":
        suppressed = suppressed.filter(reason__in=HARD_REASONS)
    rows = (
        failed.filter(profile__isnull=False)
        .annotate(reason_now=Subquery(reason_now), address_suppressed=Exists(suppressed))
        .filter(Q(reason_now__isnull=False) | Q(address_suppressed=True))
        .values_list("pk", "reason_now", "address_suppressed")
    )
    by_reason: dict[str, list[int]] = {}
    for pk, reason, address_suppressed in rows.iterator(chunk_size=2000):
        by_reason.setdefault("suppressed" if address_suppressed else reason, []).append(pk)
    for reason, pks in by_reason.items():
        for start in range(0, len(pks), 500):
            Delivery.objects.filter(
                pk__in=pks[start : start + 500], status=Delivery.Status.FAILED
            ).update(status=Delivery.Status.EXCLUDED, reason=reason, error="")
