"""Issue 12 #10: a proof requested from the page is sent by a real ``qcluster``
through the SMTP transport to an aiosmtpd sink, and its row records the outcome."""

from __future__ import annotations

import pytest

from campaigns.models import Proof
from campaigns.proofs import send_proof
from tests.campaigns.lifecycle_helpers import ready_email
from tests.campaigns.test_engine_cluster import (  # noqa: F401 (fixtures)
    cluster_db,
    sink,
    start_cluster,
    wait_for,
)

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]


def test_the_cluster_sends_proofs_and_records_sent_and_failed(start_cluster, sink):  # noqa: F811
    campaign = ready_email(None)
    start_cluster()
    queued = send_proof(campaign, None, ["qa@example.com", "reject-me@example.com"])
    assert {p.status for p in queued} == {"queued"}
    assert sink.received() == []

    def settled() -> bool:
        return not Proof.objects.filter(status__in=["queued", "sending"]).exists()

    wait_for(settled, 60, "the proofs to be sent")
    assert sink.received() == ["qa@example.com"]
    sent = Proof.objects.get(address="qa@example.com")
    failed = Proof.objects.get(address="reject-me@example.com")
    assert sent.status == "sent" and sent.sent_at is not None
    assert failed.status == "failed" and "550" in failed.error
