"""Findings of the security review of the routes added for page parity (issue 10):
each test failed on main before its fix."""

from __future__ import annotations

import pytest
from django.core import mail

from audiences.models import Profile
from tests.campaigns.lifecycle_helpers import ready_email

PROBLEM = "application/problem+json"

# Characters str.isdigit() accepts that int() refuses ("²", "³", "①", "𝟙" are
# digits to Python's isdigit but not decimal numbers).
NOT_DECIMAL = ["²", "12³", "①", "٣"]


@pytest.mark.parametrize("value", NOT_DECIMAL)
def test_preview_for_a_profile_given_as_a_non_decimal_digit_is_a_400_not_a_500(
    api_for, manager, viewer, value
):
    campaign = ready_email(manager)
    for user in (viewer, manager):
        response = api_for(user).post(f"/campaigns/{campaign.pk}/preview", {"profile": value})
        assert response.status_code == 400, response.content
        assert response["Content-Type"].startswith(PROBLEM)
        assert "profile" in response.json()["errors"]


@pytest.mark.parametrize("value", NOT_DECIMAL)
def test_proofs_for_a_profile_given_as_a_non_decimal_digit_are_a_400_not_a_500(
    api_for, manager, queued, value
):
    campaign = ready_email(manager)
    response = api_for(manager).post(
        f"/campaigns/{campaign.pk}/proofs", {"recipients": ["qa@example.com"], "profile": value}
    )
    assert response.status_code == 400, response.content
    assert "profile" in response.json()["errors"]
    assert queued == []


def test_preview_page_with_a_non_decimal_digit_profile_renders_with_sample_data(login, manager):
    campaign = ready_email(manager)
    response = login(manager).get(f"/campaigns/{campaign.pk}/preview/", {"profile": "²"})
    assert response.status_code == 200


def test_a_real_id_still_picks_the_profile(api_for, manager):
    campaign = ready_email(manager)
    ann = Profile.objects.create(email="ann@example.com", attributes={"firstName": "Ann"})
    response = api_for(manager).post(f"/campaigns/{campaign.pk}/preview", {"profile": str(ann.pk)})
    assert response.status_code == 200 and "Hello Ann" in response.json()["html"]


# ------------------------------------------------ operational mail (accounts/mailer.py)


def test_a_campaign_name_with_a_line_break_does_not_stop_approval_notices():
    """The approvers' notice has the campaign's name in its subject; a name with a
    line break (the API accepts one) made every attempt of the mail task fail with
    BadHeaderError, so approvers never got the email (the task's retries fail alike)."""
    from accounts.mailer import deliver

    deliver("Volley: Spring\r\nBcc: victim@example.com", "body", "approver@example.com")
    (message,) = mail.outbox
    assert message.to == ["approver@example.com"]
    assert "\n" not in message.subject and "\r" not in message.subject
    assert message.bcc == []
    assert message.subject == "Volley: Spring Bcc: victim@example.com"


@pytest.mark.django_db(transaction=True)
def test_approvers_get_the_notice_of_a_campaign_whose_name_has_a_line_break(make_user, monkeypatch):
    from django.contrib.auth.models import Group

    from accounts.roles import APPROVER, MANAGER
    from campaigns import services
    from campaigns.models import ApprovalPolicy

    monkeypatch.setattr("campaigns.engine.enqueue_activation", lambda pk: None)
    author = make_user("author", MANAGER)
    make_user("approver1", APPROVER)
    policy = ApprovalPolicy.objects.create(name="p")
    policy.approver_groups.add(Group.objects.get(name=APPROVER))
    campaign = ready_email(author, name="Spring\nsale")
    services.campaign_request_approval(campaign=campaign, actor=author, comment="please")
    assert [m.to for m in mail.outbox] == [["approver1@example.com"]]
    assert "Spring sale" in mail.outbox[0].subject


# ------------------------------------------------ retry-failed and eligibility


@pytest.fixture(params=["marketing"])
def failed_once(request, db, queued, fake_transport):
    """A run that sent 2 and failed 1 (a provider refusal); marketing unless
    parametrized indirectly."""
    from campaigns import tasks
    from campaigns.engine.schedule import activate_campaign
    from campaigns.models import Campaign, Delivery, Run
    from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience

    profiles = make_profiles(3)
    fake_transport.outcomes[profiles[0].email] = (True, "550 mailbox unavailable")
    campaign = make_campaign(upload_audience(profiles), category=request.param)
    if request.param == "transactional":
        config = campaign.live_version.channel_configuration
        type(config).objects.filter(pk=config.pk).update(purpose="transactional")
    activate_campaign(campaign.pk)
    tasks.start_run(Run.objects.get(campaign=campaign).pk)
    fake_transport.outcomes.clear()
    fake_transport.sent.clear()
    assert Delivery.objects.filter(run__campaign=campaign, status="failed").count() == 1
    Campaign.objects.filter(pk=campaign.pk).update(status="live")
    campaign.refresh_from_db()
    queued.clear()
    return campaign, profiles[0]


def _retry_and_send(api_for, approver, campaign):
    from campaigns import tasks
    from campaigns.models import Run

    response = api_for(approver).post(f"/campaigns/{campaign.pk}/retry-failed")
    assert response.status_code == 202, response.content
    tasks.send_run(Run.objects.get(campaign=campaign).pk)
    return response.json()["retried"]


def test_retry_failed_never_sends_marketing_to_an_address_suppressed_since(
    api_for, approver, failed_once, fake_transport
):
    from audiences.services import suppression_add
    from campaigns.models import Delivery

    campaign, person = failed_once
    suppression_add(channel="email", address=person.email, reason="complaint")
    _retry_and_send(api_for, approver, campaign)
    assert person.email not in fake_transport.sent
    delivery = Delivery.objects.get(run__campaign=campaign, profile=person)
    assert delivery.status == "excluded" and delivery.reason == "suppressed"
    report = api_for(approver).get(f"/campaigns/{campaign.pk}/report").json()
    assert report["excluded"] == {"suppressed": 1} and report["failed"] == {}
    assert report["targeted"] == 3 and report["sent"] == 2


def test_retry_failed_never_sends_marketing_to_a_profile_that_withdrew_consent(
    api_for, approver, failed_once, fake_transport
):
    from audiences.models import Profile
    from campaigns.models import Delivery

    campaign, person = failed_once
    Profile.objects.filter(pk=person.pk).update(consent_email=False)
    _retry_and_send(api_for, approver, campaign)
    assert person.email not in fake_transport.sent
    delivery = Delivery.objects.get(run__campaign=campaign, profile=person)
    assert delivery.status == "excluded" and delivery.reason == "no_consent"


def test_retry_failed_still_retries_an_eligible_failure(
    api_for, approver, failed_once, fake_transport
):
    campaign, person = failed_once
    assert _retry_and_send(api_for, approver, campaign) == 1
    assert fake_transport.sent == [person.email]


@pytest.mark.parametrize("failed_once", ["transactional"], indirect=True)
def test_retry_failed_of_a_transactional_campaign_honours_complaints_not_unsubscribes(
    api_for, approver, failed_once, fake_transport
):
    from audiences.services import suppression_add
    from campaigns.models import Delivery

    campaign, person = failed_once
    suppression_add(channel="email", address=person.email, reason="unsubscribe")
    assert _retry_and_send(api_for, approver, campaign) == 1  # transactional: still sent
    assert fake_transport.sent == [person.email]
    Delivery.objects.filter(run__campaign=campaign, profile=person).update(status="failed")
    fake_transport.sent.clear()
    suppression_add(channel="email", address=person.email, reason="complaint")
    assert _retry_and_send(api_for, approver, campaign) == 0
    assert fake_transport.sent == []


# ------------------------------------------------ deliveries CSV: the error column


def test_deliveries_csv_never_shows_a_hidden_address_through_the_provider_error(
    login, viewer, manager, failed_once
):
    """Mail servers echo the recipient in their refusal ("550 5.1.1 <jane@…>:
    Recipient address rejected"). The CSV blanked the address column for users
    who may not see the profile but kept the error text, which carried it."""
    import csv
    import io

    from campaigns.models import Delivery

    campaign, person = failed_once
    Delivery.objects.filter(run__campaign=campaign, profile=person).update(
        error=f"550 5.1.1 <{person.email.upper()}>: Recipient address rejected"
    )
    url = f"/campaigns/{campaign.pk}/report/deliveries.csv"

    def rows(client):
        body = b"".join(client.get(url).streaming_content).decode()
        return list(csv.DictReader(io.StringIO(body)))

    shown_to_viewer = rows(login(viewer))
    assert person.email.split("@")[0] not in repr(shown_to_viewer).lower()
    failed = [row for row in shown_to_viewer if row["status"] == "failed"]
    assert failed and failed[0]["reason"] == "rejected"  # the reason code stays
    shown_to_manager = rows(login(manager))  # may see the profile: the error as it was
    assert any(person.email.upper() in row["error"] for row in shown_to_manager)
