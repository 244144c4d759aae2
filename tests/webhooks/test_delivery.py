"""Outbound webhooks delivered (SPEC §13): signed, at least once with stable
event ids, nothing from a rolled-back change, back-off, switched off after a
day of failures with the administrators told, resend from the log.

The task functions are called directly under a controlled clock (time-machine);
the receiver is a real HTTP server on 127.0.0.1 that checks every signature.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction

from accounts.models import Notification
from audiences.services import profile_withdraw_consent
from campaigns import tasks
from campaigns.engine.schedule import activate_campaign
from campaigns.models import Delivery, Run
from campaigns.transitions import transition
from channels import services as channel_services
from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience
from webhooks import delivery, outbox
from webhooks import tasks as webhook_tasks
from webhooks.models import Attempt, Endpoint, Message
from webhooks.services import endpoint_create

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _engine_inline(queued):
    """The engine's follow-up tasks are collected, not queued: the tests call them."""


def subscribe(receiver, *events: str) -> Endpoint:
    endpoint, secret = endpoint_create(url=receiver.url, events=list(events))
    receiver.secret = secret
    return endpoint


def send_campaign(n: int, *, prefix: str = "w", **profile_fields) -> Run:
    profiles = make_profiles(n, prefix=prefix, **profile_fields)
    campaign = make_campaign(upload_audience(profiles))
    activate_campaign(campaign.pk)
    run = Run.objects.get(campaign=campaign)
    tasks.start_run(run.pk)
    return run


def deliver_all() -> None:
    delivery.deliver_due(budget_seconds=60)


def test_every_sent_delivery_reaches_the_receiver_signed(
    receiver, fake_transport, queued, settings
):
    settings.ENGINE_BATCH_SIZE = 7
    subscribe(receiver, "delivery.sent")
    run = send_campaign(20)
    assert Message.objects.count() == 20  # written by the send path, in its batches
    deliver_all()
    assert len(receiver.calls) == 20
    assert all(call["valid"] for call in receiver.calls)
    events = receiver.accepted()
    sent = set(Delivery.objects.filter(run=run, status="sent").values_list("pk", flat=True))
    assert {e["data"]["deliveryId"] for e in events} == sent
    assert len({e["id"] for e in events}) == 20
    event = events[0]
    assert set(event) == {"id", "type", "createdAt", "data"}
    assert event["type"] == "delivery.sent" and event["id"].startswith("evt_")
    assert all(c["event_header"] == c["event"]["id"] for c in receiver.calls)
    data = event["data"]
    assert data["campaignId"] == run.campaign_id and data["runId"] == run.pk
    assert data["channel"] == "email" and data["status"] == "sent"
    assert data["profile"]["email"] == data["address"]
    # never what a receiver should not get
    assert "pushToken" not in data["profile"] and "attributes" not in data["profile"]
    assert Message.objects.filter(status="delivered").count() == 20
    assert Attempt.objects.filter(ok=True, status_code=200).count() == 20


def test_a_receiver_that_refuses_the_signature_gets_nothing_delivered(receiver, fake_transport):
    subscribe(receiver, "delivery.sent")
    receiver.secret = "whsec_somebody-elses"
    send_campaign(2)
    deliver_all()
    assert [c["valid"] for c in receiver.calls] == [False, False]
    assert Message.objects.filter(status="pending", attempts=1).count() == 2


def test_receiver_down_for_a_while_then_up_gets_every_event_with_the_same_ids(
    receiver, fake_transport, queued
):
    with time_machine.travel(START, tick=False) as clock:
        subscribe(receiver, "delivery.sent", "campaign.status_changed")
        send_campaign(12)
        written = set(Message.objects.values_list("pk", flat=True))
        receiver.answer = 503
        deliver_all()
        down_ids = {c["event"]["id"] for c in receiver.calls}
        assert len(down_ids) == len(written) and receiver.accepted() == []
        first = Message.objects.first()
        assert first.next_attempt_at == START + timedelta(seconds=10)
        for _ in range(3):  # still down: each retry later than the last
            clock.shift(timedelta(minutes=10))
            deliver_all()
        assert Message.objects.filter(status="pending", attempts=4).count() == len(written)
        assert receiver.accepted() == []
        receiver.answer = 200
        clock.shift(timedelta(hours=1))
        deliver_all()
    accepted = receiver.accepted()
    assert {e["id"] for e in accepted} == down_ids  # every event, the same ids
    assert len(accepted) == len(written)
    assert all(c["valid"] for c in receiver.calls)
    assert Message.objects.filter(status="delivered").count() == len(written)
    assert Attempt.objects.filter(status_code=503).count() == 4 * len(written)


def test_a_closed_port_is_retried_like_an_error_answer(receiver, fake_transport):
    endpoint = subscribe(receiver, "delivery.sent")
    url = receiver.url
    receiver.close()
    Endpoint.objects.filter(pk=endpoint.pk).update(url=url)
    send_campaign(1)
    with time_machine.travel(START, tick=False):
        Message.objects.update(next_attempt_at=START)
        deliver_all()
    message = Message.objects.get()
    assert (message.status, message.attempts, message.last_status_code) == ("pending", 1, None)
    assert "Connection" in message.last_error or "refused" in message.last_error.lower()


def test_a_rolled_back_change_emits_nothing(receiver, fake_transport):
    subscribe(receiver, "campaign.status_changed", "profile.unsubscribed")
    campaign = make_campaign(upload_audience(make_profiles(1)), status="completed")
    profile = make_profiles(1, prefix="u")[0]
    with pytest.raises(RuntimeError), transaction.atomic():
        assert transition(campaign, "archive")
        assert profile_withdraw_consent(profile=profile, channel="email", source="test")
        assert Message.objects.count() == 2  # written with the change…
        raise RuntimeError("the request failed after the change")
    assert Message.objects.count() == 0  # …and gone with it
    deliver_all()
    assert receiver.calls == []
    campaign.refresh_from_db()
    assert transition(campaign, "archive")
    deliver_all()
    (event,) = receiver.accepted()
    assert event["type"] == "campaign.status_changed"
    assert event["data"] == {
        "campaignId": campaign.pk,
        "name": campaign.name,
        "from": "completed",
        "to": "archived",
        "action": "archive",
        "by": None,
    }


def test_without_a_subscriber_the_send_path_writes_nothing(receiver, fake_transport):
    endpoint = subscribe(receiver, "delivery.opened")  # not delivery.sent
    send_campaign(5)
    assert Message.objects.count() == 0
    Endpoint.objects.filter(pk=endpoint.pk).update(events=["delivery.sent"], active=False)
    outbox.forget_subscribers()
    send_campaign(3, prefix="x")
    assert Message.objects.count() == 0  # switched off


def test_tracking_feedback_and_consent_events(receiver, fake_transport):
    subscribe(
        receiver,
        "delivery.opened",
        "delivery.clicked",
        "delivery.bounced",
        "profile.unsubscribed",
        "delivery.failed",
    )
    fake_transport.outcomes["w1@example.com"] = (True, "550 no such user")
    run = send_campaign(2)
    sent = Delivery.objects.get(run=run, status="sent")
    failed = Delivery.objects.get(run=run, status="failed")
    sent = Delivery.objects.select_related("run__campaign", "profile").get(pk=sent.pk)
    channel_services.delivery_record_open(delivery=sent)
    channel_services.delivery_record_click(delivery=sent, url="https://example.com/offer")
    channel_services.feedback_record(
        event="bounce", delivery=sent, channel="email", address=sent.address, bounce_type="hard"
    )
    channel_services.delivery_unsubscribe(delivery=sent)
    deliver_all()
    by_type = {e["type"]: e for e in receiver.accepted()}
    assert set(by_type) == {
        "delivery.failed",
        "delivery.opened",
        "delivery.clicked",
        "delivery.bounced",
        "profile.unsubscribed",
    }
    assert by_type["delivery.failed"]["data"]["deliveryId"] == failed.pk
    assert by_type["delivery.failed"]["data"]["reason"] == "rejected"
    assert by_type["delivery.clicked"]["data"]["url"] == "https://example.com/offer"
    assert by_type["delivery.bounced"]["data"]["bounceType"] == "hard"
    unsubscribed = by_type["profile.unsubscribed"]["data"]
    assert unsubscribed["channel"] == "email"
    assert unsubscribed["profile"]["email"] == sent.address
    assert all(c["valid"] for c in receiver.calls)


def test_after_a_day_of_failures_the_endpoint_is_switched_off_and_administrators_told(
    receiver, fake_transport, administrator, manager, mailoutbox, settings
):
    settings.WEBHOOK_RETRY_HOURS = 24
    receiver.answer = 500
    with time_machine.travel(START, tick=False) as clock:
        endpoint = subscribe(receiver, "delivery.sent")
        send_campaign(1)
        for _ in range(40):
            webhook_tasks.tick()
            clock.shift(timedelta(hours=1))
            if Message.objects.filter(status="failed").exists():
                break
    message = Message.objects.get()
    assert message.status == "failed"
    assert message.first_attempt_at == START
    assert message.attempt_log.first().at == START + timedelta(hours=24)
    endpoint.refresh_from_db()
    assert endpoint.active is False and endpoint.disabled_at is not None
    assert "500" in endpoint.disabled_reason
    notices = Notification.objects.filter(kind="webhook_disabled")
    assert [n.user for n in notices] == [administrator]
    assert receiver.url in notices[0].text
    assert [m.to for m in mailoutbox] == [[administrator.email]]
    assert receiver.url in mailoutbox[0].body
    # switched off: the send path writes nothing more for it
    send_campaign(1, prefix="later")
    assert Message.objects.count() == 1


def test_switching_the_endpoint_on_again_sends_what_waited(receiver, fake_transport):
    endpoint = subscribe(receiver, "delivery.sent")
    send_campaign(2)
    Endpoint.objects.filter(pk=endpoint.pk).update(active=False)
    deliver_all()
    assert receiver.calls == []
    from webhooks.services import endpoint_update

    endpoint.refresh_from_db()
    endpoint_update(endpoint=endpoint, active=True)
    deliver_all()
    assert len(receiver.accepted()) == 2


def test_resend_from_the_log_sends_the_same_event_again(
    receiver, fake_transport, api_for, administrator
):
    endpoint = subscribe(receiver, "delivery.sent")
    send_campaign(1)
    deliver_all()
    message = Message.objects.get()
    assert message.status == "delivered"
    api = api_for(administrator)
    log = api.get(f"/webhooks/{endpoint.pk}/deliveries").json()
    assert log["count"] == 1 and log["items"][0]["eventId"] == message.event_id
    detail = api.get(f"/webhooks/{endpoint.pk}/deliveries/{message.pk}").json()
    assert detail["attemptLog"][0]["statusCode"] == 200
    assert detail["data"]["deliveryId"] == message.ref_id
    response = api.post(f"/webhooks/{endpoint.pk}/deliveries/{message.pk}/resend")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    deliver_all()
    first, again = receiver.accepted()
    assert first == again  # same id, same data
    assert api.post(f"/webhooks/{endpoint.pk}/deliveries/99999/resend").status_code == 404
    Endpoint.objects.filter(pk=endpoint.pk).update(active=False)
    response = api.post(f"/webhooks/{endpoint.pk}/deliveries/{message.pk}/resend")
    assert response.status_code == 409


def test_resend_from_the_admin(receiver, fake_transport, client, administrator):
    subscribe(receiver, "delivery.sent")
    send_campaign(1)
    deliver_all()
    message = Message.objects.get()
    client.force_login(administrator)
    page = client.get(f"/admin/webhooks/message/?endpoint__id__exact={message.endpoint_id}")
    assert page.status_code == 200 and message.event_id in page.content.decode()
    response = client.post(
        "/admin/webhooks/message/",
        {"action": "resend", "_selected_action": [message.pk]},
    )
    assert response.status_code == 302
    deliver_all()
    assert [e["id"] for e in receiver.accepted()] == [message.event_id] * 2


def test_a_name_resolving_to_an_internal_address_is_refused_when_connecting(
    receiver, fake_transport, settings
):
    subscribe(receiver, "delivery.sent")  # saved while private addresses were allowed
    send_campaign(1)
    settings.VOLLEY_ALLOW_PRIVATE_PROVIDER_URLS = False
    deliver_all()
    assert receiver.calls == []
    message = Message.objects.get()
    assert message.status == "pending" and message.last_error.startswith("Refused")


def test_a_lost_worker_s_claim_is_delivered_after_its_lease(receiver, fake_transport):
    subscribe(receiver, "delivery.sent")
    send_campaign(3)
    with time_machine.travel(START, tick=False) as clock:
        Message.objects.update(next_attempt_at=START)
        claimed = delivery.claim("dead-worker", 10)  # then the worker died
        assert len(claimed) == 3
        deliver_all()
        assert receiver.calls == []  # leased to the dead worker
        clock.shift(timedelta(seconds=delivery.LEASE_SECONDS + 1))
        deliver_all()
    assert len(receiver.accepted()) == 3


def test_retention_deletes_old_messages_and_their_attempts(receiver, fake_transport, settings):
    from campaigns.retention import apply_retention

    settings.WEBHOOK_RETENTION_DAYS = 30
    subscribe(receiver, "delivery.sent")
    with time_machine.travel(START, tick=False) as clock:
        send_campaign(2)
        deliver_all()
        clock.shift(timedelta(days=29))
        assert apply_retention()["webhooks"] == 0
        clock.shift(timedelta(days=2))
        assert apply_retention()["webhooks"] == 2
    assert not Message.objects.exists() and not Attempt.objects.exists()


def test_backoff_grows_and_is_capped():
    waits = [delivery.backoff(n) for n in range(1, 15)]
    assert waits[:3] == [10, 30, 120]
    assert waits == sorted(waits) and max(waits) == 4 * 3600


def test_an_api_execution_tells_its_completion(receiver, fake_transport, api_for, manager):
    from audiences.models import Profile
    from campaigns.engine import dispatch
    from tests.campaigns.test_triggers import api_campaign, body

    Profile.objects.create(email="known@example.com")
    subscribe(receiver, "execution.completed", "delivery.sent")
    campaign = api_campaign()
    response = api_for(manager).post("/executions/unitary", body(campaign, "order-7"))
    assert response.status_code == 202
    assert dispatch.dispatch_batch() == 1
    deliver_all()
    by_type = {e["type"]: e["data"] for e in receiver.accepted()}
    execution = by_type["execution.completed"]
    assert execution["executionId"] == response.json()["executionId"]
    assert (execution["status"], execution["sent"], execution["requestId"]) == (
        "succeeded",
        1,
        "order-7",
    )
    assert by_type["delivery.sent"]["executionId"] == execution["executionId"]


def test_erasing_a_person_removes_them_from_waiting_events(receiver, fake_transport):
    from audiences.privacy import profile_erase

    subscribe(receiver, "profile.unsubscribed", "delivery.sent")
    run = send_campaign(1)
    profile = Delivery.objects.get(run=run).profile
    profile_withdraw_consent(profile=profile, channel="email", source="test")
    delivery.claim("frozen", 10)  # the delivery event's data is built and kept
    assert Message.objects.filter(data__profile__id=profile.pk).count() == 2
    profile_erase(profile=profile, namespace="email")
    for message in Message.objects.all():
        assert message.data["profile"] is None
        assert profile.email not in str(message.data)
