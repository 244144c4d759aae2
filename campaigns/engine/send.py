"""Sending: claim a batch, render it, send it over one connection, record each result.

Guarantees (SPEC §5):

* A delivery is marked ``sent`` only after the transport accepted it, with a
  compare-and-set on (id, claimed_by, status='sending'): a sender whose lease
  expired and was re-claimed by another cannot overwrite the newer outcome.
* Nothing is sent after a stop returns, and no lock or transaction is held
  while a provider answers: claim (short transaction, with a send permit),
  send, record (short transaction, releasing the permit). Before each message
  the sender checks its permit and the run's status; the stop waits for the
  permits it did not refuse (campaigns/barrier.py).
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
from collections.abc import Iterator
from datetime import timedelta
from functools import partial

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F, Q

from campaigns import barrier, webhook_events
from campaigns.engine import messaging, plan, rules, throttle
from campaigns.engine.claim import claim_for_runs, reclaim_expired
from campaigns.engine.clock import now
from campaigns.engine.conf import knob
from campaigns.engine.runs import fail_for_inactive_configuration
from campaigns.models import Delivery, Run

logger = logging.getLogger(__name__)

_compiled_cache: dict[tuple, object] = {}


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


def compiled_for(run: Run, variant: str = ""):
    # Compiling templates once per version (and experiment variant) per process,
    # not once per batch. The key includes when the version was last written: a
    # version saved again, or a new one given a deleted one's id (SQLite reuses
    # the highest id), compiles anew.
    version = run.version
    key = (version.pk, version.updated_at, variant)
    if key not in _compiled_cache:
        if len(_compiled_cache) > 1000:
            _compiled_cache.clear()
        _compiled_cache[key] = messaging.compile_for_version(
            version, run.campaign.channel, run.campaign.category, variant
        )
    return _compiled_cache[key]


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
    token = new_token()
    deadline = time.monotonic() + knob("ENGINE_SEND_BUDGET_SECONDS")
    limits = limits_for(run)
    size = knob("ENGINE_BATCH_SIZE")
    while time.monotonic() < deadline:
        beat(run_id)
        want = min([size] + [rate for _key, rate in limits])
        if limits:
            granted = throttle.acquire(limits, want)
            if granted == 0:
                time.sleep(min(1.0, max(0.01, 1.0 / min(r for _k, r in limits))))
                continue
            want = granted
        batch = claim_batch({run.pk: run}, token, want)
        got = len(batch.run_of) if batch else 0
        if limits and got < want:
            throttle.release(limits, want - got)
        if batch is None:
            return "inactive"
        if not got:
            if batch.held_back:
                continue  # a whole batch capped or delayed: there may be more due
            reclaim_expired(run_id)
            return "done"
        if not send_claimed(batch):
            return "inactive"
    return "budget"


def new_token() -> str:
    # Who holds a claim, for operators reading the table: host, process, then randomness.
    return f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:16]}"


# How often a sender renews its permit and its deliveries' leases during a batch.
RENEW_SECONDS = 5.0


class Batch:
    """Deliveries claimed by one sender, on their way to the provider.

    Claimed together with the sender's permits in one short transaction
    (``claim_batch``); handed to the transport one message at a time through
    ``admitted``, which checks before each provider call that the permit is
    still good and the run still open (campaigns/barrier.py); recorded with the
    permits' release in another short transaction (``finish``). No transaction
    is open while the provider answers.
    """

    def __init__(self, token: str, runs: dict[int, Run], run_of: dict[int, int]) -> None:
        self.token = token
        self.runs = runs  # run id → run
        self.run_of = run_of  # delivery id → run id
        self.held = set(run_of)  # deliveries still ours
        self.open = set(run_of.values())  # runs that may send, at the last look
        self.renew_at = self.expires_at = 0.0  # time.monotonic() deadlines
        self.look_at = 0.0  # look before the first message
        self.locales: dict[int, str] = {}  # delivery id → translation sent, when not the default
        self.held_back = 0  # claimed, then held back by a business rule
        self.broken: list[tuple[int, str]] = []  # deferred messages that failed to render

    def _campaigns(self, run_ids) -> dict[int, int]:
        return {rid: self.runs[rid].campaign_id for rid in run_ids}

    def _granted(self, deadline: float) -> None:
        self.expires_at = deadline
        self.renew_at = min(time.monotonic() + RENEW_SECONDS, deadline)
        self.look_at = time.monotonic() + barrier.LOOK_SECONDS

    def renew(self) -> None:
        """Re-admit: the status checked under the gate again, the permits and
        the leases of the deliveries not sent yet extended.

        A permit the batch no longer renews (its campaign stopped) is kept, not
        released, until ``finish``: the transport may still be sending a
        message admitted before — with PIPELINING a message's content and
        final dot go out with the next message's envelope or at the flush
        (channels/smtp.py) — and a stop returns once the permits are gone
        (security review 13, #1). It expires on its own if the sender dies."""
        with transaction.atomic():
            self.open = barrier.admit(self._campaigns(self.open))
            ids = [pk for pk in self.held if self.run_of[pk] in self.open]
            self.held = renew_lease(ids, self.token) if ids else set()
            if self.held:
                campaigns = {self.runs[self.run_of[pk]].campaign_id for pk in self.held}
                self._granted(barrier.grant(campaigns, self.token))
            else:
                self.expires_at = 0.0

    def may_send(self, delivery_id: int) -> bool:
        if delivery_id not in self.held:
            return False
        moment = time.monotonic()
        if moment >= self.renew_at or moment >= self.expires_at:
            self.renew()
        elif moment >= self.look_at:
            self.open = barrier.still_open(self.open)
            # From the answer, not the question: on a loaded machine a look that
            # takes longer than LOOK_SECONDS must not make every message look again.
            self.look_at = time.monotonic() + barrier.LOOK_SECONDS
        return (
            delivery_id in self.held
            and self.run_of[delivery_id] in self.open
            and time.monotonic() < self.expires_at
        )

    def admitted(self, messages: list) -> Iterator:
        """The messages the transport may send, each checked right before its call."""
        for message in messages:
            try:
                allowed = self.may_send(message.delivery_id)
            except Exception:  # the database is gone: send nothing more, record what was
                logger.warning("Could not renew a send permit", exc_info=True)
                self.open, self.expires_at = set(), 0.0
                return
            if not allowed:
                continue
            if isinstance(message, messaging.Deferred):
                try:
                    message = message.build()
                except Exception as exc:  # one bad profile never fails the batch
                    self.broken.append((message.delivery_id, f"render failed: {exc}"[:500]))
                    continue
            if message.rendered.locale:
                self.locales[message.delivery_id] = message.rendered.locale
            yield message

    def send(self, config, messages: list) -> list:
        """One provider connection for ``messages`` (``OutboundMessage`` or
        ``messaging.Deferred``); a result per message sent."""
        try:
            transport = messaging.transport_for(config)
            return transport.send_batch(self.admitted(messages))
        except messaging.TransportError as exc:
            unrenderable = {pk for pk, _error in self.broken}
            return [
                messaging.SendResult(m.delivery_id, False, exc.permanent, exc.reason)
                for m in messages
                if m.delivery_id in self.held
                and self.run_of[m.delivery_id] in self.open
                and m.delivery_id not in unrenderable
            ]

    def finish(self, results: list, broken: list[tuple[int, str]], then=None) -> set[int]:
        """Record the outcomes and release the permits; the runs still open.
        ``then(counts)`` runs last in the same transaction and moves the runs'
        counters itself (``record_many``'s ``counts``): the dispatcher closes
        its runs there, in the statement that counts their messages."""
        broken = [*broken, *self.broken]
        done = {r.delivery_id for r in results} | {pk for pk, _error in broken}
        left = [pk for pk in self.run_of if pk not in done]
        counts: dict[int, tuple[int, int]] | None = {} if then is not None else None
        with transaction.atomic():
            record_many(self.run_of, self.token, results, broken, self.locales, counts=counts)
            still = barrier.still_open(set(self.run_of.values()))
            closed = set(self.run_of.values()) - still
            # Its configuration deactivated meanwhile: the rest fails, saying why.
            closed -= fail_for_inactive_configuration(closed, token=self.token)
            if closed:  # stopped meanwhile: what this batch did not send never will be
                Delivery.objects.filter(id__in=list(self.run_of), run_id__in=closed).filter(
                    Q(status=Delivery.Status.PENDING)
                    | Q(status=Delivery.Status.SENDING, claimed_by=self.token)
                ).update(status=Delivery.Status.CANCELLED, lease_expires_at=None)
            if left and still:  # not sent because the permit could not be renewed
                Delivery.objects.filter(
                    id__in=left,
                    run_id__in=still,
                    claimed_by=self.token,
                    status=Delivery.Status.SENDING,
                ).update(status=Delivery.Status.PENDING, claimed_by="", lease_expires_at=None)
            barrier.release(self.token)
            if then is not None:
                then(counts)
        return still


def claim_batch(runs: dict[int, Run], token: str, size: int) -> Batch | None:
    """Claim up to ``size`` due deliveries of those ``runs`` that may still send,
    with the permits to send them, in one short transaction that also applies
    the business rules. None when no run may send any more."""
    with transaction.atomic():
        open_runs = barrier.admit({rid: run.campaign_id for rid, run in runs.items()})
        if len(open_runs) < len(runs):  # a deactivated configuration sends nothing
            fail_for_inactive_configuration(set(runs) - open_runs)
        if not open_runs:
            return None
        claimed = claim_for_runs(sorted(open_runs), size, token, knob("ENGINE_LEASE_SECONDS"))
        return batch_of(claimed, runs, token)


def batch_of(claimed: list[tuple[int, int]], runs: dict[int, Run], token: str) -> Batch:
    """Inside the transaction that claimed the (delivery id, run id) pairs and
    admitted their runs: the business rules applied (what they hold back is
    never sent, what passes is counted: campaigns/engine/rules.py), then the
    batch with the permits to send it."""
    claimed, held_back = rules.hold_back(claimed, runs)
    batch = Batch(token, runs, dict(claimed))
    batch.held_back = held_back
    if claimed:
        campaigns = {runs[rid].campaign_id for _pk, rid in claimed}
        # The holder's permits were released with its last batch's outcomes.
        batch._granted(barrier.grant(campaigns, token))
        batch.look_at = 0.0
    return batch


def build_messages(run: Run, ids, token: str) -> tuple[list, list[tuple[int, str]]]:
    try:
        compiled_by_variant = {"": compiled_for(run)}
    except Exception as exc:  # a content that no longer compiles fails the batch, visibly
        return [], [(pk, f"render failed: {exc}"[:500]) for pk in ids]
    deliveries = plan.with_status(
        Delivery.objects.filter(id__in=list(ids), claimed_by=token), Delivery.Status.SENDING
    ).select_related("profile")
    messages, broken = [], []
    for delivery in deliveries:
        context = delivery.context if delivery.context is not None else run.context
        compiled = compiled_by_variant.get(delivery.variant)
        if compiled is None:  # an experiment's variant: compiled once per batch at most
            try:
                compiled = compiled_for(run, delivery.variant)
            except Exception as exc:
                compiled = f"render failed: {exc}"[:500]
            compiled_by_variant[delivery.variant] = compiled
        if isinstance(compiled, str):  # the variant's content does not compile
            broken.append((delivery.pk, compiled))
            continue
        # Rendered as the transport takes it (messaging.Deferred); a failure
        # fails that message alone (Batch.admitted).
        build = partial(_rendered, compiled, delivery, context, run.campaign.category)
        messages.append(messaging.Deferred(delivery.pk, build))
    return messages, broken


def _rendered(compiled, delivery: Delivery, context, category: str):
    rendered = compiled.render(profile=delivery.profile, context=context, delivery_id=delivery.pk)
    return messaging.outbound(delivery.pk, delivery.address, rendered, category)


def send_claimed(batch: Batch) -> bool:
    """Render, send and record one claimed batch of one run; False when the run
    may no longer send."""
    (run,) = {batch.runs[rid] for rid in batch.run_of.values()}
    messages, broken = build_messages(run, list(batch.run_of), batch.token)
    results = batch.send(run.version.channel_configuration, messages) if messages else []
    still = batch.finish(results, broken)
    beat(run.pk)
    return run.pk in still


def renew_lease(ids: list[int], token: str) -> set[int]:
    """Renew our lease on the batch and return the deliveries we still hold
    (rows whose lease expired may have been handed to another sender: skipped)."""
    table = Delivery._meta.db_table
    placeholders = ", ".join(["%s"] * len(ids))
    expires = now() + timedelta(seconds=knob("ENGINE_LEASE_SECONDS"))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET lease_expires_at = %s WHERE id IN ({placeholders})"
            f" AND claimed_by = %s AND {plan.STATUS} = 'sending' RETURNING id",
            [expires, *ids, token],
        )
        return {row[0] for row in cursor.fetchall()}


def record(run: Run, token: str, results: list, broken: list[tuple[int, str]]) -> None:
    """Write each outcome of one run's batch (see ``record_many``)."""
    run_of = {r.delivery_id: run.pk for r in results}
    run_of.update({pk: run.pk for pk, _error in broken})
    record_many(run_of, token, results, broken)


def record_many(
    run_of: dict[int, int],
    token: str,
    results: list,
    broken: list[tuple[int, str]],
    locales: dict[int, str] | None = None,
    *,
    counts: dict[int, tuple[int, int]] | None = None,
) -> None:
    """Write each outcome with a compare-and-set on our claim; move the counters
    of every run involved (``run_of``: delivery id → run id) in one UPDATE
    (one per language sent, when translations were: ``locales``), or, given
    ``counts``, leave them there (run id → (sent, failed)) for the caller to move."""
    moment = now()
    mine = plan.with_status(Delivery.objects.filter(claimed_by=token), Delivery.Status.SENDING)
    ok_ids = [r.delivery_id for r in results if r.ok]
    by_locale: dict[str, list[int]] = defaultdict(list)
    for pk in ok_ids:
        by_locale[(locales or {}).get(pk, "")].append(pk)
    sent = 0
    for locale, ids in by_locale.items():
        fields = {"locale": locale} if locale else {}
        sent += mine.filter(id__in=ids).update(
            status=Delivery.Status.SENT, sent_at=moment, lease_expires_at=None, **fields
        )
    sent_per_run: dict[int, int] = defaultdict(int)
    failed_per_run: dict[int, int] = defaultdict(int)
    sent_ids = ok_ids
    if sent != len(ok_ids):  # some were taken from us (lease expired): count only what we wrote
        sent_ids = list(
            Delivery.objects.filter(
                id__in=ok_ids, claimed_by=token, status=Delivery.Status.SENT, sent_at=moment
            ).values_list("id", flat=True)
        )
    for pk in sent_ids:
        sent_per_run[run_of[pk]] += 1
    # Outbound webhooks: the batch's events in one INSERT, in this transaction.
    webhook_events.deliveries("delivery.sent", sent_ids, moment)
    failed_ids: list[int] = []
    for delivery_id, error in broken:
        if mine.filter(id=delivery_id).update(
            status=Delivery.Status.FAILED, reason="render_error", error=error
        ):
            failed_per_run[run_of[delivery_id]] += 1
            failed_ids.append(delivery_id)
    max_attempts = knob("ENGINE_MAX_ATTEMPTS")
    base = knob("ENGINE_RETRY_BASE_SECONDS")
    for result in results:
        if result.ok:
            continue
        row = mine.filter(id=result.delivery_id)
        attempts = row.values_list("attempts", flat=True).first() or 0
        if result.permanent or attempts >= max_attempts:
            code = "rejected" if result.permanent else "retries_exhausted"
            if row.update(
                status=Delivery.Status.FAILED, reason=code, error=(result.reason or "")[:2000]
            ):
                failed_per_run[run_of[result.delivery_id]] += 1
                failed_ids.append(result.delivery_id)
        else:
            row.update(
                status=Delivery.Status.PENDING,
                claimed_by="",
                lease_expires_at=None,
                error=(result.reason or "")[:2000],
                send_after=moment + timedelta(seconds=base * 2 ** max(attempts - 1, 0)),
            )
    webhook_events.deliveries("delivery.failed", failed_ids, moment)
    changes = {
        rid: (sent_per_run[rid], failed_per_run[rid])
        for rid in set(sent_per_run) | set(failed_per_run)
        if (sent_per_run[rid], failed_per_run[rid]) != (0, 0)
    }
    if counts is not None:
        counts.update(changes)
    else:
        move_counters(changes)


def move_counters(changes: dict[int, tuple[int, int]]) -> None:
    """Add (sent, failed) to each run's counters: one UPDATE per distinct
    change, not one per run (a batch of triggers is a hundred runs that mostly
    moved by (1, 0))."""
    by_change: dict[tuple[int, int], list[int]] = defaultdict(list)
    for rid, change in changes.items():
        if change != (0, 0):
            by_change[change].append(rid)
    for (sent_n, failed_n), rids in by_change.items():
        Run.objects.filter(pk__in=rids).update(
            sent=F("sent") + sent_n, failed=F("failed") + failed_n
        )
