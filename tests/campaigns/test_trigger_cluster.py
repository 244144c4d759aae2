# ruff: noqa: F811 — the cluster fixtures are imported from test_engine_cluster
"""API triggers through real `qcluster` processes, the dispatcher and an SMTP sink."""

from __future__ import annotations

import signal

import pytest

from audiences.models import Profile
from campaigns.engine import dispatch
from campaigns.engine.schedule import activate_campaign
from campaigns.models import Run
from tests.campaigns.conftest import email_config, make_campaign
from tests.campaigns.smtp_sink import Sink
from tests.campaigns.test_engine_cluster import (  # noqa: F401 — fixtures
    BATCH,
    WORKERS,
    cluster_db,
    start_cluster,
    stop_cluster,
    wait_for,
)

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sink(request):
    with Sink(delay=getattr(request, "param", 0.0)) as running:
        yield running


def api_campaign():
    campaign = make_campaign(
        None,
        config=email_config(purpose="transactional"),
        type="api_triggered",
        category="transactional",
        content={"subject": "Your code {{ context.code }}", "text": "Hi", "html": ""},
    )
    activate_campaign(campaign.pk)
    return campaign


def trigger_all(client, campaign, emails) -> None:
    for n, email in enumerate(emails):
        response = client.post(
            "/executions/unitary",
            {
                "requestId": f"r-{n}",
                "campaignId": campaign.pk,
                "recipients": [{"userId": email, "namespace": "email", "context": {"code": n}}],
            },
        )
        assert response.status_code == 202, response.content


def test_triggers_reach_the_sink_through_the_dispatcher(start_cluster, sink, api_for, manager):
    emails = [Profile.objects.create(email=f"t{n}@example.com").email for n in range(60)]
    campaign = api_campaign()
    start_cluster()

    trigger_all(api_for(manager), campaign, emails)

    wait_for(lambda: len(sink.received()) >= 60, 120, "every triggered message")
    assert sink.counts() == {email: 1 for email in emails}
    wait_for(
        lambda: set(Run.objects.values_list("status", flat=True)) == {"completed"},
        60,
        "the runs to complete",
    )


@pytest.mark.parametrize("sink", [0.02], indirect=True)
def test_killed_worker_holding_triggers_loses_none_and_counts_duplicates(
    start_cluster, sink, api_for, manager
):
    emails = [Profile.objects.create(email=f"k{n}@example.com").email for n in range(300)]
    campaign = api_campaign()
    knobs = {"ENGINE_DISPATCH_LEASE_SECONDS": 2, "ENGINE_LEASE_SECONDS": 3}
    first = start_cluster(**knobs)
    trigger_all(api_for(manager), campaign, emails)
    wait_for(lambda: len(sink.received()) >= 30, 120, "the first messages")

    stop_cluster(first, signal.SIGKILL)  # mid-batch: the sink takes 20 ms a message
    start_cluster(**knobs)
    # What the next trigger, or the minute tick, does: start a dispatcher if none runs.
    wait_for(
        lambda: set(sink.received()) == set(emails),
        180,
        "every trigger to be delivered",
        during=dispatch.ensure_dispatcher,
    )
    wait_for(
        lambda: not Run.objects.exclude(status="completed").exists(),
        60,
        "the runs to complete",
        during=dispatch.ensure_dispatcher,
    )
    counts = sink.counts()
    extra = sum(counts.values()) - len(counts)
    duplicates = sum(Run.objects.values_list("duplicates", flat=True))
    assert extra <= duplicates <= BATCH * WORKERS  # at most one claimed batch per worker
    assert sum(Run.objects.values_list("sent", flat=True)) == 300
