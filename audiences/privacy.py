"""Answering a person's access and erasure requests (SPEC §14).

Erasure forgets who the person was but keeps what happened: delivery rows stay,
without address, rendered context or link to the profile, so every report adds
up as before. An address on the suppression list keeps only a keyed hash of
itself. Whenever that address comes back into Volley — an API upsert, the admin,
an API trigger creating a profile, a CSV import — ``suppressions_restore`` gives
the hashed entry its address again, before any send can select the profile, so
an erased complainer is never mailed again and the sender's eligibility query
(``audiences.selectors.annotate_eligibility``) keeps joining on plain addresses.

The hash key is derived from SECRET_KEY: rotating SECRET_KEY forgets the erased
suppressions (the list of plain addresses is unaffected).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import lru_cache

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import F

from audiences import hooks
from audiences.channel_facts import IDENTITY_FIELD
from audiences.models import (
    Audience,
    AudienceMember,
    ConsentChange,
    ConversionEvent,
    PrivacyLogEntry,
    Profile,
    Suppression,
)

logger = logging.getLogger(__name__)

# channel → the profile column holding its address
CHANNEL_IDENTITY = IDENTITY_FIELD
_EXPORT_CHUNK = 2000


@lru_cache(maxsize=4)
def _key(secret: str) -> bytes:
    return hashlib.sha256(b"volley.privacy.suppression:" + secret.encode()).digest()


def suppression_hash(channel: str, address: str) -> str:
    """Keyed hash (HMAC-SHA256, key derived from SECRET_KEY) of a normalized address."""
    message = f"{channel}:{address}".encode()
    return hmac.new(_key(settings.SECRET_KEY), message, hashlib.sha256).hexdigest()


def suppressions_restore(pairs: Iterable[tuple[str, str]]) -> int:
    """Give erased suppression entries their address back when one of ``pairs``
    ((channel, normalized address)) matches their hash. Returns how many.

    Costs one indexed query when nothing was ever erased.
    """
    erased = Suppression.objects.filter(address__isnull=True)
    if not erased.exists():
        return 0
    wanted = {suppression_hash(c, a): (c, a) for c, a in pairs if a}
    restored = 0
    for entry in erased.filter(address_hash__in=list(wanted)):
        channel, address = wanted[entry.address_hash]
        if entry.channel != channel:
            continue
        try:
            with transaction.atomic():
                restored += Suppression.objects.filter(pk=entry.pk, address__isnull=True).update(
                    address=address
                )
        except IntegrityError:
            # The address was suppressed again meanwhile: that entry stands.
            Suppression.objects.filter(pk=entry.pk, address__isnull=True).delete()
    return restored


def profile_suppressions_restore(profile: Profile) -> int:
    return suppressions_restore(
        (channel, getattr(profile, field)) for channel, field in CHANNEL_IDENTITY.items()
    )


def _log(action: str, *, namespace: str, actor, via: str) -> PrivacyLogEntry:
    name = actor.get_username() if actor is not None and actor.is_authenticated else ""
    return PrivacyLogEntry.objects.create(
        action=action,
        namespace=namespace,
        actor=actor if name else None,
        by=name,
        via=via,
    )


# ---------------------------------------------------------------- erasure


def profile_erase(*, profile: Profile, namespace: str, actor=None, via: str = "api") -> bool:
    """Erase a person: identities, attributes, time zone, consent history,
    audience memberships and conversion events go; deliveries stay anonymised (reports unchanged);
    suppression entries keep only their keyed hash; the erasure is logged.

    Returns False when the profile was already gone (erasing twice changes nothing).
    """
    with transaction.atomic():
        profile = Profile.objects.select_for_update().filter(pk=profile.pk).first()
        if profile is None:
            return False
        addresses = {
            (channel, getattr(profile, field))
            for channel, field in CHANNEL_IDENTITY.items()
            if getattr(profile, field)
        }
        # Deliveries (campaigns) are anonymised and name the addresses they used.
        for known in hooks.profile_erasing(profile=profile):
            addresses |= known
        for channel, address in addresses:
            hooks.address_erasing(channel=channel, address=address)
            Suppression.objects.filter(channel=channel, address=address).update(
                address=None, address_hash=suppression_hash(channel, address)
            )
        upload_ids = list(
            AudienceMember.objects.filter(profile=profile).values_list("audience_id", flat=True)
        )
        Audience.objects.filter(pk__in=upload_ids, size__gt=0).update(size=F("size") - 1)
        profile.delete()  # consent changes, memberships and conversion events go with it
        entry = _log(PrivacyLogEntry.Action.ERASE, namespace=namespace, actor=actor, via=via)
    logger.info("Erased a person (identified by %s) for %s", namespace, entry.by or "the system")
    return True


# ---------------------------------------------------------------- export


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _dump(value) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)


def profile_export_log(*, namespace: str, actor=None, via: str = "api") -> None:
    _log(PrivacyLogEntry.Action.EXPORT, namespace=namespace, actor=actor, via=via)


def profile_export(profile: Profile, reader=None) -> Iterator[str]:
    """Everything held about ``profile`` as one JSON document, in pieces.

    With ``reader`` (who asked), audiences and campaigns restricted from them
    are left out: restricted means restricted from administrators too (SPEC
    §2), and the export named the restricted audiences a person belongs to and
    the restricted campaigns that wrote to them (third review). A superuser's
    export holds everything.

    Rows are read with a server-side cursor in chunks (the deliveries too, in
    the section campaigns registers), so a person with 100,000 deliveries
    costs no more memory than one with ten.
    """
    yield '{"profile": ' + _dump(_profile_dict(profile))
    yield ', "consentChanges": ['
    changes = ConsentChange.objects.filter(profile=profile).order_by("changed_at", "pk")
    for i, change in enumerate(changes.iterator(chunk_size=_EXPORT_CHUNK)):
        yield ("," if i else "") + _dump(
            {
                "channel": change.channel,
                "granted": change.granted,
                "source": change.source,
                "time": _iso(change.changed_at),
            }
        )
    yield '], "audiences": ' + _dump(_audiences(profile, reader))
    # Sections of the apps above (campaigns: the person's deliveries).
    for key, items in hooks.profile_export_sections(profile=profile, reader=reader):
        yield ", " + _dump(key) + ": ["
        for i, item in enumerate(items):
            yield ("," if i else "") + _dump(item)
        yield "]"
    yield ', "conversionEvents": ['
    events = ConversionEvent.objects.filter(profile=profile).order_by("occurred_at", "pk")
    for i, event in enumerate(events.iterator(chunk_size=_EXPORT_CHUNK)):
        yield ("," if i else "") + _dump(
            {
                "name": event.name,
                "eventId": event.event_id,
                "occurredAt": _iso(event.occurred_at),
                "value": None if event.value is None else float(event.value),
                "properties": event.properties,
                "receivedAt": _iso(event.received_at),
            }
        )
    yield "]"
    yield ', "suppressions": ' + _dump(_suppressions(profile)) + "}\n"


def _profile_dict(profile: Profile) -> dict:
    return {
        "id": profile.pk,
        "email": profile.email,
        "phone": profile.phone,
        "pushToken": profile.push_token,
        "profileId": profile.profile_id,
        "attributes": profile.attributes,
        "timezone": profile.timezone,
        "locale": profile.locale,
        "consent": {
            "email": profile.consent_email,
            "sms": profile.consent_sms,
            "push": profile.consent_push,
        },
        "createdAt": _iso(profile.created_at),
        "updatedAt": _iso(profile.updated_at),
    }


def _audiences(profile: Profile, reader=None) -> list[dict]:
    """Uploaded audiences listing the person, and rule audiences matching them
    now (those ``reader`` may see, when given)."""
    from accounts.permissions import visible
    from audiences.rules import RuleError, compile_rule

    audiences = Audience.objects.all() if reader is None else visible(reader, Audience.objects)
    found = [
        {"id": a.pk, "name": a.name, "kind": a.kind}
        for a in audiences.filter(kind=Audience.Kind.UPLOAD, members__profile=profile).order_by(
            "name", "pk"
        )
    ]
    me = Profile.objects.filter(pk=profile.pk)
    for audience in audiences.filter(kind=Audience.Kind.RULE).order_by("name", "pk"):
        try:
            matches = me.filter(compile_rule(audience.rule or {}, stored=True)).exists()
        except RuleError:
            continue
        if matches:
            found.append({"id": audience.pk, "name": audience.name, "kind": audience.kind})
    return found


def _suppressions(profile: Profile) -> list[dict]:
    result = []
    for channel, field in CHANNEL_IDENTITY.items():
        address = getattr(profile, field)
        if not address:
            continue
        for entry in Suppression.objects.filter(channel=channel, address=address):
            result.append(
                {
                    "channel": entry.channel,
                    "address": entry.address,
                    "reason": entry.reason,
                    "createdAt": _iso(entry.created_at),
                }
            )
    return result
