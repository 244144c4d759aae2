"""A frequency cap under real concurrency (SPEC §12, issue 16): two `qcluster`
processes, two campaigns to the same profiles activated together, an SMTP sink.
Meaningful on PostgreSQL + Redis (several hosts); runs on SQLite too."""

from __future__ import annotations

import time

import pytest

from campaigns.engine import enqueue_activation
from campaigns.models import BusinessRule, Delivery, RuleCounter
from campaigns.reports import campaign_report
from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience
from tests.campaigns.test_engine_cluster import (  # noqa: F401 — fixtures
    cluster_db,
    run_of,
    run_status,
    sink,
    start_cluster,
    wait_for,
)

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]


def test_a_cap_of_one_a_day_holds_across_two_clusters(start_cluster, sink):  # noqa: F811
    profiles = make_profiles(500)
    rule = BusinessRule.objects.create(
        name="One email a day", channel="email", cap_max_messages=1, cap_window_hours=24
    )
    # Everyone was messaged two days ago: their counters exist, so the senders
    # must serialize on the row lock itself, not on inserting a new row.
    two_days_ago = int(time.time()) - 2 * 86400
    RuleCounter.objects.bulk_create(
        [RuleCounter(rule=rule, profile=p, recent=[[two_days_ago, 0]]) for p in profiles]
    )
    first = make_campaign(upload_audience(profiles, name="A"))
    second = make_campaign(upload_audience(profiles, name="B"))
    # Small batches and several senders per run, on two clusters: the two runs'
    # senders claim deliveries of the same profiles at the same time.
    knobs = {"ENGINE_SENDERS": 4, "ENGINE_BATCH_SIZE": 25, "ENGINE_LEASE_SECONDS": 120}
    start_cluster(**knobs)
    start_cluster(**knobs)
    enqueue_activation(first.pk)
    enqueue_activation(second.pk)

    wait_for(
        lambda: run_status(first) == run_status(second) == "completed",
        240,
        "both runs to complete",
    )

    assert sink.counts() == {p.email: 1 for p in profiles}  # exactly 500 messages
    runs = [run_of(first), run_of(second)]
    assert sum(r.sent for r in runs) == 500
    assert sum(r.excluded for r in runs) == 500
    for campaign, run in zip((first, second), runs, strict=True):
        report = campaign_report(campaign)
        capped = 500 - run.sent
        assert report["excluded"] == ({"frequency_cap": capped} if capped else {})
        assert report["sent"] == run.sent
        assert run.duplicates == 0
    capped_profiles = set(
        Delivery.objects.filter(
            run__campaign__in=[first, second], reason="frequency_cap"
        ).values_list("profile_id", flat=True)
    )
    assert capped_profiles == {p.pk for p in profiles}
