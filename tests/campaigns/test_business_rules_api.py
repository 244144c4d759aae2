"""`/api/v1/business-rules` (SPEC §12), the admin, and `exemptFromRules`."""

from __future__ import annotations

import pytest

from campaigns.models import BusinessRule, CampaignEvent
from tests.campaigns.conftest import make_campaign

pytestmark = pytest.mark.django_db

RULE = {
    "name": "Marketing pressure",
    "active": True,
    "channel": "email",
    "frequencyCap": {"maxMessages": 3, "windowHours": 168},
    "quietHours": {"start": "21:00", "end": "08:00", "action": "delay"},
}


def test_administrator_creates_reads_changes_and_deletes_a_rule(administrator, api_for):
    api = api_for(administrator)
    response = api.post("/business-rules", RULE)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {
        "id": body["id"],
        "name": "Marketing pressure",
        "active": True,
        "channel": "email",
        "categories": ["marketing"],  # the default: transactional is exempt
        "frequencyCap": {"maxMessages": 3, "windowHours": 168},
        "quietHours": {"start": "21:00", "end": "08:00", "action": "delay"},
    }
    rule = BusinessRule.objects.get()
    assert (rule.cap_max_messages, rule.cap_window_hours, str(rule.quiet_start)) == (
        3,
        168,
        "21:00:00",
    )
    assert api.get(f"/business-rules/{rule.pk}").json() == body
    assert api.get("/business-rules").json() == [body]

    patched = api.patch(
        f"/business-rules/{rule.pk}",
        {"quietHours": None, "categories": ["marketing", "transactional"], "active": False},
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["quietHours"] is None
    assert patched.json()["frequencyCap"] == {"maxMessages": 3, "windowHours": 168}
    rule.refresh_from_db()
    assert (rule.active, rule.categories, rule.quiet_start) == (
        False,
        ["marketing", "transactional"],
        None,
    )

    assert api.delete(f"/business-rules/{rule.pk}").status_code == 204
    assert not BusinessRule.objects.exists()
    assert api.get(f"/business-rules/{rule.pk}").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"frequencyCap": {"maxMessages": 0, "windowHours": 24}}, "frequencyCap.maxMessages"),
        ({"frequencyCap": {"maxMessages": 1, "windowHours": 0}}, "frequencyCap.windowHours"),
        ({"frequencyCap": {"maxMessages": 1}}, "frequencyCap.windowHours"),
        ({"quietHours": {"start": "25:00", "end": "08:00"}}, "quietHours.start"),
        ({"quietHours": {"start": "21:00", "end": "8"}}, "quietHours.end"),
        ({"quietHours": {"start": "21:00", "end": "21:00"}}, "quietHours.end"),
        ({"quietHours": {"start": "21:00", "end": "08:00", "action": "wait"}}, "quietHours.action"),
        ({"channel": "fax"}, "channel"),
        ({"categories": []}, "categories"),
        ({"categories": ["promo"]}, "categories.0"),
        ({"name": ""}, "name"),
        ({"frequencyCap": None, "quietHours": None}, "frequencyCap.maxMessages"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(administrator, api_for, change, field):
    response = api_for(administrator).post("/business-rules", {**RULE, **change})
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert field in response.json()["errors"], response.json()
    assert not BusinessRule.objects.exists()


def test_a_bad_patch_writes_nothing(administrator, api_for):
    api = api_for(administrator)
    rule_id = api.post("/business-rules", RULE).json()["id"]
    response = api.patch(
        f"/business-rules/{rule_id}", {"name": "New", "frequencyCap": None, "quietHours": None}
    )
    assert response.status_code == 400
    assert "frequencyCap.maxMessages" in response.json()["errors"]
    assert BusinessRule.objects.get().name == "Marketing pressure"


def test_only_administrators_write_rules(manager, approver, viewer, administrator, api_for):
    rule_id = api_for(administrator).post("/business-rules", RULE).json()["id"]
    for user in (manager, approver, viewer):
        api = api_for(user)
        assert api.post("/business-rules", RULE).status_code == 403
        assert api.patch(f"/business-rules/{rule_id}", {"active": False}).status_code == 403
        assert api.delete(f"/business-rules/{rule_id}").status_code == 403
        assert api.get(f"/business-rules/{rule_id}").status_code == 200  # may read
    assert BusinessRule.objects.get().active


def test_missing_rule_is_404(administrator, api_for):
    api = api_for(administrator)
    assert api.get("/business-rules/999999").status_code == 404
    assert api.patch("/business-rules/999999", {"active": False}).status_code == 404
    assert api.get(f"/business-rules/{2**70}").status_code in (404, 422, 400)


def test_only_administrators_exempt_a_campaign(manager, administrator, api_for):
    campaign = make_campaign(status="live")
    response = api_for(manager).patch(f"/campaigns/{campaign.pk}", {"exemptFromRules": True})
    assert response.status_code in (403, 404)
    campaign.refresh_from_db()
    assert not campaign.exempt_from_rules

    response = api_for(administrator).patch(f"/campaigns/{campaign.pk}", {"exemptFromRules": True})
    assert response.status_code == 200, response.content
    assert response.json()["exemptFromRules"] is True
    campaign.refresh_from_db()
    assert campaign.exempt_from_rules
    assert CampaignEvent.objects.filter(campaign=campaign, action="exempt_from_rules").exists()


def test_rules_in_the_admin(administrator, manager, client):
    client.force_login(administrator)
    response = client.post(
        "/admin/campaigns/businessrule/add/",
        {
            "name": "Nights",
            "active": "on",
            "channel": "sms",
            "categories": ["marketing", "transactional"],
            "quiet_start": "21:00",
            "quiet_end": "08:00",
            "quiet_action": "skip",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    rule = BusinessRule.objects.get()
    assert (rule.channel, rule.quiet_action, rule.has_cap) == ("sms", "skip", False)
    assert rule.categories == ["marketing", "transactional"]
    bad = client.post(
        "/admin/campaigns/businessrule/add/",
        {
            "name": "Half",
            "channel": "sms",
            "categories": '["marketing"]',
            "cap_max_messages": 2,
            "quiet_action": "delay",
        },
    )
    assert bad.status_code == 200 and BusinessRule.objects.count() == 1
    client.force_login(manager)
    assert client.get("/admin/campaigns/businessrule/").status_code in (302, 403)


def test_the_edit_page_offers_the_exemption_to_administrators_only(
    login, manager, administrator, no_worker
):
    from campaigns.models import Campaign
    from campaigns.review import review_campaign
    from tests.campaigns.lifecycle_helpers import audience, email_config
    from tests.campaigns.test_pages import _edit_data

    client = login(manager)
    client.post(
        "/campaigns/new/",
        {"name": "Receipts", "type": "scheduled", "category": "marketing", "channel": "email"},
    )
    campaign = Campaign.objects.get()
    url = f"/campaigns/{campaign.pk}/edit/"
    config, aud = email_config(), audience()
    assert "exempt_from_rules" not in client.get(url).content.decode()
    client.post(url, _edit_data(config, aud, exempt_from_rules="on"))
    campaign.refresh_from_db()
    assert not campaign.exempt_from_rules
    assert "exempt_from_rules" not in review_campaign(campaign).codes()

    client = login(administrator)
    assert 'name="exempt_from_rules"' in client.get(url).content.decode()
    response = client.post(url, _edit_data(config, aud, exempt_from_rules="on"))
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.exempt_from_rules
    assert "exempt_from_rules" in review_campaign(campaign).codes()
    review = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "exempt from the business rules" in review
