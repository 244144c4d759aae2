"""The real sending path (render, SMTP over one connection per batch, record) to a sink."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections

from campaigns import tasks
from campaigns.engine import runs, throttle
from campaigns.engine.schedule import activate_campaign
from campaigns.models import Delivery, Run
from tests.campaigns.conftest import (
    make_campaign,
    make_profiles,
    upload_audience,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_campaign_reaches_the_smtp_sink_once_per_profile(queued, sink, settings):
    settings.ENGINE_BATCH_SIZE = 7
    profiles = make_profiles(30)
    campaign = make_campaign(upload_audience(profiles))
    activate_campaign(campaign.pk)
    run = Run.objects.get(campaign=campaign)
    tasks.start_run(run.pk)
    assert sink.counts() == {p.email: 1 for p in profiles}
    run.refresh_from_db()
    assert (run.status, run.sent) == ("completed", 30)


def test_transient_smtp_failure_is_retried_and_permanent_one_recorded(queued, sink, settings):
    settings.ENGINE_RETRY_BASE_SECONDS = 0
    profiles = make_profiles(2, prefix="ok") + make_profiles(1, prefix="later")
    profiles += make_profiles(1, prefix="reject")
    campaign = make_campaign(upload_audience(profiles))
    activate_campaign(campaign.pk)
    run = Run.objects.get(campaign=campaign)

    tasks.start_run(run.pk)

    later = Delivery.objects.get(run=run, address="later0@example.com")
    assert (later.status, later.attempts) == ("sent", 2)
    rejected = Delivery.objects.get(run=run, address="reject0@example.com")
    assert (rejected.status, rejected.reason) == ("failed", "rejected")
    assert "550" in rejected.error
    assert sorted(sink.received()) == ["later0@example.com", "ok0@example.com", "ok1@example.com"]
    run.refresh_from_db()
    assert (run.status, run.sent, run.failed) == ("completed", 3, 1)


def _sender(run_id: int) -> None:
    try:
        tasks.send_run(run_id)
    finally:
        connections.close_all()  # a thread's connection would keep the test database open


def test_throttle_holds_across_concurrent_senders(queued, sink, settings):
    """50 messages/s for 150 messages, two senders at once (one on SQLite: an
    in-memory test database cannot be written from two threads). A bucket holds one
    second of tokens, so the run needs at least (150 - 50) / 50 = 2 s; we accept
    10 % under that for clock granularity. (A lower bound only: a slow machine
    may take longer, which does not break the throttle.)"""
    settings.ENGINE_BATCH_SIZE = 20
    campaign = make_campaign(upload_audience(make_profiles(150)), throttle_per_second=50)
    throttle.reset(f"campaign:{campaign.pk}")
    activate_campaign(campaign.pk)
    run = Run.objects.get(campaign=campaign)
    runs.start_run(run.pk)

    senders = 2 if connection.vendor == "postgresql" else 1
    started = time.monotonic()
    senders = [threading.Thread(target=_sender, args=(run.pk,)) for _ in range(senders)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=60)
    elapsed = time.monotonic() - started

    assert len(sink.received()) == 150
    assert elapsed >= 2.0 * 0.9, f"150 messages at 50/s took only {elapsed:.2f} s"
