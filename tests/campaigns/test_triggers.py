"""The trigger fast path's guarantees (issue: API-triggered campaigns at production rate).

Accepted means committed; a requestId is answered once, byte for byte; a stop
or a revocation that committed first refuses the trigger; the broker is not
needed to accept; a dead dispatcher's triggers are taken over.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connections
from django.utils import timezone

from accounts import keycache
from accounts.models import ApiKey
from audiences.models import Profile
from campaigns.engine import dispatch, runs
from campaigns.engine.claim import reclaim_expired
from campaigns.engine.schedule import activate_campaign
from campaigns.engine.send import claim_batch
from campaigns.engine.stop import cancel_campaign_work
from campaigns.models import Campaign, Delivery, Run
from campaigns.transitions import transition
from tests.campaigns.conftest import email_config, make_campaign
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db(transaction=True)


def api_campaign(**fields) -> Campaign:
    campaign = make_campaign(
        None,
        config=email_config(purpose="transactional"),
        type="api_triggered",
        category="transactional",
        content={"subject": "Order {{ context.order }}", "text": "Hi", "html": ""},
        **fields,
    )
    activate_campaign(campaign.pk)
    campaign.refresh_from_db()
    return campaign


def body(campaign, request_id="r-1", *emails):
    return {
        "requestId": request_id,
        "campaignId": campaign.pk,
        "recipients": [
            {"userId": email, "namespace": "email", "context": {"order": n}}
            for n, email in enumerate(emails or ["known@example.com"])
        ],
    }


@pytest.fixture
def known(db):
    return Profile.objects.create(email="known@example.com")


def test_two_concurrent_requests_with_one_request_id_make_one_run(api_for, manager, known, queued):
    campaign = api_campaign()
    client = api_for(manager)
    ready = threading.Barrier(2)
    answers: list = [None, None]

    def post(slot: int) -> None:
        try:
            ready.wait()
            answers[slot] = client.post("/executions/unitary", body(campaign))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].content == answers[1].content
    assert Run.objects.filter(campaign=campaign).count() == 1
    dispatch.dispatch_batch()
    assert Delivery.objects.count() == 1


def test_trigger_is_accepted_with_the_broker_down_and_sent_by_the_polling_dispatcher(
    api_for, manager, known, fake_transport
):
    campaign = api_campaign()

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    with pytest.MonkeyPatch.context() as down:
        # Neither the wake-up (Redis) nor a task enqueue (the broker) answers.
        down.setattr(runs, "enqueue", broker_down)
        down.setattr(dispatch, "redis_client", broker_down)
        down.setattr(dispatch, "resident_alive", lambda: False)
        response = api_for(manager).post("/executions/unitary", body(campaign))

    assert response.status_code == 202
    run = Run.objects.get(pk=response.json()["executionId"])
    assert run.status == "queued"
    # A dispatcher finds it without any push (it polls), once the broker is back
    # or in a dispatcher that was already running.
    assert dispatch.dispatch_batch() == 1
    assert fake_transport.sent == ["known@example.com"]


def test_campaign_stopped_after_this_process_read_it_refuses_the_trigger(
    api_for, manager, known, queued, fake_transport
):
    campaign = api_campaign()
    client = api_for(manager)
    assert client.post("/executions/unitary", body(campaign, "before")).status_code == 202
    # Stopped by another process: this one still remembers the campaign as live.
    campaign = Campaign.objects.get(pk=campaign.pk)
    assert transition(campaign, "stop")
    cancel_campaign_work(campaign)

    response = client.post("/executions/unitary", body(campaign, "after"))

    assert response.status_code == 409
    assert "stopped" in response.json()["detail"]
    assert not Run.objects.filter(request_id="after").exists()
    dispatch.dispatch_batch()
    assert fake_transport.sent == []


def test_revoked_key_is_refused_at_once_for_triggers_and_within_the_ttl_for_reads(
    api_for, manager, known, queued, monkeypatch, settings
):
    settings.API_KEY_CACHE_SECONDS = 10
    campaign = api_campaign()
    client = api_for(manager)
    first = client.post("/executions/unitary", body(campaign, "first"))
    assert first.status_code == 202
    # Revoked by another process: this one still remembers the key.
    ApiKey.objects.update(revoked_at=timezone.now())

    refused = client.post("/executions/unitary", body(campaign, "second"))

    assert refused.status_code == 401
    assert not Run.objects.filter(request_id="second").exists()
    # A read with a key this process still remembers: at most until the TTL ends.
    execution = f"/executions/{first.json()['executionId']}"
    keycache._entries.clear()
    clock = [1000.0]
    monkeypatch.setattr(keycache, "_clock", lambda: clock[0])
    ApiKey.objects.update(revoked_at=None)
    assert client.get(execution).status_code == 200  # remembered now
    ApiKey.objects.update(revoked_at=timezone.now())
    clock[0] += 10.5
    assert client.get(execution).status_code == 401


def test_deactivated_user_cannot_trigger_even_while_the_key_is_remembered(
    api_for, manager, known, queued
):
    campaign = api_campaign()
    client = api_for(manager)
    assert client.post("/executions/unitary", body(campaign, "a")).status_code == 202
    type(manager).objects.filter(pk=manager.pk).update(is_active=False)
    assert client.post("/executions/unitary", body(campaign, "b")).status_code == 401
    assert not Run.objects.filter(request_id="b").exists()


def test_restricting_a_campaign_is_honoured_before_the_snapshot_expires(
    api_for, manager, known, queued
):
    campaign = api_campaign()
    client = api_for(manager)
    assert client.post("/executions/unitary", body(campaign, "a")).status_code == 202
    Campaign.objects.filter(pk=campaign.pk).update(restricted=True)
    response = client.post("/executions/unitary", body(campaign, "b"))
    assert response.status_code in (404, 409)
    assert not Run.objects.filter(request_id="b").exists()
    assert client.post("/executions/unitary", body(campaign, "c")).status_code == 404


def test_a_dead_dispatchers_triggers_are_taken_over_after_the_lease(
    api_for, manager, known, queued, fake_transport, settings
):
    settings.ENGINE_DISPATCH_LEASE_SECONDS = 15
    campaign = api_campaign()
    api_for(manager).post("/executions/unitary", body(campaign))
    # A dispatcher claims the trigger, then dies before preparing it.
    assert dispatch.claim_triggers("dead-dispatcher", 10) != []
    assert dispatch.dispatch_batch() == 0  # nothing queued; the claim is not expired
    with time_machine.travel(timezone.now() + timedelta(seconds=16)):
        assert dispatch.dispatch_batch(expired=True) == 1
    assert fake_transport.sent == ["known@example.com"]
    assert Run.objects.get().status == "completed"


def test_deliveries_a_dead_dispatcher_held_are_sent_again_and_counted(
    api_for, manager, known, queued, fake_transport, settings
):
    settings.ENGINE_LEASE_SECONDS = 30
    campaign = api_campaign()
    api_for(manager).post("/executions/unitary", body(campaign))
    token = "dead-dispatcher"
    run_ids = dispatch.claim_triggers(token, 10)
    opened = dispatch.prepare_unitary(dispatch._load(run_ids, token), token)
    assert claim_batch({r.pk: r for r in opened}, token, 10).run_of  # then it died
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        assert reclaim_expired(kinds=["api_unitary"]) == 1
        dispatch.send_runs(opened, "the-next-one")
        dispatch.finish_runs([r.pk for r in opened])
    run = Run.objects.get()
    assert fake_transport.sent == ["known@example.com"]
    assert (run.status, run.sent, run.duplicates) == ("completed", 1, 1)


def test_a_batch_of_triggers_to_several_campaigns_is_sent_in_one_pass(
    api_for, manager, queued, fake_transport
):
    for n in range(30):
        Profile.objects.create(email=f"p{n}@example.com")
    first, second = api_campaign(), api_campaign()
    client = api_for(manager)
    for n in range(30):
        campaign = first if n % 2 else second
        response = client.post("/executions/unitary", body(campaign, f"r{n}", f"p{n}@example.com"))
        assert response.status_code == 202
    assert dispatch.dispatch_batch() == 30
    assert sorted(fake_transport.sent) == sorted(f"p{n}@example.com" for n in range(30))
    assert set(Run.objects.values_list("status", "targeted", "sent")) == {("completed", 1, 1)}
    assert dispatch.dispatch_batch() == 0


def test_stopped_campaign_cancels_its_prepared_triggers_instead_of_sending(
    api_for, manager, known, queued, fake_transport
):
    campaign = api_campaign()
    api_for(manager).post("/executions/unitary", body(campaign))
    token = "dispatcher"
    run_ids = dispatch.claim_triggers(token, 10)
    opened = dispatch.prepare_unitary(dispatch._load(run_ids, token), token)
    campaign = Campaign.objects.get(pk=campaign.pk)
    assert transition(campaign, "stop")
    cancel_campaign_work(campaign)
    dispatch.send_runs(opened, token)
    assert fake_transport.sent == []
    assert Delivery.objects.get().status == "cancelled"


def test_trigger_contexts_leave_the_run_once_the_deliveries_carry_them(
    api_for, manager, known, queued, fake_transport
):
    campaign = api_campaign()
    api_for(manager).post("/executions/unitary", body(campaign))
    assert Run.objects.get().recipients[0]["context"] == {"order": 0}
    dispatch.dispatch_batch()
    assert Run.objects.get().recipients is None
    assert Delivery.objects.get().context == {"order": 0}


def test_invalid_identity_is_rejected_with_its_reason(api_for, manager, queued):
    campaign = api_campaign()
    answer = (
        api_for(manager).post("/executions/unitary", body(campaign, "r", "not-an-address")).json()
    )
    assert answer["rejected"] == [{"userId": "not-an-address", "reason": "invalid_identity"}]


def _hit_many(name: str, n: int) -> None:
    import django

    django.setup()
    from accounts.ratelimit import _file_hit

    for _ in range(n):
        _file_hit(name, 1)


@pytest.mark.skipif(
    multiprocessing.get_start_method() != "fork", reason="needs fork to share settings"
)
def test_file_rate_counter_is_atomic_across_processes(settings):
    from accounts.ratelimit import _file_hit

    name = f"atomic-{timezone.now().timestamp()}"
    workers = [multiprocessing.Process(target=_hit_many, args=(name, 200)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert _file_hit(name, 1) == 801


def test_replay_without_a_key_is_401(known, api_for, manager, queued):
    campaign = api_campaign()
    api_for(manager).post("/executions/unitary", body(campaign))
    assert ApiClient(None).post("/executions/unitary", body(campaign)).status_code == 401


@pytest.mark.parametrize(
    ("refusal", "status"),
    [("TriggerNotAllowed", 409), ("CampaignGone", 404), ("KeyRevoked", 401)],
)
def test_each_reason_the_engine_refuses_a_trigger_for_has_its_answer(rf, refusal, status):
    # The engine names a reason; config/problems.py (registered by the app) answers it.
    from campaigns.engine import executions
    from config.problems import _on_registered

    response = _on_registered(rf.post("/"), getattr(executions, refusal)("why"))
    assert response.status_code == status
    assert json.loads(response.content)["detail"] == "why"


# ------------------------------------------- one recipient: one statement


def test_one_known_recipient_is_accepted_by_one_statement(api_for, manager, known, queued):
    """The INSERT itself checks that the recipient exists: no SELECT before it
    (Django's connection check and the profile look-up were a round trip each)."""
    from django.db import connection

    from campaigns.engine import executions

    campaign = api_campaign()
    client = api_for(manager)
    client.post("/executions/unitary", body(campaign, "warm"))  # key and campaign remembered
    statements = []
    real = executions._run_hot

    def counted(conn, sql, params, fetch):
        statements.append(sql.split()[0])
        return real(conn, sql, params, fetch)

    checks = []
    usable = connection.is_usable
    connection.is_usable = lambda: checks.append(1) or usable()
    try:
        executions._run_hot, saved = counted, real
        answer = client.post("/executions/unitary", body(campaign, "one"))
    finally:
        executions._run_hot = saved
        del connection.is_usable
    assert answer.status_code == 202, answer.content
    assert statements == ["INSERT"]
    assert checks == []  # no per-request health check round trip
    assert answer.json()["rejected"] == []


def test_one_unknown_recipient_is_still_rejected_by_name(api_for, manager, queued):
    campaign = api_campaign()
    answer = api_for(manager).post("/executions/unitary", body(campaign, "r", "who@example.com"))
    assert answer.status_code == 202
    assert answer.json()["rejected"] == [
        {"userId": "who@example.com", "reason": "unknown_recipient"}
    ]
    assert Run.objects.get().recipients == []


def test_the_dispatcher_finds_the_profile_a_trigger_named_by_identity(
    api_for, manager, known, queued, fake_transport
):
    campaign = api_campaign()
    api_for(manager).post("/executions/unitary", body(campaign))
    stored = Run.objects.get().recipients
    assert stored[0]["profileId"] is None and stored[0]["value"] == "known@example.com"
    dispatch.dispatch_batch()
    delivery = Delivery.objects.get()
    assert delivery.profile_id == known.pk and delivery.status == Delivery.Status.SENT


def test_a_profile_erased_after_the_trigger_gets_nothing_and_none_is_created(
    api_for, manager, known, queued, fake_transport
):
    campaign = api_campaign()
    api_for(manager).post("/executions/unitary", body(campaign))
    known.delete()
    dispatch.dispatch_batch()
    assert not Delivery.objects.exists()
    assert not Profile.objects.exists()
    assert Run.objects.get().status == Run.Status.COMPLETED


def test_a_campaign_that_creates_profiles_gets_its_new_profile_from_the_dispatcher(
    api_for, manager, queued, fake_transport
):
    campaign = api_campaign()
    campaign.live_version.__class__.objects.filter(pk=campaign.live_version_id).update(
        allow_profile_creation=True
    )
    answer = api_for(manager).post("/executions/unitary", body(campaign, "r", "New@Example.com"))
    assert answer.json()["rejected"] == []
    dispatch.dispatch_batch()
    assert Profile.objects.get().email == "new@example.com"
    assert Delivery.objects.get().status == Delivery.Status.SENT


def test_a_broken_connection_on_the_trigger_path_is_replaced_once(api_for, manager, known, queued):
    """Without the per-request health check, a connection the database closed
    while idle is noticed by the INSERT, replaced, and the INSERT run again."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("only a server can drop a connection")
    campaign = api_campaign()
    client = api_for(manager)
    assert client.post("/executions/unitary", body(campaign, "a")).status_code == 202
    other = connections.create_connection("default")
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])
    other.close()
    # What Django does when a request starts (the test client leaves it out).
    connection.close_if_unusable_or_obsolete()
    answer = client.post("/executions/unitary", body(campaign, "b"))
    assert answer.status_code == 202, answer.content
    assert Run.objects.filter(request_id="b").count() == 1


def test_a_trigger_whose_message_fails_to_render_fails_alone_in_its_batch(
    api_for, manager, queued, fake_transport
):
    for n in range(3):
        Profile.objects.create(email=f"p{n}@example.com")
    campaign = api_campaign()
    campaign.versions.update(
        content={"subject": "Share {{ 100 // context.order }}", "text": "Hi", "html": ""}
    )
    client = api_for(manager)
    for n in range(3):
        trigger = body(campaign, f"r{n}", f"p{n}@example.com")
        trigger["recipients"][0]["context"] = {"order": n}  # 0: a division by zero
        assert client.post("/executions/unitary", trigger).status_code == 202
    assert dispatch.dispatch_batch() == 3
    assert sorted(fake_transport.sent) == ["p1@example.com", "p2@example.com"]
    failed = Delivery.objects.get(profile__email="p0@example.com")
    assert failed.status == "failed" and failed.error.startswith("render failed")
    assert set(Run.objects.values_list("status", flat=True)) == {"completed"}


def test_messages_a_stop_keeps_from_being_sent_are_never_rendered(
    api_for, manager, known, queued, fake_transport, monkeypatch
):
    rendered = []
    real = dispatch._render

    def counting(run, delivery):
        rendered.append(delivery.pk)
        return real(run, delivery)

    monkeypatch.setattr(dispatch, "_render", counting)
    campaign = api_campaign()
    api_for(manager).post("/executions/unitary", body(campaign))
    token = "dispatcher"
    opened = dispatch.prepare_unitary(
        dispatch._load(dispatch.claim_triggers(token, 10), token), token
    )
    campaign = Campaign.objects.get(pk=campaign.pk)
    assert transition(campaign, "stop")
    cancel_campaign_work(campaign)
    dispatch.send_runs(opened, token)
    assert rendered == [] and fake_transport.sent == []
    # The same path renders what it sends.
    other = api_campaign()
    api_for(manager).post("/executions/unitary", body(other, "r-2"))
    dispatch.dispatch_batch()
    assert len(rendered) == 1 and fake_transport.sent == ["known@example.com"]
