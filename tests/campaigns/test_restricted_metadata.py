"""Restricted metadata never shows through a visible campaign (issue 10 #13):
tags, the audience's size, audience/configuration ids, duplicates."""

from __future__ import annotations

import pytest

from audiences.models import Audience, AudienceMember, Profile
from campaigns.models import Campaign
from tests.campaigns.lifecycle_helpers import email_config, ready_email


@pytest.fixture
def hidden_audience(db):
    audience = Audience.objects.create(name="VIP list", kind="upload", restricted=True, size=344)
    for i in range(3):
        profile = Profile.objects.create(email=f"vip{i}@example.com")
        AudienceMember.objects.create(audience=audience, profile=profile)
    return audience


@pytest.fixture
def visible_campaign(hidden_audience):
    """An unrestricted campaign (made by someone else) pointing at restricted objects."""
    config = email_config(name="Secret sender", restricted=True)
    return ready_email(
        None, name="Open campaign", audience=hidden_audience, channel_configuration=config
    )


def test_tags_of_restricted_campaigns_stay_out_of_the_filter(login, manager, db):
    ready_email(None, name="Public", tags=["public-tag"])
    secret = ready_email(None, name="Hidden", tags=["secret-tag"])
    Campaign.objects.filter(pk=secret.pk).update(restricted=True)
    body = login(manager).get("/campaigns/").content.decode()
    assert "public-tag" in body
    assert "secret-tag" not in body


def test_tags_of_restricted_campaigns_stay_out_of_the_admin(login, administrator, db):
    ready_email(None, name="Public", tags=["public-tag"])
    secret = ready_email(None, name="Hidden", tags=["secret-tag"])
    Campaign.objects.filter(pk=secret.pk).update(restricted=True)
    client = login(administrator)
    body = client.get("/admin/campaigns/tag/").content.decode()
    assert "public-tag" in body and "secret-tag" not in body
    tag = secret.tags.get()
    assert client.get(f"/admin/campaigns/tag/{tag.pk}/change/").status_code in (302, 404)


def test_the_campaign_page_says_only_restricted_audience(login, manager, visible_campaign):
    body = login(manager).get(f"/campaigns/{visible_campaign.pk}/").content.decode()
    assert "(restricted)" in body
    assert "VIP list" not in body and "Secret sender" not in body
    assert "3 profiles" not in body and "344" not in body


def test_the_api_does_not_return_restricted_ids(api_for, manager, make_user, visible_campaign):
    superuser_api = api_for(make_user("root", superuser=True))
    data = api_for(manager).get(f"/campaigns/{visible_campaign.pk}").json()
    assert data["audienceId"] is None and data["channelConfigurationId"] is None
    listed = api_for(manager).get("/campaigns").json()["items"][0]
    assert listed["audienceId"] is None and listed["channelConfigurationId"] is None
    full = superuser_api.get(f"/campaigns/{visible_campaign.pk}").json()
    assert full["audienceId"] == visible_campaign.draft_version.audience_id


def test_a_duplicate_is_not_bound_to_restricted_objects(api_for, manager, visible_campaign):
    answer = api_for(manager).post(f"/campaigns/{visible_campaign.pk}/duplicate", {})
    assert answer.status_code == 200, answer.content
    copy = Campaign.objects.get(pk=answer.json()["id"])
    assert copy.draft_version.audience is None
    assert copy.draft_version.channel_configuration is None
    assert copy.draft_version.content == visible_campaign.draft_version.content


def test_a_duplicate_by_someone_granted_keeps_them(api_for, manager, visible_campaign):
    from guardian.shortcuts import assign_perm

    assign_perm("audiences.view_audience", manager, visible_campaign.draft_version.audience)
    answer = api_for(manager).post(f"/campaigns/{visible_campaign.pk}/duplicate", {})
    copy = Campaign.objects.get(pk=answer.json()["id"])
    assert copy.draft_version.audience_id == visible_campaign.draft_version.audience_id
    assert copy.draft_version.channel_configuration is None
