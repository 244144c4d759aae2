"""A real `manage.py qcluster` delivers the outbox (SPEC §13): the send path's
events reach a receiver that was down at first, each at least once, with the
same event ids, every signature valid."""

from __future__ import annotations

import pytest
from django.utils import timezone

from campaigns.engine import enqueue_activation
from campaigns.models import Delivery
from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience
from tests.campaigns.test_engine_cluster import wait_for
from webhooks.models import Message
from webhooks.services import endpoint_create

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]


def test_cluster_delivers_every_event_to_a_receiver_that_was_down(start_cluster, receiver):
    endpoint, receiver.secret = endpoint_create(
        url=receiver.url, events=["delivery.sent", "campaign.status_changed"]
    )
    receiver.answer = 503
    campaign = make_campaign(upload_audience(make_profiles(60)))
    enqueue_activation(campaign.pk)
    start_cluster(VOLLEY_ALLOW_PRIVATE_PROVIDER_URLS="1", ENGINE_BATCH_SIZE="25")
    wait_for(
        lambda: Delivery.objects.filter(run__campaign=campaign, status="sent").count() == 60,
        120,
        "the campaign to be sent",
    )
    wait_for(
        lambda: Message.objects.exists() and not Message.objects.filter(attempts=0).exists(),
        60,
        "a first (refused) attempt at every event",
    )
    refused_ids = {c["event"]["id"] for c in receiver.calls}
    receiver.answer = 200
    # The back-off has passed (as the minute tick would find): wake the cluster.
    Message.objects.update(next_attempt_at=timezone.now())
    from django_q.tasks import async_task

    async_task("webhooks.tasks.tick")
    wait_for(
        lambda: not Message.objects.exclude(status="delivered").exists(),
        90,
        "every event delivered",
    )
    accepted = receiver.accepted()
    assert {e["id"] for e in accepted} == set(Message.objects.values_list("event_id", flat=True))
    assert refused_ids <= {e["id"] for e in accepted}  # the same ids once it was up
    sent_ids = set(
        Delivery.objects.filter(run__campaign=campaign, status="sent").values_list("pk", flat=True)
    )
    delivered = {e["data"]["deliveryId"] for e in accepted if e["type"] == "delivery.sent"}
    assert delivered == sent_ids  # none lost
    assert all(c["valid"] for c in receiver.calls)
