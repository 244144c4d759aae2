"""Twelfth outside review of issue 10 (docs/security-review-12.md),
authorization half: each test reproduced its finding on the code before the
fix. SQLite by default, PostgreSQL + Redis with DATABASE_URL / REDIS_URL."""

from __future__ import annotations

import pytest
from guardian.shortcuts import assign_perm

from audiences.models import Audience
from campaigns.models import Campaign, CampaignVersion
from channels.models import ChannelConfiguration

pytestmark = pytest.mark.django_db

SPY = "spy@elsewhere.example"


def _email(**email) -> dict:
    return {
        "name": "Newsletter",
        "channel": "email",
        "purpose": "marketing",
        "email": {"fromName": "Volley", "fromAddress": "news@volley.example", **email},
    }


@pytest.fixture
def secret_live(config):
    """A restricted live campaign of a superuser sending through the open configuration."""
    campaign = Campaign.objects.create(name="Merger announcement", status="live", restricted=True)
    version = CampaignVersion.objects.create(
        campaign=campaign, number=1, channel_configuration=config
    )
    campaign.live_version = version
    campaign.save()
    return campaign


@pytest.fixture
def hidden_list(db):
    return Audience.objects.create(name="Board", kind=Audience.Kind.UPLOAD, restricted=True)


def _bcc(config) -> str:
    config.refresh_from_db()
    return config.bcc


# --- 1: a BCC of an open configuration copied restricted messages to an administrator --


def test_an_administrator_may_not_copy_a_restricted_campaigns_messages_to_themselves(
    config, secret_live, administrator, api_for
):
    """The BCC of a configuration is an envelope recipient of every email sent
    through it (channels/mime.py). An administrator not granted a restricted
    live campaign set the BCC of the open configuration it sends through to
    an address of theirs (``PUT`` 200) and received every message of it —
    subject, words, each recipient's address — which is a 404 to them
    everywhere else, and which the webhooks withhold from them (review 4 #4)."""
    response = api_for(administrator).put(f"/channel-configurations/{config.pk}", _email(bcc=SPY))
    assert response.status_code == 400, response.content
    assert "email.bcc" in response.json()["errors"]
    assert _bcc(config) == ""


def test_nor_the_messages_to_people_of_a_restricted_list(
    config, hidden_list, administrator, api_for, login
):
    """The copy goes to whatever sends through the configuration, later too:
    an open campaign's messages to people known only through a restricted
    audience (review 6 #5 withheld those from webhooks). While anything
    restricted is hidden from them, an administrator sets no BCC — API, page
    and admin alike."""
    api = api_for(administrator)
    assert api.put(f"/channel-configurations/{config.pk}", _email(bcc=SPY)).status_code == 400
    client = login(administrator)
    page = client.post(
        f"/channels/{config.pk}/edit/",
        {
            "name": "Newsletter",
            "purpose": "marketing",
            "from_address": "news@volley.example",
            "from_name": "Volley",
            "bcc": SPY,
            "provider": "smtp",
        },
    )
    assert page.status_code == 200
    assert "only a superuser may set it" in page.content.decode()
    admin_page = client.post(
        f"/admin/channels/channelconfiguration/{config.pk}/change/",
        {
            "name": "Newsletter",
            "channel": "email",
            "purpose": "marketing",
            "from_address": "news@volley.example",
            "from_name": "Volley",
            "bcc": SPY,
        },
    )
    assert admin_page.status_code == 200
    assert "only a superuser may set it" in admin_page.content.decode()
    assert _bcc(config) == ""
    created = api.post("/channel-configurations", _email(bcc=SPY) | {"name": "Second"})
    assert created.status_code == 400, created.content
    assert not ChannelConfiguration.objects.filter(name="Second").exists()


def test_a_bcc_is_set_by_whoever_sees_everything_restricted(
    config, secret_live, hidden_list, administrator, api_for, make_user
):
    api = api_for(administrator)
    assign_perm("campaigns.view_campaign", administrator, secret_live)
    assign_perm("audiences.view_audience", administrator, hidden_list)
    assert api.put(f"/channel-configurations/{config.pk}", _email(bcc=SPY)).status_code == 200
    assert _bcc(config) == SPY
    # Clearing it is anyone's.
    assign_perm("campaigns.view_campaign", administrator, secret_live)
    Campaign.objects.create(name="Other secret", restricted=True)
    assert api.put(f"/channel-configurations/{config.pk}", _email()).status_code == 200
    assert _bcc(config) == ""
    root = make_user("root", superuser=True)
    assert (
        api_for(root).put(f"/channel-configurations/{config.pk}", _email(bcc=SPY)).status_code
        == 200
    )
    assert _bcc(config) == SPY
    # Other changes of the configuration are not concerned.
    renamed = api.put(f"/channel-configurations/{config.pk}", _email(bcc=SPY) | {"name": "News"})
    assert renamed.status_code == 200, renamed.content


def test_nothing_restricted_no_change(config, administrator, api_for):
    response = api_for(administrator).put(f"/channel-configurations/{config.pk}", _email(bcc=SPY))
    assert response.status_code == 200, response.content
    assert _bcc(config) == SPY


def test_nor_point_its_provider_elsewhere(secret_live, config, administrator, api_for):
    """The provider, its URL and credentials decide where every message goes:
    like deactivating (review 5), not while a committed campaign the
    administrator may not see sends through the configuration."""
    body = _email(provider="postmark") | {
        "providerUrl": "https://collector.example/",
        "credentials": {"server_token": "t"},
    }
    response = api_for(administrator).put(f"/channel-configurations/{config.pk}", body)
    assert response.status_code == 400, response.content
    assert "1 campaign you may not see" in str(response.json()["errors"])
    config.refresh_from_db()
    assert (config.provider, config.provider_url) == ("smtp", "")
