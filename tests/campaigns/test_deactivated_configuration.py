"""A deactivated channel configuration sends nothing (issue 12 #3).

A run whose configuration is inactive fails with the reason
``configuration_deactivated`` (scheduled, mid-send and API-triggered alike),
the review warns before activation, and deactivating a configuration in use
asks for confirmation, naming the campaigns.
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
from tests.campaigns.smtp_sink import Sink

pytestmark = pytest.mark.django_db(transaction=True)

REASON = "configuration_deactivated"


@pytest.fixture
def sink(settings):
    with Sink() as running:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = running.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        yield running


def deactivate(config: ChannelConfiguration) -> None:
    channel_configuration_set_status(config=config, status=ChannelConfiguration.Status.DEACTIVATED)


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


def test_an_api_triggered_campaign_whose_configuration_was_deactivated_sends_nothing(
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


# --- deactivating a configuration in use asks first -----------------------------


@pytest.fixture
def config_in_use(queued):
    config = email_config(name="Main sender")
    live = make_campaign(upload_audience(make_profiles(1)), config)
    Campaign.objects.filter(pk=live.pk).update(name="Spring sale", status="live")
    scheduled = make_campaign(upload_audience(make_profiles(1, prefix="b")), config)
    Campaign.objects.filter(pk=scheduled.pk).update(name="Winter news", status="scheduled")
    done = make_campaign(upload_audience(make_profiles(1, prefix="c")), config)
    Campaign.objects.filter(pk=done.pk).update(name="Old one", status="stopped")
    return config


def test_deactivating_a_configuration_in_use_asks_and_names_the_campaigns(
    login, administrator, config_in_use
):
    client = login(administrator)
    response = client.post(f"/channels/{config_in_use.pk}/deactivate/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Spring sale" in html and "Winter news" in html
    assert "Old one" not in html  # a stopped campaign sends nothing anyway
    assert 'name="confirm" value="1"' in html
    config_in_use.refresh_from_db()
    assert config_in_use.status == "active"  # nothing changed yet

    response = client.post(f"/channels/{config_in_use.pk}/deactivate/", {"confirm": "1"})
    assert response.status_code == 302
    config_in_use.refresh_from_db()
    assert config_in_use.status == "deactivated"


def test_a_campaign_the_user_may_not_see_is_counted_not_named(viewer, config_in_use):
    from channels.hooks import users_of

    Campaign.objects.filter(name="Spring sale").update(restricted=True)
    users = users_of(config_in_use, viewer)
    assert sorted((u.name, u.visible) for u in users) == [
        ("Spring sale", False),
        ("Winter news", True),
    ]


def test_an_unused_configuration_is_deactivated_at_once(login, administrator, queued):
    config = email_config(name="Spare")
    response = login(administrator).post(f"/channels/{config.pk}/deactivate/")
    assert response.status_code == 302
    config.refresh_from_db()
    assert config.status == "deactivated"


@pytest.mark.parametrize(
    "lang, heading, button",
    [
        ("nl", "Kanaalconfiguratie gedeactiveerd", "Toch deactiveren"),
        ("sv", "Kanalkonfigurationen inaktiverad", "Inaktivera ändå"),
        ("fr", "Configuration de canal désactivée", "Désactiver quand même"),
    ],
)
def test_the_confirmation_and_the_reason_read_in_the_users_language(
    login, administrator, config_in_use, lang, heading, button
):
    client = login(administrator)
    html = client.post(
        f"/channels/{config_in_use.pk}/deactivate/", HTTP_ACCEPT_LANGUAGE=lang
    ).content.decode()
    assert heading in html and button in html
    assert "Deactivate anyway" not in html and "send through this configuration" not in html
