"""A real ``qcluster`` SIGKILLed while it sends a proof and a test message to a
slow SMTP sink: nothing stays "Sending". Once the lease is over the sweep hands
both to a new cluster, which sends them; the resend is counted as a possible
duplicate (the sink may have taken the first one before the kill), so nothing
arrives twice silently. And the page's test message, queued in the request, is
sent by the cluster and read back through the API."""

from __future__ import annotations

import signal
from collections import Counter

import pytest

from campaigns import tasks
from campaigns.models import Proof
from campaigns.proofs import send_proof
from channels import services as channel_services
from channels import tasks as channel_tasks
from channels.models import TestMessage
from tests.campaigns.conftest import email_config
from tests.campaigns.lifecycle_helpers import ready_email
from tests.campaigns.smtp_sink import Sink
from tests.campaigns.test_engine_cluster import (  # noqa: F401 (fixtures)
    cluster_db,
    start_cluster,
    stop_cluster,
    wait_for,
)

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]
# Above the slowest send here (two messages at 3 s each), or a live worker
# would lose its lease.
LEASE = 8


@pytest.fixture
def sink():
    # A slow provider: the kill lands while both are sending. At 1.5 s a
    # message the proof could be sent before a busy machine's cluster had
    # claimed the test message, and both were never "sending" at once.
    with Sink(delay=3.0) as running:
        yield running


def statuses() -> set[str]:
    return {*Proof.objects.values_list("status", flat=True)} | {
        *TestMessage.objects.values_list("status", flat=True)
    }


def sweep() -> None:
    tasks.sweep_proofs()
    channel_tasks.sweep_test_messages()


def test_sends_of_a_killed_worker_are_resent_once_and_counted(
    start_cluster,  # noqa: F811
    sink,
    administrator,
):
    campaign = ready_email(None)
    message = channel_services.test_message_queue(
        config=email_config(name="Main"),
        content={"subject": "Hi", "html": "<p>x</p>"},
        category="marketing",
        recipients=["a@example.com", "b@example.com"],
        actor=administrator,
    )
    [proof] = send_proof(campaign, None, ["qa@example.com"])
    # Three workers: the resident trigger dispatcher may hold one (started by
    # the tick, or by a dispatch task an earlier test left in the queue), and
    # the proof and the test message must be sending at the same time.
    first = start_cluster(TEST_SEND_LEASE_SECONDS=LEASE, Q_WORKERS=3)
    wait_for(lambda: statuses() == {"sending"}, 60, "both to be claimed")
    stop_cluster(first, signal.SIGKILL)
    assert statuses() == {"sending"}  # what a dead worker leaves behind

    start_cluster(TEST_SEND_LEASE_SECONDS=LEASE, Q_WORKERS=3)
    wait_for(lambda: statuses() == {"sent"}, 90, "the resend", during=sweep)

    proof.refresh_from_db()
    message.refresh_from_db()
    assert (proof.duplicates, proof.attempts) == (1, 2)
    # The test message's answers are recorded one by one: one message was in doubt.
    assert (message.duplicates, message.attempts) == (1, 2)
    counts = Counter(sink.received())
    assert set(counts) == {"qa@example.com", "a@example.com", "b@example.com"}
    # A message arrived twice only if the killed worker's SMTP transaction
    # completed; never more often than counted.
    extra = sum(counts.values()) - len(counts)
    assert extra <= proof.duplicates + message.duplicates
    assert set(message.recipients.values_list("status", flat=True)) == {"sent"}


def test_the_cluster_sends_a_test_message_the_api_queued(
    start_cluster,  # noqa: F811
    sink,
    api_for,
    administrator,
):
    config = email_config(name="Main")
    api = api_for(administrator)
    start_cluster()
    response = api.post(
        f"/channel-configurations/{config.pk}/test-message",
        {
            "content": {"subject": "Hi", "html": "<p>x</p>"},
            "recipients": ["qa@example.com", "reject-me@example.com"],
        },
    )
    assert response.status_code == 202, response.content
    url = f"/channel-configurations/{config.pk}/test-messages/{response.json()['id']}"

    def final() -> bool:
        return api.get(url).json()["status"] in ("sent", "failed")

    wait_for(final, 60, "the test message to be sent")
    result = api.get(url).json()
    assert result["status"] == "failed" and result["possibleDuplicates"] == 0
    assert [(r["address"], r["status"]) for r in result["results"]] == [
        ("qa@example.com", "sent"),
        ("reject-me@example.com", "failed"),
    ]
    assert "550" in result["results"][1]["reason"]
    assert sink.received() == ["qa@example.com"]
