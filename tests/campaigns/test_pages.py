"""Authoring and action pages: happy path, wrong method, 403, 404."""

from __future__ import annotations

import pytest

from campaigns.models import ApprovalPolicy, ApprovalRequest, Campaign, CampaignStatus
from tests.campaigns.lifecycle_helpers import (
    GOOD_HTML,
    audience,
    email_config,
    force_status,
    ready_email,
)

pytestmark = pytest.mark.usefixtures("no_worker")

S = CampaignStatus


def _edit_data(config, aud, **over):
    data = {
        "name": "Spring",
        "description": "",
        "tags": "sale, spring",
        "channel_configuration": config.pk,
        "audience": aud.pk,
        "identity_namespace": "email",
        "content_subject": "Hello",
        "content_preheader": "",
        "content_html": GOOD_HTML,
        "content_text": "Hello",
        "start_mode": "at",
        "start_at": "2031-03-01T10:00",
        "end_at": "",
        "timezone": "Europe/Paris",
        "frequency": "monthly",
        "time": "08:15",
        "day_of_month": "5",
        "throttle_per_second": "100",
        "track_opens": "on",
    }
    data.update(over)
    return data


def test_create_then_edit_through_the_pages(login, manager):
    client = login(manager)
    assert client.get("/campaigns/new/").status_code == 200
    response = client.post(
        "/campaigns/new/",
        {"name": "Spring", "type": "scheduled", "category": "marketing", "channel": "email"},
    )
    campaign = Campaign.objects.get()
    assert response.status_code == 302 and response.url == f"/campaigns/{campaign.pk}/edit/"
    config, aud = email_config(), audience()
    page = client.get(response.url)
    assert page.status_code == 200
    response = client.post(f"/campaigns/{campaign.pk}/edit/", _edit_data(config, aud))
    assert response.status_code == 302, response.context["form"].errors
    version = Campaign.objects.get().draft_version
    assert version.content["subject"] == "Hello"
    assert version.start_at.isoformat() == "2031-03-01T09:00:00+00:00"  # Paris winter time
    assert version.recurrence == {
        "frequency": "monthly",
        "time": "08:15",
        "daysOfWeek": [],
        "dayOfMonth": 5,
    }
    assert version.throttle_per_second == 100
    assert sorted(campaign.tags.values_list("name", flat=True)) == ["sale", "spring"]
    detail = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "No errors or warnings." in detail


def test_edit_form_reports_template_errors_and_saves_nothing(login, manager):
    campaign = ready_email(manager)
    data = _edit_data(email_config(name="b"), audience(), content_subject="{% if %}")
    response = login(manager).post(f"/campaigns/{campaign.pk}/edit/", data)
    assert response.status_code == 200
    assert "content_subject" in response.context["form"].errors
    campaign.refresh_from_db()
    assert campaign.draft_version.content["subject"] == "Hi"


@pytest.mark.parametrize(
    "over,field",
    [
        ({"timezone": "Nowhere/Land"}, "timezone"),
        ({"throttle_per_second": "20000"}, "throttle_per_second"),
        ({"frequency": "weekly"}, "days_of_week"),
        ({"start_at": ""}, "start_at"),
    ],
)
def test_edit_form_schedule_errors(login, manager, over, field):
    campaign = ready_email(manager)
    response = login(manager).post(
        f"/campaigns/{campaign.pk}/edit/", _edit_data(email_config(name="b"), audience(), **over)
    )
    assert response.status_code == 200
    assert field in response.context["form"].errors


def test_edit_page_says_when_no_configuration_or_audience_exists(login, manager):
    client = login(manager)
    client.post(
        "/campaigns/new/",
        {"name": "S", "type": "scheduled", "category": "marketing", "channel": "sms"},
    )
    page = client.get(f"/campaigns/{Campaign.objects.get().pk}/edit/").content.decode()
    assert 'id="no-configuration"' in page and 'id="no-audience"' in page


def test_transactional_api_campaign_has_no_audience_picker(login, manager):
    client = login(manager)
    client.post(
        "/campaigns/new/",
        {"name": "R", "type": "api_triggered", "category": "transactional", "channel": "email"},
    )
    response = client.get(f"/campaigns/{Campaign.objects.get().pk}/edit/")
    assert "audience" not in response.context["form"].fields


def test_only_active_configurations_of_the_category_are_offered(login, manager):
    good = email_config(name="good")
    email_config(name="off", status="deactivated")
    email_config(name="tx", purpose="transactional")
    campaign = ready_email(manager, channel_configuration=good)
    form = login(manager).get(f"/campaigns/{campaign.pk}/edit/").context["form"]
    assert list(form.fields["channel_configuration"].queryset) == [good]


def test_viewer_cannot_create_or_edit(login, viewer):
    campaign = ready_email(None)
    client = login(viewer)
    assert client.get("/campaigns/new/").status_code == 403
    assert client.get(f"/campaigns/{campaign.pk}/edit/").status_code == 403
    assert client.post(f"/campaigns/{campaign.pk}/actions/delete/").status_code == 403
    assert Campaign.objects.filter(pk=campaign.pk).exists()


def test_restricted_campaign_pages_are_404(login, manager):
    campaign = ready_email(None)
    Campaign.objects.filter(pk=campaign.pk).update(restricted=True)
    client = login(manager)
    for url in ("/", "/edit/", "/preview/"):
        assert client.get(f"/campaigns/{campaign.pk}{url}").status_code == 404
    assert client.post(f"/campaigns/{campaign.pk}/actions/duplicate/").status_code == 404


def test_actions_require_post(login, approver):
    campaign = ready_email(approver)
    assert login(approver).get(f"/campaigns/{campaign.pk}/actions/activate/").status_code == 405


def test_detail_offers_only_allowed_actions(login, manager, approver):
    campaign = ready_email(manager)
    page = login(manager).get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "actions/request_approval/" in page and "actions/delete/" in page
    assert "actions/activate/" not in page and "actions/stop/" not in page
    force_status(campaign, S.LIVE)
    page = login(approver).get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "actions/stop/" in page and "actions/archive/" in page
    assert "actions/delete/" not in page and "actions/activate/" not in page


def test_activate_through_the_page(login, approver):
    campaign = ready_email(approver)
    response = login(approver).post(f"/campaigns/{campaign.pk}/actions/activate/")
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == S.ACTIVATING


def test_refused_action_shows_the_reason_and_changes_nothing(login, approver):
    campaign = ready_email(approver, content={"subject": "", "html": "x"})
    response = login(approver).post(f"/campaigns/{campaign.pk}/actions/activate/", follow=True)
    assert "The review found errors" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == S.DRAFT


def test_delete_through_the_page(login, manager):
    campaign = ready_email(manager)
    response = login(manager).post(f"/campaigns/{campaign.pk}/actions/delete/")
    assert response.status_code == 302 and response.url == "/campaigns/"
    assert not Campaign.objects.exists()


def test_approval_flow_through_the_pages(
    login, make_user, mailoutbox, django_capture_on_commit_callbacks
):
    from accounts.roles import APPROVER, MANAGER

    author = make_user("author", MANAGER)
    checker = make_user("checker", APPROVER)
    ApprovalPolicy.objects.create(name="All marketing", categories=["marketing"])
    campaign = ready_email(author)
    client = login(author)
    client.post(f"/campaigns/{campaign.pk}/actions/request_approval/", {"comment": "ready"})
    campaign.refresh_from_db()
    assert campaign.status == S.IN_REVIEW
    assert client.get(f"/campaigns/{campaign.pk}/edit/").status_code == 302  # read-only
    client = login(checker)
    queue = client.get("/approvals/").content.decode()
    assert campaign.name in queue
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/campaigns/{campaign.pk}/actions/request_changes/", {"comment": "typo"})
    campaign.refresh_from_db()
    assert campaign.status == S.DRAFT
    assert author.notifications.filter(message__contains="typo").exists()
    assert [m.to for m in mailoutbox] == [[author.email]]
    assert ApprovalRequest.objects.get().status == "changes_requested"


def test_approvals_queue_is_for_approvers(login, manager):
    assert login(manager).get("/approvals/").status_code == 403


def test_a_draft_can_change_category_and_must_then_pick_a_new_configuration(login, manager):
    campaign = ready_email(manager)
    tx = email_config(name="tx", purpose="transactional")
    data = _edit_data(
        campaign.draft_version.channel_configuration,
        campaign.draft_version.audience,
        type="scheduled",
        category="transactional",
    )
    client = login(manager)
    assert client.post(f"/campaigns/{campaign.pk}/edit/", data).status_code == 302
    campaign.refresh_from_db()
    assert campaign.category == "transactional"
    assert campaign.draft_version.channel_configuration is None
    form = client.get(f"/campaigns/{campaign.pk}/edit/").context["form"]
    assert list(form.fields["channel_configuration"].queryset) == [tx]


def test_type_and_category_are_fixed_once_activated(login, approver):
    from campaigns.services import campaign_modify

    campaign = force_status(ready_email(approver), S.LIVE, recurring=True)
    campaign_modify(campaign=campaign, actor=approver)
    form = login(approver).get(f"/campaigns/{campaign.pk}/edit/").context["form"]
    assert "type" not in form.fields and "category" not in form.fields


def test_manager_is_told_who_creates_a_channel_configuration_not_sent_to_a_403(
    login, manager, administrator
):
    client = login(manager)
    client.post(
        "/campaigns/new/",
        {"name": "S", "type": "scheduled", "category": "marketing", "channel": "sms"},
    )
    url = f"/campaigns/{Campaign.objects.get().pk}/edit/"
    page = client.get(url).content.decode()
    assert "Create a channel configuration" not in page
    assert "Campaign Administrator" in page
    page = login(administrator).get(url).content.decode()
    assert "Create a channel configuration" in page
