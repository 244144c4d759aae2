"""Conversion events (``POST /api/v1/events``, docs/CONVERSIONS.md): what people
did after a campaign — a purchase, a sign-up — posted by the customer's systems.

* **Checked whole, written whole** — ``events_check`` checks every event of a
  request (errors keyed ``events.3.name`` for a batch) before anything is
  written; a request with one malformed event writes nothing.
* **Idempotent** — ``eventId`` is the sender's key: the same id counts once,
  whoever posts it again, however often (a retry after a timeout). A unique
  constraint decides, not a check: two requests racing with the same id store
  one row and both answer with its id.
* **People** — an event names its person by an identity (``email``, ``phone``,
  ``push_token``, ``profile_id``). An unknown person (or one known only
  through restricted audiences the caller may not see) is never created: a
  single event answers 404, a batch lists it under ``rejected`` and stores the
  others. Profiles are created with ``PUT /profiles/…`` (their consent and
  identities are decided there, not by an event).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audiences.models import ConversionEvent, Profile

# How far ahead of our clock an event may claim to have happened (the
# sender's clock may be a little fast); further is refused, never stored.
FUTURE_TOLERANCE = timedelta(minutes=5)
VALUE_LIMIT = Decimal("100000000000000")  # 10^14: revenue, in any currency, fits
PROPERTIES_MAX_BYTES = 16 * 1024
BATCH_MAX = 1000
NAMESPACES = ("email", "phone", "push_token", "profile_id")
# Event names: what a customer's system sends ("purchase", "order.paid",
# "trial-started"): letters, digits and . _ - :, starting with a letter or digit.
EVENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,99}$")


def valid_event_name(value: Any) -> bool:
    return isinstance(value, str) and bool(EVENT_NAME.fullmatch(value))


def event_name_message() -> str:
    return _(
        "An event name has 1 to 100 letters, digits, dots, dashes, underscores or "
        "colons, and starts with a letter or a digit."
    )


@dataclass
class CheckedEvent:
    namespace: str
    identity: str
    name: str
    event_id: str | None
    occurred_at: datetime
    value: Decimal | None
    properties: dict


@dataclass
class Outcome:
    index: int
    id: int | None = None
    duplicate: bool = False
    rejected: str = ""  # "unknown_profile"


def _value(value: Any, errors: list[str]) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors.append(_("The value is a number."))
        return None
    if isinstance(value, float) and not math.isfinite(value):
        errors.append(_("The value is a finite number."))
        return None
    try:
        number = Decimal(str(value)).quantize(Decimal("0.0001"))
    except ArithmeticError:
        number = VALUE_LIMIT
    if abs(number) >= VALUE_LIMIT:
        errors.append(
            _("The value must be smaller than %(limit)s in absolute value.")
            % {"limit": f"{VALUE_LIMIT:,.0f}"}
        )
        return None
    return number


def check_event(data: dict, now: datetime, prefix: str = "") -> CheckedEvent:
    """One event's fields checked beyond their types (the API's schema did
    those); ``ValidationError`` keyed by ``prefix`` + the API field."""
    from audiences.services import normalize_identity

    errors: dict[str, list[str]] = {}
    profile = data.get("profile") or {}
    namespace = profile.get("namespace")
    identity = profile.get("value") or ""
    if namespace not in NAMESPACES:
        errors[f"{prefix}profile.namespace"] = [_("Use one of: %s.") % ", ".join(NAMESPACES)]
    else:
        try:
            identity = normalize_identity(namespace, identity)
        except ValueError as exc:
            errors[f"{prefix}profile.value"] = [str(exc)]
    name = (data.get("name") or "").strip()
    if not valid_event_name(name):
        errors[f"{prefix}name"] = [event_name_message()]
    event_id = data.get("event_id")
    if event_id is not None:
        event_id = event_id.strip()
        if not event_id:
            errors[f"{prefix}eventId"] = [_("Leave the event id out, or give one.")]
    occurred_at = data.get("occurred_at") or now
    if timezone.is_naive(occurred_at):
        errors[f"{prefix}occurredAt"] = [_("Give the time zone (2026-11-30T12:00:00Z or +01:00).")]
    elif occurred_at > now + FUTURE_TOLERANCE:
        errors[f"{prefix}occurredAt"] = [_("The event cannot have happened in the future.")]
    value_errors: list[str] = []
    value = _value(data.get("value"), value_errors)
    if value_errors:
        errors[f"{prefix}value"] = value_errors
    properties = data.get("properties") or {}
    size = len(json.dumps(properties, ensure_ascii=False).encode())
    if size > PROPERTIES_MAX_BYTES:
        errors[f"{prefix}properties"] = [
            _("The properties take at most %(limit)d bytes as JSON.")
            % {"limit": PROPERTIES_MAX_BYTES}
        ]
    if errors:
        raise ValidationError(errors)
    return CheckedEvent(namespace, identity, name, event_id, occurred_at, value, properties)


def events_check(items: list[dict], *, batch: bool) -> list[CheckedEvent]:
    """Every event checked; one ValidationError naming every bad field."""
    now = timezone.now()
    checked, errors = [], {}
    for index, data in enumerate(items):
        try:
            checked.append(check_event(data, now, f"events.{index}." if batch else ""))
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return checked


def _profiles(events: list[CheckedEvent], actor) -> dict[tuple[str, str], int]:
    """(namespace, identity) → profile id, for the people ``actor`` may see:
    one query per namespace used."""
    from audiences.selectors import not_hidden_profiles

    found: dict[tuple[str, str], int] = {}
    for namespace in NAMESPACES:
        values = {e.identity for e in events if e.namespace == namespace}
        if not values:
            continue
        rows = not_hidden_profiles(
            actor, Profile.objects.filter(**{f"{namespace}__in": values})
        ).values_list(namespace, "pk")
        found.update({(namespace, value): pk for value, pk in rows})
    return found


def _row(event: CheckedEvent, profile_id: int, actor) -> ConversionEvent:
    return ConversionEvent(
        profile_id=profile_id,
        name=event.name,
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        value=event.value,
        properties=event.properties,
        created_by=actor if getattr(actor, "pk", None) else None,
    )


def events_record(*, events: list[CheckedEvent], actor) -> list[Outcome]:
    """Store the checked events of one request; an outcome per event, in order.

    Events whose ``eventId`` is already stored for the same person (or appears
    earlier in the same request for them) are duplicates: answered with the
    stored id, not written again. Another person's event with the same id is
    another event: nothing about it is told.
    """
    profiles = _profiles(events, actor)
    outcomes = [Outcome(index=i) for i in range(len(events))]
    ids = {e.event_id for e in events if e.event_id}
    wanted = {profiles.get((e.namespace, e.identity)) for e in events if e.event_id} - {None}
    known = (
        {
            (profile_id, event_id): pk
            for profile_id, event_id, pk in ConversionEvent.objects.filter(
                event_id__in=ids, profile_id__in=wanted
            ).values_list("profile_id", "event_id", "pk")
        }
        if ids and wanted
        else {}
    )
    new: list[tuple[int, ConversionEvent]] = []
    first_of: dict[tuple[int, str], int] = {}
    for i, event in enumerate(events):
        profile_id = profiles.get((event.namespace, event.identity))
        key = (profile_id, event.event_id)
        if profile_id is None:
            outcomes[i].rejected = "unknown_profile"
        elif event.event_id and key in known:
            outcomes[i].id, outcomes[i].duplicate = known[key], True
        elif event.event_id and key in first_of:
            outcomes[i].duplicate = True  # its id once the first is written
        else:
            if event.event_id:
                first_of[key] = i
            new.append((i, _row(event, profile_id, actor)))
    try:
        with transaction.atomic():
            ConversionEvent.objects.bulk_create([row for _i, row in new])
        for i, row in new:
            outcomes[i].id = row.pk
    except IntegrityError:
        # Another request stored one of these event ids meanwhile: one by one,
        # each insert in its own savepoint, the loser of each race reads the winner.
        for i, row in new:
            outcomes[i].id, outcomes[i].duplicate = _insert_one(row)
    for i, event in enumerate(events):
        if outcomes[i].duplicate and outcomes[i].id is None:
            key = (profiles.get((event.namespace, event.identity)), event.event_id)
            outcomes[i].id = outcomes[first_of[key]].id
    return outcomes


def _insert_one(row: ConversionEvent) -> tuple[int, bool]:
    row.pk = None
    try:
        with transaction.atomic():
            row.save(force_insert=True)
        return row.pk, False
    except IntegrityError:
        return (
            ConversionEvent.objects.get(profile_id=row.profile_id, event_id=row.event_id).pk,
            True,
        )
