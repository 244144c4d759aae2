"""A stop is not starved by batches in flight (PostgreSQL).

A batch sends while holding the campaign's gate shared; the stop takes it
exclusive. With a share row lock instead, a new batch was granted its lock while
the stop waited, so overlapping batches kept the stop waiting until the whole
run had been sent. Here a batch that asks after the stop must queue behind it
and then see the campaign stopped.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.conf import settings
from django.db import connection, transaction

from campaigns.engine.send import _guard
from campaigns.models import Campaign, Run
from campaigns.transitions import transition
from tests.campaigns.conftest import make_campaign

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL lock queues"),
    pytest.mark.django_db(transaction=True),
]
WAIT = 30  # seconds; generous bounds, every wait below ends on a state change


def waiting_lock_requests() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND pid IN"
            " (SELECT pid FROM pg_stat_activity WHERE datname = current_database())"
        )
        return cursor.fetchone()[0]


def wait_until_waiting(n: int) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if waiting_lock_requests() >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"expected {n} waiting lock requests")


def test_a_batch_started_after_the_stop_waits_for_it_and_does_not_send():
    campaign = make_campaign(status="live")
    run = Run.objects.create(
        campaign=campaign, version=campaign.live_version, kind="one_shot", status="sending"
    )
    entered, release_first = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def in_thread(name, body):
        def target():
            try:
                outcomes[name] = body()
            finally:
                connection.close()

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        return thread

    def first_batch():
        with transaction.atomic():
            allowed = _guard(run)
            entered.set()
            release_first.wait(WAIT)  # "sending" while the stop and the next batch arrive
            return allowed

    def stop():
        with transaction.atomic():
            return transition(Campaign.objects.get(pk=campaign.pk), "stop")

    def next_batch():
        with transaction.atomic():
            return _guard(run)

    first = in_thread("first", first_batch)
    assert entered.wait(WAIT)
    stopper = in_thread("stop", stop)
    wait_until_waiting(1)  # the stop waits for the batch in flight
    later = in_thread("next", next_batch)
    wait_until_waiting(2)  # the next batch queues behind the stop instead of jumping it
    assert "next" not in outcomes
    release_first.set()
    for thread in (first, stopper, later):
        thread.join(WAIT)

    assert outcomes == {"first": True, "stop": True, "next": False}
