"""Twelfth outside review of issue 10 (docs/security-review-12.md),
authorization half: each test reproduced its finding on the code before the
fix. SQLite by default, PostgreSQL + Redis with DATABASE_URL / REDIS_URL."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from guardian.shortcuts import assign_perm, get_perms

from accounts.roles import MANAGER
from audiences.models import Audience, AudienceMember, Profile
from campaigns.models import Campaign, CampaignVersion
from channels.models import ChannelConfiguration

pytestmark = pytest.mark.django_db


@pytest.fixture
def lus_secret_campaign(make_user):
    """Lu's restricted live campaign sends to a restricted upload audience (Pia
    in it); Lu is granted both. The administrator may change the audience but
    is not granted the campaign."""
    lu = make_user("lu", MANAGER)
    audience = Audience.objects.create(name="Members", kind=Audience.Kind.UPLOAD, restricted=True)
    pia = Profile.objects.create(email="pia@example.com", consent_email=True)
    AudienceMember.objects.create(audience=audience, profile=pia)
    config = ChannelConfiguration.objects.create(
        name="Newsletter", channel="email", purpose="marketing"
    )
    campaign = Campaign.objects.create(
        name="Board letter", status="live", type="api_triggered", restricted=True, created_by=lu
    )
    version = CampaignVersion.objects.create(
        campaign=campaign, number=1, audience=audience, channel_configuration=config
    )
    campaign.live_version = version
    campaign.save()
    assign_perm("campaigns.change_campaign", lu, campaign)
    assign_perm("audiences.view_audience", lu, audience)
    return {"lu": lu, "audience": audience, "campaign": campaign}


def _targets(campaign) -> set[str]:
    from campaigns.engine.materialize import insert_deliveries
    from campaigns.models import Delivery, Run

    run = Run.objects.create(
        campaign=campaign, version=campaign.live_version, kind=Run.Kind.API_AUDIENCE
    )
    insert_deliveries(run)
    return set(Delivery.objects.filter(run=run).values_list("address", flat=True))


# --- 4: guardian's object-permission pages took a grant on an audience in use away --


def test_the_admins_object_permission_pages_do_not_empty_a_campaign_hidden_from_them(
    lus_secret_campaign, administrator, login
):
    """Review 10 #7: taking a grant on an upload audience away hides its
    members from the grantee — the owner of a committed campaign using it
    too, whose next run then leaves them out — so it needs the permission to
    activate those campaigns (Access page, API, the admin's audience form).
    Guardian's "Object permissions" pages in the admin removed the grant
    unchecked: an administrator granted the audience, not the restricted live
    campaign, emptied that campaign (its next run: nobody)."""
    lu, audience, campaign = (lus_secret_campaign[k] for k in ("lu", "audience", "campaign"))
    for perm in ("audiences.view_audience", "audiences.change_audience"):
        assign_perm(perm, administrator, audience)
    assert _targets(campaign) == {"pia@example.com"}
    client = login(administrator)
    page = client.post(
        f"/admin/audiences/audience/{audience.pk}/permissions/user-manage/{lu.pk}/",
        {"permissions": [], "submit": "Save"},
        follow=True,
    )
    assert page.status_code == 200
    assert "view_audience" in get_perms(lu, audience)
    assert _targets(campaign) == {"pia@example.com"}
    assert "needs the permission to activate them" in page.content.decode()

    team = Group.objects.create(name="Team")
    lu.groups.add(team)
    # the same through a group's grant
    assign_perm("audiences.view_audience", team, audience)
    client.post(
        f"/admin/audiences/audience/{audience.pk}/permissions/group-manage/{team.pk}/",
        {"permissions": [], "submit": "Save"},
    )
    assert "view_audience" in get_perms(team, audience)


def test_keeping_access_or_a_superuser_still_saves(
    lus_secret_campaign, administrator, login, make_user
):
    lu, audience = lus_secret_campaign["lu"], lus_secret_campaign["audience"]
    for perm in ("audiences.view_audience", "audiences.change_audience"):
        assign_perm(perm, administrator, audience)
    client = login(administrator)
    client.post(
        f"/admin/audiences/audience/{audience.pk}/permissions/user-manage/{lu.pk}/",
        {"permissions": ["view_audience", "change_audience"]},
    )
    assert set(get_perms(lu, audience)) >= {"view_audience", "change_audience"}
    root = make_user("root", superuser=True)
    login(root).post(
        f"/admin/audiences/audience/{audience.pk}/permissions/user-manage/{lu.pk}/",
        {"permissions": [], "submit": "Save"},
    )
    assert get_perms(lu, audience) == []
