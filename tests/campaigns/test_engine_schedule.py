"""Activation, recurring occurrences, missed-occurrence tolerance, completion — frozen clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from audiences.models import Profile
from campaigns import tasks
from campaigns.engine import runs
from campaigns.engine.completion import tick
from campaigns.engine.schedule import activate_campaign, occurrences
from campaigns.models import Campaign, Delivery, Run
from config.schedules import ensure_schedules
from tests.campaigns.conftest import (
    email_config,
    make_campaign,
    make_profiles,
    upload_audience,
)

pytestmark = pytest.mark.django_db(transaction=True)
AMS = ZoneInfo("Europe/Amsterdam")
UTC = ZoneInfo("UTC")


def status(campaign) -> str:
    return Campaign.objects.values_list("status", flat=True).get(pk=campaign.pk)


def test_activation_without_start_goes_live_and_queues_one_run(queued):
    campaign = make_campaign(upload_audience(make_profiles(2)))
    activate_campaign(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == "live" and campaign.activated_at is not None
    run = Run.objects.get(campaign=campaign)
    assert (run.kind, run.status) == ("one_shot", "queued")
    assert ("campaigns.tasks.start_run", run.pk) in queued


def test_activation_is_idempotent(queued):
    campaign = make_campaign(upload_audience(make_profiles(1)))
    activate_campaign(campaign.pk)
    activate_campaign(campaign.pk)
    tick()
    assert Run.objects.filter(campaign=campaign).count() == 1


def test_activation_with_future_start_schedules_then_starts_on_time(queued):
    start = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
    campaign = make_campaign(upload_audience(make_profiles(1)), start_at=start)
    with time_machine.travel(start - timedelta(days=1), tick=False) as clock:
        activate_campaign(campaign.pk)
        assert status(campaign) == "scheduled"
        tick()
        assert not Run.objects.filter(campaign=campaign).exists()
        clock.move_to(start + timedelta(seconds=20))
        tick()
    assert status(campaign) == "live"
    assert Run.objects.get(campaign=campaign).scheduled_for == start


def test_activation_fails_with_a_readable_reason(queued):
    campaign = make_campaign(
        upload_audience(make_profiles(1)), config=email_config(status="deactivated")
    )
    activate_campaign(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == "failed"
    assert "deactivated" in campaign.failure_reason


def test_api_triggered_campaign_gets_no_runs(queued):
    campaign = make_campaign(None, type="api_triggered", category="transactional")
    activate_campaign(campaign.pk)
    tick()
    assert status(campaign) == "live"
    assert not Run.objects.filter(campaign=campaign).exists()


def test_occurrences_follow_local_time_across_dst():
    days = list(
        occurrences(
            {"frequency": "daily", "time": "09:30"},
            "Europe/Amsterdam",
            datetime(2030, 3, 29, 0, 0, tzinfo=UTC),
            datetime(2030, 4, 1, 0, 0, tzinfo=UTC),
        )
    )
    assert [d.astimezone(UTC).hour for d in days] == [8, 8, 7]  # DST starts 31 March
    weekly = occurrences(
        {"frequency": "weekly", "time": "08:00", "daysOfWeek": [0, 4]},
        "UTC",
        datetime(2030, 4, 1, tzinfo=UTC),
        datetime(2030, 4, 14, 23, tzinfo=UTC),
    )
    assert [d.day for d in weekly] == [1, 5, 8, 12]
    monthly = occurrences(
        {"frequency": "monthly", "time": "08:00", "dayOfMonth": 31},
        "UTC",
        datetime(2030, 1, 1, tzinfo=UTC),
        datetime(2030, 4, 30, 23, tzinfo=UTC),
    )
    assert [(d.month, d.day) for d in monthly] == [(1, 31), (2, 28), (3, 31), (4, 30)]


def test_recurring_occurrences_fire_at_local_time_once(queued):
    recurrence = {"frequency": "daily", "time": "09:00"}
    with time_machine.travel(datetime(2030, 6, 1, 8, 0, tzinfo=AMS), tick=False) as clock:
        campaign = make_campaign(
            upload_audience(make_profiles(1)), recurrence=recurrence, timezone="Europe/Amsterdam"
        )
        activate_campaign(campaign.pk)
        assert status(campaign) == "live"
        assert not Run.objects.filter(campaign=campaign).exists()
        clock.move_to(datetime(2030, 6, 1, 9, 0, 30, tzinfo=AMS))
        tick()
        tick()  # a second cluster's sweep changes nothing
        clock.move_to(datetime(2030, 6, 2, 9, 1, tzinfo=AMS))
        tick()
    occurrences_ = list(
        Run.objects.filter(campaign=campaign)
        .order_by("scheduled_for")
        .values_list("scheduled_for", "status")
    )
    assert occurrences_ == [
        (datetime(2030, 6, 1, 9, 0, tzinfo=AMS), "queued"),
        (datetime(2030, 6, 2, 9, 0, tzinfo=AMS), "queued"),
    ]


def test_missed_occurrence_is_skipped_and_recorded(queued, fake_transport, settings):
    settings.ENGINE_MISSED_TOLERANCE_SECONDS = 900
    recurrence = {"frequency": "daily", "time": "09:00"}
    with time_machine.travel(datetime(2030, 6, 1, 8, 0, tzinfo=UTC), tick=False) as clock:
        campaign = make_campaign(upload_audience(make_profiles(2)), recurrence=recurrence)
        activate_campaign(campaign.pk)
        # The workers were down from 08:00 to 12:00: the 09:00 occurrence is 3 h late.
        clock.move_to(datetime(2030, 6, 1, 12, 0, tzinfo=UTC))
        tick()
        # Back in time for the next one (10 minutes late: within the tolerance).
        clock.move_to(datetime(2030, 6, 2, 9, 10, tzinfo=UTC))
        tick()
    skipped, sent = Run.objects.filter(campaign=campaign).order_by("scheduled_for")
    assert skipped.status == "skipped" and "Missed by 180 minutes" in skipped.error
    assert sent.status == "queued"
    assert not Delivery.objects.filter(run=skipped).exists()


def test_recurring_campaign_completes_at_its_end_date(queued):
    end = datetime(2030, 6, 3, 0, 0, tzinfo=UTC)
    with time_machine.travel(datetime(2030, 6, 1, 8, 0, tzinfo=UTC), tick=False) as clock:
        campaign = make_campaign(
            upload_audience(make_profiles(1)),
            recurrence={"frequency": "daily", "time": "09:00"},
            end_at=end,
        )
        activate_campaign(campaign.pk)
        clock.move_to(datetime(2030, 6, 2, 9, 5, tzinfo=UTC))
        tick()
        clock.move_to(end + timedelta(minutes=1))
        tick()
        assert status(campaign) == "live"  # its last run still has work
        Run.objects.filter(campaign=campaign).update(status="completed")
        tick()
    assert status(campaign) == "completed"
    # 1 June (skipped: nobody ticked until 2 June) and 2 June; 3 June is past the end.
    assert Run.objects.filter(campaign=campaign).count() == 2


def test_one_shot_completes_three_days_after_activation(queued, fake_transport):
    with time_machine.travel(datetime(2030, 6, 1, 8, 0, tzinfo=UTC), tick=False) as clock:
        campaign = make_campaign(upload_audience(make_profiles(2)))
        activate_campaign(campaign.pk)
        tasks.start_run(Run.objects.get(campaign=campaign).pk)
        clock.shift(timedelta(days=2, hours=23))
        tick()
        assert status(campaign) == "live"
        clock.shift(timedelta(hours=1, seconds=1))
        tick()
    assert status(campaign) == "completed"


def test_sending_in_each_profiles_time_zone(queued):
    tokyo = Profile.objects.create(email="t@example.com", consent_email=True, timezone="Asia/Tokyo")
    plain = Profile.objects.create(email="u@example.com", consent_email=True)
    start = datetime(2030, 6, 1, 9, 0, tzinfo=AMS)
    with time_machine.travel(start - timedelta(hours=20), tick=False) as clock:
        campaign = make_campaign(
            upload_audience([tokyo, plain]),
            start_at=start,
            timezone="Europe/Amsterdam",
            use_profile_timezone=True,
        )
        activate_campaign(campaign.pk)
        clock.move_to(start - timedelta(hours=14))
        tick()
        runs.start_run(Run.objects.get(campaign=campaign).pk)
    send_after = dict(Delivery.objects.values_list("profile_id", "send_after"))
    assert send_after[tokyo.pk] == datetime(2030, 6, 1, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert send_after[plain.pk] == start


def test_tick_restarts_a_run_nobody_works_on_once_per_grace_period(queued):
    with time_machine.travel(datetime(2030, 6, 1, 8, 0, tzinfo=UTC), tick=False) as clock:
        campaign = make_campaign(upload_audience(make_profiles(1)))
        activate_campaign(campaign.pk)
        run = Run.objects.get(campaign=campaign)
        queued.clear()
        tick()  # its start task was enqueued a moment ago: not again
        assert ("campaigns.tasks.start_run", run.pk) not in queued
        clock.shift(timedelta(minutes=3))
        tick()
        tick()  # a minute later, or a second cluster: still one task
        assert queued.count(("campaigns.tasks.start_run", run.pk)) == 1


def test_tick_leaves_queued_api_triggers_to_the_dispatcher(queued):
    campaign = make_campaign(upload_audience(make_profiles(1)), type="api_triggered")
    activate_campaign(campaign.pk)
    campaign.refresh_from_db()
    run = Run.objects.create(
        campaign=campaign, version=campaign.live_version, kind="api_unitary", request_id="r"
    )
    queued.clear()
    with time_machine.travel(timezone.now() + timedelta(minutes=10), tick=False):
        tick()
    assert not [call for call in queued if call[0] == "campaigns.tasks.start_run"]
    assert run.pk


def test_periodic_work_is_declared_once():
    from django_q.models import Schedule

    ensure_schedules()
    ensure_schedules()
    assert Schedule.objects.filter(func="campaigns.tasks.tick").count() == 1
    # the stale-import sweeper is declared in the same place
    sweep = Schedule.objects.get(func="audiences.tasks.sweep_stale_imports")
    assert (sweep.schedule_type, sweep.minutes, sweep.repeats) == (Schedule.MINUTES, 5, -1)


def test_tick_resumes_an_activation_whose_task_was_lost(queued):
    with time_machine.travel(datetime(2030, 6, 1, 8, 0, tzinfo=UTC), tick=False) as clock:
        campaign = make_campaign(upload_audience(make_profiles(1)))  # "activating", no task ran
        clock.shift(timedelta(minutes=5))
        tick()
        assert status(campaign) == "activating"  # still within the grace period
        clock.shift(timedelta(minutes=6))
        tick()
    assert status(campaign) == "live"
    assert Run.objects.filter(campaign=campaign).count() == 1
