"""Changing the rule of an audience that decides who receives a committed
(in review, scheduled, live) campaign needs the permission to activate that
campaign (issue 10 #4)."""

from __future__ import annotations

import pytest
from guardian.shortcuts import assign_perm

from audiences.models import Audience
from campaigns.models import CampaignStatus as S
from tests.audiences.test_views import builder_data
from tests.campaigns.lifecycle_helpers import force_status, ready_email

PARIS = {"all": [{"field": "attributes.city", "op": "eq", "value": "Paris"}]}
EVERYONE = {"all": [{"field": "attributes.city", "op": "neq", "value": "nowhere"}]}


@pytest.fixture
def paris(db):
    return Audience.objects.create(name="Paris", kind="rule", rule=PARIS)


def _campaign(paris, status, name="Spring sale"):
    campaign = ready_email(None, name=name, audience=paris)
    if status != S.DRAFT:
        force_status(campaign, status)
    return campaign


@pytest.mark.parametrize("status", [S.LIVE, S.SCHEDULED, S.IN_REVIEW])
def test_manager_cannot_patch_the_rule_of_an_audience_in_use(api_for, manager, paris, status):
    _campaign(paris, status)
    answer = api_for(manager).patch(f"/audiences/{paris.pk}", {"rule": EVERYONE})
    assert answer.status_code == 409, answer.content
    assert answer["Content-Type"] == "application/problem+json"
    assert "Spring sale" in answer.json()["detail"]
    paris.refresh_from_db()
    assert paris.rule == PARIS


def test_manager_may_rename_it_or_change_it_while_only_drafts_use_it(api_for, manager, paris):
    live = _campaign(paris, S.LIVE)
    api = api_for(manager)
    assert api.patch(f"/audiences/{paris.pk}", {"name": "Parisians"}).status_code == 200
    assert api.patch(f"/audiences/{paris.pk}", {"rule": PARIS}).status_code == 200
    force_status(live, S.STOPPED)
    _campaign(paris, S.DRAFT, name="Draft")
    assert api.patch(f"/audiences/{paris.pk}", {"rule": EVERYONE}).status_code == 200


def test_approvers_who_may_activate_the_campaigns_may_change_the_rule(api_for, approver, paris):
    _campaign(paris, S.LIVE)
    assert api_for(approver).patch(f"/audiences/{paris.pk}", {"rule": EVERYONE}).status_code == 200
    paris.refresh_from_db()
    assert paris.rule == EVERYONE


def test_a_restricted_campaign_is_counted_not_named(api_for, approver, paris):
    campaign = _campaign(paris, S.LIVE, name="Secret launch")
    campaign.restricted = True
    campaign.save()
    answer = api_for(approver).patch(f"/audiences/{paris.pk}", {"rule": EVERYONE})
    assert answer.status_code == 409
    assert "Secret launch" not in answer.json()["detail"]
    assert "1 other campaign" in answer.json()["detail"]
    assign_perm("campaigns.change_campaign", approver, campaign)
    assert api_for(approver).patch(f"/audiences/{paris.pk}", {"rule": EVERYONE}).status_code == 200


def test_manager_cannot_save_a_new_rule_in_the_builder(login, manager, approver, paris):
    _campaign(paris, S.LIVE)
    rows = (("attributes.city", "eq", "Lyon"),)
    response = login(manager).post(
        f"/audiences/{paris.pk}/edit/", builder_data(name="Paris", rows=rows, save="1")
    )
    assert response.status_code == 409
    assert "Spring sale" in response.content.decode()
    paris.refresh_from_db()
    assert paris.rule == PARIS
    response = login(approver).post(
        f"/audiences/{paris.pk}/edit/", builder_data(name="Paris", rows=rows, save="1")
    )
    assert response.status_code == 302
    paris.refresh_from_db()
    assert paris.rule["all"][0]["value"] == "Lyon"
