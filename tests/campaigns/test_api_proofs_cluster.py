"""Proofs asked through the API are sent by a real `manage.py qcluster`, never
inside the request (SPEC §5, §7 `POST /campaigns/{id}/proofs`; issue 12 #6)."""

from __future__ import annotations

import pytest

from tests.campaigns.lifecycle_helpers import ready_email
from tests.campaigns.test_engine_cluster import (  # noqa: F401  (fixtures)
    cluster_db,
    sink,
    start_cluster,
    wait_for,
)

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]


def test_api_proofs_are_sent_by_the_cluster(start_cluster, sink, api_for, manager):  # noqa: F811
    campaign = ready_email(manager)
    response = api_for(manager).post(
        f"/campaigns/{campaign.pk}/proofs", {"recipients": ["qa@example.com", "b@example.com"]}
    )
    assert response.status_code == 202, response.content
    assert sink.received() == []  # the request only queued them
    start_cluster()
    wait_for(lambda: len(sink.received()) >= 2, 120, "the proofs")
    assert sorted(sink.received()) == ["b@example.com", "qa@example.com"]
