"""Issue 12 #10: proofs go through the cluster and the page shows their status.

The web request only records ``queued`` proofs; ``campaigns.tasks.send_proof``
sends them. These tests drive django-q2 in sync mode (the worker runs in this
process when the request's transaction commits); test_proofs_cluster.py drives
a real ``qcluster`` and SMTP sink.
"""

from __future__ import annotations

import pytest
from django_q.conf import Conf

from audiences.models import Profile
from campaigns.models import Proof
from campaigns.proofs import ProofRefused, deliver_proof, send_proof
from channels.transports import SendResult
from tests.campaigns.lifecycle_helpers import force_status, ready_email


@pytest.fixture
def sync_mode(monkeypatch):
    """django-q2's sync mode: ``async_task`` runs the task in this process."""
    monkeypatch.setattr(Conf, "SYNC", True)


def test_the_request_only_queues_proofs(login, manager, mailoutbox):
    campaign = ready_email(manager)
    response = login(manager).post(
        f"/campaigns/{campaign.pk}/proofs/", {"recipients": "a@example.com, b@example.com"}
    )
    assert response.status_code == 302
    assert mailoutbox == []  # nothing left inside the web request
    assert sorted(Proof.objects.values_list("address", "status")) == [
        ("a@example.com", "queued"),
        ("b@example.com", "queued"),
    ]
    page = login(manager).get(f"/campaigns/{campaign.pk}/").content.decode()
    assert 'id="proofs"' in page and page.count('data-status="queued"') == 2


def test_in_sync_mode_the_worker_sends_and_the_page_says_sent(
    login, manager, mailoutbox, sync_mode, django_capture_on_commit_callbacks
):
    campaign = ready_email(manager)
    client = login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/campaigns/{campaign.pk}/proofs/", {"recipients": "qa@example.com"}, follow=True
        )
    assert [m.to for m in mailoutbox] == [["qa@example.com"]]
    assert mailoutbox[0].subject.startswith("[Proof]")
    proof = Proof.objects.get()
    assert (proof.status, proof.requested_by, proof.sent_at is not None) == ("sent", manager, True)
    assert proof.version == campaign.draft_version
    page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert 'data-status="sent"' in page


def test_a_refused_proof_shows_the_providers_reason(
    login, manager, monkeypatch, sync_mode, django_capture_on_commit_callbacks
):
    class Refusing:
        def send_batch(self, batch):
            return [SendResult(m.delivery_id, False, True, "550 No such user") for m in batch]

    monkeypatch.setattr("channels.preview.get_transport", lambda config: Refusing())
    campaign = ready_email(manager)
    client = login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/campaigns/{campaign.pk}/proofs/", {"recipients": "qa@example.com"})
    proof = Proof.objects.get()
    assert (proof.status, proof.error) == ("failed", "550 No such user")
    page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert 'data-status="failed"' in page and "550 No such user" in page


def test_a_task_delivered_twice_sends_once(manager, mailoutbox, django_capture_on_commit_callbacks):
    campaign = ready_email(manager)
    with django_capture_on_commit_callbacks(execute=False):
        [proof] = send_proof(campaign, manager, ["qa@example.com"])
    deliver_proof(proof.pk)
    deliver_proof(proof.pk)
    assert len(mailoutbox) == 1
    proof.refresh_from_db()
    assert proof.status == "sent"


def test_the_service_refuses_bad_input_and_writes_nothing(manager):
    campaign = ready_email(manager)
    with pytest.raises(ProofRefused) as refused:
        send_proof(campaign, manager, ["qa@example.com", "not-an-email"])
    assert refused.value.status == 400 and "not-an-email" in " ".join(
        refused.value.errors["recipients"]
    )
    with pytest.raises(ProofRefused):
        send_proof(campaign, manager, ["qa@example.com"], version="live")  # no live version yet
    version = campaign.draft_version
    version.content = {**version.content, "subject": "{{ profile.x | nosuchfilter }}"}
    version.save()
    with pytest.raises(ProofRefused):
        send_proof(campaign, manager, ["qa@example.com"])
    assert not Proof.objects.exists()


def test_the_live_version_and_a_profile_can_be_chosen(
    manager, mailoutbox, sync_mode, django_capture_on_commit_callbacks
):
    campaign = force_status(ready_email(manager), "live")
    ann = Profile.objects.create(email="ann@example.com", attributes={"firstName": "Ann"})
    with django_capture_on_commit_callbacks(execute=True):
        [proof] = send_proof(campaign, manager, ["qa@example.com"], version="live", profile=ann)
    assert proof.version == campaign.live_version
    assert "Hello Ann" in mailoutbox[0].alternatives[0][0]


def test_the_proof_prefix_is_in_the_requesters_language(
    manager, mailoutbox, sync_mode, django_capture_on_commit_callbacks
):
    campaign = ready_email(manager)
    with django_capture_on_commit_callbacks(execute=True):
        send_proof(campaign, manager, ["qa@example.com"], locale="nl")
    assert not mailoutbox[0].subject.startswith("[Proof]")


def test_the_proofs_fragment_is_polled_while_a_proof_is_on_its_way(
    login, manager, viewer, mailoutbox
):
    from campaigns.models import Campaign

    campaign = ready_email(manager)
    [proof] = send_proof(campaign, manager, ["qa@example.com"])
    url = f"/campaigns/{campaign.pk}/proofs/status/"
    page = login(manager).get(f"/campaigns/{campaign.pk}/").content.decode()
    assert f'data-live-url="{url}"' in page and "js/live-status.js" in page
    fragment = login(viewer).get(url)
    assert fragment.status_code == 200
    assert fragment.content.decode().startswith('<div id="proofs-panel" data-live-url=')
    deliver_proof(proof.pk)
    Proof.objects.filter(pk=proof.pk).update(status="failed", error="550 No")
    html = login(viewer).get(url).content.decode()
    assert "data-live-url" not in html  # final: the page stops polling
    assert "/retry/" not in html  # a viewer may not retry
    assert f"/proofs/{proof.pk}/retry/" in login(manager).get(url).content.decode()
    assert (
        login(viewer).post(f"/campaigns/{campaign.pk}/proofs/{proof.pk}/retry/").status_code == 403
    )
    assert login(manager).post(url).status_code == 405
    Campaign.objects.filter(pk=campaign.pk).update(restricted=True)
    assert login(viewer).get(url).status_code == 404
