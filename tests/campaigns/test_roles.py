"""Every role × action pair (SPEC §2), through the API and the pages."""

from __future__ import annotations

import pytest

from accounts.roles import ADMINISTRATOR, APPROVER, MANAGER, VIEWER
from campaigns.actions import USER_ACTIONS
from campaigns.models import ApprovalRequest, Campaign, CampaignStatus
from tests.campaigns.lifecycle_helpers import force_status, ready_email

pytestmark = pytest.mark.usefixtures("no_worker")

S = CampaignStatus
# Every user action of the registry, each set up in a status it starts from.
SETUP = {
    name: S.LIVE if S.LIVE in action.sources else next(iter(action.sources))
    for name, action in USER_ACTIONS.items()
}
# SPEC §2, written out here so that the registry is checked against it. A
# manager cancels only their own approval request (another user made this one).
AUTHOR_ACTIONS = {"request_approval", "duplicate", "modify", "delete"}
ALLOWED = {
    VIEWER: set(),
    MANAGER: AUTHOR_ACTIONS,
    APPROVER: set(SETUP),
    ADMINISTRATOR: set(SETUP),
}


def test_the_registry_offers_the_ten_actions_of_the_spec():
    assert set(SETUP) == {
        "activate",
        "request_approval",
        "approve",
        "request_changes",
        "cancel_approval",
        "modify",
        "duplicate",
        "stop",
        "archive",
        "delete",
    }


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
    entry = USER_ACTIONS[action]
    if entry.http_method == "DELETE":
        answer = api.delete(f"/campaigns/{campaign.pk}")
    else:
        answer = api.post(f"/campaigns/{campaign.pk}/{entry.slug}")
    if action in ALLOWED[role]:
        assert answer.status_code == entry.http_status, answer.content
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
