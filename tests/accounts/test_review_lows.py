"""Review 6 #7 (Low, left open until now): in-app notices kept the campaign
name they were written with. An approver told "“X” waits for your approval"
still read X — on the page and through ``GET /notifications`` — after X was
restricted and not granted to them, and read its former name after a rename.
Notices naming a campaign now record its id and are worded from the campaign
as it is when read, for a reader who may see it; otherwise without its name,
comment or link."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from accounts.models import Notification
from accounts.roles import ADMINISTRATOR, APPROVER, MANAGER
from accounts.services import access_grant, access_set_restricted
from campaigns import services
from campaigns.models import Campaign
from tests.campaigns.lifecycle_helpers import ready_email

pytestmark = pytest.mark.django_db

HIDDEN = "A notice about a campaign you may not see now, or that was deleted."


@pytest.fixture(autouse=True)
def no_worker(monkeypatch):
    monkeypatch.setattr("campaigns.engine.enqueue_activation", lambda pk: None)


@pytest.fixture
def told(make_user, django_capture_on_commit_callbacks):
    """An approver told that the author's campaign waits for them."""
    author = make_user("author", MANAGER)
    approver = make_user("approver", APPROVER)
    campaign = ready_email(author)
    Campaign.objects.filter(pk=campaign.pk).update(name="Project Nightingale")
    campaign.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_request_approval(
            campaign=campaign, actor=author, comment="the layoffs letter"
        )
    assert approver.notifications.count() == 1
    return author, approver, campaign


def _read(api_for, login, user) -> tuple[str, dict]:
    page = login(user).get("/accounts/notifications/").content.decode()
    items = api_for(user).get("/notifications").json()["items"]
    assert len(items) == 1
    return page, items[0]


def test_a_notice_does_not_name_a_campaign_restricted_since(told, make_user, api_for, login):
    author, approver, campaign = told
    boss = make_user("boss", ADMINISTRATOR)
    access_set_restricted(obj=campaign, restricted=True, actor=boss)
    access_grant(obj=campaign, grantee=author, level="change", actor=boss)
    page, item = _read(api_for, login, approver)
    for text in (page, str(item)):
        assert "Nightingale" not in text and "layoffs" not in text
    assert item["message"] == HIDDEN and item["url"] == ""
    assert HIDDEN in page
    # Granted again: named again.
    access_grant(obj=campaign, grantee=approver, level="view", actor=boss)
    _page, item = _read(api_for, login, approver)
    assert "Project Nightingale" in item["message"]


def test_a_notice_names_the_campaign_as_it_is_called_now(told, api_for, login):
    _author, approver, campaign = told
    Campaign.objects.filter(pk=campaign.pk).update(name="Spring sale")
    page, item = _read(api_for, login, approver)
    assert "Spring sale" in item["message"] and "Spring sale" in page
    assert "Nightingale" not in item["message"] and "Nightingale" not in page
    # Marking it read answers it the same way.
    notice = approver.notifications.get()
    answer = api_for(approver).post(f"/notifications/{notice.pk}/read").json()
    assert "Spring sale" in answer["message"]


def test_a_deleted_campaign_is_not_named(told, api_for, login):
    _author, approver, campaign = told
    Campaign.objects.filter(pk=campaign.pk).delete()
    _page, item = _read(api_for, login, approver)
    assert item["message"] == HIDDEN


def test_notices_written_before_are_matched_to_their_campaign(told, api_for, login):
    """Migration accounts/0006: an old notice (no campaign id) is matched by
    its link or its approval request; one matched to nothing is not named."""
    author, approver, campaign = told
    notice = approver.notifications.get()
    old = {k: v for k, v in notice.params.items() if k != "campaign"}
    Notification.objects.filter(pk=notice.pk).update(params=old)
    decided = Notification.objects.create(
        user=author,
        kind="approved",
        params={"name": campaign.name, "who": "boss", "comment": ""},
        url=f"/campaigns/{campaign.pk}/",
    )
    stray = Notification.objects.create(
        user=approver,
        kind="approval_requested",
        params={"name": "Another name", "comment": ""},
        url="/approvals/",
    )
    migration = importlib.import_module("accounts.migrations.0006_notices_name_their_campaign")
    migration.backfill(apps, None)
    notice.refresh_from_db()
    decided.refresh_from_db()
    stray.refresh_from_db()
    assert notice.params["campaign"] == campaign.pk
    assert decided.params["campaign"] == campaign.pk
    assert "campaign" not in stray.params
    items = api_for(approver).get("/notifications").json()["items"]
    assert [i["message"] for i in items] == [
        HIDDEN,
        "“Project Nightingale” waits for your approval. the layoffs letter",
    ]
