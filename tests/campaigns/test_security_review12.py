"""Twelfth outside review of issue 10 (docs/security-review-12.md),
authorization half: each test reproduced its finding on the code before the
fix. SQLite by default, PostgreSQL + Redis with DATABASE_URL / REDIS_URL."""

from __future__ import annotations

import pytest

from audiences.models import Audience, AudienceMember, Profile
from campaigns.models import Campaign, ContentTemplate
from tests.campaigns.test_security_review10 import OSLO, PIXEL, _targets, hidden_list  # noqa: F401

pytestmark = pytest.mark.django_db

WORDS = {"subject": "Hi", "html": PIXEL, "text": "Hi"}


def _oslo_campaign(api, **fields) -> Campaign:
    """A marketing campaign to the rule audience of Oslo (Ann and Bob), created
    through the API with ``fields`` (its content, or the template it starts from)."""
    from tests.campaigns.lifecycle_helpers import email_config

    oslo = Audience.objects.create(name="Oslo", kind=Audience.Kind.RULE, rule=OSLO)
    created = api.post(
        "/campaigns",
        {
            "name": "Spring letter",
            "type": "scheduled",
            "category": "marketing",
            "channelConfigurationId": email_config().pk,
            "audienceId": oslo.pk,
            **fields,
        },
    )
    assert created.status_code == 201, created.content
    return Campaign.objects.get(pk=created.json()["id"])


def _from_template(api, template_id: int) -> Campaign:
    return _oslo_campaign(api, templateId=template_id)


# --- 2: a template's words reached people only the campaign's creator may see -----


def test_a_template_authors_words_do_not_reach_a_list_hidden_from_them(
    hidden_list, manager, api_for, make_user
):
    """Review 10 #6: a campaign sends only to whom its owner and every other
    writer may see, and a duplicate keeps the source's writers ("copying does
    not launder the words"). A template is the other copy: a manager not
    granted the restricted list wrote a template with a pixel carrying
    ``{{ profile.email }}``; a superuser started a campaign from it (API and
    page alike) and its run reached Ann, known only through the list — her
    address to the manager's server when she opened it."""
    created = api_for(manager).post(
        "/templates", {"name": "Spring", "channel": "email", "content": WORDS}
    )
    assert created.status_code == 201, created.content
    root = make_user("root", superuser=True)
    campaign = _from_template(api_for(root), created.json()["id"])
    assert campaign.editors == [manager.pk]
    assert _targets(campaign) == {"bob@example.com"}


def test_nor_an_edit_of_someone_elses_template(hidden_list, manager, api_for, make_user):
    root = make_user("root", superuser=True)
    created = api_for(root).post(
        "/templates", {"name": "Spring", "channel": "email", "content": {"subject": "Hi"}}
    )
    template_id = created.json()["id"]
    edited = api_for(manager).patch(f"/templates/{template_id}", {"content": {"html": PIXEL}})
    assert edited.status_code == 200, edited.content
    assert ContentTemplate.objects.get(pk=template_id).editors == [manager.pk]
    campaign = _from_template(api_for(root), template_id)
    assert _targets(campaign) == {"bob@example.com"}


def test_nor_a_campaign_saved_as_a_template(hidden_list, approver, api_for, make_user, login):
    """Saving an edited campaign as a template, then starting from it, keeps
    the campaign's writers (the superuser saves and uses it, on the pages)."""
    from tests.campaigns.lifecycle_helpers import ready_email

    root = make_user("root", superuser=True)
    source = ready_email(root)
    api_for(approver).patch(f"/campaigns/{source.pk}", {"content": WORDS})
    client = login(root)
    saved = client.post(f"/campaigns/{source.pk}/save-as-template/", {"name": "Letter"})
    template = ContentTemplate.objects.get(name="Letter")
    assert saved.status_code == 302
    assert template.editors == [approver.pk]
    oslo = Audience.objects.create(name="Oslo", kind=Audience.Kind.RULE, rule=OSLO)
    page = client.post(
        f"/campaigns/new/?template={template.pk}",
        {
            "name": "From the letter",
            "type": "scheduled",
            "category": "marketing",
            "template": template.pk,
        },
    )
    assert page.status_code == 302, page.content
    campaign = Campaign.objects.get(name="From the letter")
    assert campaign.editors == [approver.pk]
    from campaigns.services import campaign_update

    campaign_update(campaign=campaign, actor=root, audience=oslo)
    assert _targets(campaign) == {"bob@example.com"}


def test_the_authors_own_template_changes_nothing(hidden_list, api_for, make_user):
    root = make_user("root", superuser=True)
    created = api_for(root).post(
        "/templates", {"name": "Spring", "channel": "email", "content": WORDS}
    )
    campaign = _from_template(api_for(root), created.json()["id"])
    assert campaign.editors == []
    assert _targets(campaign) == {"ann@example.com", "bob@example.com"}


# --- 5: a trigger reached a person hidden from its caller through profile creation --


@pytest.mark.django_db(transaction=True)
def test_a_trigger_does_not_reach_a_person_hidden_from_its_caller_through_profile_creation(
    api_for, manager, make_user, queued, fake_transport
):
    """Review 8 #4: a person hidden from the key's owner is answered as an
    unknown one — and on a campaign that creates profiles, an unknown one is
    accepted. The dispatcher then looked the address up again, found the
    hidden person and sent to them (the campaign's writers, a superuser, may
    see them), with the caller's context: a manager made the organisation
    write to a member of a restricted list they may not see. A recipient the
    caller could not be answered about is now left out when it resolves to a
    person known only through restricted audiences."""
    from campaigns.engine import dispatch
    from tests.campaigns.test_triggers import api_campaign, body

    vip = Audience.objects.create(name="VIP", kind="upload", restricted=True, size=1)
    secret = Profile.objects.create(email="secret@example.com")
    AudienceMember.objects.create(audience=vip, profile=secret)
    root = make_user("root", superuser=True)
    campaign = api_campaign(allow_profile_creation=True)
    Campaign.objects.filter(pk=campaign.pk).update(created_by=root)
    sent = api_for(manager).post(
        "/executions/unitary", body(campaign, "r-1", "secret@example.com", "new@example.com")
    )
    assert sent.status_code == 202, sent.content
    assert sent.json()["rejected"] == []  # answered as an unknown one (review 8 #4)
    dispatch.dispatch_batch()
    assert fake_transport.sent == ["new@example.com"]
    assert Profile.objects.filter(email="secret@example.com").count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("others", [(), ("public@example.com",)])
def test_a_caller_who_may_see_them_still_reaches_them(
    others, api_for, manager, make_user, queued, fake_transport
):
    """A granted or superuser key, alone (the one-statement path) or with
    another recipient (the full path), on a campaign that creates profiles."""
    from guardian.shortcuts import assign_perm

    from campaigns.engine import dispatch
    from tests.campaigns.test_triggers import api_campaign, body

    vip = Audience.objects.create(name="VIP", kind="upload", restricted=True, size=1)
    secret = Profile.objects.create(email="secret@example.com")
    AudienceMember.objects.create(audience=vip, profile=secret)
    Profile.objects.create(email="public@example.com")
    root = make_user("root", superuser=True)
    campaign = api_campaign(allow_profile_creation=True)
    Campaign.objects.filter(pk=campaign.pk).update(created_by=root)
    assign_perm("audiences.view_audience", manager, vip)
    for n, caller in enumerate((manager, root)):
        answer = api_for(caller).post(
            "/executions/unitary", body(campaign, f"r-{n}", "secret@example.com", *others)
        )
        assert answer.status_code == 202, answer.content
        dispatch.dispatch_batch()
    assert sorted(fake_transport.sent) == sorted(["secret@example.com", *others] * 2)
