"""Fourteenth outside review of issue 10 (docs/security-review-14.md): each
test reproduced its finding on the code before the fix. SQLite by default,
PostgreSQL + Redis with DATABASE_URL / REDIS_URL."""

from __future__ import annotations

import pytest
from guardian.shortcuts import assign_perm

from audiences.models import Audience, AudienceMember, Profile
from campaigns.models import Campaign, CampaignVersion
from channels.models import ChannelConfiguration
from tests.channels.test_security_review12 import _email

pytestmark = pytest.mark.django_db

ELSEWHERE = _email(provider="postmark") | {
    "providerUrl": "https://collector.example/",
    "credentials": {"server_token": "t"},
}


@pytest.fixture
def vip(db):
    """Ann is known only through a restricted upload audience."""
    vip = Audience.objects.create(name="VIP", kind=Audience.Kind.UPLOAD, restricted=True, size=1)
    ann = Profile.objects.create(email="ann@example.com", consent_email=True)
    AudienceMember.objects.create(audience=vip, profile=ann)
    return vip


def _open_live(config, owner) -> Campaign:
    """An open live campaign of ``owner`` to everyone, through ``config``."""
    everyone = Audience.objects.create(name="Everyone", kind=Audience.Kind.RULE, rule={"all": []})
    campaign = Campaign.objects.create(name="Spring letter", status="live", created_by=owner)
    version = CampaignVersion.objects.create(
        campaign=campaign, number=1, channel_configuration=config, audience=everyone
    )
    campaign.live_version = version
    campaign.save()
    return campaign


# --- 2: the provider path of an open campaign reaching people hidden from the actor --


def test_nor_the_provider_of_an_open_campaign_reaching_a_restricted_list(
    config, vip, administrator, api_for, make_user, login
):
    """Review 12 #1 checks a configuration's provider, URL and credentials
    against the committed campaigns the administrator may not see. But an
    **open** campaign sends to people known only through restricted audiences
    when its writers may see them (a superuser's campaign to everyone): an
    administrator not granted the list pointed the configuration at a
    provider URL of theirs (``PUT`` 200) and received those messages — each
    hidden person's address and words — which the BCC check (review 12 #1)
    and the webhooks (review 6 #5) withhold from them."""
    _open_live(config, make_user("root", superuser=True))
    response = api_for(administrator).put(f"/channel-configurations/{config.pk}", ELSEWHERE)
    assert response.status_code == 400, response.content
    assert "people you may not see" in str(response.json()["errors"])
    page = login(administrator).post(
        f"/channels/{config.pk}/edit/",
        {
            "name": "Newsletter",
            "purpose": "marketing",
            "from_address": "news@volley.example",
            "from_name": "Volley",
            "provider": "postmark",
            "provider_url": "https://collector.example/",
            "credentials": "server_token=t",
        },
    )
    assert page.status_code == 200
    assert "people you may not see" in page.content.decode()
    config.refresh_from_db()
    assert (config.provider, config.provider_url) == ("smtp", "")


def test_a_campaign_that_cannot_reach_them_changes_nothing(
    config, vip, administrator, manager, api_for
):
    """Its writers may not see the list either (a manager's campaign): it
    reaches nobody hidden from the administrator."""
    _open_live(config, manager)
    response = api_for(administrator).put(f"/channel-configurations/{config.pk}", ELSEWHERE)
    assert response.status_code == 200, response.content


def test_nor_for_an_administrator_granted_the_list(config, vip, administrator, api_for, make_user):
    _open_live(config, make_user("root", superuser=True))
    assign_perm("audiences.view_audience", administrator, vip)
    response = api_for(administrator).put(f"/channel-configurations/{config.pk}", ELSEWHERE)
    assert response.status_code == 200, response.content
    assert ChannelConfiguration.objects.get(pk=config.pk).provider == "postmark"
