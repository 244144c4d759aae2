"""The dispatcher's writes (issue 9): fewer statements and row versions a
trigger, the same outcomes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audiences.models import Profile
from campaigns.engine import dispatch
from campaigns.models import Campaign, Delivery, Run, SendPermit
from tests.campaigns.test_triggers import api_campaign, body

pytestmark = pytest.mark.django_db(transaction=True)


def _updates(queries, model) -> list[str]:
    """The UPDATE statements of ``model``'s table among captured queries."""
    table = model._meta.db_table
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith("UPDATE") and table in q["sql"].split("SET")[0]
    ]


def _triggered(api_for, manager, count: int):
    """A live API campaign and ``count`` accepted triggers, one person each."""
    for n in range(count):
        Profile.objects.create(email=f"p{n}@example.com")
    campaign = api_campaign()
    client = api_for(manager)
    for n in range(count):
        response = client.post("/executions/unitary", body(campaign, f"r{n}", f"p{n}@example.com"))
        assert response.status_code == 202
    return campaign


def _dispatched(fake_transport, count: int):
    """One dispatcher pass over the ``count`` triggers, each sent; its queries."""
    with CaptureQueriesContext(connection) as captured:
        assert dispatch.dispatch_batch() == count
    assert sorted(fake_transport.sent) == sorted(f"p{n}@example.com" for n in range(count))
    return captured


def test_the_last_batch_counts_and_closes_each_run_in_one_statement(
    api_for, manager, queued, fake_transport
):
    _triggered(api_for, manager, 20)
    captured = _dispatched(fake_transport, 20)
    assert set(Run.objects.values_list("status", "targeted", "sent", "failed")) == {
        ("completed", 1, 1, 0)
    }
    assert Run.objects.filter(finished_at__isnull=True).count() == 0
    updates = _updates(captured.captured_queries, Run)
    # Claimed, opened for sending, then counted and closed: three writes of
    # each run on PostgreSQL (SQLite counts, then closes: four).
    assert len(updates) == (3 if connection.vendor == "postgresql" else 4), updates


def test_a_run_stopped_during_its_batch_keeps_its_end_and_counts_what_was_sent(
    api_for, manager, queued, fake_transport, monkeypatch
):
    Profile.objects.create(email="known@example.com")
    campaign = api_campaign()
    api_for(manager).post("/executions/unitary", body(campaign))
    token = "dispatcher"
    run_ids = dispatch.claim_triggers(token, 10)
    opened = dispatch.prepare_unitary(dispatch._load(run_ids, token), token)
    sent_before_the_stop = []

    real_finish = dispatch.finish_runs

    def stop_then_finish(run_ids, counts=None):
        # The message went out; the run is stopped before the batch records it.
        sent_before_the_stop.extend(fake_transport.sent)
        Run.objects.filter(pk__in=run_ids).update(status="cancelled")
        return real_finish(run_ids, counts)

    monkeypatch.setattr(dispatch, "finish_runs", stop_then_finish)
    dispatch.send_runs(opened, token)
    run = Run.objects.get()
    assert sent_before_the_stop == ["known@example.com"]
    assert (run.status, run.sent) == ("cancelled", 1)


@pytest.mark.parametrize(
    "value", ['a"b', "back\\slash", "com,ma", "{brace}", " spaced ", "NULL", "quo'te", "ünï"]
)
def test_identities_with_array_syntax_are_found(value):
    """The dispatcher finds profiles by identity with the values as one
    parameter (an array literal on PostgreSQL): every character is a value's."""
    profile = Profile.objects.create(profile_id=value)
    Profile.objects.create(profile_id=value.strip() + "x")
    run = SimpleNamespace(
        recipients=[{"field": "profile_id", "value": value}],
        version=SimpleNamespace(allow_profile_creation=False),
    )
    dispatch._resolve_profiles([run])
    assert run.recipients[0]["profileId"] == profile.pk


def test_deliveries_are_inserted_claimed_and_written_once_more_when_sent(
    api_for, manager, queued, fake_transport
):
    _triggered(api_for, manager, 10)
    captured = _dispatched(fake_transport, 10)
    assert set(Delivery.objects.values_list("status", "attempts")) == {("sent", 1)}
    # No claim UPDATE: the only write of the deliveries after their INSERT
    # records that they were sent.
    updates = _updates(captured.captured_queries, Delivery)
    assert len(updates) == 1, updates
    assert not SendPermit.objects.exists()  # the batch's permits were released


def test_more_messages_than_a_batch_take_the_ordinary_claim(
    api_for, manager, queued, fake_transport, settings
):
    settings.ENGINE_BATCH_SIZE = 4
    _triggered(api_for, manager, 10)
    assert dispatch.dispatch_batch() == 10
    assert sorted(fake_transport.sent) == sorted(f"p{n}@example.com" for n in range(10))
    assert set(Run.objects.values_list("status", "sent")) == {("completed", 1)}
    assert set(Delivery.objects.values_list("status", "attempts")) == {("sent", 1)}


def test_a_stop_waits_for_the_transaction_that_claims_at_preparation(
    api_for, manager, queued, fake_transport
):
    """A campaign stopped after its triggers were claimed but before they are
    prepared: the stop cancels them, the preparation finds none of its runs
    held and sends nothing."""
    from campaigns.engine.stop import cancel_campaign_work
    from campaigns.transitions import transition

    campaign = _triggered(api_for, manager, 1)
    token = "dispatcher"
    loaded = dispatch._load(dispatch.claim_triggers(token, 10), token)
    campaign = Campaign.objects.get(pk=campaign.pk)
    assert transition(campaign, "stop")
    cancel_campaign_work(campaign)
    assert dispatch.prepare_and_claim(loaded, token) == ([], None)
    assert fake_transport.sent == []
    assert not Delivery.objects.exists()
    assert Run.objects.get().status == "cancelled"
