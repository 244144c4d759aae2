"""Fan-out, sending, retries, leases and stop — task functions called directly."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from audiences.models import Profile, Suppression
from campaigns import tasks
from campaigns.engine import cancel_campaign_work, runs
from campaigns.engine.claim import claim, reclaim_expired
from campaigns.engine.schedule import activate_campaign
from campaigns.models import Campaign, Delivery, Run
from campaigns.transitions import transition
from tests.campaigns.conftest import (
    make_campaign,
    make_profiles,
    upload_audience,
)

pytestmark = pytest.mark.django_db(transaction=True)


def activated_run(profiles, **fields) -> Run:
    campaign = make_campaign(upload_audience(profiles), **fields)
    activate_campaign(campaign.pk)
    return Run.objects.get(campaign=campaign)


def test_fan_out_records_exclusions_with_their_reasons(queued):
    ok = make_profiles(5, prefix="ok")
    no_consent = make_profiles(2, prefix="nc", consent=False)
    suppressed = make_profiles(1, prefix="sup")
    Suppression.objects.create(channel="email", address=suppressed[0].email, reason="hard_bounce")
    missing = Profile.objects.create(email=None, phone="+31600000000", consent_email=True)
    run = activated_run(ok + no_consent + suppressed + [missing])

    assert runs.start_run(run.pk)

    reasons = dict(
        Delivery.objects.filter(run=run, status="excluded").values_list("profile_id", "reason")
    )
    assert reasons == {
        no_consent[0].pk: "no_consent",
        no_consent[1].pk: "no_consent",
        suppressed[0].pk: "suppressed",
        missing.pk: "missing_identity",
    }
    run.refresh_from_db()
    assert (run.status, run.targeted, run.excluded) == ("sending", 9, 4)
    assert Delivery.objects.filter(run=run, status="pending").count() == 5


def test_fan_out_twice_creates_each_delivery_once(queued):
    run = activated_run(make_profiles(7))
    runs.start_run(run.pk)
    Run.objects.filter(pk=run.pk).update(status="materializing")
    runs.start_run(run.pk)  # a task delivered twice
    assert Delivery.objects.filter(run=run).count() == 7
    run.refresh_from_db()
    assert run.targeted == 7


def test_run_sends_each_consenting_profile_exactly_once(queued, fake_transport, settings):
    settings.ENGINE_BATCH_SIZE = 3
    profiles = make_profiles(10) + make_profiles(2, prefix="nc", consent=False)
    run = activated_run(profiles)

    tasks.start_run(run.pk)
    tasks.send_run(run.pk)  # a second sender finds nothing left

    assert sorted(fake_transport.sent) == sorted(p.email for p in profiles[:10])
    run.refresh_from_db()
    assert (run.status, run.sent, run.failed, run.excluded) == ("completed", 10, 0, 2)
    assert Delivery.objects.filter(run=run, status="sent", sent_at__isnull=False).count() == 10


def test_personalization_uses_profile_attributes(queued, fake_transport, monkeypatch):
    profile = make_profiles(1)[0]
    Profile.objects.filter(pk=profile.pk).update(attributes={"firstName": "Ada"})
    run = activated_run([profile])
    captured = []
    original = fake_transport.send_batch
    monkeypatch.setattr(
        fake_transport, "send_batch", lambda msgs: captured.extend(msgs) or original(msgs)
    )
    tasks.start_run(run.pk)
    assert captured[0].rendered.subject == "Hello Ada"


def test_permanent_failure_is_recorded_with_provider_reason(queued, fake_transport):
    profiles = make_profiles(3)
    fake_transport.outcomes[profiles[0].email] = (True, "550 mailbox unavailable")
    run = activated_run(profiles)
    tasks.start_run(run.pk)
    failed = Delivery.objects.get(run=run, profile=profiles[0])
    assert (failed.status, failed.reason, failed.error) == (
        "failed",
        "rejected",
        "550 mailbox unavailable",
    )
    run.refresh_from_db()
    assert (run.status, run.sent, run.failed) == ("completed", 2, 1)


def test_transient_failure_retries_with_back_off_then_sends(queued, fake_transport, settings):
    settings.ENGINE_RETRY_BASE_SECONDS = 30
    profile = make_profiles(1)[0]
    fake_transport.outcomes[profile.email] = (False, "451 try again later")
    run = activated_run([profile])
    with time_machine.travel(timezone.now(), tick=False) as clock:
        tasks.start_run(run.pk)
        delivery = Delivery.objects.get(run=run)
        assert delivery.status == "pending"
        assert delivery.send_after == timezone.now() + timedelta(seconds=30)
        tasks.send_run(run.pk)  # not due yet: nothing is claimed
        assert fake_transport.sent == []

        del fake_transport.outcomes[profile.email]
        clock.shift(timedelta(seconds=31))
        tasks.send_run(run.pk)
    assert fake_transport.sent == [profile.email]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 2)


def test_transient_failures_give_up_after_max_attempts(queued, fake_transport, settings):
    settings.ENGINE_MAX_ATTEMPTS = 2
    settings.ENGINE_RETRY_BASE_SECONDS = 0
    profile = make_profiles(1)[0]
    fake_transport.outcomes[profile.email] = (False, "421 busy")
    run = activated_run([profile])
    tasks.start_run(run.pk)
    tasks.send_run(run.pk)
    delivery = Delivery.objects.get(run=run)
    assert (delivery.status, delivery.reason, delivery.attempts) == (
        "failed",
        "retries_exhausted",
        2,
    )


def test_failed_deliveries_can_be_retried(queued, fake_transport):
    profiles = make_profiles(2)
    fake_transport.outcomes[profiles[0].email] = (True, "550 no")
    run = activated_run(profiles)
    tasks.start_run(run.pk)
    del fake_transport.outcomes[profiles[0].email]

    assert runs.retry_failed(campaign=run.campaign) == 1
    tasks.send_run(run.pk)

    run.refresh_from_db()
    assert (run.status, run.sent, run.failed) == ("completed", 2, 0)
    assert sorted(fake_transport.sent) == sorted(p.email for p in profiles)


def test_expired_lease_is_reclaimed_and_counted_as_possible_duplicate(queued, fake_transport):
    run = activated_run(make_profiles(5))
    runs.start_run(run.pk)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        dead = claim(run.pk, 2, "dead-worker", lease_seconds=60)  # its worker then dies
        assert reclaim_expired(run.pk) == 0  # lease still valid
        clock.shift(timedelta(seconds=61))
        assert reclaim_expired(run.pk) == 2
        tasks.send_run(run.pk)
    run.refresh_from_db()
    assert (run.status, run.sent, run.duplicates) == ("completed", 5, 2)
    assert Delivery.objects.filter(pk__in=dead, status="sent").count() == 2


def test_late_result_of_a_reclaimed_batch_does_not_overwrite(queued, fake_transport):
    from campaigns.engine.messaging import SendResult
    from campaigns.engine.send import record

    run = activated_run(make_profiles(1))
    runs.start_run(run.pk)
    [delivery_id] = claim(run.pk, 1, "slow", lease_seconds=60)
    Delivery.objects.filter(pk=delivery_id).update(status="pending", claimed_by="")
    claim(run.pk, 1, "fresh", lease_seconds=60)
    record(run, "slow", [SendResult(delivery_id, False, True, "550")], [])
    assert Delivery.objects.get(pk=delivery_id).status == "sending"


def stop(campaign) -> None:
    """What the campaigns app's stop service does (one transaction)."""
    with transaction.atomic():
        assert transition(campaign, "stop")
        cancel_campaign_work(campaign)


def test_stop_cancels_pending_and_claimed_deliveries(queued, fake_transport, settings):
    settings.ENGINE_BATCH_SIZE = 2
    run = activated_run(make_profiles(6))
    runs.start_run(run.pk)
    from campaigns.engine.send import claim_batch, load_run, send_claimed

    batch = claim_batch({run.pk: load_run(run.pk)}, "worker", 2)
    stopper = threading.Thread(target=stop_in_thread, args=(run.campaign,), daemon=True)
    stopper.start()
    wait_for(lambda: Campaign.objects.get(pk=run.campaign_id).status == "stopped")
    assert stopper.is_alive()  # the stop waits for the batch claimed before it

    assert send_claimed(batch) is False
    stopper.join(30)
    assert not stopper.is_alive()
    tasks.send_run(run.pk)

    assert fake_transport.sent == []
    assert Delivery.objects.filter(run=run, status="cancelled").count() == 6
    run.refresh_from_db()
    assert run.status == "cancelled"


def stop_in_thread(campaign) -> None:
    try:
        stop(Campaign.objects.get(pk=campaign.pk))
    finally:
        connection.close()


def wait_for(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_stop_cancels_the_unstarted_run(queued, fake_transport):
    run = activated_run(make_profiles(3))
    stop(run.campaign)
    tasks.start_run(run.pk)
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert fake_transport.sent == []


def test_configuration_rate_limit_caps_every_campaign_sharing_it():
    from campaigns.engine import throttle

    limits = [("campaign:t1", 100), ("config:t1", 10)]
    for key in ("campaign:t1", "campaign:t2", "config:t1"):
        throttle.reset(key)
    with time_machine.travel(timezone.now(), tick=False):  # no refill between the calls
        assert throttle.acquire(limits, 50) == 10  # the configuration's bucket is the smaller
        assert throttle.acquire([("campaign:t2", 100), ("config:t1", 10)], 50) == 0
        # The campaign bucket got back what the configuration refused.
        assert throttle.acquire([("campaign:t1", 100)], 100) == 90


def test_batches_are_as_large_on_sqlite_as_on_postgresql(settings, monkeypatch):
    # No batch holds SQLite's write lock while the provider answers any more.
    from campaigns.engine.conf import knob

    monkeypatch.delenv("ENGINE_BATCH_SIZE", raising=False)
    if hasattr(settings, "ENGINE_BATCH_SIZE"):
        del settings.ENGINE_BATCH_SIZE
    assert knob("ENGINE_BATCH_SIZE") == 200
    monkeypatch.setenv("ENGINE_BATCH_SIZE", "500")
    assert knob("ENGINE_BATCH_SIZE") == 500
