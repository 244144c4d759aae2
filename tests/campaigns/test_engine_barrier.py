"""The stop barrier (campaigns/barrier.py): nothing is sent after a stop
returns, and no lock is held while a provider answers.

A sender takes a send permit under the campaign's gate; a stop closes the gate,
commits, and waits for the permits already given. On PostgreSQL the gate is an
advisory lock: with a share row lock instead, a new sender was granted its lock
while the stop waited, so overlapping senders could starve the stop.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from campaigns import barrier
from campaigns.engine import cancel_campaign_work, runs
from campaigns.engine.send import load_run, send_run
from campaigns.models import Campaign, Delivery, Run, SendPermit
from campaigns.transitions import transition
from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience

pytestmark = pytest.mark.django_db(transaction=True)

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


def in_thread(outcomes: dict, name: str, body) -> threading.Thread:
    def target():
        try:
            outcomes[name] = body()
        finally:
            connection.close()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def wait_for(condition) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def stop(campaign_id: int) -> bool:
    with transaction.atomic():
        campaign = Campaign.objects.get(pk=campaign_id)
        stopped = transition(campaign, "stop")
        cancel_campaign_work(campaign)
    return stopped


def sending_run(n: int = 0) -> Run:
    """A live campaign's run, open for sending, with ``n`` pending deliveries."""
    audience = upload_audience(make_profiles(n)) if n else None
    campaign = make_campaign(audience, status="live")
    run = Run.objects.create(
        campaign=campaign, version=campaign.live_version, kind="one_shot", status="queued"
    )
    if n:
        assert runs.start_run(run.pk)
    Run.objects.filter(pk=run.pk).update(status="sending")
    return run


def test_a_stop_returns_only_after_the_senders_admitted_before_it_are_done():
    run = sending_run()
    campaign_id = run.campaign_id
    with transaction.atomic():
        assert barrier.admit({run.pk: campaign_id}) == {run.pk}
        barrier.grant([campaign_id], "sender-1")
    outcomes: dict[str, object] = {}

    stopper = in_thread(outcomes, "stop", lambda: stop(campaign_id))
    wait_for(lambda: Campaign.objects.get(pk=campaign_id).status == "stopped")
    # Committed, but still waiting for the sender that holds a permit.
    assert stopper.is_alive() and "stop" not in outcomes
    with transaction.atomic():  # a sender asking now is refused
        assert barrier.admit({run.pk: campaign_id}) == set()

    barrier.release("sender-1")
    stopper.join(WAIT)
    assert outcomes == {"stop": True}


def test_a_dead_senders_permit_holds_a_stop_only_until_it_expires():
    run = sending_run()
    SendPermit.objects.create(
        campaign_id=run.campaign_id, holder="dead", expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert stop(run.campaign_id)  # returns at once: the permit has expired


def test_no_transaction_is_open_while_the_provider_answers(queued, monkeypatch, settings):
    """Another writer (here: a change to another campaign, as the API makes)
    gets through while a batch is being sent."""
    settings.ENGINE_BATCH_SIZE = 5
    run = sending_run(3)
    from campaigns.engine import messaging

    other = make_campaign(status="draft")
    seen = []

    class Transport:
        def send_batch(self, messages):
            results = []
            for message in messages:
                seen.append(connection.in_atomic_block)
                outcome: dict[str, object] = {}
                writer = in_thread(
                    outcome,
                    "write",
                    lambda: Campaign.objects.filter(pk=other.pk).update(name=f"n{len(seen)}"),
                )
                writer.join(WAIT)
                assert outcome == {"write": 1}
                results.append(messaging.SendResult(message.delivery_id, True))
            return results

    monkeypatch.setattr(messaging, "transport_for", lambda config: Transport())
    assert send_run(run.pk) == "done"
    assert seen == [False, False, False]
    assert Delivery.objects.filter(run=run, status="sent").count() == 3
    assert not SendPermit.objects.exists()


def test_a_sender_stops_between_two_messages_when_the_campaign_is_stopped(queued, monkeypatch):
    run = sending_run(4)
    from campaigns.engine import messaging

    sent = []
    outcomes: dict[str, object] = {}

    class Transport:
        def send_batch(self, messages):
            results = []
            for message in messages:
                assert "stop" not in outcomes  # never a message after the stop returned
                sent.append(message.delivery_id)
                results.append(messaging.SendResult(message.delivery_id, True))
                if len(sent) == 1:  # a stop arrives while the first message is out
                    in_thread(outcomes, "stop", lambda: stop(run.campaign_id))
                    wait_for(lambda: Campaign.objects.get(pk=run.campaign_id).status == "stopped")
                    # The provider is slow: the sender looks again before the next one.
                    time.sleep(barrier.LOOK_SECONDS * 1.5)
            return results

    monkeypatch.setattr(messaging, "transport_for", lambda config: Transport())
    assert send_run(run.pk) == "inactive"
    wait_for(lambda: "stop" in outcomes)
    assert len(sent) == 1
    assert Delivery.objects.filter(run=run, status="sent").count() == 1
    assert Delivery.objects.filter(run=run, status="cancelled").count() == 3
    assert load_run(run.pk).sent == 1


@pytest.mark.postgres
@pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL lock queues")
def test_a_sender_asking_after_the_stop_waits_for_it_and_is_refused():
    campaign = make_campaign(status="live")
    run = Run.objects.create(
        campaign=campaign, version=campaign.live_version, kind="one_shot", status="sending"
    )
    entered, release_first = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}
    campaign_of = {run.pk: campaign.pk}

    def first_batch():
        with transaction.atomic():
            allowed = bool(barrier.admit(campaign_of))
            entered.set()
            release_first.wait(WAIT)  # admitting while the stop and the next sender arrive
            return allowed

    def stop():
        with transaction.atomic():
            return transition(Campaign.objects.get(pk=campaign.pk), "stop")

    def next_batch():
        with transaction.atomic():
            return bool(barrier.admit(campaign_of))

    first = in_thread(outcomes, "first", first_batch)
    assert entered.wait(WAIT)
    stopper = in_thread(outcomes, "stop", stop)
    wait_until_waiting(1)  # the stop waits for the admission in progress
    later = in_thread(outcomes, "next", next_batch)
    wait_until_waiting(2)  # the next batch queues behind the stop instead of jumping it
    assert "next" not in outcomes
    release_first.set()
    for thread in (first, stopper, later):
        thread.join(WAIT)

    assert outcomes == {"first": True, "stop": True, "next": False}
