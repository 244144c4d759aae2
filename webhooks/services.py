"""Endpoint management and the delivery log's resend (SPEC §13).

Administrators create, change and delete endpoints (``webhook.manage``); the
secret is generated here, returned once, and kept encrypted. Every write goes
through ``endpoint_validate`` first, so the admin and the API refuse the same
input with the same words.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from channels import credentials, netguard
from config.problems import DomainError
from webhooks import signing
from webhooks.models import EVENT_TYPES, Attempt, Endpoint, Message

# At most this many endpoints, switched on or off (any may be switched on). Each
# endpoint subscribed to a delivery event is a row per message in the send
# path's transaction and a POST the one deliverer makes in turn: 500 endpoints
# made 200 sends write 100,000 rows (reviews 18 and 21).
MAX_ENDPOINTS = 50


class ResendRefused(DomainError):
    """A message of a switched-off endpoint cannot be resent (409)."""


def endpoint_validate(*, url: str, events: list[str]) -> dict[str, list[str]]:
    """Field → messages for a URL and an event list; {} when both are good."""
    errors: dict[str, list[str]] = {}
    try:
        URLValidator(schemes=["http", "https"])(url or "")
    except ValidationError:
        errors["url"] = [_("Enter a valid http:// or https:// URL.")]
    else:
        if netguard.url_problem(url):
            errors["url"] = [
                _("This address is on an internal network; webhook URLs must be public.")
            ]
    unknown = [e for e in events or [] if e not in EVENT_TYPES]
    if not events:
        errors["events"] = [_("Choose at least one event.")]
    elif unknown:
        errors["events"] = [
            _("Unknown event type: %(types)s. Use: %(known)s.")
            % {"types": ", ".join(map(str, unknown)), "known": ", ".join(EVENT_TYPES)}
        ]
    return errors


def _check(url: str, events: list[str]) -> None:
    errors = endpoint_validate(url=url, events=events)
    if errors:
        raise ValidationError(errors)


def check_endpoint_room() -> None:
    """``ValidationError`` when there are already ``MAX_ENDPOINTS`` endpoints
    (checked before a new one is written; two writers at once may pass it together)."""
    if Endpoint.objects.count() >= MAX_ENDPOINTS:
        raise ValidationError(
            _("There are already %(n)d webhook endpoints, the most allowed: change or delete one.")
            % {"n": MAX_ENDPOINTS}
        )


def endpoint_secret(endpoint: Endpoint) -> str:
    return credentials.decrypt(endpoint.secret_encrypted).get("secret", "")


def endpoint_create(
    *, url: str, events: list[str], active: bool = True, description: str = "", actor=None
) -> tuple[Endpoint, str]:
    """A new endpoint and its secret (shown to the caller once, stored encrypted)."""
    events = list(dict.fromkeys(events or []))
    _check(url, events)
    check_endpoint_room()
    secret = signing.new_secret()
    endpoint = Endpoint.objects.create(
        url=url,
        events=events,
        active=active,
        description=description,
        secret_encrypted=credentials.encrypt({"secret": secret}),
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    return endpoint, secret


def endpoint_update(*, endpoint: Endpoint, actor=None, **fields) -> Endpoint:
    """Change url, events, active or description. Switching a disabled endpoint
    on again gives its waiting messages a new retry window, at once."""
    if "events" in fields:
        fields["events"] = list(dict.fromkeys(fields["events"] or []))
    url = fields.get("url", endpoint.url)
    events = fields.get("events", endpoint.events)
    _check(url, events)
    reactivated = fields.get("active") is True and not endpoint.active
    with transaction.atomic():
        for name, value in fields.items():
            setattr(endpoint, name, value)
        if reactivated:
            endpoint.disabled_at = None
            endpoint.disabled_reason = ""
            Message.objects.filter(endpoint=endpoint, status=Message.Status.PENDING).update(
                next_attempt_at=timezone.now(), first_attempt_at=None
            )
        endpoint.save()
    return endpoint


def endpoint_rotate_secret(*, endpoint: Endpoint) -> str:
    secret = signing.new_secret()
    endpoint.secret_encrypted = credentials.encrypt({"secret": secret})
    endpoint.save(update_fields=["secret_encrypted", "updated_at"])
    return secret


def endpoint_delete(*, endpoint: Endpoint) -> None:
    """The endpoint, its log and whatever it had not received yet.

    Two statements, whatever the log's size: ``Message.objects.filter(…)
    .delete()`` made Django's collector load every message (payload included)
    to cascade to its attempts, then delete them 100 ids a statement — an
    endpoint with a million messages asked the worker for all of them in
    memory (ninth review, finding 4). Nothing listens to their deletion."""
    with transaction.atomic(), connection.cursor() as cursor:
        attempts, messages = Attempt._meta.db_table, Message._meta.db_table
        cursor.execute(
            f"DELETE FROM {attempts} WHERE message_id IN"
            f" (SELECT id FROM {messages} WHERE endpoint_id = %s)",
            [endpoint.pk],
        )
        cursor.execute(f"DELETE FROM {messages} WHERE endpoint_id = %s", [endpoint.pk])
        endpoint.delete()


def message_resend(*, message: Message) -> Message:
    """Queue ``message`` again, same event id and data, with a fresh retry window."""
    if not message.endpoint.active:
        raise ResendRefused(_("The endpoint is switched off: switch it on to resend."))
    moment = timezone.now()
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.PENDING,
        next_attempt_at=moment,
        first_attempt_at=None,
        delivered_at=None,
        claimed_by="",
        lease_expires_at=None,
    )
    from webhooks import outbox

    outbox.wake()
    message.refresh_from_db()
    return message


def administrators() -> list:
    from django.contrib.auth import get_user_model
    from django.db.models import Q

    from accounts.roles import ADMINISTRATOR

    return list(
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | Q(groups__name=ADMINISTRATOR))
        .distinct()
        .order_by("pk")
    )


def tell_administrators(*, endpoint: Endpoint, reason: str) -> None:
    """An in-app notice and an email to every administrator: the endpoint was
    switched off after failing for the whole retry window."""
    from accounts.mailer import send_later
    from accounts.notices import render_notice
    from accounts.services import notify

    params = {"url": endpoint.url[:200]}
    link = reverse("admin:webhooks_endpoint_change", args=[endpoint.pk])
    emails = []
    for user in administrators():
        notify(user=user, kind="webhook_disabled", params=params, url=link)
        if user.email:
            emails.append(user.email)
    body = f"{render_notice('webhook_disabled', params)}\n\n{reason}\n\n{settings.SITE_URL}{link}\n"
    send_later(subject=_("Volley: a webhook endpoint was switched off"), body=body, to=emails)
