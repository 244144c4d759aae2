"""A deactivated channel configuration sends nothing (issue 12 #3).

Deactivating a configuration that campaigns send through is refused, naming
them (test_configuration_in_use.py), so a live campaign keeps an active
configuration. The engine still guards itself: should a configuration be
deactivated behind the service's back (``deactivate_behind_its_back``: a
direct database change, a run of an older version), a run whose
configuration is inactive fails with the reason ``configuration_deactivated``
(scheduled, mid-send and API-triggered alike), and the review refuses it
before activation.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audiences.models import Profile
from campaigns import tasks
from campaigns.engine import dispatch, runs
from campaigns.engine.completion import tick
from campaigns.engine.schedule import activate_campaign
from campaigns.engine.send import claim_batch, load_run, send_claimed
from campaigns.models import Campaign, Delivery, Run
from campaigns.reports import campaign_report
from channels.models import ChannelConfiguration
from channels.services import channel_configuration_set_status
from tests.campaigns.conftest import email_config, make_campaign, make_profiles, upload_audience

pytestmark = pytest.mark.django_db(transaction=True)

REASON = "configuration_deactivated"


def deactivate(config: ChannelConfiguration) -> None:
    """Bypass ``channel_configuration_set_status``, which refuses this while a
    campaign sends through ``config``: what is tested is the engine's own guard."""
    ChannelConfiguration.objects.filter(pk=config.pk).update(
        status=ChannelConfiguration.Status.DEACTIVATED
    )


def test_a_scheduled_campaign_whose_configuration_was_deactivated_sends_nothing(
    queued, sink, login, viewer
):
    profiles = make_profiles(4)
    start = timezone.now() + timedelta(hours=1)
    campaign = make_campaign(upload_audience(profiles), start_at=start)
    activate_campaign(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == "scheduled"
    deactivate(campaign.live_version.channel_configuration)

    with time_machine.travel(start + timedelta(seconds=5), tick=False):
        tick()  # the start time comes: the run is created and started
        run = Run.objects.get(campaign=campaign)
        tasks.start_run(run.pk)

    assert sink.received() == []
    run.refresh_from_db()
    assert (run.status, run.error, run.sent, run.failed) == ("failed", REASON, 0, 4)
    assert set(Delivery.objects.filter(run=run).values_list("status", "reason")) == {
        ("failed", REASON)
    }
    report = campaign_report(campaign)
    assert report["failed"] == {REASON: 4} and report["sent"] == 0
    html = login(viewer).get(f"/campaigns/{campaign.pk}/report/").content.decode()
    assert "Channel configuration deactivated" in html  # the reason in words


def test_its_failed_deliveries_are_sent_once_the_configuration_is_active_again(queued, sink):
    profiles = make_profiles(3)
    campaign = make_campaign(upload_audience(profiles))
    activate_campaign(campaign.pk)
    config = campaign.live_version.channel_configuration
    deactivate(config)
    run = Run.objects.get(campaign=campaign)
    tasks.start_run(run.pk)
    assert sink.received() == []

    channel_configuration_set_status(config=config, status=ChannelConfiguration.Status.ACTIVE)
    assert runs.retry_failed(campaign=campaign) == 3
    tasks.send_run(run.pk)

    assert sorted(sink.received()) == sorted(p.email for p in profiles)
    run.refresh_from_db()
    assert (run.status, run.error, run.sent, run.failed) == ("completed", "", 3, 0)


def test_a_deactivation_during_a_send_stops_it_at_the_next_batch(queued, sink, settings):
    settings.ENGINE_BATCH_SIZE = 2
    profiles = make_profiles(6)
    campaign = make_campaign(upload_audience(profiles))
    activate_campaign(campaign.pk)
    run = Run.objects.get(campaign=campaign)
    assert runs.start_run(run.pk)
    batch = claim_batch({run.pk: load_run(run.pk)}, "sender", 2)
    assert send_claimed(batch)
    assert len(sink.received()) == 2

    deactivate(campaign.live_version.channel_configuration)
    tasks.send_run(run.pk)

    assert len(sink.received()) == 2
    run.refresh_from_db()
    assert (run.status, run.sent, run.failed) == ("failed", 2, 4)
    report = campaign_report(campaign)
    assert (report["sent"], report["failed"], report["pending"]) == (2, {REASON: 4}, 0)


def test_a_batch_already_claimed_sends_nothing_after_the_deactivation(queued, sink):
    profiles = make_profiles(3)
    campaign = make_campaign(upload_audience(profiles))
    activate_campaign(campaign.pk)
    run = Run.objects.get(campaign=campaign)
    assert runs.start_run(run.pk)
    batch = claim_batch({run.pk: load_run(run.pk)}, "sender", 3)
    deactivate(campaign.live_version.channel_configuration)

    assert send_claimed(batch) is False  # it looks before its first message

    assert sink.received() == []
    assert set(Delivery.objects.filter(run=run).values_list("status", "reason")) == {
        ("failed", REASON)
    }
    run.refresh_from_db()
    assert (run.status, run.failed) == ("failed", 3)


def test_a_trigger_whose_configuration_was_deactivated_behind_its_back_sends_nothing(
    queued, sink, api_for, manager
):
    Profile.objects.create(email="known@example.com")
    campaign = make_campaign(
        None,
        config=email_config(purpose="transactional"),
        type="api_triggered",
        category="transactional",
    )
    activate_campaign(campaign.pk)
    deactivate(campaign.live_version.channel_configuration)
    api = api_for(manager)
    body = {
        "requestId": "r-1",
        "campaignId": campaign.pk,
        "recipients": [{"userId": "known@example.com", "namespace": "email"}],
    }
    response = api.post("/executions/unitary", body)
    assert response.status_code == 202
    run_id = response.json()["executionId"]

    dispatch.dispatch_batch()

    assert sink.received() == []
    run = Run.objects.get(pk=run_id)
    assert (run.status, run.error, run.failed) == ("failed", REASON, 1)
    assert api.get(f"/executions/{run_id}").json()["status"] == "failed"
    assert campaign_report(campaign)["failed"] == {REASON: 1}


def test_the_campaign_page_warns_that_its_configuration_is_deactivated(queued, login, manager):
    campaign = make_campaign(upload_audience(make_profiles(1)), status="draft")
    Campaign.objects.filter(pk=campaign.pk).update(
        draft_version=campaign.live_version, live_version=None
    )
    deactivate(campaign.live_version.channel_configuration)
    html = login(manager).get(f"/campaigns/{campaign.pk}/").content.decode()
    assert 'data-code="channel_configuration_deactivated"' in html
