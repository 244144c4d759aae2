"""Every role × action pair (SPEC §2), through the API and the pages."""

from __future__ import annotations

import pytest

from accounts.roles import ADMINISTRATOR, APPROVER, MANAGER, VIEWER
from campaigns.models import ApprovalRequest, Campaign, CampaignStatus
from tests.campaigns.lifecycle_helpers import force_status, ready_email

S = CampaignStatus
SETUP = {
    "activate": S.DRAFT,
    "request_approval": S.DRAFT,
    "approve": S.IN_REVIEW,
    "request_changes": S.IN_REVIEW,
    "cancel_approval": S.IN_REVIEW,
    "stop": S.LIVE,
    "archive": S.LIVE,
    "duplicate": S.DRAFT,
    "modify": S.LIVE,
    "delete": S.DRAFT,
}
AUTHOR_ACTIONS = {"request_approval", "cancel_approval", "duplicate", "modify", "delete"}
ALLOWED = {
    VIEWER: set(),
    MANAGER: AUTHOR_ACTIONS,
    APPROVER: set(SETUP),
    ADMINISTRATOR: set(SETUP),
}


@pytest.fixture(autouse=True)
def no_worker(monkeypatch):
    monkeypatch.setattr("campaigns.engine.enqueue_activation", lambda pk: None)
    monkeypatch.setattr("campaigns.engine.enqueue_reschedule", lambda pk: None)


def _campaign(action: str, make_user) -> Campaign:
    requester = make_user("requester", MANAGER)
    campaign = force_status(ready_email(requester), SETUP[action], recurring=True)
    if campaign.status == S.IN_REVIEW:
        ApprovalRequest.objects.create(
            campaign=campaign, version=campaign.draft_version, requested_by=requester
        )
    return campaign


def _snapshot(campaign: Campaign):
    return (
        Campaign.objects.count(),
        Campaign.objects.filter(pk=campaign.pk).values().first(),
    )


@pytest.mark.parametrize("role", list(ALLOWED))
@pytest.mark.parametrize("action", list(SETUP))
def test_api_role_action(role, action, make_user, api_for):
    campaign = _campaign(action, make_user)
    user = make_user("actor", role)
    api = api_for(user)
    before = _snapshot(campaign)
    if action == "delete":
        answer = api.delete(f"/campaigns/{campaign.pk}")
    else:
        answer = api.post(f"/campaigns/{campaign.pk}/{action.replace('_', '-')}")
    if action in ALLOWED[role]:
        assert answer.status_code in (200, 202, 204), answer.content
    else:
        assert answer.status_code == 403, answer.content
        assert _snapshot(campaign) == before


@pytest.mark.parametrize("role", list(ALLOWED))
@pytest.mark.parametrize("action", list(SETUP))
def test_page_role_action(role, action, make_user, login):
    campaign = _campaign(action, make_user)
    user = make_user("actor", role)
    client = login(user)
    before = _snapshot(campaign)
    answer = client.post(f"/campaigns/{campaign.pk}/actions/{action}/")
    if action in ALLOWED[role]:
        assert answer.status_code == 302
        assert _snapshot(campaign) != before
    else:
        assert answer.status_code == 403
        assert _snapshot(campaign) == before


@pytest.mark.parametrize("role", list(ALLOWED))
def test_draft_page_offers_exactly_the_allowed_actions(role, make_user, login):
    campaign = _campaign("activate", make_user)
    page = login(make_user("actor", role)).get(f"/campaigns/{campaign.pk}/").content.decode()
    for name in ("activate", "request_approval", "duplicate", "delete"):
        assert (f"/actions/{name}/" in page) == (name in ALLOWED[role]), (role, name)
