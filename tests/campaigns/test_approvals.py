"""Approval policies and requests (SPEC §3): who may approve, self-approval,
notifications, read-only while in review."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from accounts.roles import APPROVER, MANAGER
from campaigns import services
from campaigns.models import ApprovalPolicy, ApprovalRequest, CampaignStatus, Tag
from tests.campaigns.lifecycle_helpers import ready_email

pytestmark = pytest.mark.usefixtures("no_worker")

S = CampaignStatus


@pytest.fixture
def people(make_user):
    return {
        "author": make_user("author", MANAGER),
        "checker": make_user("checker", APPROVER),
        "other": make_user("other", APPROVER),
    }


def test_policy_matches_every_non_empty_condition(db):
    campaign = ready_email(tags=["vip"])
    ApprovalPolicy.objects.create(name="sms only", channels=["sms"])
    assert services.applicable_policy(campaign) is None
    ApprovalPolicy.objects.create(name="inactive", active=False)
    assert services.applicable_policy(campaign) is None
    ApprovalPolicy.objects.create(name="vip email", channels=["email"], tags=["vip", "x"])
    assert services.applicable_policy(campaign).name == "vip email"
    campaign.tags.set([Tag.objects.create(name="other")])
    assert services.applicable_policy(campaign) is None


def test_request_approval_makes_the_campaign_read_only(people):
    campaign = ready_email(people["author"])
    services.campaign_request_approval(campaign=campaign, actor=people["author"], comment="go")
    assert campaign.status == S.IN_REVIEW
    with pytest.raises(services.ActionRefused, match="in_review"):
        services.campaign_update(campaign=campaign, actor=people["author"], name="x")


def test_request_approval_refused_with_review_errors(people):
    campaign = ready_email(people["author"], content={"subject": "", "html": "x"})
    with pytest.raises(services.ActionRefused):
        services.campaign_request_approval(campaign=campaign, actor=people["author"])
    assert campaign.status == S.DRAFT and not ApprovalRequest.objects.exists()


def test_policy_approvers_decide_others_may_not(people):
    policy = ApprovalPolicy.objects.create(name="p")
    policy.approver_users.add(people["checker"])
    campaign = ready_email(people["author"])
    services.campaign_request_approval(campaign=campaign, actor=people["author"])
    with pytest.raises(PermissionDenied):
        services.campaign_approve(campaign=campaign, actor=people["other"])
    services.campaign_approve(campaign=campaign, actor=people["checker"], comment="fine")
    assert campaign.status == S.ACTIVATING


def test_policy_approver_group(people, make_user):
    from django.contrib.auth.models import Group

    group = Group.objects.create(name="Legal")
    lawyer = make_user("lawyer", MANAGER)
    lawyer.groups.add(group)
    policy = ApprovalPolicy.objects.create(name="legal")
    policy.approver_groups.add(group)
    campaign = ready_email(people["author"])
    services.campaign_request_approval(campaign=campaign, actor=people["author"])
    services.campaign_approve(campaign=campaign, actor=lawyer)
    assert campaign.status == S.ACTIVATING


def test_without_named_approvers_anyone_with_the_approve_permission(people):
    ApprovalPolicy.objects.create(name="p")
    campaign = ready_email(people["author"])
    services.campaign_request_approval(campaign=campaign, actor=people["author"])
    with pytest.raises(PermissionDenied):
        services.campaign_approve(campaign=campaign, actor=people["author"])  # a manager
    services.campaign_approve(campaign=campaign, actor=people["other"])
    assert campaign.status == S.ACTIVATING


def test_self_approval_allowed_when_the_policy_allows_it(people):
    ApprovalPolicy.objects.create(name="p", block_self_approval=False)
    campaign = ready_email(people["checker"])
    services.campaign_request_approval(campaign=campaign, actor=people["checker"])
    services.campaign_approve(campaign=campaign, actor=people["checker"])
    assert campaign.status == S.ACTIVATING


def test_cancel_approval_returns_to_draft_and_notifies(
    people, mailoutbox, django_capture_on_commit_callbacks
):
    ApprovalPolicy.objects.create(name="p")
    campaign = ready_email(people["author"])
    services.campaign_request_approval(campaign=campaign, actor=people["author"])
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_cancel_approval(campaign=campaign, actor=people["checker"], comment="no")
    assert campaign.status == S.DRAFT
    assert ApprovalRequest.objects.get().status == "cancelled"
    assert people["author"].notifications.count() == 1
    assert len(mailoutbox) == 1 and "no" in mailoutbox[0].body


def test_two_pending_requests_are_impossible(people):
    campaign = ready_email(people["author"])
    services.campaign_request_approval(campaign=campaign, actor=people["author"])
    with pytest.raises(services.ActionRefused):
        services.campaign_request_approval(campaign=campaign, actor=people["author"])
    assert ApprovalRequest.objects.count() == 1


def test_api_request_approval_then_approve(api_for, people):
    ApprovalPolicy.objects.create(name="p")
    campaign = ready_email(people["author"])
    answer = api_for(people["author"]).post(
        f"/campaigns/{campaign.pk}/request-approval", {"comment": "please"}
    )
    assert answer.status_code == 200 and answer.json()["status"] == "in_review"
    answer = api_for(people["checker"]).post(f"/campaigns/{campaign.pk}/approve", {"comment": "ok"})
    assert answer.status_code == 202 and answer.json()["status"] == "activating"


def test_api_self_approval_is_403(api_for, people):
    ApprovalPolicy.objects.create(name="p")
    campaign = ready_email(people["checker"])
    api = api_for(people["checker"])
    api.post(f"/campaigns/{campaign.pk}/request-approval")
    answer = api.post(f"/campaigns/{campaign.pk}/approve")
    assert answer.status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == S.IN_REVIEW
