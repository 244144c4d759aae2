"""`/api/v1/executions/*` and `GET /api/v1/campaigns/{id}/report` (SPEC §7)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audiences.models import Profile
from campaigns import tasks
from campaigns.engine import dispatch
from campaigns.engine.schedule import activate_campaign
from campaigns.models import Delivery, Run
from tests.campaigns.conftest import (
    email_config,
    make_campaign,
    make_profiles,
    upload_audience,
)

pytestmark = pytest.mark.django_db(transaction=True)


def api_campaign(audience=None, *, category="transactional", **fields):
    campaign = make_campaign(
        audience,
        config=email_config(purpose=category),
        type="api_triggered",
        category=category,
        **fields,
    )
    activate_campaign(campaign.pk)
    campaign.refresh_from_db()
    return campaign


def unitary(campaign, request_id="r-1", recipients=None):
    return {
        "requestId": request_id,
        "campaignId": campaign.pk,
        "recipients": recipients
        or [{"userId": "known@example.com", "namespace": "email", "context": {"order": 42}}],
    }


@pytest.fixture
def known(db):
    return Profile.objects.create(email="known@example.com")


def test_unitary_execution_sends_with_its_context(api_for, manager, known, queued, fake_transport):
    campaign = api_campaign(
        content={"subject": "Order {{ context.order }}", "text": "x", "html": ""}
    )
    body = unitary(
        campaign,
        recipients=[
            {"userId": "known@example.com", "namespace": "email", "context": {"order": 42}},
            {"userId": "nobody@example.com", "namespace": "email", "context": {}},
        ],
    )
    response = api_for(manager).post("/executions/unitary", body)

    assert response.status_code == 202
    answer = response.json()
    assert answer["requestId"] == "r-1"
    assert answer["rejected"] == [{"userId": "nobody@example.com", "reason": "unknown_recipient"}]
    run = Run.objects.get(pk=answer["executionId"])
    assert run.status == "queued"
    assert dispatch.dispatch_batch() == 1
    assert fake_transport.sent == ["known@example.com"]
    status = api_for(manager).get(f"/executions/{run.pk}").json()
    assert status == {
        "executionId": run.pk,
        "campaignId": campaign.pk,
        "status": "succeeded",
        "targeted": 1,
        "sent": 1,
        "failed": 0,
        "excluded": 0,
    }


def test_same_request_id_replays_the_first_answer_and_sends_nothing_more(
    api_for, manager, known, queued
):
    campaign = api_campaign()
    client = api_for(manager)
    first = client.post("/executions/unitary", unitary(campaign)).json()
    second = client.post("/executions/unitary", unitary(campaign))
    assert second.status_code == 202
    assert second.content == client.post("/executions/unitary", unitary(campaign)).content
    assert second.json() == first
    dispatch.dispatch_batch()
    assert Run.objects.filter(campaign=campaign).count() == 1
    assert Delivery.objects.count() == 1


def test_unknown_recipient_is_created_when_the_campaign_allows_it(api_for, manager, queued):
    campaign = api_campaign(allow_profile_creation=True)
    answer = api_for(manager).post("/executions/unitary", unitary(campaign)).json()
    assert answer["rejected"] == []
    assert not Profile.objects.filter(email="known@example.com").exists()  # the worker creates it
    dispatch.dispatch_batch()
    profile = Profile.objects.get(email="known@example.com")
    assert Delivery.objects.get().profile == profile


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"status": "stopped"}, "not live"),
        ({"type": "scheduled"}, "not API-triggered"),
    ],
)
def test_execution_refused_with_409_and_the_reason(api_for, manager, known, change, reason):
    campaign = api_campaign()
    type(campaign).objects.filter(pk=campaign.pk).update(**change)
    response = api_for(manager).post("/executions/unitary", unitary(campaign))
    assert response.status_code == 409
    assert reason in response.json()["detail"]
    assert not Run.objects.exists()


def test_execution_outside_the_window_is_refused(api_for, manager, known, queued):
    campaign = api_campaign(end_at=timezone.now() - timedelta(minutes=1))
    response = api_for(manager).post("/executions/unitary", unitary(campaign))
    assert response.status_code == 409
    assert "end date" in response.json()["detail"]


def test_context_over_200_kb_is_413(api_for, manager, known):
    campaign = api_campaign()
    body = unitary(
        campaign,
        recipients=[{"userId": "k", "namespace": "email", "context": {"x": "a" * 205_000}}],
    )
    response = api_for(manager).post("/executions/unitary", body)
    assert response.status_code == 413
    assert not Run.objects.exists()


def test_bad_input_is_400_with_errors(api_for, manager):
    campaign = api_campaign()
    body = unitary(campaign, recipients=[{"userId": "a", "namespace": "email"}] * 2)
    response = api_for(manager).post("/executions/unitary", body)
    assert response.status_code == 400
    assert "recipients" in response.json()["errors"]
    assert api_for(manager).post("/executions/unitary", {"requestId": "x"}).status_code == 400


def test_rate_limit_per_key_answers_429_with_retry_after(api_for, manager, known, queued, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    campaign = api_campaign()
    client = api_for(manager)
    for n in range(2):
        assert client.post("/executions/unitary", unitary(campaign, f"r{n}")).status_code == 202
    response = client.post("/executions/unitary", unitary(campaign, "r9"))
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60


def test_viewer_may_not_trigger_and_outsider_cannot_see(api_for, viewer, outsider, known):
    campaign = api_campaign()
    assert api_for(viewer).post("/executions/unitary", unitary(campaign)).status_code == 403
    assert api_for(outsider).post("/executions/unitary", unitary(campaign)).status_code == 404
    assert not Run.objects.exists()


def test_restricted_campaign_is_404_for_a_manager_not_granted(api_for, manager, known, queued):
    campaign = api_campaign()
    type(campaign).objects.filter(pk=campaign.pk).update(restricted=True)
    assert api_for(manager).post("/executions/unitary", unitary(campaign)).status_code == 404


def test_audience_execution_sends_to_the_audience(api_for, manager, queued, fake_transport):
    profiles = make_profiles(3)
    campaign = api_campaign(upload_audience(profiles), category="marketing")
    response = api_for(manager).post(
        "/executions/audience", {"requestId": "a-1", "campaignId": campaign.pk, "context": {"k": 1}}
    )
    assert response.status_code == 202
    run_id = response.json()["executionId"]
    dispatch.dispatch_batch()
    assert ("campaigns.tasks.send_run", run_id) in queued
    tasks.send_run(run_id)
    assert sorted(fake_transport.sent) == sorted(p.email for p in profiles)


def test_get_execution_unknown_is_404(api_for, manager):
    assert api_for(manager).get("/executions/999999").status_code == 404


def test_report_counts_outcomes_by_reason(api_for, viewer, queued, fake_transport):
    ok = make_profiles(3)
    refusing = make_profiles(1, prefix="nc", consent=False)
    fake_transport.outcomes[ok[0].email] = (True, "550 no such user")
    campaign = make_campaign(upload_audience(ok + refusing))
    activate_campaign(campaign.pk)
    tasks.start_run(Run.objects.get(campaign=campaign).pk)
    Delivery.objects.filter(profile=ok[1]).update(
        opened_at=timezone.now(), clicked_at=timezone.now()
    )

    report = api_for(viewer).get(f"/campaigns/{campaign.pk}/report").json()

    assert report["targeted"] == 4 and report["sent"] == 2
    assert report["excluded"] == {"no_consent": 1}
    assert report["failed"] == {"rejected": 1}
    assert (report["opened"], report["clicked"], report["bounced"]) == (1, 1, 0)
    assert report["rates"]["openRate"] == 0.5
    assert report["runs"][0]["status"] == "completed"


def test_report_is_404_for_a_restricted_campaign_and_401_without_key(
    api_for, viewer, anonymous_api
):
    campaign = make_campaign(None, status="draft")
    type(campaign).objects.filter(pk=campaign.pk).update(restricted=True)
    assert api_for(viewer).get(f"/campaigns/{campaign.pk}/report").status_code == 404
    assert anonymous_api.get(f"/campaigns/{campaign.pk}/report").status_code == 401


def test_out_of_range_ids_are_404_or_400_never_500(api_for, manager):
    huge = 2**70
    client = api_for(manager)
    assert client.get(f"/executions/{huge}").status_code == 404
    assert client.get(f"/campaigns/{huge}/report").status_code == 404
    body = {
        "requestId": "x",
        "campaignId": huge,
        "recipients": [{"userId": "a", "namespace": "email"}],
    }
    assert client.post("/executions/unitary", body).status_code == 400


def test_replay_is_answered_even_after_the_campaign_stopped(api_for, manager, known, queued):
    campaign = api_campaign()
    client = api_for(manager)
    first = client.post("/executions/unitary", unitary(campaign)).json()
    type(campaign).objects.filter(pk=campaign.pk).update(status="stopped")
    again = client.post("/executions/unitary", unitary(campaign))
    assert again.status_code == 202
    assert again.json() == first


def test_unitary_trigger_costs_a_fixed_number_of_queries(
    api_for, manager, known, queued, django_assert_max_num_queries
):
    # SPEC §10 throughput: once the key and the campaign are in the process's
    # memory, a trigger is one SELECT (the recipients) and one guarded INSERT.
    campaign = api_campaign()
    client = api_for(manager)
    client.post("/executions/unitary", unitary(campaign, "warm"))
    with django_assert_max_num_queries(2):
        response = client.post("/executions/unitary", unitary(campaign, "measured"))
    assert response.status_code == 202
    dispatch.dispatch_batch()
    run = Run.objects.get(request_id="measured")
    assert (run.targeted, run.excluded) == (1, 0)
    assert run.deliveries.get().address == "known@example.com"


def test_unitary_trigger_counts_an_excluded_recipient(api_for, manager, queued):
    Profile.objects.create(email="known@example.com", consent_email=False)
    campaign = api_campaign(category="marketing")
    api_for(manager).post("/executions/unitary", unitary(campaign))
    dispatch.dispatch_batch()
    run = Run.objects.get()
    assert (run.targeted, run.excluded) == (1, 1)
    assert run.deliveries.get().reason == "no_consent"


def test_dispatching_a_trigger_enqueues_no_sender_tasks(
    api_for, manager, known, queued, fake_transport
):
    campaign = api_campaign()
    api_for(manager).post("/executions/unitary", unitary(campaign))
    queued.clear()
    dispatch.dispatch_batch()
    assert fake_transport.sent == ["known@example.com"]
    assert [call for call in queued if call[0] == "campaigns.tasks.send_run"] == []
    assert Run.objects.get().status == "completed"
