"""The admin: administrators manage policies and access; the status is read-only."""

from __future__ import annotations

from campaigns.models import ApprovalPolicy, Campaign
from tests.campaigns.lifecycle_helpers import force_status, ready_email


def test_administrator_sees_campaigns_and_policies(login, administrator):
    campaign = ready_email(administrator)
    client = login(administrator)
    assert client.get("/admin/campaigns/campaign/").status_code == 200
    assert client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").status_code == 200
    assert client.get("/admin/campaigns/approvalpolicy/add/").status_code == 200


def test_administrator_adds_a_policy(login, administrator):
    response = login(administrator).post(
        "/admin/campaigns/approvalpolicy/add/",
        {
            "name": "All email",
            "active": "on",
            "types": "[]",
            "categories": "[]",
            "channels": '["email"]',
            "tags": "[]",
            "block_self_approval": "on",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    assert ApprovalPolicy.objects.get().channels == ["email"]


def test_status_cannot_be_edited_in_the_admin(login, administrator):
    campaign = ready_email(administrator)
    client = login(administrator)
    client.post(
        f"/admin/campaigns/campaign/{campaign.pk}/change/",
        {
            "name": "Renamed",
            "description": "",
            "status": "live",
            "restricted": "on",
            "campaignversion_set-TOTAL_FORMS": "0",
            "campaignversion_set-INITIAL_FORMS": "0",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
            "events-TOTAL_FORMS": "0",
            "events-INITIAL_FORMS": "0",
        },
    )
    campaign.refresh_from_db()
    assert campaign.status == "draft"


def test_only_drafts_are_deletable_in_the_admin(login, administrator):
    campaign = force_status(ready_email(administrator), "live")
    response = login(administrator).get(f"/admin/campaigns/campaign/{campaign.pk}/delete/")
    assert response.status_code == 403
    assert Campaign.objects.filter(pk=campaign.pk).exists()


def test_managers_have_no_admin(login, manager):
    assert login(manager).get("/admin/campaigns/campaign/").status_code == 302
