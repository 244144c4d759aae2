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


def test_admin_bulk_actions_run_the_registry_services_and_leave_an_event(
    login, administrator, monkeypatch
):
    from campaigns.models import CampaignEvent

    monkeypatch.setattr("campaigns.engine.cancel_campaign_work", lambda campaign: None)
    live = force_status(ready_email(administrator, name="Live"), "live")
    draft = ready_email(administrator, name="Draft")
    response = login(administrator).post(
        "/admin/campaigns/campaign/",
        {"action": "archive_selected", "_selected_action": [live.pk, draft.pk]},
    )
    assert response.status_code == 302
    live.refresh_from_db()
    draft.refresh_from_db()
    assert live.status == "archived" and draft.status == "draft"  # a draft is refused
    assert CampaignEvent.objects.filter(campaign=live, action="archive", actor=administrator)


def test_content_is_read_only_in_the_admin_and_restricting_keeps_access(login, administrator):
    from accounts.permissions import can_see

    campaign = ready_email(administrator, tags=["spring"])
    client = login(administrator)
    response = client.post(
        f"/admin/campaigns/campaign/{campaign.pk}/change/",
        {
            "name": "Renamed",
            "description": "changed",
            "tags": [],
            "restricted": "on",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
            "events-TOTAL_FORMS": "0",
            "events-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    campaign.refresh_from_db()
    assert (campaign.name, campaign.description) == ("Spring sale", "")
    assert list(campaign.tags.values_list("name", flat=True)) == ["spring"]
    assert campaign.restricted and can_see(administrator, campaign)
