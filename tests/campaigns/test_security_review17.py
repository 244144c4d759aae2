"""Seventeenth outside review of issue 10 (docs/security-review-17.md),
authorization and restricted data: each test reproduced its finding on the
code before the fix. SQLite by default, PostgreSQL + Redis with DATABASE_URL /
REDIS_URL."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign
from tests.campaigns.lifecycle_helpers import force_status
from tests.campaigns.test_security_review10 import (  # noqa: F401 (hidden_list: a fixture)
    PIXEL,
    _oslo_draft,
    _targets,
    hidden_list,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("hidden_list")]

EDIT = {"subject": "Hi again", "html": "<p>Hello</p>", "text": "Hello"}


@pytest.fixture
def live(make_user):
    """A superuser's live recurring campaign to Oslo: Ann (known only through
    the restricted list) and Bob."""
    root = make_user("root", superuser=True)
    campaign = force_status(_oslo_draft(root), "live", recurring=True)
    assert _targets(campaign) == {"ann@example.com", "bob@example.com"}
    return campaign


def test_a_managers_edit_of_a_draft_version_does_not_narrow_the_live_version(
    live, manager, api_for
):
    """Review 10 #6: a campaign sends only to whom every one of its writers may
    see. The writers were the campaign's, not a version's, so a manager who
    opened a draft version of a live campaign and changed a word in it —
    never approved, never activated (a manager may not) — took the people they
    may not see out of the **live** version's next runs: a recurring or
    API-triggered (transactional) campaign approved for the restricted list
    stopped reaching it, silently, which only approvers may decide (stop,
    activate)."""
    api = api_for(manager)
    assert api.post(f"/campaigns/{live.pk}/modify", {}).status_code == 200
    assert api.patch(f"/campaigns/{live.pk}", {"content": EDIT}).status_code == 200
    assert _targets(live) == {"ann@example.com", "bob@example.com"}


def test_the_managers_words_reach_nobody_hidden_from_them_once_activated(
    live, manager, approver, api_for
):
    """The draft version's writers count from the moment it replaces the live
    one (the manager's pixel must not reach Ann then)."""
    from campaigns.engine.dispatch import _writers

    api = api_for(manager)
    api.post(f"/campaigns/{live.pk}/modify", {})
    html = {"subject": "Hi", "html": PIXEL, "text": "Hi"}
    assert api.patch(f"/campaigns/{live.pk}", {"content": html}).status_code == 200
    activated = api_for(approver).post(f"/campaigns/{live.pk}/activate", {})
    assert activated.status_code == 202, activated.content
    live.refresh_from_db()
    assert manager.pk in _writers(live)
    assert _targets(live) == {"bob@example.com"}


def test_the_draft_versions_preview_and_copies_keep_its_writers(live, manager, api_for, make_user):
    """Before it is activated, what the draft version's words are rendered for
    and what is copied from it follow its writers (review 15, review 12)."""
    from audiences.models import Profile
    from campaigns.selectors import renderable_for

    api = api_for(manager)
    api.post(f"/campaigns/{live.pk}/modify", {})
    html = {"subject": "Hi", "html": PIXEL, "text": "Hi"}
    assert api.patch(f"/campaigns/{live.pk}", {"content": html}).status_code == 200
    live.refresh_from_db()
    shown = renderable_for(live, Profile.objects.all())
    assert set(shown.values_list("email", flat=True)) == {"bob@example.com"}
    root = live.created_by
    copied = api_for(root).post(f"/campaigns/{live.pk}/duplicate", {})
    assert copied.status_code == 200, copied.content
    copy = Campaign.objects.get(pk=copied.json()["id"])
    assert manager.pk in copy.editors


# --- 3 (Low): the requester's email about a campaign restricted since --------------


def test_no_email_about_a_decision_on_a_campaign_the_requester_may_no_longer_see(
    manager, api_for, make_user, mailoutbox, django_capture_on_commit_callbacks
):
    """The in-app notice of a decision is worded for its reader when shown
    (review 6 #7, closed in ``lows``); the email was sent as written: a
    requester not granted the campaign restricted since their request read
    its name, the decision and the approver's comment in their mailbox."""
    from tests.campaigns.lifecycle_helpers import ready_email

    root = make_user("root", superuser=True)
    campaign = ready_email(manager, name="Merger announcement")
    from campaigns.services import approval_policy_create

    approval_policy_create(actor=root, name="Everything", conditions={})
    requested = api_for(manager).post(f"/campaigns/{campaign.pk}/request-approval", {})
    assert requested.status_code == 200, requested.content
    restricted = api_for(root).put(
        f"/campaigns/{campaign.pk}/access", {"restricted": True, "grants": []}
    )
    assert restricted.status_code == 200, restricted.content
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        decided = api_for(root).post(
            f"/campaigns/{campaign.pk}/request-changes", {"comment": "Wait for the board vote"}
        )
    assert decided.status_code == 200, decided.content
    sent = "\n".join(m.subject + m.body for m in mailoutbox if manager.email in m.to)
    assert "Merger" not in sent and "board vote" not in sent


def test_the_requester_who_still_sees_the_campaign_is_told_by_email(
    manager, api_for, make_user, mailoutbox, django_capture_on_commit_callbacks
):
    from campaigns.services import approval_policy_create
    from tests.campaigns.lifecycle_helpers import ready_email

    root = make_user("root", superuser=True)
    campaign = ready_email(manager, name="Spring sale")
    approval_policy_create(actor=root, name="Everything", conditions={})
    api_for(manager).post(f"/campaigns/{campaign.pk}/request-approval", {})
    with django_capture_on_commit_callbacks(execute=True):
        api_for(root).post(f"/campaigns/{campaign.pk}/request-changes", {"comment": "Shorter"})
    assert any(manager.email in m.to and "Shorter" in m.body for m in mailoutbox)
