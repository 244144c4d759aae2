"""django-q2 entry points for webhooks: thin, safe to run twice (claims are leases)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.cache import cache

from webhooks import delivery, outbox

_RUNNING = "webhooks:deliverer"


def deliver() -> None:
    """Deliver what is due; hand over to a successor when work is left.

    One deliverer at a time (a cache lease): wake-ups come from every sending
    process, and webhook work must never take every worker from the campaigns.
    A second one now and then (the cache lease is best effort) is harmless:
    claims are disjoint."""
    token = uuid.uuid4().hex
    lease = settings.WEBHOOK_DELIVER_BUDGET_SECONDS + 30
    try:
        if not cache.add(_RUNNING, token, timeout=lease):
            return  # the running one loops until nothing is due
    except Exception:
        pass  # no cache: deliver anyway
    try:
        delivery.deliver_due()
    finally:
        try:
            if cache.get(_RUNNING) == token:
                cache.delete(_RUNNING)
        except Exception:
            pass
    if delivery.more_due():
        outbox.wake()


def tick() -> None:
    """Every minute: retries that came due, and anything a lost wake-up missed."""
    deliver()
