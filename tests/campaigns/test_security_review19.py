"""Review 19: bad input and plain saves on the campaign admin."""

from __future__ import annotations

import pytest

from campaigns.models import CampaignEvent, CampaignVersion
from tests.campaigns.lifecycle_helpers import ready_email

pytestmark = pytest.mark.django_db


def test_a_superuser_saves_a_campaign_in_the_admin(login, administrator, make_user):
    # What the browser sends for a superuser, who sees the version and event inlines.
    campaign = ready_email(administrator)
    version = campaign.versions.get()
    event = CampaignEvent.objects.filter(campaign=campaign).first()
    client = login(make_user("root", superuser=True))
    client.raise_request_exception = False
    inline = {}
    for prefix, row in (("versions", version), ("events", event)):
        count = "1" if row else "0"
        inline |= {
            f"{prefix}-TOTAL_FORMS": count,
            f"{prefix}-INITIAL_FORMS": count,
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "0",
        }
        if row:
            inline |= {f"{prefix}-0-id": str(row.pk), f"{prefix}-0-campaign": str(campaign.pk)}
    response = client.post(
        f"/admin/campaigns/campaign/{campaign.pk}/change/",
        {**inline, "restricted": "on", "_save": "Save"},
    )
    assert response.status_code == 302  # was 500 ('…FormSet' object has no attribute 'new_objects')
    campaign.refresh_from_db()
    assert campaign.restricted
    assert list(CampaignVersion.objects.filter(campaign=campaign)) == [version]
