"""Tenth outside review of issue 10 (docs/security-review-10.md): each test
reproduced its finding on the code before the fix. SQLite by default,
PostgreSQL + Redis with DATABASE_URL / REDIS_URL."""

from __future__ import annotations

import pytest

from tests.conftest import instances_loaded
from tests.webhooks.logs import endpoint_with_log
from webhooks.models import Attempt, Endpoint, Message

pytestmark = pytest.mark.django_db


def test_the_admin_deletes_an_endpoint_without_loading_its_log(administrator, login):
    """Review 9 #4 made ``endpoint_delete`` two statements, but the admin's
    delete page (GET, and the POST before it deletes) still ran Django's
    collector over the log: every message loaded, payload included (about
    10 KB of memory a message with a 1.5 KB payload; a month of ``delivery.*``
    events, gigabytes, for an administrator's request). The log is counted;
    and as the delivery log's admin deletes nothing, an endpoint with a log
    could not be deleted in the admin at all (403)."""
    kept = endpoint_with_log(administrator, 3)
    endpoint = endpoint_with_log(administrator, 150)
    with instances_loaded(Message) as loaded:
        client = login(administrator)
        page = client.get(f"/admin/webhooks/endpoint/{endpoint.pk}/delete/")
        assert page.status_code == 200
        assert not loaded
        assert "150" in page.content.decode()
        done = client.post(f"/admin/webhooks/endpoint/{endpoint.pk}/delete/", {"post": "yes"})
    assert done.status_code == 302
    assert not loaded
    assert not Endpoint.objects.filter(pk=endpoint.pk).exists()
    assert not Message.objects.filter(endpoint_id=endpoint.pk).exists()
    assert Message.objects.filter(endpoint=kept).count() == 3
    assert Attempt.objects.count() == 3


def test_the_bulk_delete_of_endpoints_counts_their_logs(administrator, login):
    endpoints = [endpoint_with_log(administrator, n) for n in (2, 5)]
    client = login(administrator)
    page = client.post(
        "/admin/webhooks/endpoint/",
        {"action": "delete_selected", "_selected_action": [e.pk for e in endpoints]},
    )
    assert page.status_code == 200
    assert "7" in page.content.decode()
    done = client.post(
        "/admin/webhooks/endpoint/",
        {
            "action": "delete_selected",
            "_selected_action": [e.pk for e in endpoints],
            "post": "yes",
        },
    )
    assert done.status_code == 302
    assert not Endpoint.objects.exists()
    assert not Message.objects.exists()
