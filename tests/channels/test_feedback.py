"""POST /api/v1/feedback: HMAC-verified provider events flowing into suppression."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from django.test import Client

from audiences.models import Suppression
from channels.models import DeliveryEvent, FeedbackReceipt
from channels.transports import message_id, sign_body


@pytest.fixture(autouse=True)
def secret(settings):
    settings.WEBHOOK_SIGNING_SECRET = "feedback-secret"


def event(payload: dict, **over) -> dict:
    """A provider event with a fresh ``eventId`` and the current ``timestamp``."""
    return {"eventId": uuid.uuid4().hex, "timestamp": int(time.time()), **payload, **over}


def post(payload, *, signature=None, raw=None):
    """Post ``payload`` signed; a dict gets an ``eventId`` and ``timestamp`` unless given."""
    if isinstance(payload, dict):
        payload = event(payload)
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {}
    if signature is not False:
        headers["HTTP_X_VOLLEY_SIGNATURE"] = signature or sign_body(body)
    return Client().post("/api/v1/feedback", data=body, content_type="application/json", **headers)


def test_bad_or_missing_signature_is_401_and_changes_nothing(make_delivery):
    delivery = make_delivery()
    event = {"event": "bounce", "bounceType": "hard", "messageId": f"delivery-{delivery.pk}"}
    for signature in (False, "sha256=00", sign_body(b"other body")):
        response = post(event, signature=signature)
        assert response.status_code == 401
        assert response["Content-Type"] == "application/problem+json"
    assert not Suppression.objects.exists()
    delivery.refresh_from_db()
    assert delivery.bounced_at is None


def test_delivered_by_message_id_records_the_first_time(make_delivery):
    delivery = make_delivery()
    mid = message_id(f"delivery-{delivery.pk}", "news@volley.example")
    for _ in range(2):
        response = post({"event": "delivered", "messageId": mid})
        assert response.status_code == 202 and response.json() == {"status": "accepted"}
    delivery.refresh_from_db()
    assert delivery.delivered_at is not None


def test_hard_bounce_suppresses_at_once(make_delivery):
    delivery = make_delivery()
    response = post(
        {
            "event": "bounce",
            "bounceType": "hard",
            "reason": "550 user unknown",
            "messageId": f"delivery-{delivery.pk}",
        }
    )
    assert response.status_code == 202
    delivery.refresh_from_db()
    assert delivery.bounced_at is not None
    assert Suppression.objects.get(channel="email", address="ann@example.com").reason == (
        "hard_bounce"
    )


def test_soft_bounces_suppress_after_repeated_failures(make_delivery):
    deliveries = [make_delivery() for _ in range(3)]
    for i, delivery in enumerate(deliveries):
        post({"event": "bounce", "bounceType": "soft", "messageId": f"delivery-{delivery.pk}"})
        suppressed = Suppression.objects.filter(address="ann@example.com").first()
        if i < 2:
            assert suppressed is None
    assert suppressed.reason == "soft_bounce"


def test_complaint_suppresses_and_overrides_a_weaker_reason(make_delivery):
    Suppression.objects.create(channel="email", address="ann@example.com", reason="unsubscribe")
    delivery = make_delivery()
    assert post({"event": "complaint", "messageId": f"delivery-{delivery.pk}"}).status_code == 202
    delivery.refresh_from_db()
    assert delivery.complained_at is not None
    assert Suppression.objects.get(address="ann@example.com").reason == "complaint"


def test_sms_stop_withdraws_sms_consent(make_delivery, profile):
    delivery = make_delivery("sms")
    assert post({"event": "sms_stop", "messageId": f"delivery-{delivery.pk}"}).status_code == 202
    profile.refresh_from_db()
    assert profile.consent_sms is False and profile.consent_email is True
    assert Suppression.objects.filter(channel="sms", address="+31612345678").exists()


def test_sms_stop_by_recipient_number_alone(profile):
    response = post({"event": "sms_stop", "recipient": "+31 6 12345678"})
    assert response.json() == {"status": "accepted"}
    profile.refresh_from_db()
    assert profile.consent_sms is False


def test_unknown_or_forged_messages_are_ignored_without_telling_which(make_delivery):
    delivery = make_delivery()
    for mid in ("delivery-999999", "<delivery-1.0000000000000000@x.example>", "anything"):
        response = post({"event": "bounce", "bounceType": "hard", "messageId": mid})
        assert response.status_code == 202 and response.json() == {"status": "ignored"}
    assert post({"event": "sms_stop", "messageId": f"delivery-{delivery.pk}"}).json() == {
        "status": "ignored"  # an email delivery has no SMS STOP
    }
    assert not Suppression.objects.exists()


def test_invalid_bodies_are_400_with_field_errors(db):
    assert post(None, raw=b"{oops").status_code == 400
    response = post({"event": "explode"})
    assert response.status_code == 400 and "event" in response.json()["errors"]
    response = post({"event": "bounce", "messageId": "delivery-1"})
    assert response.status_code == 400 and "bounceType" in response.json()["errors"]
    assert post({"event": "delivered", "extra": 1}).status_code == 400


def test_feedback_is_documented_in_openapi(client):
    spec = client.get("/api/v1/openapi.json").json()
    operation = spec["paths"]["/api/v1/feedback"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) >= {"event", "messageId", "bounceType", "recipient"}
    assert {"eventId", "timestamp"} <= set(schema["required"])
    assert "Unix seconds" in schema["properties"]["timestamp"]["description"]
    assert "X-Volley-Signature" in operation["description"]
    assert "eventId" in operation["description"] and "10 minutes" in operation["description"]


def test_one_signed_soft_bounce_posted_three_times_counts_once(make_delivery):
    """Issue 10 #8: a replayed event must not add up to a suppression."""
    delivery = make_delivery()
    bounce = event(
        {"event": "bounce", "bounceType": "soft", "messageId": f"delivery-{delivery.pk}"}
    )
    answers = [post(bounce).json()["status"] for _ in range(3)]
    assert answers == ["accepted", "ignored", "ignored"]
    assert DeliveryEvent.objects.filter(kind="soft_bounce").count() == 1
    assert not Suppression.objects.exists()
    # Three different events from the provider still suppress.
    for _ in range(2):
        post({"event": "bounce", "bounceType": "soft", "messageId": f"delivery-{delivery.pk}"})
    assert Suppression.objects.get(address="ann@example.com").reason == "soft_bounce"


def test_the_same_event_id_is_refused_by_the_database(db):
    from django.db import IntegrityError, transaction

    FeedbackReceipt.objects.create(event_id="evt-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        FeedbackReceipt.objects.create(event_id="evt-1")


@pytest.mark.parametrize("offset", [-601, -3600, 301, 86400])
def test_old_or_future_events_are_refused(make_delivery, offset):
    delivery = make_delivery()
    payload = event(
        {"event": "bounce", "bounceType": "hard", "messageId": f"delivery-{delivery.pk}"},
        timestamp=int(time.time()) + offset,
    )
    response = post(payload)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert "timestamp" in response.json()["errors"]
    assert not Suppression.objects.exists()


@pytest.mark.parametrize("missing", ["eventId", "timestamp"])
def test_event_id_and_timestamp_are_required(make_delivery, missing):
    delivery = make_delivery()
    payload = event({"event": "delivered", "messageId": f"delivery-{delivery.pk}"})
    del payload[missing]
    response = Client().post(
        "/api/v1/feedback",
        data=json.dumps(payload),
        content_type="application/json",
        HTTP_X_VOLLEY_SIGNATURE=sign_body(json.dumps(payload).encode()),
    )
    assert response.status_code == 400 and missing in response.json()["errors"]


def test_old_feedback_receipts_go_with_the_nightly_retention(db, settings):
    """A receipt only has to outlive the window in which its event could come
    again; then it is deleted (they were kept for ever)."""
    from datetime import timedelta

    from django.utils import timezone

    from campaigns.retention import apply_retention

    settings.RETENTION_FEEDBACK_RECEIPT_DAYS = 30
    old = FeedbackReceipt.objects.create(event_id="evt-old")
    recent = FeedbackReceipt.objects.create(event_id="evt-recent")
    FeedbackReceipt.objects.filter(pk=old.pk).update(
        received_at=timezone.now() - timedelta(days=31)
    )
    FeedbackReceipt.objects.filter(pk=recent.pk).update(
        received_at=timezone.now() - timedelta(days=29)
    )
    assert apply_retention()["feedback_receipts"] == 1
    assert list(FeedbackReceipt.objects.values_list("event_id", flat=True)) == ["evt-recent"]
