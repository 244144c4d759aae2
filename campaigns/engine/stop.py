"""Stopping: cancel what has not been sent yet."""

from __future__ import annotations

from django.utils import timezone

from campaigns.models import Delivery, Run


def cancel_campaign_work(campaign) -> None:
    """Inside the stop transaction: pending deliveries and unstarted runs are cancelled.

    Claimed batches are left to their senders: a batch already inside its send
    transaction holds a share lock on the campaign row, so the stop's UPDATE of
    that row waits for it (and its outcomes are recorded truthfully); a batch
    that starts later sees the campaign stopped and cancels its deliveries
    (campaigns/engine/send.py). A dead sender's batch is cancelled when its
    lease expires (campaigns/engine/claim.py).
    """
    Delivery.objects.filter(run__campaign=campaign, status=Delivery.Status.PENDING).update(
        status=Delivery.Status.CANCELLED, lease_expires_at=None
    )
    Run.objects.filter(
        campaign=campaign,
        status__in=[Run.Status.QUEUED, Run.Status.MATERIALIZING, Run.Status.SENDING],
    ).update(status=Run.Status.CANCELLED, finished_at=timezone.now())
