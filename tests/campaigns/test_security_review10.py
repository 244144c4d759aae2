"""Tenth outside review of issue 10 (docs/security-review-10.md), authorization
half: each test reproduced its finding on the code before the fix. SQLite by
default, PostgreSQL + Redis with DATABASE_URL / REDIS_URL."""

from __future__ import annotations

import pytest
from guardian.shortcuts import assign_perm

from audiences.models import Audience
from campaigns.models import Campaign, CampaignVersion
from channels.models import ChannelConfiguration

pytestmark = pytest.mark.django_db

SECRET = "Merger announcement"


@pytest.fixture
def secret_campaign(db):
    """A restricted draft whose version uses an open audience and an open configuration."""
    audience = Audience.objects.create(name="Everyone", kind=Audience.Kind.UPLOAD)
    config = ChannelConfiguration.objects.create(
        name="Newsletter", channel="email", purpose="marketing"
    )
    campaign = Campaign.objects.create(name=SECRET, status="draft", restricted=True)
    version = CampaignVersion.objects.create(
        campaign=campaign, number=1, audience=audience, channel_configuration=config
    )
    campaign.draft_version = version
    campaign.save()
    return campaign, audience, config


def _pages(client, audience, config):
    yield client.get(f"/admin/audiences/audience/{audience.pk}/delete/")
    yield client.get(f"/admin/channels/channelconfiguration/{config.pk}/delete/")
    yield client.post(
        "/admin/audiences/audience/",
        {"action": "delete_selected", "_selected_action": [audience.pk]},
    )
    yield client.post(
        "/admin/channels/channelconfiguration/",
        {"action": "delete_selected", "_selected_action": [config.pk]},
    )


# --- 1: delete confirmations named restricted campaigns ---------------------------


def test_delete_confirmations_do_not_name_restricted_campaigns(
    secret_campaign, administrator, login
):
    """Deleting an open audience or configuration that a restricted campaign's
    version uses is refused (PROTECT), and Django's confirmation page listed
    the protected objects by name — "Campaign version: Merger announcement v1" —
    to an administrator not granted the campaign (restricted means restricted
    from administrators too, SPEC §2): the name of every restricted campaign
    using any configuration or audience they may see. Counted, not named."""
    _campaign, audience, config = secret_campaign
    for page in _pages(login(administrator), audience, config):
        assert page.status_code == 200
        body = page.content.decode()
        assert SECRET not in body
        assert "Campaign version: one you may not see" in body
    assert Audience.objects.filter(pk=audience.pk).exists()
    assert ChannelConfiguration.objects.filter(pk=config.pk).exists()


def test_granted_administrators_and_superusers_still_read_the_name(
    secret_campaign, administrator, login, make_user
):
    campaign, audience, config = secret_campaign
    assign_perm("campaigns.view_campaign", administrator, campaign)
    root = make_user("root", superuser=True)
    for user in (administrator, root):
        for page in _pages(login(user), audience, config):
            assert f"{SECRET} v1" in page.content.decode()
