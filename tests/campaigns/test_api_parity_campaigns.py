"""The campaign and report pages' actions through the API (issue 12 #6):
retry failed deliveries, preview, proofs. Same checks as the pages: a role
that may not is a 403, a campaign the key may not see a 404, bad input a 400
problem, a status that does not allow it a 409."""

from __future__ import annotations

import pytest
from guardian.shortcuts import assign_perm

from audiences.models import Profile
from campaigns import tasks
from campaigns.engine.schedule import activate_campaign
from campaigns.models import Campaign, Delivery, Run
from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience
from tests.campaigns.lifecycle_helpers import ready_email

PROBLEM = "application/problem+json"


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    return response.json()


# ---------------------------------------------------------------- retry-failed


@pytest.fixture
def sent_campaign(db, queued, fake_transport):
    """A run that sent 3 and failed 1 (a permanent provider refusal)."""
    profiles = make_profiles(4)
    fake_transport.outcomes[profiles[0].email] = (True, "550 no such user")
    campaign = make_campaign(upload_audience(profiles))
    activate_campaign(campaign.pk)
    tasks.start_run(Run.objects.get(campaign=campaign).pk)
    fake_transport.outcomes.clear()
    assert Delivery.objects.filter(run__campaign=campaign, status="failed").count() == 1
    Campaign.objects.filter(pk=campaign.pk).update(status="live")
    campaign.refresh_from_db()
    queued.clear()
    return campaign


def test_retry_failed_puts_failed_deliveries_back_and_the_cluster_sends_them(
    api_for, approver, sent_campaign, queued
):
    response = api_for(approver).post(f"/campaigns/{sent_campaign.pk}/retry-failed")
    assert response.status_code == 202
    assert response.json() == {"retried": 1}
    run = Run.objects.get(campaign=sent_campaign)
    assert ("campaigns.tasks.send_run", run.pk) in queued  # the cluster sends, not the request
    assert Delivery.objects.filter(run=run, status="pending").count() == 1
    tasks.send_run(run.pk)
    run.refresh_from_db()
    assert (run.sent, run.failed) == (4, 0)


def test_retry_failed_with_nothing_failed_retries_nothing(api_for, approver, sent_campaign):
    Delivery.objects.filter(run__campaign=sent_campaign, status="failed").update(status="sent")
    response = api_for(approver).post(f"/campaigns/{sent_campaign.pk}/retry-failed")
    assert response.status_code == 202 and response.json() == {"retried": 0}


@pytest.mark.parametrize("persona", ["viewer", "manager"])
def test_retry_failed_is_refused_to_roles_that_may_not_publish(
    api_for, request, persona, sent_campaign
):
    user = request.getfixturevalue(persona)
    problem(api_for(user).post(f"/campaigns/{sent_campaign.pk}/retry-failed"), 403)
    assert Delivery.objects.filter(run__campaign=sent_campaign, status="failed").count() == 1


def test_retry_failed_of_a_restricted_campaign_not_granted_is_404(api_for, approver, sent_campaign):
    Campaign.objects.filter(pk=sent_campaign.pk).update(restricted=True)
    problem(api_for(approver).post(f"/campaigns/{sent_campaign.pk}/retry-failed"), 404)
    assign_perm("campaigns.change_campaign", approver, sent_campaign)
    assert api_for(approver).post(f"/campaigns/{sent_campaign.pk}/retry-failed").status_code == 202


@pytest.mark.parametrize("status", ["stopped", "archived"])
def test_retry_failed_of_a_stopped_campaign_is_409_and_sends_nothing(
    api_for, approver, sent_campaign, status, queued, login
):
    Campaign.objects.filter(pk=sent_campaign.pk).update(status=status)
    body = problem(api_for(approver).post(f"/campaigns/{sent_campaign.pk}/retry-failed"), 409)
    assert status in body["detail"]
    # The page refuses the same way (one service for both).
    page = login(approver).post(f"/campaigns/{sent_campaign.pk}/report/retry/", follow=True)
    assert status in page.content.decode()
    assert Delivery.objects.filter(run__campaign=sent_campaign, status="failed").count() == 1
    assert queued == []


def test_retry_failed_of_an_unknown_or_impossible_campaign_is_404(api_for, approver):
    problem(api_for(approver).post("/campaigns/999999/retry-failed"), 404)
    assert api_for(approver).post(f"/campaigns/{2**70}/retry-failed").status_code in (400, 404)


# ---------------------------------------------------------------- preview


def test_preview_renders_the_saved_version_for_a_profile(api_for, manager):
    campaign = ready_email(manager)
    Profile.objects.create(email="ann@example.com", attributes={"firstName": "Ann"})
    api = api_for(manager)
    sample = api.post(f"/campaigns/{campaign.pk}/preview", {})
    assert sample.status_code == 200
    assert sample.json()["subject"] == "Hi" and "Hello there" in sample.json()["html"]
    ann = api.post(f"/campaigns/{campaign.pk}/preview", {"profile": "ann@example.com"})
    assert ann.status_code == 200 and "Hello Ann" in ann.json()["html"]


def test_preview_of_unsaved_content_needs_edit_rights_and_saves_nothing(api_for, manager, viewer):
    campaign = ready_email(manager)
    body = {"content": {"subject": "Unsaved {{ profile.firstName | default('you') }}"}}
    problem(api_for(viewer).post(f"/campaigns/{campaign.pk}/preview", body), 403)
    assert api_for(viewer).post(f"/campaigns/{campaign.pk}/preview", {}).status_code == 200
    response = api_for(manager).post(f"/campaigns/{campaign.pk}/preview", body)
    assert response.status_code == 200 and response.json()["subject"] == "Unsaved you"
    campaign.draft_version.refresh_from_db()
    assert campaign.draft_version.content["subject"] == "Hi"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"content": {"subject": "{% if %}"}}, "content.subject"),
        ({"content": {"subjet": "typo"}}, "content.subjet"),
        ({"content": {"subject": 5}}, "content.subject"),
        ({"profile": "nobody@example.com"}, "profile"),
    ],
)
def test_preview_bad_input_is_a_400_problem(api_for, manager, body, field):
    campaign = ready_email(manager)
    errors = problem(api_for(manager).post(f"/campaigns/{campaign.pk}/preview", body), 400)
    assert field in errors["errors"], errors


def test_preview_never_renders_for_a_profile_the_key_may_not_see(api_for, viewer, manager):
    campaign = ready_email(manager)
    Profile.objects.create(email="ann@example.com", attributes={"firstName": "Ann"})
    # Viewers are shown no profile at all (issue 10 #3): the profile is unknown to them.
    body = {"profile": "ann@example.com"}
    problem(api_for(viewer).post(f"/campaigns/{campaign.pk}/preview", body), 400)


def test_preview_of_a_restricted_campaign_not_granted_is_404(api_for, manager, viewer):
    campaign = ready_email(manager)
    Campaign.objects.filter(pk=campaign.pk).update(restricted=True)
    problem(api_for(viewer).post(f"/campaigns/{campaign.pk}/preview", {}), 404)


# ---------------------------------------------------------------- proofs


def test_proofs_are_queued_for_the_cluster_which_sends_them(api_for, manager, queued, mailoutbox):
    campaign = ready_email(manager)
    Profile.objects.create(email="ann@example.com", attributes={"firstName": "Ann"})
    response = api_for(manager).post(
        f"/campaigns/{campaign.pk}/proofs",
        {"recipients": ["QA@example.com", "b@example.com"], "profile": "ann@example.com"},
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["recipients"], body["status"]) == (["QA@example.com", "b@example.com"], "queued")
    assert [(p["address"], p["status"]) for p in body["proofs"]] == [
        ("QA@example.com", "queued"),
        ("b@example.com", "queued"),
    ]
    assert mailoutbox == []  # nothing is sent inside the request
    assert [func for func, *_args in queued] == ["campaigns.tasks.send_proof"] * 2
    for _func, *args in queued:  # what the cluster runs: one task per proof
        tasks.send_proof(*args)
    assert sorted(m.to[0] for m in mailoutbox) == ["QA@example.com", "b@example.com"]
    assert all(m.subject == "[Proof] Hi" for m in mailoutbox)
    assert all("Hello Ann" in m.alternatives[0][0] for m in mailoutbox)
    listed = api_for(manager).get(f"/campaigns/{campaign.pk}/proofs").json()
    assert listed["count"] == 2
    assert {(p["address"], p["status"], p["attempts"]) for p in listed["items"]} == {
        ("QA@example.com", "sent", 1),
        ("b@example.com", "sent", 1),
    }


def test_a_failed_proof_is_retried_through_the_api_as_on_the_page(
    api_for, manager, viewer, queued, mailoutbox
):
    from campaigns.models import Proof

    campaign = ready_email(manager)
    api = api_for(manager)
    [proof] = api.post(
        f"/campaigns/{campaign.pk}/proofs", {"recipients": ["a@example.com"]}
    ).json()["proofs"]
    url = f"/campaigns/{campaign.pk}/proofs/{proof['id']}/retry"
    assert "failed proof" in problem(api.post(url), 409)["detail"]  # still queued
    Proof.objects.filter(pk=proof["id"]).update(status="failed", error="550 No", attempts=2)
    problem(api_for(viewer).post(url), 403)
    queued.clear()
    retried = api.post(url)
    assert retried.status_code == 202, retried.content
    assert (retried.json()["status"], retried.json()["error"], retried.json()["attempts"]) == (
        "queued",
        "",
        0,
    )
    ((_func, *args),) = queued
    tasks.send_proof(*args)
    assert [m.to for m in mailoutbox] == [["a@example.com"]]
    problem(api.post(f"/campaigns/{campaign.pk}/proofs/999999/retry"), 404)


def test_proofs_in_another_language_prefix_the_subject_in_it(api_for, manager, queued, mailoutbox):
    campaign = ready_email(manager)
    response = api_for(manager).post(
        f"/campaigns/{campaign.pk}/proofs", {"recipients": ["a@example.com"], "locale": "nl"}
    )
    assert response.status_code == 202
    ((_func, *args),) = queued
    tasks.send_proof(*args)
    assert mailoutbox[0].subject != "[Proof] Hi" and mailoutbox[0].subject.endswith("Hi")


def test_proofs_need_edit_rights(api_for, viewer, manager, queued):
    campaign = ready_email(manager)
    problem(
        api_for(viewer).post(f"/campaigns/{campaign.pk}/proofs", {"recipients": ["a@b.co"]}), 403
    )
    Campaign.objects.filter(pk=campaign.pk).update(restricted=True)
    problem(
        api_for(manager).post(f"/campaigns/{campaign.pk}/proofs", {"recipients": ["a@b.co"]}), 404
    )
    assert queued == []


@pytest.mark.parametrize(
    "body, field",
    [
        ({"recipients": []}, "recipients"),
        ({"recipients": [f"p{i}@example.com" for i in range(11)]}, "recipients"),
        ({"recipients": ["not-an-email"]}, "recipients"),
        ({"recipients": ["a@example.com"], "locale": "xx"}, "locale"),
        ({}, "recipients"),
    ],
)
def test_proofs_bad_input_is_a_400_problem_and_queues_nothing(
    api_for, manager, queued, body, field
):
    campaign = ready_email(manager)
    response = api_for(manager).post(f"/campaigns/{campaign.pk}/proofs", body)
    errors = problem(response, 400)
    assert any(key.startswith(field) for key in errors["errors"]), errors
    assert queued == []


def test_proofs_through_a_deactivated_configuration_are_refused(api_for, manager, queued):
    campaign = ready_email(manager)
    config = campaign.draft_version.channel_configuration
    type(config).objects.filter(pk=config.pk).update(status="deactivated")
    body = {"recipients": ["a@example.com"]}
    assert (
        "deactivated"
        in problem(api_for(manager).post(f"/campaigns/{campaign.pk}/proofs", body), 409)["detail"]
    )
    assert queued == []


def test_proofs_of_a_template_error_are_refused_before_queueing(api_for, manager, queued):
    campaign = ready_email(manager)
    version = campaign.draft_version
    version.content = {**version.content, "subject": "{{ profile.x | nosuchfilter }}"}
    version.save()
    response = api_for(manager).post(
        f"/campaigns/{campaign.pk}/proofs", {"recipients": ["a@example.com"]}
    )
    assert response.status_code == 400
    assert queued == []


# ---------------------------------------------------------------- PATCH restricted


def test_patch_restricted_restricts_a_campaign_like_its_access_page(api_for, administrator, viewer):
    from tests.campaigns.lifecycle_helpers import force_status

    campaign = force_status(ready_email(administrator), "live")  # any status, like the page
    response = api_for(administrator).patch(f"/campaigns/{campaign.pk}", {"restricted": True})
    assert response.status_code == 200, response.content
    assert response.json()["restricted"] is True
    campaign.refresh_from_db()
    assert campaign.restricted
    problem(api_for(viewer).get(f"/campaigns/{campaign.pk}"), 404)
    assert api_for(administrator).get(f"/campaigns/{campaign.pk}").status_code == 200
    response = api_for(administrator).patch(f"/campaigns/{campaign.pk}", {"restricted": False})
    assert response.status_code == 200
    assert api_for(viewer).get(f"/campaigns/{campaign.pk}").status_code == 200


def test_patch_restricted_is_for_those_who_manage_access_and_writes_nothing_else(api_for, manager):
    campaign = ready_email(manager)
    body = {"name": "Renamed", "restricted": True}
    problem(api_for(manager).patch(f"/campaigns/{campaign.pk}", body), 403)
    campaign.refresh_from_db()
    assert (campaign.name, campaign.restricted) == ("Spring sale", False)
    body = {"name": "Renamed", "restricted": False}  # what it already is: nothing to manage
    assert api_for(manager).patch(f"/campaigns/{campaign.pk}", body).status_code == 200


def test_proofs_queued_before_the_configuration_was_deactivated_are_not_sent(
    api_for, manager, queued, mailoutbox
):
    campaign = ready_email(manager)
    body = {"recipients": ["a@example.com"]}
    assert api_for(manager).post(f"/campaigns/{campaign.pk}/proofs", body).status_code == 202
    config = campaign.draft_version.channel_configuration
    type(config).objects.filter(pk=config.pk).update(status="deactivated")
    ((_func, *args),) = queued
    tasks.send_proof(*args)
    assert mailoutbox == []
