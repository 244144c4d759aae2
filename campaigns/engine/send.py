"""Sending: claim a batch, render it, send it over one connection, record each result.

Guarantees (SPEC §5):

* A delivery is marked ``sent`` only after the transport accepted it, with a
  compare-and-set on (id, claimed_by, status='sending'): a sender whose lease
  expired and was re-claimed by another cannot overwrite the newer outcome.
* Nothing is sent after a stop returns: the transport call happens inside a
  transaction that holds the campaign's gate shared (campaigns/engine/gate.py;
  on SQLite the IMMEDIATE transaction's write lock). The stop takes the gate
  exclusive, so it waits for batches in flight; a batch that starts afterwards
  sees the campaign stopped and cancels its claimed deliveries instead.
* Counters on the run move by one UPDATE per batch, so progress is always
  known without scanning deliveries.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import defaultdict
from datetime import timedelta

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F

from campaigns.engine import messaging, throttle
from campaigns.engine.claim import claim, reclaim_expired
from campaigns.engine.clock import now
from campaigns.engine.conf import knob
from campaigns.engine.gate import SENDABLE, enter_batch
from campaigns.models import Campaign, Delivery, Run

logger = logging.getLogger(__name__)

_compiled_cache: dict[int, object] = {}


def beat(run_id: int) -> None:
    cache.set(f"engine:beat:{run_id}", 1, timeout=max(knob("ENGINE_LEASE_SECONDS"), 5))


def is_beating(run_id: int) -> bool:
    return cache.get(f"engine:beat:{run_id}") is not None


def limits_for(run: Run) -> list[tuple[str, int]]:
    limits = []
    if run.version.throttle_per_second:
        limits.append((f"campaign:{run.campaign_id}", run.version.throttle_per_second))
    config = run.version.channel_configuration
    if config is not None and config.rate_limit_per_second:
        limits.append((f"config:{config.pk}", config.rate_limit_per_second))
    return limits


def compiled_for(run: Run):
    # Compiling templates once per version per process, not once per batch.
    version = run.version
    if version.pk not in _compiled_cache:
        _compiled_cache[version.pk] = messaging.compile_for_version(
            version, run.campaign.channel, run.campaign.category
        )
    return _compiled_cache[version.pk]


def load_run(run_id: int) -> Run | None:
    return (
        Run.objects.select_related("campaign", "version", "version__channel_configuration")
        .filter(pk=run_id)
        .first()
    )


def send_run(run_id: int) -> str:
    """Work the run's deliveries batch by batch for one time budget.

    Returns "done" (nothing left to claim now), "budget" (time up, more to do:
    the caller enqueues a successor) or "inactive".
    """
    run = load_run(run_id)
    if run is None or run.status != Run.Status.SENDING:
        return "inactive"
    # Who holds a claim, for operators reading the table: host, process, then randomness.
    token = f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:16]}"
    deadline = time.monotonic() + knob("ENGINE_SEND_BUDGET_SECONDS")
    limits = limits_for(run)
    batch = knob("ENGINE_BATCH_SIZE")
    while time.monotonic() < deadline:
        beat(run_id)
        want = min([batch] + [rate for _key, rate in limits])
        if limits:
            granted = throttle.acquire(limits, want)
            if granted == 0:
                time.sleep(min(1.0, max(0.01, 1.0 / min(r for _k, r in limits))))
                continue
            want = granted
        ids = claim(run_id, want, token, knob("ENGINE_LEASE_SECONDS"))
        if limits and len(ids) < want:
            throttle.release(limits, want - len(ids))
        if not ids:
            reclaim_expired(run_id)
            return "done"
        if not send_claimed(run, ids, token):
            return "inactive"
    return "budget"


def _guard(run: Run) -> bool:
    """Inside the batch transaction: may this run still send? Holds the campaign's gate."""
    enter_batch(run.campaign_id)
    status = Campaign.objects.filter(pk=run.campaign_id).values_list("status", flat=True).first()
    if status not in SENDABLE:
        return False
    status = Run.objects.filter(pk=run.pk).values_list("status", flat=True).first()
    return status == Run.Status.SENDING


def build_messages(run: Run, ids: list[int], token: str) -> tuple[list, list[tuple[int, str]]]:
    try:
        compiled = compiled_for(run)
    except Exception as exc:  # a content that no longer compiles fails the batch, visibly
        return [], [(pk, f"render failed: {exc}"[:500]) for pk in ids]
    deliveries = Delivery.objects.filter(
        id__in=ids, claimed_by=token, status=Delivery.Status.SENDING
    ).select_related("profile")
    messages, broken = [], []
    for delivery in deliveries:
        context = delivery.context if delivery.context is not None else run.context
        try:
            rendered = compiled.render(
                profile=delivery.profile, context=context, delivery_id=delivery.pk
            )
        except Exception as exc:  # one bad profile never fails the batch
            broken.append((delivery.pk, f"render failed: {exc}"[:500]))
            continue
        messages.append(
            messaging.outbound(delivery.pk, delivery.address, rendered, run.campaign.category)
        )
    return messages, broken


def send_claimed(run: Run, ids: list[int], token: str) -> bool:
    """Send one claimed batch; False when the run may no longer send."""
    messages, broken = build_messages(run, ids, token)
    with transaction.atomic():
        if not _guard(run):
            Delivery.objects.filter(
                id__in=ids, claimed_by=token, status=Delivery.Status.SENDING
            ).update(status=Delivery.Status.CANCELLED, lease_expires_at=None)
            return False
        held = renew_lease(ids, token)
        messages = [m for m in messages if m.delivery_id in held]
        broken = [b for b in broken if b[0] in held]
        try:
            transport = messaging.transport_for(run.version.channel_configuration)
            results = transport.send_batch(messages) if messages else []
        except messaging.TransportError as exc:
            results = [
                messaging.SendResult(m.delivery_id, False, exc.permanent, exc.reason)
                for m in messages
            ]
        record(run, token, results, broken)
    beat(run.pk)
    return True


def renew_lease(ids: list[int], token: str) -> set[int]:
    """Renew our lease on the batch and return the deliveries we still hold.

    Rows whose lease expired while we rendered may have been handed to another
    sender: we skip them. The rows we keep stay locked by this UPDATE until the
    batch transaction commits, so a concurrent reclaim of expired leases waits for
    our outcome instead of handing out a message that is being sent right now.
    """
    table = Delivery._meta.db_table
    placeholders = ", ".join(["%s"] * len(ids))
    expires = now() + timedelta(seconds=knob("ENGINE_LEASE_SECONDS"))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET lease_expires_at = %s WHERE id IN ({placeholders})"
            " AND claimed_by = %s AND status = 'sending' RETURNING id",
            [expires, *ids, token],
        )
        return {row[0] for row in cursor.fetchall()}


def record(run: Run, token: str, results: list, broken: list[tuple[int, str]]) -> None:
    """Write each outcome of one run's batch (see ``record_many``)."""
    run_of = {r.delivery_id: run.pk for r in results}
    run_of.update({pk: run.pk for pk, _error in broken})
    record_many(run_of, token, results, broken)


def record_many(
    run_of: dict[int, int], token: str, results: list, broken: list[tuple[int, str]]
) -> None:
    """Write each outcome with a compare-and-set on our claim; move the counters
    of every run involved (``run_of``: delivery id → run id) in one UPDATE."""
    moment = now()
    mine = Delivery.objects.filter(claimed_by=token, status=Delivery.Status.SENDING)
    ok_ids = [r.delivery_id for r in results if r.ok]
    sent = mine.filter(id__in=ok_ids).update(
        status=Delivery.Status.SENT, sent_at=moment, lease_expires_at=None
    )
    sent_per_run: dict[int, int] = defaultdict(int)
    failed_per_run: dict[int, int] = defaultdict(int)
    if sent == len(ok_ids):
        for pk in ok_ids:
            sent_per_run[run_of[pk]] += 1
    else:  # some were taken from us (lease expired): count only what we wrote
        ours = Delivery.objects.filter(
            id__in=ok_ids, claimed_by=token, status=Delivery.Status.SENT, sent_at=moment
        )
        for pk in ours.values_list("id", flat=True):
            sent_per_run[run_of[pk]] += 1
    for delivery_id, error in broken:
        failed_per_run[run_of[delivery_id]] += mine.filter(id=delivery_id).update(
            status=Delivery.Status.FAILED, reason="render_error", error=error
        )
    max_attempts = knob("ENGINE_MAX_ATTEMPTS")
    base = knob("ENGINE_RETRY_BASE_SECONDS")
    for result in results:
        if result.ok:
            continue
        row = mine.filter(id=result.delivery_id)
        attempts = row.values_list("attempts", flat=True).first() or 0
        if result.permanent or attempts >= max_attempts:
            code = "rejected" if result.permanent else "retries_exhausted"
            failed_per_run[run_of[result.delivery_id]] += row.update(
                status=Delivery.Status.FAILED, reason=code, error=(result.reason or "")[:2000]
            )
        else:
            row.update(
                status=Delivery.Status.PENDING,
                claimed_by="",
                lease_expires_at=None,
                error=(result.reason or "")[:2000],
                send_after=moment + timedelta(seconds=base * 2 ** max(attempts - 1, 0)),
            )
    # One UPDATE per distinct (sent, failed) change, not one per run: a batch of
    # triggers is a hundred runs that mostly moved by (1, 0).
    by_change: dict[tuple[int, int], list[int]] = defaultdict(list)
    for rid in set(sent_per_run) | set(failed_per_run):
        change = (sent_per_run[rid], failed_per_run[rid])
        if change != (0, 0):
            by_change[change].append(rid)
    for (sent_n, failed_n), rids in by_change.items():
        Run.objects.filter(pk__in=rids).update(
            sent=F("sent") + sent_n, failed=F("failed") + failed_n
        )
