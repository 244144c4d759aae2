"""Test data for the webhook log: an endpoint with many logged messages."""

from __future__ import annotations

from django.utils import timezone

from webhooks.models import Attempt, Endpoint, Message
from webhooks.services import endpoint_create


def endpoint_with_log(actor, messages: int) -> Endpoint:
    """An endpoint ``actor`` made, with ``messages`` logged messages of one attempt each."""
    endpoint, _secret = endpoint_create(
        url="https://hooks.example.com/x", events=["delivery.sent"], actor=actor
    )
    now = timezone.now()
    rows = Message.objects.bulk_create(
        Message(endpoint=endpoint, event_type="delivery.sent", created_at=now, data={"x": 1})
        for _ in range(messages)
    )
    Attempt.objects.bulk_create(Attempt(message=row, at=now) for row in rows)
    return endpoint
