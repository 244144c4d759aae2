"""Fourteenth outside review of issue 10 (docs/security-review-14.md): each
test reproduced its finding on the code before the fix. SQLite by default,
PostgreSQL + Redis with DATABASE_URL / REDIS_URL."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign, ContentTemplate
from tests.campaigns.test_security_review12 import (
    WORDS,
    _from_template,
    _oslo_campaign,
    _targets,
    hidden_list,  # noqa: F401 (a fixture)
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hidden_list")]


# --- 1: a deleted writer's words were laundered by a copy -------------------------


def test_a_deleted_authors_template_does_not_reach_a_list_hidden_from_them(
    manager, api_for, make_user
):
    """Review 12 #2 counts a template's author among the writers of a
    campaign started from it. Once the author's account was deleted (by a
    superuser, as when someone leaves; ``created_by`` set to NULL), the
    template counted nobody, and a superuser's campaign started from it
    reached Ann — where a campaign whose owner was deleted "sends only to what
    every user may see" (audiences/selectors.py)."""
    created = api_for(manager).post(
        "/templates", {"name": "Spring", "channel": "email", "content": WORDS}
    )
    assert created.status_code == 201, created.content
    manager.delete()
    assert ContentTemplate.objects.get(pk=created.json()["id"]).created_by is None
    root = make_user("root", superuser=True)
    campaign = _from_template(api_for(root), created.json()["id"])
    assert _targets(campaign) == {"bob@example.com"}


def test_nor_a_duplicate_of_a_deleted_owners_campaign(manager, api_for, make_user):
    """The same through *duplicate*: the source, owned by nobody, sends only to
    what everyone may see; its copy by a superuser reached Ann."""
    source = _oslo_campaign(api_for(manager), content=WORDS)
    manager.delete()
    assert _targets(source) == {"bob@example.com"}
    root = make_user("root", superuser=True)
    copied = api_for(root).post(f"/campaigns/{source.pk}/duplicate")
    assert copied.status_code in (200, 201), copied.content
    assert _targets(Campaign.objects.get(pk=copied.json()["id"])) == {"bob@example.com"}


def test_nor_a_template_saved_from_a_deleted_owners_campaign(api_for, make_user):
    """And through *save as template*: a campaign whose owner was deleted,
    saved as a template by a superuser, then started from."""
    from campaigns.templates_services import template_from_campaign

    root = make_user("root", superuser=True)
    created = api_for(root).post(
        "/templates", {"name": "Spring", "channel": "email", "content": WORDS}
    )
    campaign = _from_template(api_for(root), created.json()["id"])
    Campaign.objects.filter(pk=campaign.pk).update(created_by=None)  # its owner deleted
    campaign.refresh_from_db()
    assert _targets(campaign) == {"bob@example.com"}
    template = template_from_campaign(campaign=campaign, actor=root, name="Again")
    again = _from_template(api_for(root), template.pk)
    assert _targets(again) == {"bob@example.com"}
