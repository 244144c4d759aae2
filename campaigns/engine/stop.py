"""Stopping: cancel what has not been sent yet."""

from __future__ import annotations

from django.utils import timezone

from campaigns.models import Delivery, Run


def cancel_campaign_work(campaign) -> None:
    Delivery.objects.filter(run__campaign=campaign, status=Delivery.Status.PENDING).update(
        status=Delivery.Status.CANCELLED
    )
    Run.objects.filter(
        campaign=campaign,
        status__in=[Run.Status.QUEUED, Run.Status.MATERIALIZING, Run.Status.SENDING],
    ).update(status=Run.Status.CANCELLED, finished_at=timezone.now())
