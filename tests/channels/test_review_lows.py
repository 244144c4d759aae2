"""Low findings earlier reviews left open, closed (review 9, "Not covered").

``POST /feedback`` read its body with plain ``json.loads``: a lone surrogate
sent as raw UTF-8 bytes became text no database driver encodes (500 on
PostgreSQL once the event was stored), and a body nested thousands of levels
deep raised ``RecursionError`` (500). It now reads with ``config.jsonparse``,
as every other route does, and answers the same 400 problem.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from django.test import Client

from channels.models import FeedbackReceipt
from channels.transports import sign_body

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def secret(settings):
    settings.WEBHOOK_SIGNING_SECRET = "feedback-secret"


def _post(url: str, body: bytes, **headers):
    return Client().post(url, data=body, content_type="application/json", **headers)


def _feedback(body: bytes):
    return _post("/api/v1/feedback", body, HTTP_X_VOLLEY_SIGNATURE=sign_body(body))


def _surrogate_body() -> bytes:
    # A raw lone surrogate (U+D800 as UTF-8 bytes ED A0 80) in the event's id.
    text = json.dumps(
        {
            "event": "sms_stop",
            "recipient": "+46701234567",
            "eventId": "ev-SURR",
            "timestamp": int(time.time()),
        }
    ).encode()
    return text.replace(b"SURR", b"\xed\xa0\x80")


def _deep_body() -> bytes:
    return b"[" * 5000 + b"]" * 5000


@pytest.mark.parametrize("make_body", [_surrogate_body, _deep_body], ids=["surrogate", "deep"])
def test_feedback_refuses_an_unreadable_body_as_every_route_does(make_body, manager, api_for):
    body = make_body()
    response = _feedback(body)
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == "application/problem+json"
    # The same problem as a route whose body ninja reads with the same reader.
    other = api_for(manager).post("/campaigns", body)
    assert other.status_code == 400
    assert response.json() == other.json()
    assert not FeedbackReceipt.objects.exists()


def test_feedback_still_accepts_a_readable_body():
    body = json.dumps(
        {
            "event": "delivered",
            "messageId": "delivery-999999",
            "eventId": uuid.uuid4().hex,
            "timestamp": int(time.time()),
        }
    ).encode()
    response = _feedback(body)
    assert response.status_code == 202 and response.json() == {"status": "ignored"}
