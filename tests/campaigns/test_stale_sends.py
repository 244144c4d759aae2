"""Proofs and test messages whose worker died, or whose task was lost (channels/leases.py).

A row claimed by a worker that then died stays ``sending``; once its lease
expires the periodic sweep sends it once more — counted as a possible
duplicate and shown as such — and, should that worker die too, fails it with a
reason and a Retry action. Nothing is sent twice silently. A ``queued`` row
whose task was lost is handed to the cluster again, once per lease.

Time is moved with time-machine; test_stale_sends_cluster.py SIGKILLs a real
worker mid-send.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from campaigns import tasks
from campaigns.models import Proof
from campaigns.proofs import deliver_proof, send_proof
from channels import leases
from channels import services as channel_services
from channels import tasks as channel_tasks
from channels.models import TestMessage
from channels.services import STALE_REASON
from tests.campaigns.conftest import email_config
from tests.campaigns.lifecycle_helpers import ready_email

pytestmark = pytest.mark.django_db

LATER = timedelta(seconds=leases.lease_seconds() + 1)


def die_while_sending(proof_id: int) -> None:
    """A worker claims the proof and dies before the provider answers."""
    assert leases.claim(Proof, proof_id)


def test_a_proof_whose_worker_died_is_sent_again_once_and_counted(
    login, manager, queued, mailoutbox
):
    campaign = ready_email(manager)
    [proof] = send_proof(campaign, manager, ["qa@example.com"])
    die_while_sending(proof.pk)
    queued.clear()

    assert tasks.sweep_proofs() == {"requeued": 0, "resent": 0, "failed": 0}  # lease not over
    with time_machine.travel(timezone.now() + LATER):
        assert tasks.sweep_proofs() == {"requeued": 0, "resent": 1, "failed": 0}
    proof.refresh_from_db()
    assert (proof.status, proof.duplicates, proof.attempts) == ("queued", 1, 1)
    assert queued == [("campaigns.tasks.send_proof", proof.pk)]

    tasks.send_proof(proof.pk)
    tasks.send_proof(proof.pk)  # the task delivered twice: still one message
    assert [m.to for m in mailoutbox] == [["qa@example.com"]]
    proof.refresh_from_db()
    assert (proof.status, proof.duplicates, proof.attempts) == ("sent", 1, 2)
    page = login(manager).get(f"/campaigns/{campaign.pk}/").content.decode()
    assert 'data-testid="possible-duplicate"' in page  # never silent


def test_a_proof_whose_worker_died_twice_fails_with_a_retry(login, manager, queued, mailoutbox):
    campaign = ready_email(manager)
    [proof] = send_proof(campaign, manager, ["qa@example.com"], locale="fr")
    die_while_sending(proof.pk)
    moment = timezone.now() + LATER
    with time_machine.travel(moment):
        tasks.sweep_proofs()
        die_while_sending(proof.pk)
    with time_machine.travel(moment + LATER):
        assert tasks.sweep_proofs()["failed"] == 1
        assert tasks.sweep_proofs() == {"requeued": 0, "resent": 0, "failed": 0}
    proof.refresh_from_db()
    assert proof.status == "failed" and proof.duplicates == 1
    from django.utils import translation

    with translation.override("fr"):  # in the language the proof was asked in
        assert proof.error == str(STALE_REASON)
    assert mailoutbox == []

    client = login(manager)
    page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    retry_url = f"/campaigns/{campaign.pk}/proofs/{proof.pk}/retry/"
    assert f'action="{retry_url}"' in page
    queued.clear()
    assert client.post(retry_url).status_code == 302
    proof.refresh_from_db()
    assert (proof.status, proof.error, proof.attempts) == ("queued", "", 0)
    ((_func, proof_id),) = queued
    deliver_proof(proof_id)
    assert [m.to for m in mailoutbox] == [["qa@example.com"]]


def test_a_proof_whose_task_was_lost_is_handed_to_the_cluster_again_once_per_lease(
    manager, queued, mailoutbox
):
    campaign = ready_email(manager)
    [proof] = send_proof(campaign, manager, ["qa@example.com"])
    queued.clear()
    moment = timezone.now() + LATER
    with time_machine.travel(moment):
        assert tasks.sweep_proofs()["requeued"] == 1
        assert tasks.sweep_proofs()["requeued"] == 0  # not again a minute later
    with time_machine.travel(moment + LATER):
        assert tasks.sweep_proofs()["requeued"] == 1
    assert queued == [("campaigns.tasks.send_proof", proof.pk)] * 2
    for _func, proof_id in queued:
        tasks.send_proof(proof_id)
    assert [m.to for m in mailoutbox] == [["qa@example.com"]]
    proof.refresh_from_db()
    assert (proof.status, proof.duplicates) == ("sent", 0)  # never claimed twice


def test_a_late_worker_does_not_overwrite_what_the_sweep_decided(manager, queued):
    campaign = ready_email(manager)
    [proof] = send_proof(campaign, manager, ["qa@example.com"])
    die_while_sending(proof.pk)
    with time_machine.travel(timezone.now() + LATER):
        tasks.sweep_proofs()
    # The first worker was only slow: its answer arrives after the sweep re-queued it.
    assert not leases.finish(Proof, proof.pk, status="sent")
    proof.refresh_from_db()
    assert proof.status == "queued"


# --- test messages -----------------------------------------------------------------


@pytest.fixture
def stuck_test_message(administrator):
    config = email_config(name="Main")
    message = channel_services.test_message_queue(
        config=config,
        content={"subject": "Hi", "html": "<p>x</p>"},
        category="marketing",
        recipients=["a@example.com", "b@example.com"],
        actor=administrator,
    )
    assert leases.claim(TestMessage, message.pk)  # the worker dies mid-send
    return message


@pytest.fixture
def sync_mode(monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


def test_a_test_message_whose_worker_died_is_resent_and_counted(
    stuck_test_message, mailoutbox, django_capture_on_commit_callbacks, sync_mode
):
    message = stuck_test_message
    with time_machine.travel(timezone.now() + LATER):
        with django_capture_on_commit_callbacks(execute=True):
            assert channel_tasks.sweep_test_messages()["resent"] == 1
    message.refresh_from_db()
    # Only the first recipient still queued can have been with the provider.
    assert (message.status, message.duplicates, message.attempts) == ("sent", 1, 2)
    assert sorted(m.to[0] for m in mailoutbox) == ["a@example.com", "b@example.com"]


def test_a_resent_test_message_skips_the_recipients_already_answered(
    stuck_test_message, mailoutbox, django_capture_on_commit_callbacks, sync_mode
):
    message = stuck_test_message
    first = message.recipients.get(address="a@example.com")
    # The worker recorded a@'s answer, then died while sending to b@.
    assert channel_services._test_message_record(message, first, ok=True, reason="")
    with time_machine.travel(timezone.now() + LATER):
        with django_capture_on_commit_callbacks(execute=True):
            channel_tasks.sweep_test_messages()
    assert [m.to for m in mailoutbox] == [["b@example.com"]]
    message.refresh_from_db()
    assert (message.status, message.duplicates) == ("sent", 1)


def test_each_answer_renews_the_lease_of_a_live_worker(stuck_test_message):
    message = stuck_test_message
    first = message.recipients.get(address="a@example.com")
    later = timezone.now() + LATER
    with time_machine.travel(later):
        assert channel_services._test_message_record(message, first, ok=True, reason="")
        assert channel_tasks.sweep_test_messages() == {"requeued": 0, "resent": 0, "failed": 0}
    message.refresh_from_db()
    assert message.status == "sending" and message.lease_expires_at > later


def test_a_test_message_whose_worker_died_twice_fails_with_a_retry(
    stuck_test_message, login, administrator, api_for
):
    message = stuck_test_message
    moment = timezone.now() + LATER
    with time_machine.travel(moment):
        channel_tasks.sweep_test_messages()
        assert leases.claim(TestMessage, message.pk)
    with time_machine.travel(moment + LATER):
        assert channel_tasks.sweep_test_messages()["failed"] == 1
    message.refresh_from_db()
    assert message.status == "failed" and message.finished_at is not None
    assert set(message.recipients.values_list("status", "error")) == {("failed", str(STALE_REASON))}
    config = message.configuration
    read = api_for(administrator).get(
        f"/channel-configurations/{config.pk}/test-messages/{message.pk}"
    )
    assert read.json()["possibleDuplicates"] == 1 and read.json()["status"] == "failed"
    page = login(administrator).get(f"/channels/{config.pk}/test/").content.decode()
    assert f'action="/channels/{config.pk}/test/{message.pk}/retry/"' in page
    assert 'data-testid="possible-duplicates"' in page
