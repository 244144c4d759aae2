"""A report adds up (issue 12 #2): targeted = Σexcluded + sent + Σfailed + cancelled
+ pending, for the campaign and for every run, at every moment.

The property test drives the real engine functions through a seeded random
sequence of what happens to a run (senders' batches, a sender dying with its
batch, permanent and transient provider failures, a stop, retries of failed
deliveries, leases expiring, the tick's recovery) and checks the invariant
after every step, on the page's and the API's source alike.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from campaigns.engine import cancel_campaign_work, runs
from campaigns.engine.claim import claim, reclaim_expired
from campaigns.engine.schedule import activate_campaign
from campaigns.engine.send import claim_batch, load_run, send_claimed
from campaigns.models import Campaign, Delivery, Run
from campaigns.reports import campaign_report
from campaigns.transitions import transition
from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience

pytestmark = pytest.mark.django_db(transaction=True)

LEASE = 60


def assert_adds_up(report: dict) -> None:
    rows = [report] + [
        {**row, "excluded": {"n": row["excluded"]}, "failed": {"n": row["failed"]}}
        for row in report["runs"]
    ]
    for row in rows:
        parts = (
            sum(row["excluded"].values())
            + row["sent"]
            + sum(row["failed"].values())
            + row["cancelled"]
            + row["pending"]
        )
        assert row["targeted"] == parts, row


def assert_matches_the_deliveries(campaign: Campaign, report: dict) -> None:
    """The report says what the rows say, and the run counters the engine keeps
    (targeted, excluded, sent, failed) agree with both."""
    by_status = Counter(
        dict(
            Delivery.objects.filter(run__campaign=campaign)
            .values_list("status")
            .annotate(n=Count("id"))
            .order_by()
        )
    )
    assert report["targeted"] == sum(by_status.values())
    assert sum(report["excluded"].values()) == by_status["excluded"]
    assert report["sent"] == by_status["sent"]
    assert sum(report["failed"].values()) == by_status["failed"]
    assert report["cancelled"] == by_status["cancelled"]
    assert report["pending"] == by_status["pending"] + by_status["sending"]
    for row in report["runs"]:
        run = Run.objects.get(pk=row["id"])
        counters = (run.targeted, run.excluded, run.sent, run.failed)
        assert counters == (row["targeted"], row["excluded"], row["sent"], row["failed"]), row


def open_run(profiles) -> Run:
    """A run whose deliveries exist and wait for senders (nothing sent yet)."""
    campaign = make_campaign(upload_audience(profiles))
    activate_campaign(campaign.pk)
    run = Run.objects.get(campaign=campaign)
    assert runs.start_run(run.pk)
    return run


def one_batch(run: Run, token: str, size: int) -> None:
    """What one sender does with one batch: claim with a permit, send, record."""
    batch = claim_batch({run.pk: load_run(run.pk)}, token, size)
    if batch is not None and batch.run_of:
        send_claimed(batch)


def stop(campaign: Campaign) -> bool:
    """The stop service's transaction: the transition and the cancelled work."""
    campaign.refresh_from_db()
    with transaction.atomic():
        if not transition(campaign, "stop"):
            return False
        cancel_campaign_work(campaign)
    return True


def test_a_stopped_runs_report_counts_its_cancelled_deliveries(
    queued, fake_transport, login, viewer, api_for, manager
):
    """Throttled send to 13, stopped after one batch of 2: 3 excluded, 2 sent,
    8 cancelled — and the page and the API say so."""
    profiles = make_profiles(10) + make_profiles(3, prefix="nc", consent=False)
    run = open_run(profiles)
    one_batch(run, "sender", 2)
    assert stop(run.campaign)

    report = campaign_report(run.campaign)
    assert (report["targeted"], report["sent"], report["failed"]) == (13, 2, {})
    assert report["excluded"] == {"no_consent": 3}
    assert (report["cancelled"], report["pending"]) == (8, 0)
    assert_adds_up(report)
    [row] = report["runs"]
    assert (row["status"], row["cancelled"], row["pending"]) == ("cancelled", 8, 0)

    api = api_for(manager).get(f"/campaigns/{run.campaign_id}/report")
    assert api.status_code == 200
    body = api.json()
    assert (body["cancelled"], body["pending"], body["runs"][0]["cancelled"]) == (8, 0, 8)
    assert_adds_up(body)

    html = login(viewer).get(f"/campaigns/{run.campaign_id}/report/").content.decode()
    assert 'id="cancelled">8<' in html and 'id="pending">0<' in html
    assert 'id="targeted">13<' in html and 'id="sent">2<' in html


def test_a_run_in_progress_counts_what_is_in_flight_as_pending(queued, fake_transport):
    run = open_run(make_profiles(5))
    claim(run.pk, 2, "busy-sender", lease_seconds=LEASE)  # being sent right now
    report = campaign_report(run.campaign)
    assert (report["targeted"], report["sent"], report["pending"]) == (5, 0, 5)
    assert_adds_up(report)


OPERATIONS = {
    "batch": 6,  # a live sender sends one batch
    "dead_sender": 2,  # a sender claims a batch and dies holding it
    "fail_permanently": 3,  # the provider will refuse some addresses
    "fail_transiently": 2,  # the provider will answer "try later" for some addresses
    "heal": 1,  # the provider accepts every address again
    "expire_leases": 2,  # time passes beyond the lease; the sweep takes them back
    "recover": 2,  # the tick: expired leases back, a finished run closed
    "retry_failed": 2,  # the report's "retry failed deliveries"
    "stop": 1,  # the campaign is stopped (only late in the history: see STOP_AFTER)
}
STEPS = 50
STOP_AFTER = 30  # a stop ends the sending: it comes once the rest had a chance


@pytest.mark.parametrize("seed", range(8))
def test_the_report_adds_up_after_every_step_of_a_random_history(
    seed, queued, fake_transport, settings
):
    settings.ENGINE_RETRY_BASE_SECONDS = 0
    settings.ENGINE_MAX_ATTEMPTS = 3
    rng = random.Random(seed)
    profiles = make_profiles(30, prefix=f"s{seed}-") + make_profiles(
        3, prefix=f"nc{seed}-", consent=False
    )
    addresses = [p.email for p in profiles]
    names, weights = zip(*OPERATIONS.items(), strict=True)
    history = []
    with time_machine.travel(timezone.now(), tick=False) as clock:
        run = open_run(profiles)
        campaign = run.campaign
        report = campaign_report(campaign)
        assert_adds_up(report)
        assert report["targeted"] == 33 and report["pending"] == 30
        for step in range(STEPS):
            op = rng.choices(names, weights)[0]
            if op == "stop" and step < STOP_AFTER:
                op = "batch"
            history.append(op)
            if op == "batch":
                one_batch(run, f"sender-{step}", rng.randint(1, 3))
            elif op == "dead_sender":
                claim(run.pk, rng.randint(1, 3), f"dead-{step}", lease_seconds=LEASE)
            elif op == "fail_permanently":
                for address in rng.sample(addresses, 4):
                    fake_transport.outcomes[address] = (True, "550 no such user")
            elif op == "fail_transiently":
                for address in rng.sample(addresses, 4):
                    fake_transport.outcomes[address] = (False, "451 later")
            elif op == "heal":
                fake_transport.outcomes.clear()
            elif op == "expire_leases":
                clock.shift(timedelta(seconds=LEASE + 1))
                reclaim_expired()
            elif op == "recover":
                reclaim_expired()
                runs.finish_if_done(run.pk)
            elif op == "retry_failed":
                runs.retry_failed(campaign=campaign)
            elif op == "stop":
                stop(campaign)
            report = campaign_report(campaign)
            try:
                assert_adds_up(report)
                assert_matches_the_deliveries(campaign, report)
                assert report["targeted"] == 33
            except AssertionError as exc:
                raise AssertionError(f"seed {seed}, after {history}: {exc}") from exc
