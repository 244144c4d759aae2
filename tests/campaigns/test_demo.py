"""seed_demo's campaigns: every status, a live recurring one with an open draft
version, an archived one; a second run changes nothing."""

from __future__ import annotations

from django.core.management import call_command

from campaigns.models import ApprovalRequest, Campaign, CampaignEvent, CampaignStatus


def test_seed_demo_has_every_status_and_is_idempotent(db):
    call_command("seed_demo", verbosity=0)
    statuses = set(Campaign.objects.values_list("status", flat=True))
    assert statuses == set(CampaignStatus.values)
    with_draft = Campaign.objects.filter(
        status="live", live_version__isnull=False, draft_version__isnull=False
    )
    assert with_draft.exists()
    assert with_draft.get().live_version.recurrence is not None
    assert ApprovalRequest.objects.filter(status="pending").count() == 1
    counts = (Campaign.objects.count(), CampaignEvent.objects.count())
    call_command("seed_demo", verbosity=0)
    assert (Campaign.objects.count(), CampaignEvent.objects.count()) == counts
