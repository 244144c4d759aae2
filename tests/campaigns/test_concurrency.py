"""Two simultaneous activations: the compare-and-set lets exactly one win."""

from __future__ import annotations

import threading

import pytest
from django.conf import settings
from django.db import connection

from campaigns import services
from campaigns.models import Campaign, CampaignEvent, CampaignStatus
from tests.campaigns.lifecycle_helpers import ready_email

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL row locking"),
]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_activations_one_wins(make_user, no_worker):
    boss = make_user("boss", superuser=True)
    campaign = ready_email(boss)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def activate() -> None:
        try:
            mine = Campaign.objects.get(pk=campaign.pk)  # each thread its own stale copy
            barrier.wait(timeout=10)
            services.campaign_activate(campaign=mine, actor=boss)
            outcomes.append("won")
        except services.ActionRefused:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=activate) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["refused", "won"]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.ACTIVATING
    assert CampaignEvent.objects.filter(campaign=campaign, action="activate").count() == 1
