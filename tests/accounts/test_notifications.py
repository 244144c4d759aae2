"""Approvers are told something waits, requesters are told the decision
(issue 12, defect 1): email + in-app notice, a bell, a page and the API."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.models import Notification
from accounts.roles import ADMINISTRATOR, APPROVER, MANAGER, VIEWER
from accounts.services import notify
from campaigns import services
from campaigns.models import ApprovalPolicy
from tests.campaigns.lifecycle_helpers import ready_email


@pytest.fixture(autouse=True)
def no_worker(monkeypatch):
    monkeypatch.setattr("campaigns.engine.enqueue_activation", lambda pk: None)


def _emails_to(mailoutbox, user) -> list:
    return [m for m in mailoutbox if user.email in m.to]


def test_policy_approver_users_and_group_members_get_email_and_notice(
    make_user, mailoutbox, django_capture_on_commit_callbacks
):
    author = make_user("author", MANAGER)
    approver = make_user("approver", APPROVER)
    admin = make_user("admin", ADMINISTRATOR)
    bystander = make_user("bystander", VIEWER)
    policy = ApprovalPolicy.objects.create(name="p")
    policy.approver_users.add(admin)
    policy.approver_groups.add(Group.objects.get(name=APPROVER))
    campaign = ready_email(author)
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_request_approval(campaign=campaign, actor=author, comment="please")
    for user in (approver, admin):
        assert user.notifications.count() == 1, user
        assert campaign.name in user.notifications.get().message
        assert len(_emails_to(mailoutbox, user)) == 1, user
    for user in (author, bystander):
        assert not user.notifications.exists()
        assert not _emails_to(mailoutbox, user)


def test_restricted_campaign_only_notifies_approvers_granted_it(
    make_user, mailoutbox, django_capture_on_commit_callbacks
):
    from accounts.services import access_grant, access_set_restricted

    author = make_user("author", MANAGER)
    granted = make_user("granted", APPROVER)
    outsider = make_user("outsider", APPROVER)
    policy = ApprovalPolicy.objects.create(name="p")
    policy.approver_groups.add(Group.objects.get(name=APPROVER))
    boss = make_user("boss", ADMINISTRATOR)
    campaign = ready_email(author)
    access_set_restricted(obj=campaign, restricted=True, actor=boss)
    access_grant(obj=campaign, grantee=author, level="change", actor=boss)
    access_grant(obj=campaign, grantee=granted, level="view", actor=boss)
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_request_approval(campaign=campaign, actor=author)
    assert granted.notifications.count() == 1 and _emails_to(mailoutbox, granted)
    assert not outsider.notifications.exists() and not _emails_to(mailoutbox, outsider)


def test_request_without_policy_notifies_everyone_who_may_approve(
    make_user, mailoutbox, django_capture_on_commit_callbacks
):
    author = make_user("author", MANAGER)
    approver = make_user("approver", APPROVER)
    admin = make_user("admin", ADMINISTRATOR)
    manager = make_user("manager", MANAGER)
    campaign = ready_email(author)
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_request_approval(campaign=campaign, actor=author)
    assert approver.notifications.count() == 1 and _emails_to(mailoutbox, approver)
    assert admin.notifications.count() == 1 and _emails_to(mailoutbox, admin)
    assert not manager.notifications.exists() and not author.notifications.exists()


@pytest.mark.parametrize("decision", ["approve", "request_changes"])
def test_requester_is_told_of_the_decision(
    decision, make_user, mailoutbox, django_capture_on_commit_callbacks
):
    author = make_user("author", MANAGER)
    approver = make_user("approver", APPROVER)
    campaign = ready_email(author)
    services.campaign_request_approval(campaign=campaign, actor=author)
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        getattr(services, f"campaign_{decision}")(campaign=campaign, actor=approver, comment="ok")
    assert author.notifications.count() == 1
    assert len(_emails_to(mailoutbox, author)) == 1


def test_bell_shows_unread_count_and_page_lists_newest_first(client, make_user):
    user = make_user("someone", MANAGER)
    other = make_user("other", MANAGER)
    notify(user=user, message="first notice", url="/campaigns/")
    notify(user=user, message="second notice", url="/campaigns/")
    notify(user=other, message="not yours", url="/")
    client.force_login(user)
    page = client.get(reverse("campaigns:list")).content.decode()
    assert 'data-testid="notification-bell"' in page
    assert 'data-unread="2"' in page
    listing = client.get(reverse("accounts:notifications"))
    assert listing.status_code == 200
    text = listing.content.decode()
    assert text.index("second notice") < text.index("first notice")
    assert "not yours" not in text
    first = user.notifications.get(message="first notice")
    assert client.get(reverse("accounts:notification_read", args=[first.pk])).status_code == 405
    response = client.post(reverse("accounts:notification_read", args=[first.pk]))
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.read_at is not None
    mine_not = other.notifications.get()
    assert client.post(reverse("accounts:notification_read", args=[mine_not.pk])).status_code == 404
    client.post(reverse("accounts:notifications_read_all"))
    assert not user.notifications.filter(read_at__isnull=True).exists()
    page = client.get(reverse("campaigns:list")).content.decode()
    assert 'data-unread="0"' in page


def test_notifications_page_needs_login(client):
    response = client.get(reverse("accounts:notifications"))
    assert response.status_code == 302


def test_api_lists_the_callers_notifications_and_marks_one_read(client, make_user):
    from accounts.services import api_key_create

    user = make_user("someone", VIEWER)
    other = make_user("other", VIEWER)
    notify(user=user, message="older")
    newer = notify(user=user, message="newer", url="/approvals/")
    theirs = notify(user=other, message="theirs")
    _, key = api_key_create(user=user, name="k")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    body = client.get("/api/v1/notifications", **auth).json()
    assert body["unread"] == 2 and body["count"] == 2
    assert [n["message"] for n in body["items"]] == ["newer", "older"]
    assert set(body["items"][0]) >= {"id", "message", "url", "createdAt", "readAt"}
    response = client.post(f"/api/v1/notifications/{newer.pk}/read", **auth)
    assert response.status_code == 200 and response.json()["readAt"]
    assert client.get("/api/v1/notifications", **auth).json()["unread"] == 1
    assert client.post(f"/api/v1/notifications/{theirs.pk}/read", **auth).status_code == 404
    assert Notification.objects.get(pk=theirs.pk).read_at is None
    assert client.get("/api/v1/notifications").status_code == 401


def test_a_notice_is_worded_in_the_readers_language(client, make_user):
    from django.utils import translation

    from campaigns.models import Campaign

    user = make_user("someone", APPROVER)
    campaign = ready_email(make_user("author", MANAGER))
    Campaign.objects.filter(pk=campaign.pk).update(name="Soldes")
    params = {"name": "Soldes", "campaign": campaign.pk}  # worded from the campaign (review 6 #7)
    with translation.override("fr"):
        notify(user=user, kind="approval_requested", params=params, url="/")
    client.force_login(user)
    dutch = client.get(reverse("accounts:notifications"), HTTP_ACCEPT_LANGUAGE="nl")
    assert "“Soldes” wacht op uw goedkeuring." in dutch.content.decode()
    english = client.get(reverse("accounts:notifications"), HTTP_ACCEPT_LANGUAGE="en")
    assert "“Soldes” waits for your approval." in english.content.decode()


def test_api_marks_every_notification_of_the_caller_read(api_for, manager, viewer):
    """The notifications page's "Mark all read", through the API (issue 12 #6)."""
    from accounts.models import Notification
    from accounts.services import notify

    for n in range(3):
        notify(user=manager, message=f"m{n}")
    notify(user=viewer, message="someone else's")
    response = api_for(manager).post("/notifications/read-all")
    assert response.status_code == 200 and response.json() == {"marked": 3}
    assert not Notification.objects.filter(user=manager, read_at__isnull=True).exists()
    assert Notification.objects.filter(user=viewer, read_at__isnull=True).count() == 1
    listing = api_for(manager).get("/notifications").json()
    assert listing["unread"] == 0
    assert api_for(manager).post("/notifications/read-all").json() == {"marked": 0}
