"""API-triggered runs (SPEC §7): accepted by one guarded INSERT, sent by the dispatcher.

Accepting a trigger is one statement: ``INSERT … SELECT … WHERE`` the campaign
is live, API-triggered and inside its window, and the API key is still active,
``ON CONFLICT (campaign, requestId) DO NOTHING RETURNING id``. So:

* accepted means committed: the 202 is given only once the row exists, and it
  does not depend on the broker (the dispatcher finds the row without a push);
* a campaign stopped, or a key revoked, before that statement runs refuses the
  trigger, whatever this process remembered about either;
* a repeated ``requestId`` — even two at the same instant — inserts nothing and
  answers the first trigger's answer, byte for byte (the answer is derived from
  the row's own columns, all written by that one statement).

Everything else — creating profiles, eligibility, deliveries, rendering,
sending — happens in the cluster (campaigns/engine/dispatch.py).
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connection, connections
from django.utils.translation import gettext as _

from accounts.models import ApiKey
from audiences.models import Profile
from audiences.services import normalize_identity
from campaigns.engine.clock import now
from campaigns.models import Campaign, CampaignStatus, CampaignType, CampaignVersion, Run
from config.problems import DomainError

MAX_CONTEXT_BYTES = 200 * 1024
NAMESPACE_FIELDS = {
    "email": "email",
    "phone": "phone",
    "profile_id": "profile_id",
    "push_token": "push_token",
}
# How long a web process trusts what it read about a campaign before it reads
# again. Only for answering early: the INSERT re-checks everything it guards.
SNAPSHOT_SECONDS = 2.0


class ExecutionRefused(DomainError):
    """A trigger that may not be accepted now, for one of the reasons below
    (campaigns/apps.py registers each with config/problems.py, which answers it)."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class TriggerNotAllowed(ExecutionRefused):
    """The campaign may not be triggered now (status, dates, audience, a race)."""


class CampaignGone(ExecutionRefused):
    """No such campaign (any more), or not one the caller may see."""


class KeyRevoked(ExecutionRefused):
    """The API key was revoked (or its user deactivated) meanwhile."""


class KeyStale(TriggerNotAllowed):
    """What the key's owner may do changed since this process remembered the key
    (``ApiKey.auth_version``): check the permissions again, then retry once."""


@dataclass
class Recipient:
    user_id: str
    namespace: str
    context: dict


def context_too_large(context) -> bool:
    return len(json.dumps(context or {}, separators=(",", ":")).encode()) > MAX_CONTEXT_BYTES


# ----------------------------------------------------------------- snapshots


@dataclass(frozen=True)
class CampaignSnapshot:
    """What a trigger needs to know about a campaign, as last read by this process."""

    id: int
    type: str
    status: str
    restricted: bool
    live_version_id: int | None
    start_at: datetime | None
    end_at: datetime | None
    audience_id: int | None
    allow_profile_creation: bool
    read_at: float


_snapshots: dict[int, CampaignSnapshot] = {}


def campaign_snapshot(campaign_id: int, *, fresh: bool = False) -> CampaignSnapshot | None:
    moment = time.monotonic()
    snap = _snapshots.get(campaign_id)
    if snap is not None and not fresh and moment - snap.read_at < SNAPSHOT_SECONDS:
        return snap
    row = (
        Campaign.objects.filter(pk=campaign_id)
        .values_list(
            "type",
            "status",
            "restricted",
            "live_version_id",
            "live_version__start_at",
            "live_version__end_at",
            "live_version__audience_id",
            "live_version__allow_profile_creation",
        )
        .first()
    )
    if row is None:
        _snapshots.pop(campaign_id, None)
        return None
    if len(_snapshots) > 4096:
        _snapshots.clear()
    snap = _snapshots[campaign_id] = CampaignSnapshot(campaign_id, *row[:7], bool(row[7]), moment)
    return snap


def forget_snapshots() -> None:
    _snapshots.clear()


def refusal(snap: CampaignSnapshot, *, audience: bool, moment: datetime) -> str | None:
    """Why the campaign may not be triggered now (409's detail), or None."""
    if snap.type != CampaignType.API_TRIGGERED:
        return _("The campaign is not API-triggered.")
    if snap.status != CampaignStatus.LIVE or snap.live_version_id is None:
        return _("The campaign is %(status)s, not live.") % {"status": snap.status}
    if snap.start_at and moment < snap.start_at:
        return _("The campaign's start date has not been reached.")
    if snap.end_at and moment >= snap.end_at:
        return _("The campaign's end date has passed.")
    if audience and snap.audience_id is None:
        return _("The campaign has no audience.")
    return None


def check_triggerable(campaign: Campaign, *, audience: bool = False) -> None:
    """409 with the reason unless ``campaign`` may be triggered now (read afresh)."""
    snap = campaign_snapshot(campaign.pk, fresh=True)
    reason = refusal(snap, audience=audience, moment=now()) if snap else _("Not found.")
    if reason:
        raise TriggerNotAllowed(reason)


# ----------------------------------------------------------------- recipients


def resolve(snap: CampaignSnapshot, recipients: list[Recipient], user=None) -> tuple[list, list]:
    """The recipients as the trigger stores them, and the rejected ones.

    One indexed SELECT finds the known profiles. Unknown recipients are
    rejected unless the campaign creates profiles (the dispatcher creates them);
    two recipients that are the same person are sent once.

    A profile hidden from ``user`` (the key's owner: known only through
    restricted audiences they may not see) is answered as an unknown one, byte
    for byte: SPEC §2 and §7 answer what a key may not see as what does not
    exist (404), and ``rejected: []`` both told "a profile hidden from me" from
    "no such profile" and promised a send the dispatcher never makes (review 8,
    finding 4). The SELECT says which profiles belong to a restricted audience;
    only then is the key's owner's visibility read (no statement otherwise).
    """
    normalized: list[tuple[Recipient, str, str | None]] = []
    # Each rejection's keys in the order PostgreSQL's jsonb keeps them (shorter
    # first, then bytewise): a replay, read back from the stored column, is
    # then the first answer byte for byte on every database.
    rejected: list[dict] = []
    wanted: dict[str, set[str]] = {}
    for recipient in recipients:
        field = NAMESPACE_FIELDS[recipient.namespace]
        try:
            value = normalize_identity(recipient.namespace, recipient.user_id)
        except ValueError:
            rejected.append({"reason": "invalid_identity", "userId": recipient.user_id})
            continue
        normalized.append((recipient, field, value))
        wanted.setdefault(field, set()).add(value)
    found = _known_profiles(wanted, user) if wanted else {}
    stored, seen = [], set()
    for recipient, field, value in normalized:
        profile_id = found.get((field, value))
        if profile_id is None and not snap.allow_profile_creation:
            rejected.append({"reason": "unknown_recipient", "userId": recipient.user_id})
            continue
        person = profile_id if profile_id is not None else (field, value)
        if person in seen:
            rejected.append({"reason": "duplicate", "userId": recipient.user_id})
            continue
        seen.add(person)
        stored.append(
            {
                "userId": recipient.user_id,
                "field": field,
                "value": value,
                "profileId": profile_id,
                "context": recipient.context or {},
            }
        )
    return stored, rejected


def _quick(recipient: Recipient) -> dict | None:
    """``recipient`` as stored without looking it up (the dispatcher resolves
    its profile), or None when its identity is invalid (the full path rejects it)."""
    try:
        value = normalize_identity(recipient.namespace, recipient.user_id)
    except ValueError:
        return None
    return {
        "userId": recipient.user_id,
        "field": NAMESPACE_FIELDS[recipient.namespace],
        "value": value,
        "profileId": None,
        "context": recipient.context or {},
    }


def _in_restricted(profile: str) -> str:
    """SQL: the profile (a column reference) is a member of a restricted audience."""
    from audiences.models import Audience, AudienceMember

    return (
        f"EXISTS (SELECT 1 FROM {AudienceMember._meta.db_table} m"
        f" JOIN {Audience._meta.db_table} a ON a.id = m.audience_id"
        f" WHERE m.profile_id = {profile} AND a.restricted)"
    )


def _known_profiles(wanted: dict[str, set[str]], user=None) -> dict[tuple[str, str], int]:
    """(field, value) → profile id of the known profiles ``user`` may see."""
    # Hand-written: building the equivalent ORM query cost more than running it.
    table = Profile._meta.db_table
    clauses, params = [], []
    for field, values in sorted(wanted.items()):
        clauses.append(f"{field} IN ({', '.join(['%s'] * len(values))})")
        params.extend(sorted(values))
    sql = (
        f"SELECT id, email, phone, profile_id, push_token, {_in_restricted(f'{table}.id')}"
        f" FROM {table} WHERE " + " OR ".join(clauses)
    )
    rows = _hot_query(sql, params, fetch="all")
    restricted = {row[0] for row in rows if row[-1]}
    hidden = _hidden_among(user, restricted) if restricted else set()
    found: dict[tuple[str, str], int] = {}
    for pk, *identities, _restricted in rows:
        if pk in hidden:
            continue  # answered as unknown (review 8, finding 4)
        fields = ("email", "phone", "profile_id", "push_token")
        for field, value in zip(fields, identities, strict=True):
            if value is not None:
                found[(field, value)] = pk
    return found


def _hidden_among(user, ids: set[int]) -> set[int]:
    """Those of ``ids`` hidden from ``user`` (audiences/selectors.py)."""
    from audiences.selectors import hidden_profiles

    hidden = hidden_profiles(user)
    if hidden is None:
        return set()
    return set(hidden.filter(pk__in=ids).values_list("pk", flat=True))


def _hot_query(sql: str, params: list, *, fetch: str):
    """Run one statement of the trigger path; ``fetch`` "one" or "all".

    PostgreSQL: on psycopg's own cursor, with server-side parameters and a
    prepared statement, so the server plans each statement once per connection
    instead of once per request (Django's cursor binds parameters client-side:
    planning the guarded INSERT cost more than running it). Errors are Django's,
    as through any other cursor.

    Django's connection health check (``CONN_HEALTH_CHECKS``) costs a ``SELECT 1``
    round trip before the first statement of every request. The trigger path's
    statements are safe to repeat (a read, or the INSERT guarded by the
    requestId), so here a connection that turns out broken is replaced and the
    statement run once more instead: the same guarantee without the round trip.
    """
    # The connection itself, not the ``connection`` proxy: each attribute read
    # through the proxy costs a thread-local look-up (the hot path reads a dozen).
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.in_atomic_block or conn.health_check_done:
        return _run_hot(conn, sql, params, fetch)
    conn.health_check_done = True
    try:
        return _run_hot(conn, sql, params, fetch)
    except (OperationalError, InterfaceError):
        if conn.is_usable():
            raise  # the statement failed, not the connection
        conn.close()
        return _run_hot(conn, sql, params, fetch)


def _run_hot(conn, sql: str, params: list, fetch: str):
    if conn.vendor != "postgresql":
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone() if fetch == "one" else cursor.fetchall()
    import psycopg

    if conn.connection is None:
        conn.ensure_connection()
    with conn.wrap_database_errors, psycopg.Cursor(conn.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchone() if fetch == "one" else cursor.fetchall()


# ----------------------------------------------------------------- accepting


@functools.cache
def _insert_sql(audience: bool, known: str | None = None) -> str:
    """The guarded INSERT; with ``known`` (an identity field) it also requires
    that a profile has that identity, unless the campaign creates profiles."""
    run, campaign, version = (
        Run._meta.db_table,
        Campaign._meta.db_table,
        CampaignVersion._meta.db_table,
    )
    key, user = ApiKey._meta.db_table, ApiKey._meta.get_field("user").related_model._meta.db_table
    json_param = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    # A profile in a restricted audience is not accepted here: the full path
    # reads whether the key's owner may see it (review 8, finding 4) — on a
    # campaign that creates profiles too, whose recipients were accepted here
    # unlooked-up and then found by the dispatcher, hidden or not (twelfth
    # review). One more indexed probe in the same statement.
    profile = Profile._meta.db_table
    known_guard = (
        f"AND ((v.allow_profile_creation AND NOT EXISTS "
        f"(SELECT 1 FROM {profile} p WHERE p.{known} = %s AND {_in_restricted('p.id')}))"
        f" OR EXISTS (SELECT 1 FROM {profile} p WHERE p.{known} = %s"
        f" AND NOT {_in_restricted('p.id')}))"
        if known
        else ""
    )
    return f"""
INSERT INTO {run} (campaign_id, version_id, kind, status, scheduled_for, request_id,
    context, recipients, rejected, error, targeted, excluded, sent, failed, duplicates,
    claimed_by, created_at)
SELECT c.id, c.live_version_id, %s, 'queued', %s, %s,
    {json_param}, {json_param}, {json_param}, '', 0, 0, 0, 0, 0, '', %s
FROM {campaign} c JOIN {version} v ON v.id = c.live_version_id
WHERE c.id = %s AND c.status = 'live' AND c.type = 'api_triggered' AND c.restricted = %s
    AND (v.start_at IS NULL OR v.start_at <= %s) AND (v.end_at IS NULL OR v.end_at > %s)
    {"AND v.audience_id IS NOT NULL" if audience else ""}
    {{known}}
    AND EXISTS (SELECT 1 FROM {key} k JOIN {user} u ON u.id = k.user_id
                WHERE k.id = %s AND k.auth_version = %s AND k.revoked_at IS NULL
                    AND u.is_active)
ON CONFLICT (campaign_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING id
""".replace("{known}", known_guard)


def _dump(value) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def answer(execution_id: int, request_id: str, created_at: datetime, rejected) -> dict:
    return {
        "executionId": execution_id,
        "requestId": request_id,
        "createdAt": created_at.isoformat(),
        "rejected": rejected or [],
    }


def replay(campaign_id: int, request_id: str) -> dict | None:
    """The first answer given to ``request_id`` on this campaign, if any."""
    row = (
        Run.objects.filter(campaign_id=campaign_id, request_id=request_id)
        .values_list("id", "created_at", "rejected", "response")
        .first()
    )
    if row is None:
        return None
    pk, created_at, rejected, response = row
    return response or answer(pk, request_id, created_at, rejected)


def _accept(
    *,
    snap: CampaignSnapshot,
    key_id: int,
    key_version: int,
    kind: str,
    request_id: str,
    context=None,
    recipients=None,
    rejected=None,
    scheduled_for=None,
    known: tuple[str, str] | None = None,
) -> dict | None:
    """The answer, once the guarded INSERT stored the trigger (or found it
    stored before). With ``known`` (field, value), the INSERT also requires
    that identity's profile to exist (unless the campaign creates profiles),
    and None means "not stored": the caller takes the full path, which says why.
    """
    moment = now()
    audience = kind == Run.Kind.API_AUDIENCE
    reason = refusal(snap, audience=audience, moment=moment)
    if reason is None:
        adapt = connections[DEFAULT_DB_ALIAS].ops.adapt_datetimefield_value
        params = [
            kind,
            adapt(scheduled_for),
            request_id,
            _dump(context),
            _dump(recipients),
            _dump(rejected),
            adapt(moment),
            snap.id,
            snap.restricted,
            adapt(moment),
            adapt(moment),
            *([known[1], known[1]] if known else []),
            key_id,
            key_version,
        ]
        row = _hot_query(_insert_sql(audience, known and known[0]), params, fetch="one")
        if row is not None:
            from campaigns.engine import dispatch

            dispatch.notify()
            return answer(row[0], request_id, moment, rejected)
        if known:
            return None
    # Not inserted: a replay (answered even when the campaign is refused now),
    # or the guard refused it. The key first: a key revoked, or remembered with
    # permissions that changed, is not answered a stored trigger either (review
    # 8: a process's key memory answered a revoked key's replays with 202).
    # Then say why from a fresh read.
    version = (
        ApiKey.objects.filter(pk=key_id, revoked_at__isnull=True, user__is_active=True)
        .values_list("auth_version", flat=True)
        .first()
    )
    if version is None:
        from accounts.keycache import forget

        forget()
        raise KeyRevoked(_("The API key is not valid."))
    if version != key_version:
        raise KeyStale(_("Your permissions changed while the trigger was accepted; retry."))
    first = replay(snap.id, request_id)
    if first is not None:
        return first
    fresh = campaign_snapshot(snap.id, fresh=True)
    if fresh is None:
        raise CampaignGone(_("Not found."))
    reason = refusal(fresh, audience=audience, moment=now())
    if reason:
        raise TriggerNotAllowed(reason)
    raise TriggerNotAllowed(_("The campaign changed while the trigger was accepted; retry."))


def accept_unitary(
    *,
    snap: CampaignSnapshot,
    key_id: int,
    key_version: int,
    request_id: str,
    recipients: list[Recipient],
    user=None,
) -> dict:
    """Accept a trigger to named recipients; the answer to give (202).

    One recipient (most triggers: a password reset, a receipt) takes a single
    statement: the guarded INSERT itself requires the recipient's profile to
    exist (and to be in no restricted audience), and the dispatcher finds its
    id. Anything it does not store (an unknown recipient, a member of a
    restricted audience, a replay, a refusal) takes the full path below, whose
    SELECT names the rejected recipients (a person hidden from ``user`` as an
    unknown one: review 8, finding 4).
    """
    if len(recipients) == 1 and refusal(snap, audience=False, moment=now()) is None:
        quick = _quick(recipients[0])
        if quick is not None:
            first = _accept(
                snap=snap,
                key_id=key_id,
                key_version=key_version,
                kind=Run.Kind.API_UNITARY,
                request_id=request_id,
                recipients=[quick],
                rejected=[],
                known=(quick["field"], quick["value"]),
            )
            if first is not None:
                return first
    stored, rejected = ([], [])
    if refusal(snap, audience=False, moment=now()) is None:
        stored, rejected = resolve(snap, recipients, user)
    return _accept(
        snap=snap,
        key_id=key_id,
        key_version=key_version,
        kind=Run.Kind.API_UNITARY,
        request_id=request_id,
        recipients=stored,
        rejected=rejected,
    )


def accept_audience(
    *,
    snap: CampaignSnapshot,
    key_id: int,
    key_version: int,
    request_id: str,
    context: dict,
    execute_at=None,
) -> dict:
    """Accept a trigger to the campaign's audience; the answer to give (202)."""
    return _accept(
        snap=snap,
        key_id=key_id,
        key_version=key_version,
        kind=Run.Kind.API_AUDIENCE,
        request_id=request_id,
        context=context or {},
        rejected=[],
        scheduled_for=execute_at,
    )


def execution_status(run: Run) -> dict:
    if run.status in (Run.Status.QUEUED, Run.Status.MATERIALIZING):
        status = "queued"
    elif run.status == Run.Status.SENDING:
        status = "in_progress"
    elif run.status == Run.Status.COMPLETED and not (run.failed and run.sent == 0):
        status = "succeeded"
    else:
        status = "failed"
    return {
        "executionId": run.pk,
        "campaignId": run.campaign_id,
        "status": status,
        "targeted": run.targeted,
        "sent": run.sent,
        "failed": run.failed,
        "excluded": run.excluded,
    }
