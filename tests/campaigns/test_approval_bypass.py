"""Issue 10, Low 6 and 7: an approval policy cannot be walked around by
removing the tag it matches on, and only the requester, the request's
approvers and administrators withdraw an approval request."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from accounts.roles import ADMINISTRATOR, APPROVER, MANAGER
from campaigns import services
from campaigns.models import ApprovalPolicy, ApprovalRequest, CampaignStatus
from tests.campaigns.lifecycle_helpers import force_status, ready_email

pytestmark = pytest.mark.usefixtures("no_worker")

S = CampaignStatus


@pytest.fixture
def vip_policy(make_user):
    boss = make_user("boss", APPROVER)
    policy = ApprovalPolicy.objects.create(name="VIP", tags=["vip"])
    policy.approver_users.add(boss)
    return policy


# --- Low 6: the policy applies to what is activated -------------------------


def test_removing_the_policy_tag_of_a_live_campaign_does_not_skip_approval(
    approver, api_for, vip_policy
):
    """The approver is not one of the VIP policy's approvers. The live campaign
    is tagged vip; a new draft version without the tag must still need approval."""
    campaign = force_status(ready_email(approver, tags=["vip"]), S.LIVE, recurring=True)
    live = campaign.live_version_id
    api = api_for(approver)
    assert api.post(f"/campaigns/{campaign.pk}/modify").status_code == 200
    api.patch(f"/campaigns/{campaign.pk}", {"tags": [], "content": {"subject": "Unreviewed"}})
    answer = api.post(f"/campaigns/{campaign.pk}/activate")
    assert answer.status_code == 409, answer.content
    campaign.refresh_from_db()
    assert campaign.live_version_id == live
    assert list(campaign.tags.values_list("name", flat=True)) == ["vip"]


def test_removing_the_policy_tag_of_an_activated_campaign_is_refused_with_the_reason(
    approver, api_for, vip_policy
):
    campaign = force_status(ready_email(approver, tags=["vip", "spring"]), S.LIVE, recurring=True)
    api = api_for(approver)
    api.post(f"/campaigns/{campaign.pk}/modify")
    answer = api.patch(f"/campaigns/{campaign.pk}", {"tags": ["spring"]})
    assert answer.status_code == 400
    assert "tags" in answer.json()["errors"]
    # Other tags still change freely.
    assert api.patch(f"/campaigns/{campaign.pk}", {"tags": ["vip", "summer"]}).status_code == 200


def test_a_draft_that_loses_its_policy_tag_before_activation_is_what_is_checked(
    approver, vip_policy
):
    """A never-activated draft is still being authored: what is activated has no tag."""
    campaign = ready_email(approver, tags=["vip"])
    services.campaign_update(campaign=campaign, actor=approver, tags=[])
    services.campaign_activate(campaign=campaign, actor=approver)
    assert campaign.status == S.ACTIVATING


def test_a_campaign_in_review_is_read_only_in_the_api_the_page_and_the_admin(
    manager, administrator, api_for, login, vip_policy
):
    campaign = ready_email(manager, tags=["vip"])
    services.campaign_request_approval(campaign=campaign, actor=manager)
    assert campaign.status == S.IN_REVIEW
    assert api_for(manager).patch(f"/campaigns/{campaign.pk}", {"tags": []}).status_code == 409
    page = login(manager).post(f"/campaigns/{campaign.pk}/edit/", {"name": "x", "tags": ""})
    assert page.status_code == 302
    login(administrator).post(
        f"/admin/campaigns/campaign/{campaign.pk}/change/",
        {
            "name": "Renamed in the admin",
            "description": "",
            "tags": [],
            "restricted": "",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
            "events-TOTAL_FORMS": "0",
            "events-INITIAL_FORMS": "0",
        },
    )
    campaign.refresh_from_db()
    assert campaign.name == "Spring sale"
    assert list(campaign.tags.values_list("name", flat=True)) == ["vip"]
    assert campaign.status == S.IN_REVIEW


# --- Low 7: who may withdraw an approval request ------------------------------


def _in_review(make_user):
    requester = make_user("requester", MANAGER)
    campaign = ready_email(requester)
    ApprovalPolicy.objects.create(name="All email", channels=["email"])
    services.campaign_request_approval(campaign=campaign, actor=requester)
    return campaign, requester


def test_another_manager_cannot_cancel_an_approval_request(make_user, api_for, login):
    campaign, _requester = _in_review(make_user)
    other = make_user("other", MANAGER)
    assert api_for(other).post(f"/campaigns/{campaign.pk}/cancel-approval").status_code == 403
    assert (
        login(other).post(f"/campaigns/{campaign.pk}/actions/cancel_approval/").status_code == 403
    )
    with pytest.raises(PermissionDenied):
        services.campaign_cancel_approval(campaign=campaign, actor=other)
    campaign.refresh_from_db()
    assert campaign.status == S.IN_REVIEW
    page = login(other).get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "/actions/cancel_approval/" not in page


def test_an_approver_outside_the_policy_cannot_cancel_it(make_user, api_for):
    campaign, _requester = _in_review(make_user)
    policy = ApprovalRequest.objects.get(campaign=campaign).policy
    policy.approver_users.add(make_user("named", APPROVER))
    outsider = make_user("unnamed", APPROVER)
    assert api_for(outsider).post(f"/campaigns/{campaign.pk}/cancel-approval").status_code == 403


@pytest.mark.parametrize("who", ["requester", "named approver", "administrator"])
def test_the_requester_the_policy_approvers_and_administrators_may_cancel(who, make_user, api_for):
    campaign, requester = _in_review(make_user)
    policy = ApprovalRequest.objects.get(campaign=campaign).policy
    named = make_user("named", MANAGER)  # a policy may name people without the role
    policy.approver_users.add(named)
    actor = {
        "requester": requester,
        "named approver": named,
        "administrator": make_user("admin", ADMINISTRATOR),
    }[who]
    answer = api_for(actor).post(f"/campaigns/{campaign.pk}/cancel-approval")
    assert answer.status_code == 200, answer.content
    campaign.refresh_from_db()
    assert campaign.status == S.DRAFT
