"""The trigger dispatcher: accepted API triggers → deliveries → provider, in batches.

A dispatcher is a django-q2 task that loops for a time budget:

1. claim up to ``ENGINE_DISPATCH_BATCH`` queued triggers (and at most
   ``ENGINE_DISPATCH_BATCH_BYTES`` of their recipients) under a lease
   (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's IMMEDIATE transactions
   serialize the same UPDATE), so any number of dispatchers on any number of
   hosts take disjoint batches;
2. prepare the unitary ones together: find the recipients' profiles in one
   query, create the profiles a campaign may create, decide eligibility for
   the whole batch in one query per channel and category, insert every delivery in one statement and open the runs for
   sending, all in one transaction that first checks the lease is still ours;
   when the batch's messages fit one send batch and every campaign may send,
   that transaction also admits them, inserts the deliveries already claimed
   and writes the send permits (``prepare_and_claim``): each delivery is then
   written once more, when its outcome is recorded;
3. send them: claim the deliveries with a send permit (unless step 2 did), render with each
   version's compiled templates, and send over one provider connection per
   channel configuration, checking the permit before each message like every
   other batch (campaigns/barrier.py), so a stop still means nothing is sent
   after it returns, and no lock is held while the provider answers;
4. close the runs that have nothing left.

Audience triggers are claimed the same way and handed to the ordinary run path.

Waking up: the request that accepted a trigger pushes a best-effort wake-up
(Redis) after its commit, and an idle dispatcher also polls every
``ENGINE_DISPATCH_POLL_MS``, so a lost push costs at most that long. Slots
(``ENGINE_DISPATCHERS``) bound how many dispatchers run at once; slot 0 is
resident, the others are started under a backlog and leave when idle. A slot is
a Redis key with a short expiry, or an ``flock`` held by the process on the
embedded default: a killed worker frees its slot within seconds, and the next
trigger (or the minute tick) starts a new dispatcher. Triggers it had claimed
are taken over when their lease expires; deliveries it had claimed, when theirs
does (each re-send counted as a possible duplicate on the run).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import select
import socket
import time
import uuid
from collections import defaultdict
from datetime import timedelta
from functools import partial
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from audiences.models import Audience, Profile
from audiences.selectors import annotate_eligibility, not_hidden_profiles
from campaigns import barrier, webhook_events
from campaigns.engine import messaging, plan
from campaigns.engine.clock import now
from campaigns.engine.conf import knob
from campaigns.engine.send import (
    Batch,
    batch_of,
    claim_batch,
    compiled_for,
    limits_for,
    move_counters,
)
from campaigns.models import CampaignVersion, Delivery, Run
from config.redis import namespaced, one_way, redis_client

logger = logging.getLogger(__name__)

TASK = "campaigns.tasks.dispatch"
_KINDS = (Run.Kind.API_UNITARY, Run.Kind.API_AUDIENCE)


def _token() -> str:
    return f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:16]}"


# ----------------------------------------------------------------- claiming

_CLAIM = """
UPDATE {run} SET status = 'materializing', claimed_by = %s, lease_expires_at = %s,
    started_at = COALESCE(started_at, %s)
WHERE id IN (
    SELECT id FROM {run}
    WHERE status = 'queued' AND kind IN ('api_unitary', 'api_audience')
        AND (scheduled_for IS NULL OR scheduled_for <= %s)
    ORDER BY id LIMIT %s {lock}
)
RETURNING id, {size}
"""

_TAKE_OVER = """
UPDATE {run} SET claimed_by = %s, lease_expires_at = %s
WHERE id IN (
    SELECT id FROM {run}
    WHERE status = 'materializing' AND kind = 'api_unitary' AND lease_expires_at < %s
    ORDER BY id LIMIT %s {lock}
)
RETURNING id, {size}
"""

# Claimed beyond a pass's byte budget: back to the queue as they were (the
# claim set started_at only where it was empty), or, taken over, expired again.
_GIVE_BACK = """
UPDATE {run} SET status = 'queued', claimed_by = '', lease_expires_at = NULL,
    started_at = CASE WHEN started_at = %s THEN NULL ELSE started_at END
WHERE claimed_by = %s AND {ids}
"""
_GIVE_BACK_TAKEN = "UPDATE {run} SET lease_expires_at = %s WHERE claimed_by = %s AND {ids}"


def claim_triggers(token: str, limit: int, *, expired: bool = False) -> list[int]:
    """Take up to ``limit`` due triggers (or, with ``expired``, a dead
    dispatcher's) under a lease; their run ids."""
    moment = now()
    adapt = connection.ops.adapt_datetimefield_value
    lease = adapt(moment + timedelta(seconds=knob("ENGINE_DISPATCH_LEASE_SECONDS")))
    postgres = connection.vendor == "postgresql"
    lock = "FOR UPDATE SKIP LOCKED" if postgres else ""
    # What ``_load`` will read (recipients with their contexts, an audience
    # trigger's context) as stored text, measured by the claim itself.
    length = "octet_length({}::text)" if postgres else "length({})"
    size = " + ".join(f"coalesce({length.format(c)}, 0)" for c in ("recipients", "context"))
    table = Run._meta.db_table
    if expired:
        sql = _TAKE_OVER.format(run=table, lock=lock, size=size)
        params = [token, lease, adapt(moment), limit]
    else:
        sql = _CLAIM.format(run=table, lock=lock, size=size)
        params = [token, lease, adapt(moment), adapt(moment), limit]
    # One statement: atomic on its own, without a BEGIN and a COMMIT around it.
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        claimed = sorted((row[0], row[1] or 0) for row in cursor.fetchall())
    taken = _within_bytes(claimed)
    if len(taken) < len(claimed):
        extra = [pk for pk, _size in claimed[len(taken) :]]
        give_back = _GIVE_BACK_TAKEN if expired else _GIVE_BACK
        sql = give_back.format(run=table, ids=_ids_sql("id"))
        with connection.cursor() as cursor:
            cursor.execute(sql, [adapt(moment), token, _ids_param(extra)])
    return taken


def _within_bytes(claimed: list[tuple[int, int]]) -> list[int]:
    """The first claimed triggers whose data fit in a pass's byte budget
    (at least one). A pass reads every recipient's context at once (``_load``,
    then the batch's deliveries): 100 triggers of 20 recipients with 200 KB of
    context each, which a manager's key may send, were 400 MB of JSON and
    gigabytes of Python objects in one worker (security review 13, #4)."""
    budget = knob("ENGINE_DISPATCH_BATCH_BYTES")
    taken, total = [], 0
    for pk, size in claimed:
        total += size
        if taken and total > budget:
            break
        taken.append(pk)
    return taken


# ----------------------------------------------------------------- preparing


def _resolve_profiles(runs: list[Run]) -> None:
    """Profile ids for the recipients accepted by identity alone (one SELECT
    per identity field for the whole batch); profiles created for campaigns
    that create them (rare; one by one). A recipient whose profile is gone and
    may not be created keeps no id: nothing is sent to it."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for run in runs:
        for recipient in run.recipients or []:
            if recipient.get("profileId") is None:
                wanted[recipient["field"]].add(recipient["value"])
    found: dict[tuple[str, str], int] = {}
    table = Profile._meta.db_table
    for field, values in wanted.items():
        if field not in _IDENTITIES:
            raise ValueError(f"not an identity field: {field}")
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, {field} FROM {table} WHERE {_values_sql(field)}",
                [_values_param(values)],
            )
            found.update(((field, value), pk) for pk, value in cursor.fetchall())
    # Accepted without a profile means the caller was answered as about an
    # unknown person: one known only through restricted audiences is not
    # looked up again here (nor "created", which would find them), or a key
    # whose owner may not see them reached them on a campaign that creates
    # profiles (twelfth review). The lean path accepts no such person.
    withheld = _hidden_to_anyone(set(found.values())) if found else set()
    for run in runs:
        creates = run.version.allow_profile_creation
        for recipient in run.recipients or []:
            if recipient.get("profileId") is not None:
                continue
            identity = (recipient["field"], recipient["value"])
            if found.get(identity) in withheld:
                continue  # keeps no id: nothing is sent to it
            if identity not in found and creates:
                lookup = {recipient["field"]: recipient["value"]}
                try:
                    with transaction.atomic():
                        profile, _created = Profile.objects.get_or_create(**lookup)
                except IntegrityError:  # created meanwhile by someone else
                    profile = Profile.objects.filter(**lookup).first()
                if profile is not None:
                    found[identity] = profile.pk
            recipient["profileId"] = found.get(identity)


_IDENTITIES = frozenset({"email", "phone", "profile_id", "push_token"})


def _hidden_to_anyone(ids: set[int]) -> set[int]:
    """Those of ``ids`` known only through restricted audiences (hidden from
    whoever is not granted one: audiences/selectors.py); one statement, none
    without a restricted audience."""
    from audiences.selectors import hidden_profiles

    hidden = hidden_profiles(None)
    if hidden is None:
        return set()
    return set(hidden.filter(pk__in=ids).values_list("pk", flat=True))


def _values_sql(column: str) -> str:
    """``column`` among the text values of one parameter."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s::text[])"
    return f"{column} IN (SELECT value FROM json_each(%s))"


def _ids_sql(column: str) -> str:
    """``column`` among the ids of one parameter (see ``_ids_param``): the same
    statement text for any number of ids."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s::bigint[])"
    return f"{column} IN (SELECT value FROM json_each(%s))"


def _ids_param(ids) -> str:
    """Integer ids as one text parameter: an array literal (PostgreSQL) or a
    JSON list (SQLite). psycopg adapts a Python list element by element, five
    times slower than joining the digits."""
    if connection.vendor == "postgresql":
        return "{" + ",".join(str(int(pk)) for pk in ids) + "}"
    return json.dumps([int(pk) for pk in ids])


def _values_param(values) -> str:
    """Text values as one parameter (``_values_sql``): an array literal, each
    element quoted (PostgreSQL; see ``_ids_param``), or a JSON list (SQLite)."""
    if connection.vendor == "postgresql":
        return "{" + ",".join(_array_element(str(v)) for v in values) + "}"
    return json.dumps(list(values))


def _array_element(value: str) -> str:
    """``value`` as a quoted element of a PostgreSQL array literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


_ELIGIBLE: dict[tuple, tuple[str, list, int]] = {}


def _eligible_rows(ids: set[int], channel: str, category: str) -> tuple[list, bool]:
    """(id, address, exclusion reason) of the profiles ``ids`` as the sender
    sees them (``annotate_eligibility``), and whether any audience is
    restricted, in one statement. The statement is built by the ORM once per
    process and kind of campaign, then run with the ids as one parameter: a
    pass over a few triggers spent more building it than the database running it."""
    key = (connection.vendor, channel, category)
    if key not in _ELIGIBLE:
        from django.db.models import Exists, Value
        from django.db.models.expressions import RawSQL

        marker = object()
        profiles = Profile.objects.filter(pk__in=RawSQL(f"SELECT {_ids_select()}", [marker]))
        query = (
            annotate_eligibility(profiles, channel=channel, category=category)
            .annotate(any_restricted=Exists(Audience.objects.filter(restricted=Value(True))))
            .values_list("id", "address", "exclusion_reason", "any_restricted")
            .order_by()
            .query
        )
        sql, params = query.sql_with_params()
        _ELIGIBLE[key] = (sql, list(params), next(i for i, p in enumerate(params) if p is marker))
    sql, params, at = _ELIGIBLE[key]
    params = [*params[:at], _ids_param(ids), *params[at + 1 :]]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [row[:3] for row in rows], any(row[3] for row in rows)


def _ids_select() -> str:
    if connection.vendor == "postgresql":
        return "unnest(%s::bigint[])"
    return "value FROM json_each(%s)"


def _writers(campaign) -> tuple:
    """The ids of whoever wrote ``campaign``: its owner, then its editors."""
    return (campaign.created_by_id, *(campaign.editors or []))


def _eligibility(runs: list[Run]) -> dict[tuple, dict[int, tuple]]:
    """(channel, category, writer ids) → profile id → (address, exclusion
    reason): one query each. A profile the campaign's owner or one of its
    editors could not see (known only through restricted audiences,
    audiences/selectors.py) is left out, as from a rule audience: the trigger
    is not sent to it."""
    from django.contrib.auth import get_user_model

    wanted: dict[tuple, set[int]] = defaultdict(set)
    for run in runs:
        key = (run.campaign.channel, run.campaign.category, _writers(run.campaign))
        wanted[key].update(
            r["profileId"] for r in run.recipients or [] if r.get("profileId") is not None
        )
    # Most installations restrict no audience: one statement per kind of
    # campaign answers for every owner, and says whether that still holds.
    found, restricted = {}, False
    for channel, category in {(key[0], key[1]) for key in wanted}:
        ids = set().union(*(v for k, v in wanted.items() if k[:2] == (channel, category)))
        rows, any_restricted = _eligible_rows(ids, channel, category) if ids else ([], False)
        if any_restricted:
            restricted = True
            break
        table = {pk: (address, reason) for pk, address, reason in rows}
        for key, wanted_ids in wanted.items():
            if key[:2] == (channel, category):
                found[key] = {pk: table[pk] for pk in wanted_ids if pk in table}
    if not restricted:
        return found
    user_ids = {pk for key in wanted for pk in key[2] if pk is not None}
    users = get_user_model().objects.in_bulk(user_ids) if user_ids else {}
    found = {}
    for (channel, category, writers), ids in wanted.items():
        profiles = Profile.objects.filter(pk__in=ids)
        for writer in writers:
            reader = users.get(writer) if writer is not None else None
            if reader is None or not reader.is_superuser:
                profiles = not_hidden_profiles(reader, profiles)
        rows = annotate_eligibility(profiles, channel=channel, category=category).values_list(
            "id", "address", "exclusion_reason"
        )
        found[(channel, category, writers)] = {pk: (a, reason) for pk, a, reason in rows}
    return found


def prepare_unitary(runs: list[Run], token: str) -> list[Run]:
    """Deliveries for a batch of unitary triggers; the runs now open for sending."""
    return _prepare(runs, token, claim=False)[0]


def prepare_and_claim(runs: list[Run], token: str) -> tuple[list[Run], Batch | None]:
    """``prepare_unitary``, and in the same transaction the first batch of the
    runs that send unthrottled, claimed as ``send.claim_batch`` would claim it:
    their deliveries are inserted already claimed, with the permits to send
    them and the business rules applied. None when that cannot hold the whole
    batch at once (a campaign that may no longer send, more messages than a
    batch): the ordinary claim then takes them."""
    return _prepare(runs, token, claim=True)


def _prepare(runs: list[Run], token: str, *, claim: bool) -> tuple[list[Run], Batch | None]:
    if not runs:
        return [], None
    _resolve_profiles(runs)
    eligible = _eligibility(runs)
    deliveries: dict[int, list[tuple]] = {}
    for run in runs:
        table = eligible[(run.campaign.channel, run.campaign.category, _writers(run.campaign))]
        planned, seen = [], set()
        for recipient in run.recipients or []:
            pk = recipient.get("profileId")
            if pk is None or pk in seen or pk not in table:
                continue  # erased since it was accepted, hidden, or the same person twice
            seen.add(pk)
            address, reason = table[pk]
            status = Delivery.Status.EXCLUDED if reason else Delivery.Status.PENDING
            context = recipient.get("context") or {}
            planned.append((run.pk, pk, status, reason or "", address or "", context))
        deliveries[run.pk] = planned
    table = Run._meta.db_table
    lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
    batch = None
    with transaction.atomic():
        if claim:  # the gates before the runs, as a stop takes them (barrier.enter)
            barrier.enter(r.campaign_id for r in runs)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {table} WHERE claimed_by = %s AND status || '' = 'materializing'"
                f" AND {_ids_sql('id')}{lock}",  # status || '': engine/plan.py
                [token, _ids_param(r.pk for r in runs)],
            )
            held = {row[0] for row in cursor.fetchall()}
        mine = [r for r in runs if r.pk in held]
        if not mine:
            return [], None
        # One UPDATE per distinct (targeted, excluded): most triggers are (1, 0).
        by_counts: dict[tuple[int, int], list[int]] = defaultdict(list)
        for run in mine:
            planned = deliveries[run.pk]
            excluded = sum(row[2] == Delivery.Status.EXCLUDED for row in planned)
            by_counts[(len(planned), excluded)].append(run.pk)
        for (targeted, excluded), ids in by_counts.items():
            # The contexts now live on the deliveries: the trigger keeps none of them.
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} SET status = 'sending', recipients = NULL, claimed_by = '',"
                    f" lease_expires_at = NULL, targeted = %s, excluded = %s WHERE {_ids_sql('id')}",
                    [targeted, excluded, _ids_param(ids)],
                )
        if claim:
            batch = _insert_claimed(mine, deliveries, token)
        if batch is None:
            insert_deliveries([row for r in mine for row in deliveries[r.pk]])
    for run in mine:
        run.status = Run.Status.SENDING
    return mine, batch


def _insert_claimed(mine: list[Run], deliveries: dict[int, list[tuple]], token: str):
    """Inside ``_prepare``'s transaction, the runs now sending: the unthrottled
    runs' deliveries inserted claimed by ``token`` — what ``send.claim_batch``
    would do after inserting them pending, without writing each delivery
    twice. None, with nothing written, when it would not claim them all."""
    fast = {r.pk: r for r in mine if not limits_for(r)}
    to_claim = [row for pk in fast for row in deliveries[pk] if row[2] == Delivery.Status.PENDING]
    if not to_claim or len(to_claim) > knob("ENGINE_BATCH_SIZE"):
        return None
    if barrier.admit({pk: r.campaign_id for pk, r in fast.items()}) != set(fast):
        return None  # claim_batch fails or leaves the closed ones (and knows why)
    insert_deliveries(
        [
            row
            for r in mine
            for row in deliveries[r.pk]
            if r.pk not in fast or row[2] != Delivery.Status.PENDING
        ]
    )
    lease = now() + timedelta(seconds=knob("ENGINE_LEASE_SECONDS"))
    claimed = insert_deliveries(to_claim, claimed_by=token, lease=lease)
    return batch_of(sorted(claimed), fast, token)


def insert_deliveries(
    rows: list[tuple], *, claimed_by: str = "", lease=None
) -> list[tuple[int, int]]:
    """(run, profile, status, reason, address, context) rows in multi-row INSERTs
    (``bulk_create`` spent more building a hundred model instances and binding
    their parameters than the database spent storing them). With
    ``claimed_by``, the rows are pending ones inserted as that claim's (sending,
    first attempt, leased until ``lease``); their (id, run id) pairs."""
    if not rows:
        return []
    table = Delivery._meta.db_table
    columns = (
        "run_id, profile_id, status, reason, address, context, error, attempts, claimed_by,"
        " lease_expires_at"
    )
    attempts = 1 if claimed_by else 0
    lease = connection.ops.adapt_datetimefield_value(lease) if claimed_by else None
    returning = " RETURNING id, run_id" if claimed_by else ""
    if claimed_by:
        rows = [(r, p, Delivery.Status.SENDING, re, a, c) for r, p, _s, re, a, c in rows]
    found: list[tuple[int, int]] = []
    if connection.vendor == "postgresql":
        # One statement of one JSON parameter, whatever the batch's size (one
        # json.dumps: psycopg adapts array parameters element by element).
        sql = (
            f"INSERT INTO {table} ({columns})"
            " SELECT t.r, t.p, t.s, t.re, t.a, t.c, '', %s, %s, %s"
            " FROM jsonb_to_recordset(%s::jsonb)"
            " AS t(r bigint, p bigint, s text, re text, a text, c jsonb)"
            f" ON CONFLICT (run_id, profile_id) DO NOTHING{returning}"
        )
        records = [{"r": r, "p": p, "s": s, "re": re, "a": a, "c": c} for r, p, s, re, a, c in rows]
        with connection.cursor() as cursor:
            cursor.execute(sql, [attempts, claimed_by, lease, json.dumps(records)])
            if claimed_by:
                found = cursor.fetchall()
        return [tuple(row) for row in found]
    one = "(%s, %s, %s, %s, %s, %s, '', %s, %s, %s)"
    for start in range(0, len(rows), 100):  # SQLite: at most 999 parameters a statement
        chunk = rows[start : start + 100]
        sql = (
            f"INSERT INTO {table} ({columns}) VALUES {', '.join([one] * len(chunk))}"
            f" ON CONFLICT (run_id, profile_id) DO NOTHING{returning}"
        )
        params = [
            value
            for run_id, profile_id, status, reason, address, context in chunk
            for value in (
                run_id,
                profile_id,
                status,
                reason,
                address,
                json.dumps(context),
                attempts,
                claimed_by,
                lease,
            )
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            if claimed_by:
                found += [tuple(row) for row in cursor.fetchall()]
    return found


# ----------------------------------------------------------------- sending


def send_runs(runs: list[Run], token: str, *, first: Batch | None = None) -> None:
    """Send every pending delivery of ``runs`` (unthrottled), batch by batch,
    then close the runs with nothing left. ``first``: a batch of theirs
    already claimed (``prepare_and_claim``).

    A claim that found fewer due deliveries than it asked for was the last:
    its batch is recorded and the runs closed in one transaction, without
    another claim to learn that nothing is left (a pass over a few triggers
    is mostly its fixed round trips).
    """
    by_id = {r.pk: r for r in runs}
    size = knob("ENGINE_BATCH_SIZE")
    while True:
        batch, first = (
            (first, None) if first is not None else (claim_batch(by_id, token, size), None)
        )
        if batch is None or not (batch.run_of or batch.held_back):
            finish_runs(list(by_id))
            return
        last = len(batch.run_of) + batch.held_back < size
        if batch.run_of:
            _send_claimed(batch, close=list(by_id) if last else None)
        elif last:
            finish_runs(list(by_id))
        if last:
            return


def _send_claimed(batch: Batch, *, close: list[int] | None = None) -> None:
    """Render with each version's compiled templates, send over one provider
    connection per channel configuration, record (see send.Batch) and, with
    ``close``, close those runs in the same transaction."""
    rows = plan.with_status(
        Delivery.objects.filter(id__in=list(batch.run_of), claimed_by=batch.token),
        Delivery.Status.SENDING,
    ).select_related("profile")
    messages: dict[int | None, list] = defaultdict(list)  # configuration → messages
    configs = {}
    for delivery in rows:
        run = batch.runs[batch.run_of[delivery.pk]]
        config_id = run.version.channel_configuration_id
        configs[config_id] = run.version.channel_configuration
        # Rendered as the transport takes it (messaging.Deferred).
        messages[config_id].append(messaging.Deferred(delivery.pk, partial(_render, run, delivery)))
    results = []
    for config_id, group in messages.items():
        results += batch.send(configs[config_id], group)
    batch.finish(results, [], then=partial(finish_runs, close) if close else None)


def _render(run: Run, delivery: Delivery):
    """One trigger's message, rendered with its version's compiled templates."""
    rendered = compiled_for(run).render(
        profile=delivery.profile,
        context=delivery.context if delivery.context is not None else run.context,
        delivery_id=delivery.pk,
    )
    return messaging.outbound(delivery.pk, delivery.address, rendered, run.campaign.category)


# Statements that name their runs by id test ``status || ''`` (engine/plan.py).
_FINISH = """
UPDATE {run} SET status = 'completed', finished_at = %s
WHERE {runs} AND status || '' = 'sending' AND NOT EXISTS (
    SELECT 1 FROM {delivery} d WHERE d.run_id = {run}.id AND d.status IN ('pending', 'sending')
)
RETURNING id
"""


# PostgreSQL: the last batch's counters and the runs' closing in one statement,
# so that each run is written once, not twice (every write of a run is a new
# row version in each of its indexes: status is indexed).
_COUNT_AND_FINISH = """
UPDATE {run} SET sent = {run}.sent + d.s, failed = {run}.failed + d.f,
    status = CASE WHEN {closing} THEN 'completed' ELSE {run}.status END,
    finished_at = CASE WHEN {closing} THEN %s ELSE {run}.finished_at END
FROM jsonb_to_recordset(%s::jsonb) AS d(i bigint, s integer, f integer)
WHERE {run}.id = d.i
RETURNING {run}.id, {run}.status = 'completed' AND {run}.finished_at = %s
"""

_CLOSING = """({run}.status = 'sending' AND NOT EXISTS (
    SELECT 1 FROM {delivery} x WHERE x.run_id = {run}.id AND x.status IN ('pending', 'sending')
))"""


def finish_runs(run_ids: list[int], counts: dict[int, tuple[int, int]] | None = None) -> list[int]:
    """Close the runs with nothing pending or in flight; their ids. With
    ``counts`` (run id → (sent, failed), ``send.record_many``), move those
    runs' counters first."""
    if not run_ids:
        return []
    if counts is not None and connection.vendor == "postgresql":
        return _count_and_finish(run_ids, counts)
    if counts:
        move_counters(counts)
    sql = _FINISH.format(
        run=Run._meta.db_table, delivery=Delivery._meta.db_table, runs=_ids_sql("id")
    )
    moment = now()
    # Inside a batch's record (``send_runs``): part of its transaction, no savepoint.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(sql, [connection.ops.adapt_datetimefield_value(moment), _ids_param(run_ids)])
        finished = [row[0] for row in cursor.fetchall()]
        webhook_events.executions_completed(finished, moment)
    return finished


def _count_and_finish(run_ids: list[int], counts: dict[int, tuple[int, int]]) -> list[int]:
    table = Run._meta.db_table
    closing = _CLOSING.format(run=table, delivery=Delivery._meta.db_table)
    sql = _COUNT_AND_FINISH.format(run=table, closing=closing)
    moment = now()
    at = connection.ops.adapt_datetimefield_value(moment)
    rows = [
        {"i": rid, "s": counts.get(rid, (0, 0))[0], "f": counts.get(rid, (0, 0))[1]}
        for rid in {*run_ids, *counts}
    ]
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(sql, [at, json.dumps(rows), at])
        finished = sorted(pk for pk, closed in cursor.fetchall() if closed)
        webhook_events.executions_completed(finished, moment)
    return finished


# ----------------------------------------------------------------- one pass


_versions: dict[int, tuple[float, CampaignVersion]] = {}
VERSION_SECONDS = 5.0


def _load(run_ids: list[int], token: str) -> list[Run]:
    """The claimed runs, each with its version, campaign and configuration.

    A batch of triggers is mostly runs of a few versions: those are read once
    per few seconds per process, not once per run (status checks never rely on
    them: the send gate reads the campaign and run statuses afresh).
    """
    table = Run._meta.db_table
    runs = list(
        Run.objects.raw(
            f"SELECT id, kind, status, campaign_id, version_id, recipients, context FROM {table}"
            f" WHERE claimed_by = %s AND {_ids_sql('id')} ORDER BY id",
            [token, _ids_param(run_ids)],
        )
    )
    moment = time.monotonic()
    stale = {
        r.version_id
        for r in runs
        if r.version_id not in _versions or moment - _versions[r.version_id][0] > VERSION_SECONDS
    }
    if stale:
        if len(_versions) > 1000:
            _versions.clear()
        for version in CampaignVersion.objects.select_related(
            "campaign", "channel_configuration"
        ).filter(pk__in=stale):
            _versions[version.pk] = (moment, version)
    for run in runs:
        version = _versions[run.version_id][1]
        run.version = version
        run.campaign = version.campaign
    return runs


def dispatch_batch(token: str | None = None, *, expired: bool = False) -> int:
    """One pass: claim, prepare, send and close a batch of triggers; how many."""
    from campaigns.engine import runs as run_life

    token = token or _token()
    run_ids = claim_triggers(token, knob("ENGINE_DISPATCH_BATCH"), expired=expired)
    if not run_ids:
        return 0
    loaded = _load(run_ids, token)
    unitary = [r for r in loaded if r.kind == Run.Kind.API_UNITARY]
    for run in loaded:
        if run.kind == Run.Kind.API_AUDIENCE:
            # An audience can be large: the ordinary run path materializes it in
            # one INSERT … SELECT and its senders share the work.
            if run_life.start_run(run.pk):
                run_life.enqueue_senders(run.pk, 1)
    opened, first = prepare_and_claim(unitary, token)
    fast, throttled = [], []
    for run in opened:
        (throttled if limits_for(run) else fast).append(run)
    for run in throttled:  # the per-run sender keeps the rate
        run_life.enqueue_senders(run.pk, 1)
    if fast:
        send_runs(fast, token, first=first)
    return len(run_ids)


# ----------------------------------------------------------------- the loop


class _Slot:
    """One of ``ENGINE_DISPATCHERS`` places for a running dispatcher."""

    TTL = 3  # seconds a killed dispatcher keeps its Redis slot

    def __init__(self, index: int, handle) -> None:
        self.index = index
        self.handle = handle
        self.renewed = time.monotonic()

    def renew(self) -> None:
        client = redis_client()
        if client is not None and time.monotonic() - self.renewed > 1:
            client.set(_slot_key(self.index), self.handle, ex=self.TTL)
            self.renewed = time.monotonic()

    def release(self) -> None:
        client = redis_client()
        if client is not None:
            if client.get(_slot_key(self.index)) == self.handle.encode():
                client.delete(_slot_key(self.index))
        else:
            os.close(self.handle)


def _slot_key(index: int) -> str:
    return namespaced(f"dispatcher:{index}")


def _slot_path(index: int) -> Path:
    path = Path(settings.VAR_DIR) / "dispatch" / settings.Q_CLUSTER.get("name", "volley")
    path.mkdir(parents=True, exist_ok=True)
    return path / f"slot-{index}.lock"


def acquire_slot() -> _Slot | None:
    client = redis_client()
    for index in range(max(knob("ENGINE_DISPATCHERS"), 1)):
        if client is not None:
            handle = _token()
            if client.set(_slot_key(index), handle, ex=_Slot.TTL, nx=True):
                return _Slot(index, handle)
            continue
        fd = os.open(_slot_path(index), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return _Slot(index, fd)
    return None


def resident_alive() -> bool:
    """Is a dispatcher holding slot 0 (the resident one)?"""
    client = redis_client()
    if client is not None:
        return bool(client.exists(_slot_key(0)))
    fd = os.open(_slot_path(0), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also releases the lock if we took it
    return False


_last_start = [0.0]


def start_dispatcher(*, force: bool = False) -> None:
    """Enqueue a dispatcher task (at most one a second from this process)."""
    from campaigns.engine.runs import enqueue

    moment = time.monotonic()
    if not force and moment - _last_start[0] < 1.0:
        return
    _last_start[0] = moment
    enqueue(TASK, task_name="dispatch")


_resident_seen = [-1.0]  # when this process last saw the resident dispatcher
_last_push = [-1.0]
# A push this recent from this process is still waiting in the list, or its
# dispatcher is still in the pass that follows it: skip the round trip.
PUSH_DEBOUNCE = 0.005


def notify() -> None:
    """After a trigger committed: wake a dispatcher, start one if none runs.

    Best effort: a failure here delays the trigger by one poll, never loses it.
    At most one Redis command per trigger, sent without waiting for its reply;
    whether the resident dispatcher is alive is looked at by each process at
    most once a second.
    """
    try:
        moment = time.monotonic()
        client = redis_client()
        if client is None:
            _poke_fifo()
        elif moment - _last_push[0] > PUSH_DEBOUNCE:
            # Without waiting for Redis's answer (config/redis.py, OneWay).
            one_way.send("LPUSH", namespaced("dispatch:wake"), 1)
            _last_push[0] = moment
        if moment - _resident_seen[0] < 1.0:
            return
        if resident_alive():
            _resident_seen[0] = moment
        else:
            start_dispatcher()
    except Exception:  # noqa: BLE001 — the dispatcher polls: nothing is lost
        logger.warning("Could not wake the trigger dispatcher", exc_info=True)


def _fifo_path() -> Path:
    return _slot_path(0).with_name("wake.fifo")


def _poke_fifo() -> None:
    """Embedded default: one byte into the dispatchers' FIFO, if one listens."""
    try:
        fd = os.open(_fifo_path(), os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # no FIFO yet, or no dispatcher reading it: it polls anyway
        return
    try:
        os.write(fd, b"1")
    except BlockingIOError:  # full: plenty of wake-ups are waiting already
        pass
    finally:
        os.close(fd)


_fifo_fd: dict[int, int] = {}


def _fifo_reader() -> int:
    pid = os.getpid()
    if pid not in _fifo_fd:
        path = _fifo_path()
        try:
            os.mkfifo(path, 0o600)
        except FileExistsError:
            pass
        # Read-write, so the FIFO never reports end-of-file when no writer is open.
        _fifo_fd.clear()
        _fifo_fd[pid] = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    return _fifo_fd[pid]


def _wait(seconds: float) -> None:
    """Sleep until woken by a trigger's commit, or ``seconds`` at most."""
    client = redis_client()
    if client is not None:
        key = namespaced("dispatch:wake")
        if client.blpop([key], timeout=max(seconds, 0.01)):
            client.delete(key)  # one wake-up is enough for every trigger before it
        return
    fd = _fifo_reader()
    ready, _w, _x = select.select([fd], [], [], seconds)
    if ready:
        try:
            os.read(fd, 4096)
        except BlockingIOError:
            pass


def run_dispatcher() -> None:
    """The dispatcher task: loop over batches for a time budget (see above)."""
    from django_q.conf import Conf

    if Conf.SYNC:
        # django-q2's sync mode runs a task inside the caller: one pass over
        # what is queued now, never a resident loop that would hold the caller.
        while dispatch_batch():
            pass
        return
    slot = acquire_slot()
    if slot is None:
        return
    token = _token()
    budget = time.monotonic() + knob("ENGINE_DISPATCH_BUDGET_SECONDS")
    poll = knob("ENGINE_DISPATCH_POLL_MS") / 1000
    full = knob("ENGINE_DISPATCH_BATCH")
    idle_since = time.monotonic()
    next_takeover = next_look = 0.0
    try:
        while time.monotonic() < budget:
            if time.monotonic() >= next_look:
                if _cluster_stopping():
                    return  # the cluster waits for its tasks: leave at once
                next_look = time.monotonic() + 1
            slot.renew()
            if time.monotonic() >= next_takeover:
                _recover(token)
                next_takeover = time.monotonic() + 5
            done = dispatch_batch(token)
            if done:
                idle_since = time.monotonic()
                if done >= full:
                    start_dispatcher()  # a backlog: another slot may help
                continue
            if slot.index > 0 and time.monotonic() - idle_since > 2:
                return  # a helper leaves when the backlog is gone
            _wait(poll)
    finally:
        slot.release()
        connection.close_if_unusable_or_obsolete()
    if slot.index == 0 and not _cluster_stopping():
        start_dispatcher(force=True)  # hand over to a fresh task


def _cluster_stopping() -> bool:
    """Is the cluster running this task shutting down? (Its sentinel, our parent
    process, publishes its status; a stopping cluster waits for every task.)"""
    from django_q.conf import Conf
    from django_q.status import Stat

    from campaigns.engine.runs import _broker

    try:
        parent = os.getppid()
        for stat in Stat.get_all(broker=_broker()):
            if stat.sentinel == parent:
                return stat.status == Conf.STOPPING
    except Exception:  # noqa: BLE001 — unknown: keep working, the budget ends it
        logger.debug("Could not read the cluster's status", exc_info=True)
    return False


def _recover(token: str) -> None:
    """Take over what dead dispatchers left: claimed triggers, claimed
    deliveries, and opened runs whose deliveries nobody is sending."""
    from campaigns.engine.claim import reclaim_expired

    while dispatch_batch(token, expired=True):
        pass
    reclaim_expired(kinds=[Run.Kind.API_UNITARY])
    orphans = [
        run
        for run in Run.objects.select_related(
            "campaign", "version", "version__channel_configuration"
        )
        .filter(
            kind=Run.Kind.API_UNITARY,
            status=Run.Status.SENDING,
            deliveries__status=Delivery.Status.PENDING,
        )
        .distinct()
        .order_by("pk")[: knob("ENGINE_DISPATCH_BATCH")]
        if not limits_for(run)  # throttled runs have their own senders
    ]
    if orphans:
        send_runs(orphans, token)


def ensure_dispatcher() -> None:
    """From the minute tick: a dispatcher must be running."""
    if not resident_alive():
        start_dispatcher(force=True)
