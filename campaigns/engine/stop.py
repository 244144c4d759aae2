"""Stopping: cancel what has not been sent yet."""

from __future__ import annotations

from campaigns.engine import clock
from campaigns.models import Delivery, Run


def cancel_campaign_work(campaign) -> None:
    """Inside the stop transaction: pending deliveries and unstarted runs are cancelled.

    Claimed batches are left to their senders: a sender holding a send permit
    sees the stop before its next message, records what it sent truthfully and
    cancels the rest, and the stop's transition waits for its permit once this
    transaction has committed (campaigns/barrier.py); a sender asking later is
    refused. A dead sender's batch is cancelled when its lease expires
    (campaigns/engine/claim.py).
    """
    Delivery.objects.filter(run__campaign=campaign, status=Delivery.Status.PENDING).update(
        status=Delivery.Status.CANCELLED, lease_expires_at=None
    )
    Run.objects.filter(
        campaign=campaign,
        status__in=[Run.Status.QUEUED, Run.Status.MATERIALIZING, Run.Status.SENDING],
    ).update(status=Run.Status.CANCELLED, finished_at=clock.now())
