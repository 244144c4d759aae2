"""Issue 12 #9: the campaign page shows the version under review by default,
with a switch to the live one, and the rendered message for a sample profile
without anyone typing an address."""

from __future__ import annotations

import re

import pytest

from audiences.models import Profile
from campaigns import services
from campaigns.models import ApprovalPolicy, CampaignStatus
from tests.campaigns.conftest import upload_audience
from tests.campaigns.lifecycle_helpers import force_status, ready_email

S = CampaignStatus


@pytest.fixture(autouse=True)
def no_cluster(monkeypatch):
    monkeypatch.setattr("campaigns.engine.enqueue_activation", lambda pk: None)
    monkeypatch.setattr("campaigns.engine.enqueue_reschedule", lambda pk: None)


@pytest.fixture
def under_review(manager, approver):
    """A live campaign whose draft version (subject "New") awaits approval."""
    ApprovalPolicy.objects.create(name="All")
    people = [
        Profile.objects.create(email="ann@example.com", attributes={"firstName": "Ann"}),
        Profile.objects.create(email="bob@example.com", attributes={"firstName": "Bob"}),
    ]
    campaign = force_status(
        ready_email(manager, audience=upload_audience(people)), S.LIVE, recurring=True
    )
    services.campaign_modify(campaign=campaign, actor=approver)
    services.campaign_update(
        campaign=campaign,
        actor=approver,
        content={
            **campaign.live_version.content,
            "subject": "New for {{ profile.firstName | default('you') }}",
        },
    )
    services.campaign_request_approval(campaign=campaign, actor=manager, comment="please")
    campaign.refresh_from_db()
    return campaign


def test_the_version_under_review_is_shown_by_default(login, approver, under_review):
    client = login(approver)
    page = client.get(f"/campaigns/{under_review.pk}/").content.decode()
    assert "Draft version 2" in page
    assert 'href="?version=live"' in page  # the switch to the live version
    assert "New for" in page
    live = client.get(f"/campaigns/{under_review.pk}/?version=live").content.decode()
    assert "Version 1" in live and "New for" not in live
    assert 'href="?version=draft"' in live


def test_the_page_renders_the_message_for_a_sample_profile(login, approver, under_review):
    client = login(approver)
    page = client.get(f"/campaigns/{under_review.pk}/").content.decode()
    section = page[page.index('id="preview-section"') :]
    assert "Rendered for ann@example.com" in section
    assert "New for Ann" in section  # rendered, not the template source
    # Another sample is one click away, not typed.
    bob = Profile.objects.get(email="bob@example.com")
    assert re.search(rf'<option value="{bob.pk}"[^>]*>bob@example.com', section)
    other = client.get(f"/campaigns/{under_review.pk}/?profile={bob.pk}").content.decode()
    assert "New for Bob" in other
    # The template source is still there for whoever wants it, folded away.
    assert re.search(r"<details[^>]*>\s*<summary>Template source</summary>", page)


def test_the_live_version_renders_its_own_content(login, approver, under_review):
    page = login(approver).get(f"/campaigns/{under_review.pk}/?version=live").content.decode()
    section = page[page.index('id="preview-section"') :]
    assert "New for" not in section and ">Hi<" in section.replace("\n", "")


def test_a_viewer_sees_the_message_rendered_with_sample_data(login, viewer, under_review):
    page = login(viewer).get(f"/campaigns/{under_review.pk}/").content.decode()
    section = page[page.index('id="preview-section"') :]
    assert "ann@example.com" not in section  # viewers are not shown profiles
    assert "Rendered with sample data" in section and "New for you" in section


def test_a_non_ascii_digit_as_the_sample_profile_is_not_a_500(login, manager):
    """Outside review: str.isdigit() accepts "²", which int() refuses."""
    from tests.campaigns.lifecycle_helpers import ready_email

    campaign = ready_email(manager)
    assert login(manager).get(f"/campaigns/{campaign.pk}/?profile=²").status_code == 200
