"""A run's life: queued → materializing → sending → completed (or cancelled)."""

from __future__ import annotations

import os

from django.db import transaction
from django.db.models import Count, F, Q

from campaigns.engine.clock import now
from campaigns.engine.conf import knob
from campaigns.engine.materialize import materialize
from campaigns.models import Delivery, Run
from channels.models import ChannelConfiguration

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
    for run_id in sorted(refused):
        n = (
            Delivery.objects.filter(run_id=run_id)
            .filter(unsent)
            .update(status=Delivery.Status.FAILED, reason=reason, lease_expires_at=None)
        )
        if n:
            Run.objects.filter(pk=run_id).update(failed=F("failed") + n)
        Run.objects.filter(pk=run_id, status=Run.Status.SENDING).update(
            status=Run.Status.FAILED, error=reason, finished_at=now()
        )
    return refused


def retry_failed(*, campaign, run_id: int | None = None) -> int:
    """Put failed deliveries back in the queue (the report's "retry" action).

    Returns how many deliveries will be tried again.
    """
    failed = Delivery.objects.filter(run__campaign=campaign, status=Delivery.Status.FAILED)
    if run_id is not None:
        failed = failed.filter(run_id=run_id)
    run_ids = list(failed.values_list("run_id", flat=True).distinct())
    with transaction.atomic():
        count = failed.update(
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
            refresh_outcome_counters(rid)
            enqueue_senders(rid, knob("ENGINE_SENDERS"))
    return count
