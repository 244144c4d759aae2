"""Retention windows (SPEC §14) under a controlled clock: old rows anonymised in
batches while a campaign sends, report totals unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from campaigns import retention, tasks
from campaigns.engine import runs
from campaigns.engine.schedule import activate_campaign
from campaigns.models import Delivery, Run
from campaigns.reports import campaign_report
from channels import services as channel_services
from channels.models import DeliveryEvent
from config.schedules import ensure_schedules
from tests.campaigns.conftest import email_config, make_campaign, make_profiles, upload_audience

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def windows(settings):
    settings.RETENTION_DELIVERY_DAYS = 365
    settings.RETENTION_EVENTS_DAYS = 90
    settings.RETENTION_CONTEXT_DAYS = 7
    settings.RETENTION_BATCH_SIZE = 4
    settings.ENGINE_BATCH_SIZE = 3


def sent_campaign(audience, config):
    campaign = make_campaign(audience, config)
    activate_campaign(campaign.pk)
    run = Run.objects.get(campaign=campaign)
    tasks.start_run(run.pk)
    return campaign, run


def test_old_rows_are_anonymised_in_batches_while_a_campaign_sends(windows, queued, fake_transport):
    with time_machine.travel(T0, tick=False):
        profiles = make_profiles(10)
        audience, config = upload_audience(profiles), email_config()
        old, old_run = sent_campaign(audience, config)
        for delivery in Delivery.objects.filter(run=old_run)[:4]:
            channel_services.delivery_record_open(delivery=delivery)
        Delivery.objects.filter(run=old_run).update(context={"order": "A-1"})
        Run.objects.filter(pk=old_run.pk).update(context={"coupon": "SPRING"})
        # A campaign that started long ago and is still sending.
        slow = make_campaign(audience, config)
        activate_campaign(slow.pk)
        slow_run = Run.objects.get(campaign=slow)
        assert runs.start_run(slow_run.pk)  # materialized, nothing sent yet
        Delivery.objects.filter(run=slow_run).update(context={"order": "B-2"})
    before = campaign_report(old)
    assert before["sent"] == 10 and before["opened"] == 4

    with time_machine.travel(T0 + timedelta(days=400), tick=False):
        # One bounded batch, then the campaign sends a batch, then the rest.
        assert retention.anonymise_deliveries(max_batches=1) == 4
        assert Delivery.objects.filter(run=old_run, profile__isnull=True).count() == 4
        tasks.send_run(slow_run.pk)
        done = retention.apply_retention()

        assert done["deliveries"] == 6 + 10  # the rest of the old run, then the finished one
        assert done["events"] == 4
        assert done["contexts"] >= 1
    old_rows = Delivery.objects.filter(run=old_run)
    assert (
        old_rows.filter(profile__isnull=True, address="", context__isnull=True, error="").count()
        == 10
    )
    assert not DeliveryEvent.objects.exists()
    assert Run.objects.get(pk=old_run.pk).context is None
    assert campaign_report(old) == before
    slow_run.refresh_from_db()
    assert (slow_run.status, slow_run.sent) == ("completed", 10)
    assert sorted(fake_transport.sent) == sorted([p.email for p in profiles] * 2)
    assert campaign_report(slow)["sent"] == 10


def test_pending_deliveries_and_recent_rows_are_never_touched(windows, queued, fake_transport):
    with time_machine.travel(T0, tick=False):
        profiles = make_profiles(5)
        audience, config = upload_audience(profiles), email_config()
        campaign = make_campaign(audience, config)
        activate_campaign(campaign.pk)
        run = Run.objects.get(campaign=campaign)
        runs.start_run(run.pk)
        Delivery.objects.filter(run=run).update(context={"order": "C-3"})
        Run.objects.filter(pk=run.pk).update(context={"coupon": "X"})
    with time_machine.travel(T0 + timedelta(days=380), tick=False):
        recent, recent_run = sent_campaign(audience, config)
    with time_machine.travel(T0 + timedelta(days=400), tick=False):
        result = retention.apply_retention()
    assert result == {
        "contexts": 0,
        "deliveries": 0,
        "events": 0,
        "conversions": 0,
        "webhooks": 0,
        "import_files": 0,
        "feedback_receipts": 0,
        "test_sends": 0,
    }
    # The run still sending keeps everything it needs to send.
    assert Delivery.objects.filter(run=run, status="pending", context={"order": "C-3"}).count() == 5
    assert Run.objects.get(pk=run.pk).context == {"coupon": "X"}
    assert (
        Delivery.objects.filter(run=recent_run, profile__isnull=False).exclude(address="").count()
        == 5
    )


def test_contexts_are_cleared_after_their_window_but_rows_kept(windows, queued, fake_transport):
    with time_machine.travel(T0, tick=False):
        audience = upload_audience(make_profiles(3))
        campaign, run = sent_campaign(audience, email_config())
        Delivery.objects.filter(run=run).update(context={"order": "D-4"})
    with time_machine.travel(T0 + timedelta(days=8), tick=False):
        assert retention.clear_old_contexts() == 3
        assert retention.anonymise_deliveries() == 0
    assert (
        Delivery.objects.filter(run=run, context__isnull=True, profile__isnull=False).count() == 3
    )


def test_retention_runs_every_night_from_the_one_schedule_table(db):
    from django_q.models import Schedule

    ensure_schedules()
    schedule = Schedule.objects.get(name="volley-retention")
    assert (schedule.func, schedule.minutes) == ("campaigns.tasks.apply_retention", 24 * 60)


def test_conversion_events_older_than_their_window_are_deleted(windows, settings):
    from audiences.models import ConversionEvent

    settings.RETENTION_CONVERSIONS_DAYS = 30
    profile = make_profiles(1)[0]
    for days in (31, 29):
        ConversionEvent.objects.create(
            profile=profile, name="purchase", occurred_at=T0 - timedelta(days=days)
        )
    with time_machine.travel(T0, tick=False):
        assert retention.apply_retention()["conversions"] == 1
    assert list(ConversionEvent.objects.values_list("occurred_at", flat=True)) == [
        T0 - timedelta(days=29)
    ]


def test_finished_proofs_and_test_messages_go_after_the_delivery_window(windows, queued):
    """They name team addresses and carry test data: kept as long as deliveries,
    then deleted with their recipients; one still on its way is never touched."""
    from campaigns.models import Proof
    from channels.models import TestMessage, TestMessageRecipient

    config = email_config()
    campaign = make_campaign(upload_audience(make_profiles(1)), config)
    with time_machine.travel(T0, tick=False):
        old_proof = Proof.objects.create(
            campaign=campaign, channel="email", address="team@example.com", status="sent"
        )
        waiting = Proof.objects.create(
            campaign=campaign, channel="email", address="team@example.com", status="queued"
        )
        old_test = TestMessage.objects.create(
            configuration=config, category="marketing", content={}, status="failed"
        )
        TestMessageRecipient.objects.create(test_message=old_test, address="team@example.com")
    with time_machine.travel(T0 + timedelta(days=300), tick=False):
        recent = Proof.objects.create(
            campaign=campaign, channel="email", address="team@example.com", status="sent"
        )
    with time_machine.travel(T0 + timedelta(days=400), tick=False):
        assert retention.apply_retention()["test_sends"] == 2
    assert set(Proof.objects.values_list("pk", flat=True)) == {waiting.pk, recent.pk}
    assert not Proof.objects.filter(pk=old_proof.pk).exists()
    assert not TestMessage.objects.exists() and not TestMessageRecipient.objects.exists()
