"""Guards for docs/security-review-11.md's "What was probed and held" (these pass on
the reviewed code too: the probe found no finding here)."""

from __future__ import annotations

import json

import pytest

from channels.models import DeliveryEvent, FeedbackReceipt
from tests.channels.test_feedback import event, post

pytestmark = pytest.mark.django_db

RAW_SURROGATE = "\ud800".encode("utf-8", "surrogatepass")  # b"\xed\xa0\x80"


@pytest.fixture(autouse=True)
def secret(settings):
    settings.WEBHOOK_SIGNING_SECRET = "feedback-secret"


@pytest.mark.parametrize("field", ["eventId", "reason"])
def test_held_a_signed_feedback_body_with_a_raw_lone_surrogate_is_a_400(field, make_delivery):
    """``json.loads`` reads the bytes with ``surrogatepass`` (review 9 #1 left this
    endpoint on it), but pydantic refuses the lone surrogate in any ``str``
    field: a 400, nothing stored, on SQLite and PostgreSQL."""
    delivery = make_delivery()
    payload = event(
        {"event": "bounce", "bounceType": "soft", "messageId": f"delivery-{delivery.pk}"},
        reason="mailbox full",
    )
    payload[field] = "aSURb"
    raw = json.dumps(payload).encode().replace(b"SUR", RAW_SURROGATE)
    answer = post(None, raw=raw)
    assert answer.status_code == 400, answer.content
    assert answer["Content-Type"] == "application/problem+json"
    assert not FeedbackReceipt.objects.exists() and not DeliveryEvent.objects.exists()
