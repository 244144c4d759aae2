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
    from audiences.models import AudienceMember, Profile
    from tests.conftest import instances_loaded

    audience = Audience.objects.create(name="Upload", kind=Audience.Kind.UPLOAD)
    people = Profile.objects.bulk_create(Profile(email=f"p{i}@example.com") for i in range(120))
    AudienceMember.objects.bulk_create(AudienceMember(audience=audience, profile=p) for p in people)
    with instances_loaded(AudienceMember) as loaded:
        client = login(administrator)
        page = client.get(f"/admin/audiences/audience/{audience.pk}/delete/")
        assert page.status_code == 200
        assert not loaded
        assert "120" in page.content.decode()  # the summary counts them
        done = client.post(f"/admin/audiences/audience/{audience.pk}/delete/", {"post": "yes"})
    assert done.status_code == 302
    assert not loaded
    assert not Audience.objects.filter(pk=audience.pk).exists()
    assert not AudienceMember.objects.exists()
    assert Profile.objects.count() == 120


# --- 7: an audience's creator emptied a colleague's live campaign through Access ---


@pytest.fixture
def colleagues_campaign(make_user):
    """Mo's open upload audience (Pia in it), sent to by Lu's live campaign."""
    from accounts.roles import MANAGER
    from audiences.models import AudienceMember, Profile

    mo, lu = make_user("mo", MANAGER), make_user("lu", MANAGER)
    audience = Audience.objects.create(name="Members", kind=Audience.Kind.UPLOAD, created_by=mo)
    pia = Profile.objects.create(email="pia@example.com", consent_email=True)
    AudienceMember.objects.create(audience=audience, profile=pia)
    campaign = _live_campaign_on(audience, restricted=False)
    Campaign.objects.filter(pk=campaign.pk).update(created_by=lu)
    campaign.refresh_from_db()
    return {"mo": mo, "lu": lu, "audience": audience, "campaign": campaign}


def _targets(campaign) -> set[str]:
    from campaigns.engine.materialize import insert_deliveries
    from campaigns.models import Delivery, Run

    run = Run.objects.create(
        campaign=campaign, version=campaign.live_version, kind=Run.Kind.API_AUDIENCE
    )
    insert_deliveries(run)
    return set(Delivery.objects.filter(run=run).values_list("address", flat=True))


def test_restricting_an_audience_in_use_needs_the_permission_to_activate_its_campaigns(
    colleagues_campaign, api_for, login
):
    """An audience's creator manages its access. Restricting an upload audience
    hides its members from whoever is not granted it — the owner of a live
    campaign using it too, whose next run then left them out: a manager
    emptied a colleague's approved campaign, which a rule change or a new file
    would have needed the permission to activate it for (issue 10 #4,
    review 6 #2). Refused the same way (API and Access page)."""
    mo, audience = colleagues_campaign["mo"], colleagues_campaign["audience"]
    answer = api_for(mo).put(f"/audiences/{audience.pk}/access", {"restricted": True, "grants": []})
    assert answer.status_code == 400
    assert "needs the permission to activate them" in answer.content.decode()
    page = login(mo).post(
        f"/audiences/{audience.pk}/access/", {"op": "restrict", "restricted": "on"}
    )
    assert page.status_code == 400
    audience.refresh_from_db()
    assert not audience.restricted
    assert _targets(colleagues_campaign["campaign"]) == {"pia@example.com"}


def test_nor_taking_a_colleagues_grant_away(colleagues_campaign, api_for, login):
    from guardian.shortcuts import assign_perm

    mo, lu, audience = (colleagues_campaign[k] for k in ("mo", "lu", "audience"))
    Audience.objects.filter(pk=audience.pk).update(restricted=True)
    audience.refresh_from_db()
    for perm in ("audiences.view_audience", "audiences.change_audience"):
        assign_perm(perm, mo, audience)
    assign_perm("audiences.view_audience", lu, audience)
    page = login(mo).post(
        f"/audiences/{audience.pk}/access/", {"op": "revoke", "grantee": f"user:{lu.pk}"}
    )
    assert page.status_code == 400
    answer = api_for(mo).put(
        f"/audiences/{audience.pk}/access",
        {"restricted": True, "grants": [{"user": "mo", "permission": "change"}]},
    )
    assert answer.status_code == 400
    assert lu.has_perm("audiences.view_audience", audience)
    assert _targets(colleagues_campaign["campaign"]) == {"pia@example.com"}


def test_an_audience_no_committed_campaign_uses_is_restricted_as_before(
    colleagues_campaign, api_for, administrator
):
    mo, audience = colleagues_campaign["mo"], colleagues_campaign["audience"]
    Campaign.objects.filter(pk=colleagues_campaign["campaign"].pk).update(status="stopped")
    answer = api_for(mo).put(f"/audiences/{audience.pk}/access", {"restricted": True, "grants": []})
    assert answer.status_code == 200
    audience.refresh_from_db()
    assert audience.restricted


def test_an_administrator_who_may_activate_the_campaign_may_restrict_it(
    colleagues_campaign, api_for, administrator
):
    audience = colleagues_campaign["audience"]
    answer = api_for(administrator).put(
        f"/audiences/{audience.pk}/access", {"restricted": True, "grants": []}
    )
    assert answer.status_code == 200


def test_nor_ticking_restricted_in_the_admin(colleagues_campaign, login, make_user):
    """The admin's audience form, for a user who may manage access but not
    activate the campaign (a restricted campaign not granted, here)."""
    from accounts.roles import ADMINISTRATOR

    audience, campaign = colleagues_campaign["audience"], colleagues_campaign["campaign"]
    Campaign.objects.filter(pk=campaign.pk).update(restricted=True)
    ada = make_user("ada2", ADMINISTRATOR)
    page = login(ada).post(
        f"/admin/audiences/audience/{audience.pk}/change/",
        {
            "name": audience.name,
            "restricted": "on",
            "imports-TOTAL_FORMS": "0",
            "imports-INITIAL_FORMS": "0",
            "imports-MIN_NUM_FORMS": "0",
            "imports-MAX_NUM_FORMS": "1000",
        },
    )
    assert page.status_code == 200
    assert "needs the permission to activate them" in page.content.decode()
    audience.refresh_from_db()
    assert not audience.restricted
