"""django-q2 entry points for webhooks: thin, safe to run twice (claims are leases)."""

from __future__ import annotations

from webhooks import delivery, outbox


def deliver() -> None:
    """Deliver what is due; hand over to a successor when the budget ran out."""
    delivery.deliver_due()
    if delivery.more_due():
        outbox.wake()


def tick() -> None:
    """Every minute: retries that came due, and anything a lost wake-up missed."""
    deliver()
