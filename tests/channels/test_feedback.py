"""POST /api/v1/feedback: HMAC-verified provider events flowing into suppression."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from audiences.models import Suppression
from channels.transports import message_id, sign_body


@pytest.fixture(autouse=True)
def secret(settings):
    settings.WEBHOOK_SIGNING_SECRET = "feedback-secret"


def post(payload, *, signature=None, raw=None):
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
    assert "X-Volley-Signature" in operation["description"]
