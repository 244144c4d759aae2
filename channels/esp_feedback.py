"""ESP tracking webhooks → the provider feedback path (SPEC §6).

anymail's views at ``/anymail/<esp>/tracking/`` check the webhook's
authentication (basic auth ANYMAIL_WEBHOOK_SECRET, Mailgun's signature),
normalize each ESP's events and send anymail's ``tracking`` signal; this
receiver maps each event to the same service calls as ``POST /api/v1/feedback``:
delivered, bounce (hard or soft), complaint, unsubscribe. The delivery is found
through the metadata the ESP transport attached (``volley_key``); events for
messages Volley does not know are ignored, like the feedback API does.

Replays: an event counts once by its id (``FeedbackReceipt``). Where the ESP
gives no id of its own (Mailjet, Brevo, Postmark complaints, SparkPost's
batches…), the id is a hash of what the event says — provider, type, message
id, recipient, the Volley delivery and the ESP's timestamp — so the same event
posted again is recognised, while a later event about the same message (another
timestamp) still counts.
"""

from __future__ import annotations

import hashlib
import inspect
import logging

from anymail.signals import EventType, RejectReason, tracking
from django.db import transaction
from django.dispatch import receiver
from django.http import Http404, HttpResponseBadRequest
from django.urls import path

from channels import deliveries, services
from channels.transports import METADATA_KEY

logger = logging.getLogger(__name__)


def _delivery(event):
    metadata = event.metadata if isinstance(event.metadata, dict) else {}
    return deliveries.from_key(str(metadata.get(METADATA_KEY, "")))


def _soft(event) -> bool:
    """Whether a bounce is temporary (ESPs say it each in their own words)."""
    if event.event_type == EventType.DEFERRED:
        return True
    raw = event.esp_event if isinstance(event.esp_event, dict) else {}
    bounce = raw.get("bounce") if isinstance(raw.get("bounce"), dict) else {}
    return (
        bounce.get("bounceType") == "Transient"  # Amazon SES
        or raw.get("Type") == "SoftBounce"  # Postmark
        or raw.get("type") == "blocked"  # SendGrid: a block is temporary
        or raw.get("severity") == "temporary"  # Mailgun
        or raw.get("event") == "soft_bounce"  # Brevo
        or (raw.get("event") == "bounce" and raw.get("hard_bounce") is False)  # Mailjet
    )


def _reason(event) -> str:
    parts = [event.description, event.mta_response]
    return " — ".join(str(p) for p in parts if p)[:2000]


def _feedback(**kwargs) -> None:
    # The feedback service may take the ESP's event id to drop replays; pass it
    # when it does.
    if "event_id" not in _FEEDBACK_PARAMETERS:
        kwargs.pop("event_id", None)
    services.feedback_record(**kwargs)


_FEEDBACK_PARAMETERS = set(inspect.signature(services.feedback_record).parameters)


def event_id(event, esp_name: str) -> str:
    """The ESP's event id, namespaced so two ESPs' ids never collide; without
    one, a stable digest of the event's contents (a replay gives the same)."""
    if event.event_id:
        return f"{esp_name}:{event.event_id}"[:200]
    metadata = event.metadata if isinstance(event.metadata, dict) else {}
    parts = [
        esp_name,
        str(event.event_type),
        str(event.reject_reason or ""),
        str(event.message_id or ""),
        (event.recipient or "").strip().lower(),
        str(metadata.get(METADATA_KEY, "")),
        event.timestamp.isoformat() if event.timestamp else "",
    ]
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "replace")).hexdigest()
    return f"{esp_name}:sha256:{digest}"[:200]


def apply_event(event, esp_name: str = "") -> str:
    """Apply one normalized anymail event; "accepted" or "ignored"."""
    delivery = _delivery(event)
    if delivery is None:
        logger.info("ignored %s %s event for an unknown message", esp_name, event.event_type)
        return "ignored"
    channel = deliveries.channel(delivery)
    address = delivery.address or (event.recipient or "")
    if event.recipient and address and event.recipient.strip().lower() != address.lower():
        # The same message also went to the configuration's BCC address: its
        # bounces and complaints say nothing about the delivery's recipient.
        logger.info("ignored %s %s event for another recipient", esp_name, event.event_type)
        return "ignored"
    common = {
        "delivery": delivery,
        "channel": channel,
        "address": address,
        "event_id": event_id(event, esp_name),
    }
    kind, reject = event.event_type, event.reject_reason
    if kind == EventType.DELIVERED:
        _feedback(event="delivered", **common)
    elif kind in (EventType.BOUNCED, EventType.DEFERRED) or (
        kind == EventType.REJECTED and reject in (RejectReason.BOUNCED, RejectReason.INVALID)
    ):
        if kind == EventType.DEFERRED and not _soft(event):
            return "ignored"
        bounce_type = "soft" if _soft(event) else "hard"
        _feedback(event="bounce", bounce_type=bounce_type, reason=_reason(event), **common)
    elif kind == EventType.COMPLAINED or (
        kind == EventType.REJECTED and reject == RejectReason.SPAM
    ):
        _feedback(event="complaint", reason=_reason(event), **common)
    elif kind == EventType.UNSUBSCRIBED or (
        kind == EventType.REJECTED and reject == RejectReason.UNSUBSCRIBED
    ):
        services.delivery_unsubscribe(delivery=delivery, source=f"esp:{esp_name}"[:40])
    else:
        return "ignored"
    return "accepted"


@receiver(tracking, dispatch_uid="volley-esp-tracking")
def on_tracking(sender, event, esp_name, **kwargs) -> None:
    apply_event(event, esp_name)


# --- URLs: anymail's standard tracking endpoints ---------------------------------


# What anymail's parsers (and the mapping above) raise on a body that is not
# the ESP's format: answered 400, never a 500. Database errors are not among
# them: those stay 500s, which the ESP retries.
_MALFORMED = (ValueError, KeyError, TypeError, AttributeError, IndexError, OverflowError)


def _guarded(view, *, needs: tuple[str, ...] = ()):
    """anymail's view, mounted only while its secrets are configured (else 404,
    never a 500 from a half-configured webhook); a malformed body is a 400."""

    def guarded(request, *args, **kwargs):
        from django.conf import settings

        anymail = getattr(settings, "ANYMAIL", {})
        if not anymail.get("WEBHOOK_SECRET") or not all(anymail.get(n) for n in needs):
            raise Http404
        try:
            with transaction.atomic():
                return view(request, *args, **kwargs)
        except _MALFORMED as exc:
            logger.info("refused a malformed ESP webhook body: %s", type(exc).__name__)
            return HttpResponseBadRequest("Malformed event.\n", content_type="text/plain")

    guarded.csrf_exempt = True
    return guarded


def _urlpatterns():
    from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
    from anymail.webhooks.brevo import BrevoTrackingWebhookView
    from anymail.webhooks.mailgun import MailgunTrackingWebhookView
    from anymail.webhooks.mailjet import MailjetTrackingWebhookView
    from anymail.webhooks.postmark import PostmarkTrackingWebhookView
    from anymail.webhooks.sendgrid import SendGridTrackingWebhookView
    from anymail.webhooks.sparkpost import SparkPostTrackingWebhookView

    views = {
        "amazon_ses": (AmazonSESTrackingWebhookView, ()),
        "sendgrid": (SendGridTrackingWebhookView, ()),
        "mailgun": (MailgunTrackingWebhookView, ("MAILGUN_WEBHOOK_SIGNING_KEY",)),
        "postmark": (PostmarkTrackingWebhookView, ()),
        "brevo": (BrevoTrackingWebhookView, ()),
        "sparkpost": (SparkPostTrackingWebhookView, ()),
        "mailjet": (MailjetTrackingWebhookView, ()),
    }
    return [
        path(
            f"{esp}/tracking/",
            _guarded(view.as_view(), needs=needs),
            name=f"{esp}_tracking_webhook",
        )
        for esp, (view, needs) in views.items()
    ]


urlpatterns = _urlpatterns()
