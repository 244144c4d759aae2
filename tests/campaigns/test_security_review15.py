"""Fifteenth outside review of issue 10 (docs/security-review-15.md),
authorization and restricted data: each test reproduced its finding on the
code before the fix. SQLite by default, PostgreSQL + Redis with DATABASE_URL /
REDIS_URL."""

from __future__ import annotations

import pytest

from audiences.models import Profile
from campaigns.models import Proof
from tests.campaigns.test_security_review10 import hidden_list  # noqa: F401 (a fixture)
from tests.campaigns.test_security_review12 import WORDS, _oslo_campaign

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hidden_list")]


# --- 1: a writer's words rendered for a person hidden from them -------------------


@pytest.fixture
def drafted(manager, api_for, make_user):
    """A manager's draft to Oslo (Ann, known only through the restricted list,
    and Bob) with a pixel carrying ``{{ profile.email }}``; and a superuser."""
    campaign = _oslo_campaign(api_for(manager), content=WORDS)
    return campaign, make_user("root", superuser=True)


def _ann() -> Profile:
    return Profile.objects.get(email="ann@example.com")


def test_a_superusers_look_at_a_managers_draft_renders_it_for_nobody_hidden_from_the_manager(
    drafted, login
):
    """The campaign page previews the draft for the first profile of its
    audience the *reader* may see, in a frame that loads remote images
    (channels/frames.py: ``img-src https:``). A superuser (or an approver or
    administrator granted the list) opening a manager's draft — to approve it —
    rendered the manager's pixel for Ann: her address to the manager's server,
    one person a view, the rule steering which. The sample, like a run, is
    among whom the campaign's writers may see."""
    campaign, root = drafted
    page = login(root).get(f"/campaigns/{campaign.pk}/")
    assert page.status_code == 200
    sample = page.context["sample"]
    assert [p.email for p in sample["profiles"]] == ["bob@example.com"]
    assert "ann@example.com" not in sample["result"]["html"]
    picked = login(root).get(f"/campaigns/{campaign.pk}/?profile={_ann().pk}")
    assert "ann@example.com" not in picked.context["sample"]["result"]["html"]


def test_nor_on_the_preview_page_or_through_the_api(drafted, login, api_for):
    campaign, root = drafted
    page = login(root).get(f"/campaigns/{campaign.pk}/preview/?profile={_ann().pk}")
    assert page.status_code == 200
    assert page.context["profile"] is None
    api = api_for(root)
    for profile in (
        str(_ann().pk),
        "ann@example.com",
        {"namespace": "email", "value": "ann@example.com"},
    ):
        answer = api.post(f"/campaigns/{campaign.pk}/preview", {"profile": profile})
        assert answer.status_code == 400, answer.content
    bob = api.post(f"/campaigns/{campaign.pk}/preview", {"profile": "bob@example.com"})
    assert bob.status_code == 200 and "bob@example.com" in bob.json()["html"]


def test_nor_in_a_proof(drafted, login, api_for):
    """A proof is opened by its recipient: the same pixel, the same address."""
    campaign, root = drafted
    answer = api_for(root).post(
        f"/campaigns/{campaign.pk}/proofs",
        {"recipients": ["root@example.com"], "profile": "ann@example.com"},
    )
    assert answer.status_code == 400, answer.content
    page = login(root).post(
        f"/campaigns/{campaign.pk}/proofs/",
        {"recipients": "root@example.com", "preview_profile": str(_ann().pk)},
    )
    assert Proof.objects.filter(profile__email="ann@example.com").count() == 0, page


def test_a_proof_asked_for_before_a_hidden_writers_edit_is_not_rendered_for_that_person(
    manager, api_for, make_user
):
    """A superuser's proof of their own draft for Ann, failed (or still
    queued); a manager then edits the draft (a pixel) and presses Retry: the
    worker rendered the manager's words for Ann. It now fails the proof,
    saying why, and sends nothing."""
    from campaigns.proofs import deliver_proof, retry_proof
    from tests.campaigns.test_security_review10 import _oslo_draft

    root = make_user("root", superuser=True)
    campaign = _oslo_draft(root)
    proof = Proof.objects.create(
        campaign=campaign,
        version=campaign.draft_version,
        requested_by=root,
        profile=_ann(),
        channel="email",
        address="root@example.com",
        status=Proof.Status.FAILED,
    )
    edited = api_for(manager).patch(f"/campaigns/{campaign.pk}", {"content": WORDS})
    assert edited.status_code == 200, edited.content
    retry_proof(proof)
    deliver_proof(proof.pk)
    proof.refresh_from_db()
    assert proof.status == Proof.Status.FAILED
    assert "may not see the chosen profile" in proof.error


# --- 2 (Low): a restricted template's words in an open campaign --------------------


@pytest.fixture
def hr_letter(manager, make_user):
    """A restricted template, granted to the manager."""
    from accounts.services import access_grant
    from campaigns.models import ContentTemplate

    root = make_user("root", superuser=True)
    template = ContentTemplate.objects.create(
        name="Redundancy letter",
        channel="email",
        content={"subject": "Your role", "html": "<p>Confidential</p>"},
        restricted=True,
        created_by=root,
    )
    access_grant(obj=template, grantee=manager, level="view", actor=root)
    return template


def test_a_campaign_started_from_a_restricted_template_is_restricted(
    hr_letter, manager, viewer, api_for
):
    """A duplicate of a restricted campaign and a template saved from one stay
    restricted; a campaign started from a restricted template was open: the
    template's words on a page every viewer reads, by a manager who may not
    restrict it again (access is the administrators')."""
    from campaigns.models import Campaign

    campaign = _oslo_campaign(api_for(manager), templateId=hr_letter.pk)
    assert Campaign.objects.get(pk=campaign.pk).restricted
    assert api_for(manager).get(f"/campaigns/{campaign.pk}").status_code == 200
    assert api_for(viewer).get(f"/campaigns/{campaign.pk}").status_code == 404


def test_nor_on_the_new_campaign_page(hr_letter, manager, login):
    from campaigns.models import Campaign

    page = login(manager).post(
        f"/campaigns/new/?template={hr_letter.pk}",
        {
            "name": "From the letter",
            "type": "scheduled",
            "category": "marketing",
            "template": hr_letter.pk,
        },
    )
    assert page.status_code == 302, page.content
    assert Campaign.objects.get(name="From the letter").restricted


# --- 3 (Low): administrators renamed tags restricted campaigns carry ---------------


def test_an_administrator_may_not_rename_or_delete_a_tag_a_hidden_campaign_carries(
    administrator, login, make_user
):
    """The admin lists a tag once a visible campaign carries it; renaming or
    deleting it changed the restricted campaigns carrying it too (and whether
    a tag-matching approval policy applies to their next version)."""
    from campaigns.models import Tag
    from tests.campaigns.lifecycle_helpers import ready_email

    root = make_user("root", superuser=True)
    legal = Tag.objects.create(name="legal")
    shared, own = ready_email(root, name="Open"), ready_email(root, name="Merger")
    shared.tags.add(legal)
    own.tags.add(legal)
    own.restricted = True
    own.save()
    admin = login(administrator)
    url = f"/admin/campaigns/tag/{legal.pk}/change/"
    assert admin.post(url, {"name": "renamed"}).status_code == 403
    delete = admin.post(f"/admin/campaigns/tag/{legal.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 403
    bulk = admin.post(
        "/admin/campaigns/tag/",
        {"action": "delete_selected", "_selected_action": [legal.pk], "post": "yes"},
    )
    assert Tag.objects.filter(name="legal").exists(), bulk.status_code
    own.restricted = False
    own.save()
    assert admin.post(url, {"name": "renamed"}).status_code == 302
    assert Tag.objects.filter(name="renamed").exists()
