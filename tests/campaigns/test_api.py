"""The campaigns API contract of SPEC §7, field by field."""

from __future__ import annotations

import pytest

from campaigns.models import ApprovalPolicy, Campaign, CampaignEvent, CampaignStatus
from tests.campaigns.lifecycle_helpers import (
    GOOD_HTML,
    audience,
    email_config,
    force_status,
    ready_email,
    sms_config,
)

pytestmark = pytest.mark.usefixtures("no_worker")

S = CampaignStatus
CAMPAIGN_KEYS = {
    "id",
    "name",
    "description",
    "tags",
    "type",
    "category",
    "channel",
    "status",
    "channelConfigurationId",
    "audienceId",
    "identityNamespace",
    "content",
    "schedule",
    "hasDraftVersion",
    "createdAt",
    "updatedAt",
}


def _body(config, aud=None, **over):
    body = {
        "name": "Welcome",
        "description": "First mail",
        "tags": ["onboarding", "q3"],
        "type": "scheduled",
        "category": "marketing",
        "channelConfigurationId": config.pk,
        "audienceId": (aud or audience()).pk,
        "identityNamespace": "email",
        "content": {"subject": "Hi", "preheader": "p", "html": GOOD_HTML, "text": "Hello"},
        "schedule": {
            "startAt": "2030-06-01T09:00:00",
            "endAt": None,
            "timezone": "Europe/Paris",
            "recurrence": {"frequency": "weekly", "time": "09:30", "daysOfWeek": [0, 2]},
            "throttlePerSecond": 50,
            "useProfileTimezone": True,
        },
        "tracking": {"opens": True, "clicks": False},
        "allowProfileCreation": False,
    }
    body.update(over)
    return body


def test_create_returns_the_campaign_in_camel_case(api_for, manager):
    config = email_config()
    answer = api_for(manager).post("/campaigns", _body(config))
    assert answer.status_code == 201, answer.content
    data = answer.json()
    assert CAMPAIGN_KEYS <= set(data)
    assert data["name"] == "Welcome" and data["description"] == "First mail"
    assert sorted(data["tags"]) == ["onboarding", "q3"]
    assert (data["type"], data["category"], data["channel"], data["status"]) == (
        "scheduled",
        "marketing",
        "email",
        "draft",
    )
    assert data["channelConfigurationId"] == config.pk
    assert data["identityNamespace"] == "email"
    assert data["content"] == {
        "subject": "Hi",
        "preheader": "p",
        "html": GOOD_HTML,
        "text": "Hello",
    }
    schedule = data["schedule"]
    assert schedule["startAt"].startswith("2030-06-01T07:00:00")  # Paris summer time → UTC
    assert schedule["timezone"] == "Europe/Paris"
    assert schedule["recurrence"] == {
        "frequency": "weekly",
        "time": "09:30",
        "daysOfWeek": [0, 2],
        "dayOfMonth": None,
    }
    assert schedule["throttlePerSecond"] == 50 and schedule["useProfileTimezone"] is True
    assert data["hasDraftVersion"] is False
    assert data["tracking"] == {"opens": True, "clicks": False}


def test_get_list_patch_delete_roundtrip(api_for, manager):
    api = api_for(manager)
    created = api.post("/campaigns", _body(email_config())).json()
    assert api.get(f"/campaigns/{created['id']}").json()["name"] == "Welcome"
    listed = api.get("/campaigns", {"status": "draft"}).json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == created["id"]
    patched = api.patch(
        f"/campaigns/{created['id']}", {"name": "Hello", "content": {"subject": "New"}}
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["name"] == "Hello"
    assert patched.json()["content"]["subject"] == "New"
    assert api.delete(f"/campaigns/{created['id']}").status_code == 204
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(
    "over,field",
    [
        ({"type": "weekly"}, "type"),
        ({"name": ""}, "name"),
        ({"content": {"subjet": "typo"}}, "content.subjet"),
        ({"content": {"subject": "{% if %}", "html": "x"}}, "content.subject"),
        ({"schedule": {"timezone": "Mars/Olympus"}}, "schedule.timezone"),
        ({"schedule": {"throttlePerSecond": 0}}, "schedule.throttlePerSecond"),
        ({"schedule": {"recurrence": {"frequency": "hourly"}}}, "schedule.recurrence.frequency"),
        ({"audienceId": 999999}, "audienceId"),
        ({"unknownField": 1}, "unknownField"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api_for, manager, over, field):
    answer = api_for(manager).post("/campaigns", _body(email_config(), **over))
    assert answer.status_code == 400, answer.content
    assert answer["Content-Type"] == "application/problem+json"
    assert field in answer.json()["errors"], answer.json()
    assert not Campaign.objects.exists()


def test_channel_configuration_must_be_active_and_of_the_category(api_for, manager):
    api = api_for(manager)
    off = email_config(name="Off", status="deactivated")
    assert api.post("/campaigns", _body(off)).status_code == 400
    transactional = email_config(name="Tx", purpose="transactional")
    answer = api.post("/campaigns", _body(transactional))
    assert "channelConfigurationId" in answer.json()["errors"]


def test_list_filters(api_for, manager):
    api = api_for(manager)
    a = ready_email(manager, name="Alpha", tags=["x"])
    b = ready_email(manager, name="Beta")
    force_status(b, S.LIVE)
    sms = Campaign.objects.create(name="Gamma sms", channel="sms")
    ids = lambda q: {c["id"] for c in api.get("/campaigns", q).json()["items"]}  # noqa: E731
    assert ids({}) == {a.pk, b.pk, sms.pk}
    assert ids({"status": ["live"]}) == {b.pk}
    assert ids({"channel": "sms"}) == {sms.pk}
    assert ids({"tag": "x"}) == {a.pk}
    assert ids({"search": "bet"}) == {b.pk}
    assert ids({"type": "api_triggered"}) == set()
    page = api.get("/campaigns", {"limit": 1, "offset": 1, "sort": "name"}).json()
    assert page["count"] == 3 and [c["name"] for c in page["items"]] == ["Beta"]
    assert api.get("/campaigns", {"status": "nonsense"}).status_code == 400


def test_review_endpoint_lists_errors_and_warnings(api_for, manager):
    campaign = ready_email(
        manager, content={"subject": "", "html": '<a href="#">x</a>', "text": ""}
    )
    data = api_for(manager).get(f"/campaigns/{campaign.pk}/review").json()
    assert {e["code"] for e in data["errors"]} == {"missing_subject"}
    assert {"no_unsubscribe_link", "no_text_version", "empty_link"} <= {
        w["code"] for w in data["warnings"]
    }
    assert all(e["message"] for e in data["errors"])


def test_activate_answers_202(api_for, approver):
    campaign = ready_email(approver)
    answer = api_for(approver).post(f"/campaigns/{campaign.pk}/activate", {"comment": "go"})
    assert answer.status_code == 202, answer.content
    assert answer.json()["status"] == "activating"
    assert CampaignEvent.objects.get(campaign=campaign, action="activate").comment == "go"


def test_refused_transition_is_409_naming_the_status(api_for, approver):
    campaign = ready_email(approver)
    force_status(campaign, S.COMPLETED)
    answer = api_for(approver).post(f"/campaigns/{campaign.pk}/stop")
    assert answer.status_code == 409
    assert answer["Content-Type"] == "application/problem+json"
    assert "completed" in answer.json()["detail"]


def test_delete_of_a_live_campaign_is_409(api_for, approver):
    campaign = force_status(ready_email(approver), S.LIVE)
    assert api_for(approver).delete(f"/campaigns/{campaign.pk}").status_code == 409
    assert Campaign.objects.filter(pk=campaign.pk).exists()


def test_activate_with_a_policy_is_409_approval_required(api_for, approver):
    ApprovalPolicy.objects.create(name="Everything")
    campaign = ready_email(approver)
    answer = api_for(approver).post(f"/campaigns/{campaign.pk}/activate")
    assert answer.status_code == 409
    assert "pproval required" in answer.json()["detail"]


def test_unknown_action_is_404(api_for, approver):
    campaign = ready_email(approver)
    assert api_for(approver).post(f"/campaigns/{campaign.pk}/explode").status_code == 404


@pytest.mark.parametrize("action", ["activate", "stop", "archive", "approve", "request-changes"])
def test_manager_may_not_publish(api_for, manager, action):
    campaign = ready_email(manager)
    answer = api_for(manager).post(f"/campaigns/{campaign.pk}/{action}")
    assert answer.status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == S.DRAFT


def test_viewer_reads_but_may_not_write(api_for, viewer):
    campaign = ready_email(None)
    api = api_for(viewer)
    assert api.get(f"/campaigns/{campaign.pk}").status_code == 200
    assert api.post("/campaigns", _body(email_config(name="b"))).status_code == 403
    assert api.patch(f"/campaigns/{campaign.pk}", {"name": "x"}).status_code == 403
    assert api.delete(f"/campaigns/{campaign.pk}").status_code == 403
    assert api.post(f"/campaigns/{campaign.pk}/duplicate").status_code == 403


def test_restricted_campaign_is_404_unless_granted(api_for, manager):
    from guardian.shortcuts import assign_perm

    campaign = ready_email(None)
    Campaign.objects.filter(pk=campaign.pk).update(restricted=True)
    api = api_for(manager)
    assert api.get(f"/campaigns/{campaign.pk}").status_code == 404
    assert api.post(f"/campaigns/{campaign.pk}/duplicate").status_code == 404
    assert api.get("/campaigns").json()["count"] == 0
    assign_perm("campaigns.change_campaign", manager, campaign)
    assert api.get(f"/campaigns/{campaign.pk}").status_code == 200
    assert api.get("/campaigns").json()["count"] == 1


def test_anonymous_is_401(anonymous_api):
    assert anonymous_api.get("/campaigns").status_code == 401


def test_modify_opens_a_draft_version_and_patch_edits_it(api_for, approver):
    campaign = force_status(ready_email(approver), S.LIVE, recurring=True)
    api = api_for(approver)
    data = api.post(f"/campaigns/{campaign.pk}/modify").json()
    assert data["id"] == campaign.pk and data["hasDraftVersion"] is True
    patched = api.patch(f"/campaigns/{campaign.pk}", {"content": {"subject": "v2"}}).json()
    assert patched["content"]["subject"] == "Hi"  # the live version still sends
    assert patched["draftVersion"]["content"]["subject"] == "v2"
    answer = api.post(f"/campaigns/{campaign.pk}/activate")
    assert answer.status_code == 202
    assert answer.json()["content"]["subject"] == "v2"
    assert answer.json()["hasDraftVersion"] is False and answer.json()["status"] == "live"


def test_modify_a_one_shot_campaign_duplicates_it(api_for, approver):
    campaign = force_status(ready_email(approver), S.SCHEDULED)
    data = api_for(approver).post(f"/campaigns/{campaign.pk}/modify").json()
    assert data["id"] != campaign.pk and data["status"] == "draft"


def test_sms_campaign_content_shape(api_for, manager):
    config = sms_config()
    body = _body(config, content={"text": "Hi {{ profile.firstName }}"}, identityNamespace="phone")
    data = api_for(manager).post("/campaigns", body).json()
    assert data["channel"] == "sms" and data["content"] == {"text": "Hi {{ profile.firstName }}"}


def test_policy_api_is_for_administrators(api_for, administrator, approver):
    body = {
        "name": "Marketing email",
        "active": True,
        "conditions": {"categories": ["marketing"], "channels": ["email"]},
        "approvers": {"users": ["alex"], "groups": ["Campaign Approver"]},
        "blockSelfApproval": True,
    }
    assert api_for(approver).post("/approval-policies", body).status_code == 403
    answer = api_for(administrator).post("/approval-policies", body)
    assert answer.status_code == 201, answer.content
    data = answer.json()
    assert data["conditions"]["channels"] == ["email"]
    assert data["approvers"] == {"users": ["alex"], "groups": ["Campaign Approver"]}
    assert data["blockSelfApproval"] is True
    bad = api_for(administrator).post(
        "/approval-policies", {**body, "approvers": {"users": ["nobody"]}}
    )
    assert bad.status_code == 400 and "approvers.users" in bad.json()["errors"]


def test_action_without_a_body(api_for, approver):
    campaign = ready_email(approver)
    api = api_for(approver)
    answer = api.client.post(f"/api/v1/campaigns/{campaign.pk}/activate", **api.headers)
    assert answer.status_code == 202, answer.content


def test_patch_in_review_is_409(api_for, manager):
    campaign = force_status(ready_email(manager), S.IN_REVIEW)
    answer = api_for(manager).patch(f"/campaigns/{campaign.pk}", {"name": "x"})
    assert answer.status_code == 409 and "in_review" in answer.json()["detail"]


def test_malformed_json_is_400(api_for, manager):
    answer = api_for(manager).post("/campaigns", "{not json")
    assert answer.status_code == 400


def test_patch_can_clear_the_audience_and_change_schedule(api_for, manager):
    campaign = ready_email(manager)
    api = api_for(manager)
    data = api.patch(
        f"/campaigns/{campaign.pk}",
        {"audienceId": None, "schedule": {"endAt": "2040-01-01T00:00:00Z", "throttlePerSecond": 5}},
    ).json()
    assert data["audienceId"] is None
    assert data["schedule"]["endAt"].startswith("2040-01-01T00:00:00")
    assert data["schedule"]["throttlePerSecond"] == 5
    review = api.get(f"/campaigns/{campaign.pk}/review").json()
    assert "missing_audience" in {e["code"] for e in review["errors"]}


def test_action_comment_must_be_text(api_for, approver):
    campaign = ready_email(approver)
    answer = api_for(approver).post(f"/campaigns/{campaign.pk}/activate", {"comment": 5})
    assert answer.status_code == 400 and "comment" in answer.json()["errors"]
    campaign.refresh_from_db()
    assert campaign.status == S.DRAFT
