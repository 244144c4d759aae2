"""Tenth outside review of issue 10 (docs/security-review-10.md), authorization
half: each test reproduced its finding on the code before the fix. SQLite by
default, PostgreSQL + Redis with DATABASE_URL / REDIS_URL."""

from __future__ import annotations

import json

import pytest

from audiences.models import Audience
from campaigns.models import Campaign, CampaignVersion
from channels.models import ChannelConfiguration

pytestmark = pytest.mark.django_db

PARIS = {"all": [{"field": "attributes.city", "op": "eq", "value": "Paris"}]}
EVERYONE = {"all": [{"field": "email", "op": "exists", "value": True}]}


@pytest.fixture
def open_rule_audience(db):
    return Audience.objects.create(name="Parisians", kind=Audience.Kind.RULE, rule=PARIS)


def _live_campaign_on(audience, *, restricted: bool) -> Campaign:
    config = ChannelConfiguration.objects.create(
        name="Newsletter", channel="email", purpose="marketing"
    )
    campaign = Campaign.objects.create(
        name="Board letter", status="live", type="api_triggered", restricted=restricted
    )
    version = CampaignVersion.objects.create(
        campaign=campaign, number=1, audience=audience, channel_configuration=config
    )
    campaign.live_version = version
    campaign.save()
    return campaign


def _admin_change(client, audience, rule):
    data = {
        "name": audience.name,
        "rule": json.dumps(rule),
        "imports-TOTAL_FORMS": "0",
        "imports-INITIAL_FORMS": "0",
        "imports-MIN_NUM_FORMS": "0",
        "imports-MAX_NUM_FORMS": "1000",
    }
    return client.post(f"/admin/audiences/audience/{audience.pk}/change/", data)


# --- 2: the admin's audience form changed a rule in use without the in-use check --


def test_admin_cannot_change_the_rule_a_restricted_live_campaign_sends_to(
    open_rule_audience, administrator, login, api_for
):
    """Through the pages and the API, changing the rule of an audience used by a
    committed campaign needs the permission to activate it (issue 10 #4); a
    restricted campaign not granted is one an administrator may not activate.
    The admin's change form saved the rule anyway: the restricted campaign's
    next run went to whoever the administrator's rule named."""
    _live_campaign_on(open_rule_audience, restricted=True)
    api = api_for(administrator).patch(
        f"/audiences/{open_rule_audience.pk}", {"name": "Parisians", "rule": EVERYONE}
    )
    assert api.status_code == 409  # the API refuses (held before the fix)

    response = _admin_change(login(administrator), open_rule_audience, EVERYONE)

    assert response.status_code == 200  # the form again, with the reason
    assert "changing its rule needs the permission to activate them" in response.content.decode()
    assert "Board letter" not in response.content.decode()  # counted, never named
    open_rule_audience.refresh_from_db()
    assert open_rule_audience.rule == PARIS


def test_admin_still_changes_a_rule_it_may_change(
    open_rule_audience, administrator, login, make_user
):
    # An open live campaign: administrators may activate it, so may change its audience.
    _live_campaign_on(open_rule_audience, restricted=False)
    response = _admin_change(login(administrator), open_rule_audience, EVERYONE)
    assert response.status_code == 302
    open_rule_audience.refresh_from_db()
    assert open_rule_audience.rule == EVERYONE


def test_a_superuser_changes_the_rule_of_a_restricted_campaigns_audience(
    open_rule_audience, login, make_user
):
    _live_campaign_on(open_rule_audience, restricted=True)
    root = make_user("root", superuser=True)
    response = _admin_change(login(root), open_rule_audience, EVERYONE)
    assert response.status_code == 302
    open_rule_audience.refresh_from_db()
    assert open_rule_audience.rule == EVERYONE


# --- 4: the admin's delete page loaded every member of an upload audience ---------


def test_the_admin_delete_page_counts_an_audiences_members_without_loading_them(
    administrator, login
):
    """Django's admin collector loads every object a deletion reaches to name it
    on the confirmation page: an upload audience of a million members was a
    million rows in memory and a million lines of HTML for the administrator's
    request (GET, and the POST that deletes). Members are counted."""
    from django.db.models.signals import post_init

    from audiences.models import AudienceMember, Profile

    audience = Audience.objects.create(name="Upload", kind=Audience.Kind.UPLOAD)
    people = Profile.objects.bulk_create(Profile(email=f"p{i}@example.com") for i in range(120))
    AudienceMember.objects.bulk_create(AudienceMember(audience=audience, profile=p) for p in people)
    loaded = []

    def count(sender, instance, **kwargs):
        loaded.append(instance)

    post_init.connect(count, sender=AudienceMember)
    try:
        client = login(administrator)
        page = client.get(f"/admin/audiences/audience/{audience.pk}/delete/")
        assert page.status_code == 200
        assert not loaded
        assert "120" in page.content.decode()  # the summary counts them
        done = client.post(f"/admin/audiences/audience/{audience.pk}/delete/", {"post": "yes"})
    finally:
        post_init.disconnect(count, sender=AudienceMember)
    assert done.status_code == 302
    assert not loaded
    assert not Audience.objects.filter(pk=audience.pk).exists()
    assert not AudienceMember.objects.exists()
    assert Profile.objects.count() == 120
