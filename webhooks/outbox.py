"""Writing events into the outbox, in the caller's transaction (SPEC §13).

An event is written only when an active endpoint subscribes to its type; the
answer to "who subscribes to what" is cached (per process for a moment, and in
the shared cache), so with no webhooks the send path pays one dictionary look-up
per batch. Apps below campaigns call ``emit``/``emit_refs`` directly; the data of
delivery events written in bulk by the send path is built when the row is first
claimed, by a builder campaigns registers (``BUILDERS``).

A new or changed endpoint reaches every process within ``_LOCAL_SECONDS``.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from webhooks.models import Endpoint, Message

logger = logging.getLogger(__name__)

_CACHE_KEY = "webhooks:subscribers:v1"
_LOCAL_SECONDS = 2.0
_local: dict[str, object] = {"at": -1e9, "value": {}}
_last_wake = [0.0]

# type prefix ("delivery") → builder(list of ref ids) → {ref id: data}
BUILDERS: dict[str, Callable[[list[int]], dict[int, dict]]] = {}

# What a builder answers for an event no endpoint may be told: one about a
# restricted campaign. Endpoints and their delivery log are the administrators',
# and restricted means restricted from administrators too (SPEC §2; issue 10,
# fourth review). Its rows are deleted when claimed, never sent.
WITHHELD: dict = {"withheld": True}


# What in an event's data may name the person besides ``profile``: the address,
# a clicked link (personalized: ``?email={{ profile.email }}``) and a mail
# server's answer (``550 <ann@…>: no such user``). Erasure clears them.
PERSONAL_FIELDS = ("address", "url", "bounceReason")


def erase_refs(ref_ids: list[int]) -> None:
    """An erased person's delivery events: the caller's part of their data
    (``extra``, merged in when built) loses what may name them. The built data
    is cleared by the webhooks app's erasure hook; what is built later reads
    the anonymised delivery."""
    for start in range(0, len(ref_ids), 500):
        waiting = Message.objects.filter(
            extra__isnull=False,
            event_type__startswith="delivery.",
            ref_id__in=ref_ids[start : start + 500],
        )
        for message in waiting.only("pk", "extra").iterator(chunk_size=500):
            extra = {
                k: (None if k in PERSONAL_FIELDS else v) for k, v in (message.extra or {}).items()
            }
            Message.objects.filter(pk=message.pk).update(extra=extra)


def register_builder(prefix: str, builder: Callable[[list[int]], dict[int, dict]]) -> None:
    BUILDERS[prefix] = builder


def forget_subscribers(*args, **kwargs) -> None:
    """Drop the cached subscriptions (an endpoint was created, changed or deleted)."""
    _local["at"] = -1e9
    try:
        cache.delete(_CACHE_KEY)
    except Exception:  # the cache is down: other processes see the change in _LOCAL_SECONDS
        logger.warning("Could not drop the cached webhook subscriptions", exc_info=True)


def _load() -> dict[str, tuple[int, ...]]:
    value: dict[str, list[int]] = {}
    for pk, events in Endpoint.objects.filter(active=True).values_list("pk", "events"):
        for event_type in events or ():
            value.setdefault(event_type, []).append(pk)
    return {k: tuple(v) for k, v in value.items()}


def subscribers() -> dict[str, tuple[int, ...]]:
    """event type → ids of the active endpoints that subscribe to it."""
    moment = time.monotonic()
    if moment - float(_local["at"]) < _LOCAL_SECONDS:
        return _local["value"]  # type: ignore[return-value]
    value = None
    try:
        value = cache.get(_CACHE_KEY)
    except Exception:
        logger.warning("Could not read the cached webhook subscriptions", exc_info=True)
    if value is None:
        value = _load()
        try:
            cache.set(_CACHE_KEY, value, timeout=300)
        except Exception:
            pass
    _local.update(at=moment, value=value)
    return value


def subscribed(event_type: str) -> bool:
    return bool(subscribers().get(event_type))


def person(profile) -> dict | None:
    """A person as the API names them in events: ids, email and phone (never a
    push token, attributes or consent)."""
    if profile is None:
        return None
    return {
        "id": profile.pk,
        "profileId": profile.profile_id,
        "email": profile.email,
        "phone": profile.phone,
    }


def new_event_id() -> str:
    return "evt_" + uuid.uuid4().hex


def derived_event_id(event_type: str, ref_id: int, created_at: datetime) -> str:
    """The id of an event written in bulk: what it is (type, delivery, moment),
    so every endpoint and every attempt sees the same id."""
    digest = hashlib.sha256(f"{event_type}|{ref_id}|{created_at.isoformat()}".encode())
    return "evt_" + digest.hexdigest()[:32]


def emit(event_type: str, data: dict, *, created_at: datetime | None = None) -> int:
    """Write one event (its data complete) for every endpoint that subscribes,
    in the caller's transaction; how many rows."""
    endpoints = subscribers().get(event_type)
    if not endpoints:
        return 0
    moment = created_at or timezone.now()
    event_id = new_event_id()
    Message.objects.bulk_create(
        [
            Message(
                endpoint_id=pk,
                event_type=event_type,
                event_id=event_id,
                data=data,
                created_at=moment,
                next_attempt_at=moment,
            )
            for pk in endpoints
        ]
    )
    wake()
    return len(endpoints)


def emit_ref(
    event_type: str, ref_id: int, *, created_at: datetime | None = None, extra: dict | None = None
) -> int:
    """One event about delivery ``ref_id`` whose data is built when first claimed
    (``extra`` is merged into it)."""
    endpoints = subscribers().get(event_type)
    if not endpoints:
        return 0
    moment = created_at or timezone.now()
    event_id = derived_event_id(event_type, ref_id, moment)
    Message.objects.bulk_create(
        [
            Message(
                endpoint_id=pk,
                event_type=event_type,
                event_id=event_id,
                ref_id=ref_id,
                extra=extra or None,
                created_at=moment,
                next_attempt_at=moment,
            )
            for pk in endpoints
        ]
    )
    wake()
    return len(endpoints)


_INSERT_REFS = """
INSERT INTO {message} (endpoint_id, event_type, event_id, ref_id, created_at, status,
                       attempts, next_attempt_at, claimed_by, last_error)
SELECT e.id, %s, '', r.ref_id, %s, 'pending', 0, %s, '', ''
FROM {endpoint} e CROSS JOIN {refs}
WHERE e.id IN ({endpoints}) AND e.active
"""


def emit_refs(event_type: str, ref_ids: list[int], *, created_at: datetime) -> int:
    """The send path's batch: one event per delivery of ``ref_ids`` for every
    endpoint that subscribes, in one INSERT … SELECT (nothing when none does)."""
    endpoints = subscribers().get(event_type)
    if not endpoints or not ref_ids:
        return 0
    values = ", ".join(["(%s)"] * len(ref_ids))
    if connection.vendor == "sqlite":  # SQLite names a VALUES table's columns column1…
        refs = f"(SELECT column1 AS ref_id FROM (VALUES {values})) r"
    else:
        refs = f"(VALUES {values}) AS r(ref_id)"
    sql = _INSERT_REFS.format(
        message=Message._meta.db_table,
        endpoint=Endpoint._meta.db_table,
        refs=refs,
        endpoints=", ".join(["%s"] * len(endpoints)),
    )
    moment = connection.ops.adapt_datetimefield_value(created_at)
    with connection.cursor() as cursor:
        cursor.execute(sql, [event_type, moment, moment, *ref_ids, *endpoints])
        written = cursor.rowcount
    wake()
    return written


def wake() -> None:
    """Best effort: a delivery task once the caller commits (at most one per
    second per process; the minute tick delivers whatever this misses)."""
    moment = time.monotonic()
    if moment - _last_wake[0] < 1.0:
        return
    _last_wake[0] = moment
    transaction.on_commit(_enqueue)


def _enqueue() -> None:
    try:
        from django_q.tasks import async_task

        async_task("webhooks.tasks.deliver", task_name="webhooks")
    except Exception:  # the broker is down: the tick delivers
        logger.warning("Could not wake the webhook delivery", exc_info=True)
