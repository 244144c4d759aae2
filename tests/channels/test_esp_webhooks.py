"""ESP tracking webhooks (anymail's standard endpoints) feed the feedback path:
SES, SendGrid, Mailgun and Postmark events end in suppression (SPEC §6)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from django.test import Client

from audiences.models import Suppression
from channels.models import DeliveryEvent

AUTH = "HTTP_AUTHORIZATION", "Basic " + base64.b64encode(b"hook:s3cret").decode()


@pytest.fixture(autouse=True)
def anymail_secrets(settings):
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "WEBHOOK_SECRET": "hook:s3cret",
        "MAILGUN_WEBHOOK_SIGNING_KEY": "mg-signing-key",
    }


def post(url, body, content_type="application/json", auth=True, **headers):
    if auth:
        headers[AUTH[0]] = AUTH[1]
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Client().post(url, data=raw, content_type=content_type, **headers)


def suppressed(address: str) -> set[str]:
    return set(Suppression.objects.filter(address=address).values_list("reason", flat=True))


# --- one payload builder per ESP, as each one posts it ---------------------------------


def ses(delivery, kind="Bounce", bounce_type="Permanent", sns_id=None):
    # Each provider event carries its own id (the same id counts once).
    sns_id = sns_id or f"sns-{kind}-{delivery.pk}"
    event = {
        "eventType": kind,
        "mail": {
            "messageId": "ses-1",
            "destination": [delivery.address],
            "headers": [
                {
                    "name": "X-Metadata",
                    "value": json.dumps({"volley_key": f"delivery-{delivery.pk}"}),
                }
            ],
        },
    }
    if kind == "Bounce":
        event["bounce"] = {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [
                {"emailAddress": delivery.address, "diagnosticCode": "smtp; 550 5.1.1 user unknown"}
            ],
        }
    elif kind == "Complaint":
        event["complaint"] = {
            "complainedRecipients": [{"emailAddress": delivery.address}],
            "complaintFeedbackType": "abuse",
        }
    elif kind == "Delivery":
        event["delivery"] = {"recipients": [delivery.address], "smtpResponse": "250 ok"}
    notification = {
        "Type": "Notification",
        "MessageId": sns_id,
        "TopicArn": "arn:aws:sns:eu-west-1:111122223333:volley-events",
        "Message": json.dumps(event),
        "Timestamp": "2026-11-30T02:00:00.000Z",
    }
    headers = {"HTTP_X_AMZ_SNS_MESSAGE_TYPE": "Notification", "HTTP_X_AMZ_SNS_MESSAGE_ID": sns_id}
    return "/anymail/amazon_ses/tracking/", notification, headers


def sendgrid(delivery, event="bounce", **extra):
    body = [
        {
            "email": delivery.address,
            "timestamp": 1764468000,
            "event": event,
            "sg_event_id": f"sg-{event}-{delivery.pk}",
            "sg_message_id": "sg-msg-1",
            "volley_key": f"delivery-{delivery.pk}",
            **(
                {"reason": "550 5.1.1 user unknown", "status": "5.1.1", "type": "bounce"}
                if event == "bounce"
                else {}
            ),
            **extra,
        }
    ]
    return "/anymail/sendgrid/tracking/", body, {}


def mailgun(delivery, event="failed", severity="permanent", key="mg-signing-key"):
    timestamp, token = "1764468000", f"{event}-{delivery.pk}".ljust(50, "a")
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    body = {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature},
        "event-data": {
            "event": event,
            "severity": severity,
            "id": f"mg-{event}-{delivery.pk}",
            "timestamp": 1764468000.0,
            "recipient": delivery.address,
            "reason": "bounce",
            "delivery-status": {"code": 550, "message": "5.1.1 user unknown", "description": ""},
            "message": {"headers": {"message-id": "mg-1@mg.example"}},
            "user-variables": {"volley_key": f"delivery-{delivery.pk}"},
        },
    }
    return "/anymail/mailgun/tracking/", body, {}


def postmark(delivery, record="Bounce", kind="HardBounce"):
    body = {
        "RecordType": record,
        "ID": 4242 + delivery.pk,
        "Type": kind,
        "TypeCode": 1,
        "MessageID": "pm-1",
        "Email": delivery.address,
        "Recipient": delivery.address,
        "Description": "The server was unable to deliver your message.",
        "Details": "smtp;550 5.1.1 user unknown",
        "BouncedAt": "2026-11-30T02:00:00Z",
        "Metadata": {"volley_key": f"delivery-{delivery.pk}"},
    }
    if record == "SpamComplaint":
        body["Type"] = "SpamComplaint"
    return "/anymail/postmark/tracking/", body, {}


@pytest.mark.parametrize("esp", [ses, sendgrid, mailgun, postmark])
def test_a_hard_bounce_from_each_esp_suppresses_the_address(make_delivery, esp):
    delivery = make_delivery()
    url, body, headers = esp(delivery)
    response = post(url, body, **headers)
    assert response.status_code == 200, response.content
    assert suppressed("ann@example.com") == {Suppression.Reason.HARD_BOUNCE}
    delivery.refresh_from_db()
    assert delivery.bounced_at is not None
    event = DeliveryEvent.objects.get(delivery=delivery)
    assert event.kind == DeliveryEvent.Kind.HARD_BOUNCE and event.detail


@pytest.mark.parametrize(
    "payload",
    [
        lambda d: ses(d, kind="Complaint"),
        lambda d: sendgrid(d, event="spamreport"),
        lambda d: mailgun(d, event="complained"),
        lambda d: postmark(d, record="SpamComplaint"),
    ],
    ids=["ses", "sendgrid", "mailgun", "postmark"],
)
def test_a_complaint_from_each_esp_suppresses_the_address(make_delivery, payload):
    delivery = make_delivery()
    url, body, headers = payload(delivery)
    assert post(url, body, **headers).status_code == 200
    assert suppressed("ann@example.com") == {Suppression.Reason.COMPLAINT}
    delivery.refresh_from_db()
    assert delivery.complained_at is not None


@pytest.mark.parametrize(
    "payload",
    [
        lambda d: ses(d, bounce_type="Transient"),
        lambda d: sendgrid(d, event="bounce", type="blocked"),
        lambda d: mailgun(d, severity="temporary"),
        lambda d: postmark(d, kind="SoftBounce"),
    ],
    ids=["ses", "sendgrid", "mailgun", "postmark"],
)
def test_soft_bounces_suppress_only_after_repeats(make_delivery, payload):
    deliveries = [make_delivery() for _ in range(3)]
    url, body, headers = payload(deliveries[0])
    assert post(url, body, **headers).status_code == 200
    assert suppressed("ann@example.com") == set()
    assert DeliveryEvent.objects.get().kind == DeliveryEvent.Kind.SOFT_BOUNCE
    for delivery in deliveries[1:]:
        url, body, headers = payload(delivery)
        post(url, body, **headers)
    assert suppressed("ann@example.com") == {Suppression.Reason.SOFT_BOUNCE}


def test_delivered_and_unsubscribed(make_delivery):
    delivery = make_delivery()
    url, body, headers = ses(delivery, kind="Delivery")
    assert post(url, body, **headers).status_code == 200
    delivery.refresh_from_db()
    assert delivery.delivered_at is not None
    assert suppressed("ann@example.com") == set()

    url, body, headers = sendgrid(delivery, event="unsubscribe")
    assert post(url, body, **headers).status_code == 200
    delivery.refresh_from_db()
    delivery.profile.refresh_from_db()
    assert delivery.unsubscribed_at is not None
    assert delivery.profile.consent_email is False
    assert suppressed("ann@example.com") == {Suppression.Reason.UNSUBSCRIBE}


def test_bad_authentication_is_refused_and_changes_nothing(make_delivery):
    delivery = make_delivery()
    url, body, headers = postmark(delivery)
    wrong = "Basic " + base64.b64encode(b"hook:guess").decode()
    assert post(url, body, auth=False, HTTP_AUTHORIZATION=wrong).status_code == 400
    url, body, headers = mailgun(delivery, key="not-the-key")
    assert post(url, body, **headers).status_code == 400
    # SES: SNS is asked for basic auth first, as SNS expects.
    url, body, headers = ses(delivery)
    assert post(url, body, auth=False, **headers).status_code == 401
    assert not Suppression.objects.exists()
    delivery.refresh_from_db()
    assert delivery.bounced_at is None


def test_events_for_unknown_messages_are_ignored(make_delivery):
    delivery = make_delivery()
    url, body, headers = sendgrid(delivery)
    body[0]["volley_key"] = "proof-123"
    assert post(url, body, **headers).status_code == 200
    body[0].pop("volley_key")
    assert post(url, body, **headers).status_code == 200
    assert not Suppression.objects.exists()


def test_webhooks_are_not_mounted_without_their_secret(settings, make_delivery):
    delivery = make_delivery()
    settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_WEBHOOK_SIGNING_KEY": None}
    url, body, headers = mailgun(delivery)
    assert post(url, body, **headers).status_code == 404
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": None}
    url, body, headers = postmark(delivery)
    assert post(url, body, **headers).status_code == 404
    assert not Suppression.objects.exists()


def test_an_event_for_the_bcc_copy_does_not_touch_the_recipient(make_delivery):
    delivery = make_delivery()
    url, body, headers = postmark(delivery)
    body["Email"] = body["Recipient"] = "archive@volley.example"
    assert post(url, body, **headers).status_code == 200
    assert not Suppression.objects.exists()
    delivery.refresh_from_db()
    assert delivery.bounced_at is None


# --- issue 10, second review: events without the provider's id ---------------------


def mailjet(delivery, hard=False, time=1764468000):
    body = {
        "event": "bounce",
        "time": time,
        "MessageID": 19421777835146490,
        "email": delivery.address,
        "blocked": False,
        "hard_bounce": hard,
        "error_related_to": "recipient",
        "error": "user unknown",
        "Payload": json.dumps({"volley_key": f"delivery-{delivery.pk}"}),
    }
    return "/anymail/mailjet/tracking/", body, {}


def brevo(delivery, event="soft_bounce", date="2026-11-30 03:00:00"):
    body = {
        "event": event,
        "email": delivery.address,
        "id": 123456,
        "date": date,
        "message-id": "<201798300811.5787683@relay.domain.com>",
        "reason": "mailbox full",
        "X-Mailin-custom": json.dumps({"volley_key": f"delivery-{delivery.pk}"}),
    }
    return "/anymail/brevo/tracking/", body, {}


@pytest.mark.parametrize("payload", [mailjet, brevo], ids=["mailjet", "brevo"])
def test_an_event_without_a_provider_id_counts_once_however_often_it_is_posted(
    make_delivery, payload
):
    delivery = make_delivery()
    url, body, headers = payload(delivery)
    for _ in range(3):
        assert post(url, body, **headers).status_code == 200
    # One soft bounce, however often it is replayed: no suppression.
    assert DeliveryEvent.objects.filter(kind=DeliveryEvent.Kind.SOFT_BOUNCE).count() == 1
    assert suppressed("ann@example.com") == set()


def test_a_complaint_without_a_provider_id_is_recorded_once(make_delivery):
    delivery = make_delivery()
    url, body, headers = postmark(delivery, record="SpamComplaint")
    body.pop("ID")
    for _ in range(2):
        assert post(url, body, **headers).status_code == 200
    assert DeliveryEvent.objects.filter(kind=DeliveryEvent.Kind.COMPLAINT).count() == 1


def test_distinct_events_without_ids_still_count_each(make_delivery):
    """Three soft bounces of three messages (or at three moments) add up."""
    deliveries = [make_delivery() for _ in range(3)]
    for n, delivery in enumerate(deliveries):
        url, body, headers = mailjet(delivery, time=1764468000 + n)
        assert post(url, body, **headers).status_code == 200
    assert suppressed("ann@example.com") == {Suppression.Reason.SOFT_BOUNCE}


def test_a_mailjet_hard_bounce_suppresses_at_once(make_delivery):
    url, body, headers = mailjet(make_delivery(), hard=True)
    assert post(url, body, **headers).status_code == 200
    assert suppressed("ann@example.com") == {Suppression.Reason.HARD_BOUNCE}


# --- third review: a malformed body from an authenticated sender is a 400 ----------

MALFORMED = [
    ("/anymail/sendgrid/tracking/", b"not json"),
    ("/anymail/sendgrid/tracking/", b'{"a": 1}'),
    ("/anymail/sendgrid/tracking/", b'["x", 1]'),
    ("/anymail/sendgrid/tracking/", b'[{"event": "bounce", "timestamp": "abc"}]'),
    ("/anymail/postmark/tracking/", b"[1]"),
    ("/anymail/postmark/tracking/", b'{"RecordType": "Bounce", "Metadata": "str"}'),
    ("/anymail/mailjet/tracking/", b'{"event": "bounce", "time": "abc", "Payload": "[1]"}'),
    ("/anymail/mailjet/tracking/", b'{"event": "bounce", "time": 1e400}'),
    ("/anymail/sparkpost/tracking/", b'[{"msys": {"message_event": {"rcpt_meta": "x"}}}]'),
]


@pytest.mark.parametrize(("url", "raw"), MALFORMED)
def test_a_malformed_event_is_a_400_not_a_500(db, url, raw):
    response = post(url, raw)
    # 400, or 200 where the ESP's parser reads it as an event about nothing.
    assert response.status_code in (200, 400), (response.status_code, response.content[:200])
    assert not Suppression.objects.exists()


def test_a_batch_with_one_malformed_event_writes_nothing(make_delivery):
    delivery = make_delivery()
    url, body, headers = sendgrid(delivery)
    body.append({"event": "bounce", "timestamp": "abc", "email": "x@example.com"})
    assert post(url, body, **headers).status_code == 400
    assert not Suppression.objects.exists()
    assert not DeliveryEvent.objects.exists()
