"""Versions (SPEC §3 "modify"): a draft version beside the live one, both
reachable, activating it replaces the live version; approval of a draft
version keeps the campaign live."""

from __future__ import annotations

import pytest

from campaigns import services
from campaigns.models import ApprovalPolicy, ApprovalRequest, CampaignEvent, CampaignStatus
from tests.campaigns.lifecycle_helpers import force_status, ready_email

S = CampaignStatus


@pytest.fixture
def calls(monkeypatch):
    seen = {"activation": [], "reschedule": []}
    monkeypatch.setattr("campaigns.engine.enqueue_activation", seen["activation"].append)
    monkeypatch.setattr("campaigns.engine.enqueue_reschedule", seen["reschedule"].append)
    return seen


@pytest.mark.parametrize("status", [S.LIVE, S.SCHEDULED])
def test_modify_recurring_opens_a_draft_version(status, approver, calls):
    campaign = force_status(ready_email(approver), status, recurring=True)
    live = campaign.live_version
    services.campaign_modify(campaign=campaign, actor=approver)
    assert campaign.status == status
    assert campaign.live_version_id == live.pk
    draft = campaign.draft_version
    assert draft.number == 2 and draft.content == live.content
    # idempotent: a second "modify" returns the same draft version
    services.campaign_modify(campaign=campaign, actor=approver)
    assert campaign.draft_version_id == draft.pk


def test_modify_api_triggered_opens_a_draft_version(approver, calls):
    campaign = force_status(ready_email(approver, type="api_triggered"), S.LIVE)
    services.campaign_modify(campaign=campaign, actor=approver)
    assert campaign.draft_version_id and campaign.pk


def test_modify_one_shot_duplicates(approver, calls):
    campaign = force_status(ready_email(approver, tags=["a"]), S.SCHEDULED)
    copy = services.campaign_modify(campaign=campaign, actor=approver)
    assert copy.pk != campaign.pk and copy.status == S.DRAFT
    assert list(copy.tags.values_list("name", flat=True)) == ["a"]
    assert copy.draft_version.content == campaign.live_version.content
    campaign.refresh_from_db()
    assert campaign.draft_version_id is None


def test_both_versions_are_reachable_on_the_page(login, approver, calls):
    campaign = force_status(ready_email(approver), S.LIVE, recurring=True)
    services.campaign_modify(campaign=campaign, actor=approver)
    services.campaign_update(campaign=campaign, actor=approver, content={"subject": "New"})
    client = login(approver)
    live_page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "open draft version" in live_page and "Hi" in live_page
    draft_page = client.get(f"/campaigns/{campaign.pk}/?version=draft").content.decode()
    assert "open live version" in draft_page and "New" in draft_page


def test_activating_the_draft_version_replaces_the_live_one(
    approver, calls, django_capture_on_commit_callbacks
):
    campaign = force_status(ready_email(approver), S.LIVE, recurring=True)
    services.campaign_modify(campaign=campaign, actor=approver)
    draft = campaign.draft_version
    services.campaign_update(
        campaign=campaign,
        actor=approver,
        content={"subject": "v2", "html": campaign.live_version.content["html"], "text": "t"},
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_activate(campaign=campaign, actor=approver)
    assert campaign.status == S.LIVE
    assert campaign.live_version_id == draft.pk and campaign.draft_version_id is None
    assert campaign.live_version.content["subject"] == "v2"
    assert calls == {"activation": [], "reschedule": [campaign.pk]}
    assert CampaignEvent.objects.filter(campaign=campaign, action="version_activated").exists()


def test_editing_the_draft_version_never_touches_the_live_one(approver, calls):
    campaign = force_status(ready_email(approver), S.LIVE, recurring=True)
    live_content = dict(campaign.live_version.content)
    services.campaign_modify(campaign=campaign, actor=approver)
    services.campaign_update(campaign=campaign, actor=approver, content={"subject": "changed"})
    campaign.live_version.refresh_from_db()
    assert campaign.live_version.content == live_content


def test_type_and_channel_are_frozen_after_activation(approver, calls):
    from django.core.exceptions import ValidationError

    campaign = force_status(ready_email(approver), S.LIVE, recurring=True)
    services.campaign_modify(campaign=campaign, actor=approver)
    with pytest.raises(ValidationError):
        services.campaign_update(campaign=campaign, actor=approver, channel="sms")


def test_draft_version_goes_through_approval_when_a_policy_applies(
    make_user, calls, django_capture_on_commit_callbacks
):
    from accounts.roles import APPROVER, MANAGER

    author = make_user("author", MANAGER)
    checker = make_user("checker", APPROVER)
    ApprovalPolicy.objects.create(name="All")
    campaign = force_status(ready_email(author), S.LIVE, recurring=True)
    services.campaign_modify(campaign=campaign, actor=author)
    draft_id = campaign.draft_version_id
    with pytest.raises(services.ActionRefused, match="pproval required"):
        services.campaign_activate(campaign=campaign, actor=checker)
    services.campaign_request_approval(campaign=campaign, actor=author, comment="v2 please")
    assert campaign.status == S.LIVE  # stays live while its draft version is reviewed
    assert services.editable_version(campaign) is None  # read-only while in review
    request = ApprovalRequest.objects.get()
    assert request.version_id == draft_id
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_approve(campaign=campaign, actor=checker, comment="ok")
    assert campaign.status == S.LIVE and campaign.live_version_id == draft_id
    assert calls["reschedule"] == [campaign.pk]
    request.refresh_from_db()
    assert request.status == "approved" and request.decided_by == checker


def test_stop_cancels_a_pending_version_approval(make_user, calls):
    from accounts.roles import APPROVER

    checker = make_user("checker", APPROVER)
    ApprovalPolicy.objects.create(name="All")
    campaign = force_status(ready_email(checker), S.LIVE, recurring=True)
    services.campaign_modify(campaign=campaign, actor=checker)
    services.campaign_request_approval(campaign=campaign, actor=checker)
    services.campaign_stop(campaign=campaign, actor=checker)
    assert ApprovalRequest.objects.get().status == "cancelled"


def test_the_page_says_the_draft_version_replaced_the_live_one(approver, calls, login):
    campaign = force_status(ready_email(approver), S.LIVE, recurring=True)
    services.campaign_modify(campaign=campaign, actor=approver)
    response = login(approver).post(f"/campaigns/{campaign.pk}/actions/activate/", follow=True)
    html = response.content.decode()
    assert "The draft version has replaced the live one." in html
    assert "Activation started" not in html
