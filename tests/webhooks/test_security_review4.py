"""Fourth outside review of issue 10 (docs/security-review-4.md), outbound
webhooks: each test reproduced its finding on the code before the fix."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from django.utils import timezone

from webhooks import delivery
from webhooks.models import Message
from webhooks.services import endpoint_create

pytestmark = pytest.mark.django_db

DRIP_SECONDS = 20


class Tarpit:
    """An endpoint that answers a byte every 0.2 s for ``DRIP_SECONDS``: after
    ``head`` (the start of an HTTP answer, or of a TLS record), it never
    finishes. Records whether the client hung up before the drip ended."""

    def __init__(self, head: bytes) -> None:
        self.head = head
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.client_gave_up = threading.Event()
        self.finished_dripping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.listener.getsockname()[1]

    def _serve(self) -> None:
        conn, _address = self.listener.accept()
        with conn:
            conn.recv(65536)  # the request, or the TLS client hello
            end = time.monotonic() + DRIP_SECONDS
            try:
                conn.sendall(self.head)
                while time.monotonic() < end:
                    conn.sendall(b"a")
                    time.sleep(0.2)
                    conn.settimeout(0)
                    try:
                        if conn.recv(1) == b"":  # the client closed its side
                            raise ConnectionResetError
                    except BlockingIOError:
                        pass
                    conn.settimeout(None)
            except OSError:
                self.client_gave_up.set()
                return
            self.finished_dripping.set()

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize(
    "scheme, head",
    [
        ("http", b"HTTP/1.1 200 OK\r\nX-Slow: "),  # headers that never end
        ("http", b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"),  # a body that never ends
        # A TLS handshake record that never ends: CPython already bounds the
        # handshake as a whole; kept so that stays true of this path.
        ("https", b"\x16\x03\x03\x40\x00"),
    ],
)
def test_a_tarpit_endpoint_cannot_hold_a_worker_past_the_timeout(settings, scheme, head):
    """Medium: ``WEBHOOK_TIMEOUT_SECONDS`` bounded each read, not the answer. An
    endpoint dripping a byte every few seconds held the delivering worker for as
    long as it liked (until django-q killed the task after 10 minutes); the
    minute tick then sent the next worker into it, and with every worker there
    the cluster sent no campaign at all."""
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    tarpit = Tarpit(head)
    try:
        endpoint, secret = endpoint_create(
            url=f"{scheme}://127.0.0.1:{tarpit.port}/hook", events=["delivery.sent"]
        )
        moment = timezone.now()
        message = Message.objects.create(
            endpoint=endpoint,
            event_type="delivery.sent",
            event_id="evt_tarpit",
            data={"deliveryId": 1},
            created_at=moment,
            next_attempt_at=moment,
        )
        code, error, _snippet = delivery.post(endpoint.url, secret, message)
        assert code is None
        assert "TimeoutError" in error
        assert tarpit.client_gave_up.wait(10)  # Volley hung up, long before the drip ended
        assert not tarpit.finished_dripping.is_set()
    finally:
        tarpit.close()


@pytest.mark.django_db(transaction=True)
def test_events_of_a_restricted_campaign_reach_no_endpoint(
    receiver, fake_transport, queued, api_for, administrator
):
    """Medium: endpoints and their delivery log are the administrators', and
    restricted means restricted from administrators too (SPEC §2). An
    administrator who may not see a restricted campaign subscribed a URL of
    their own and got its name (``campaign.status_changed``), every recipient's
    address and person (``delivery.*``), the unsubscribes of people known only
    through its restricted audience, and read the same in
    ``GET /webhooks/{id}/deliveries/{messageId}``."""
    from audiences.models import Audience
    from campaigns import tasks
    from campaigns.engine.schedule import activate_campaign
    from campaigns.models import Campaign, Delivery, Run
    from channels import services as channel_services
    from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience

    api = api_for(administrator)
    created = api.post(
        "/webhooks",
        {
            "url": receiver.url,
            "events": [
                "campaign.status_changed",
                "delivery.sent",
                "delivery.opened",
                "delivery.clicked",
                "profile.unsubscribed",
            ],
        },
    ).json()
    receiver.secret = created["secret"]

    def send(prefix: str, *, restricted: bool) -> Run:
        audience = upload_audience(make_profiles(2, prefix=prefix), name=prefix)
        campaign = make_campaign(audience)
        Campaign.objects.filter(pk=campaign.pk).update(
            restricted=restricted, name=f"Campaign {prefix}"
        )
        Audience.objects.filter(pk=audience.pk).update(restricted=restricted)
        activate_campaign(campaign.pk)
        run = Run.objects.get(campaign=campaign)
        tasks.start_run(run.pk)
        sent = Delivery.objects.select_related("run__campaign", "profile").filter(run=run)
        for one in sent:
            channel_services.delivery_record_open(delivery=one)
            channel_services.delivery_record_click(delivery=one, url="https://example.com/x")
            channel_services.delivery_unsubscribe(delivery=one)
        return run

    secret_run = send("hidden", restricted=True)
    open_run = send("open", restricted=False)
    delivery.deliver_due(budget_seconds=60)

    told = receiver.accepted()
    about = {e["data"].get("campaignId") for e in told if "campaignId" in e["data"]}
    assert open_run.campaign_id in about  # the open campaign's events went out
    assert secret_run.campaign_id not in about
    text = str(told)
    assert "Campaign hidden" not in text and "hidden0@example.com" not in text
    assert "Campaign open" in text and "open0@example.com" in text

    log = api.get(f"/webhooks/{created['id']}/deliveries?limit=500").json()["items"]
    for item in log:
        detail = api.get(f"/webhooks/{created['id']}/deliveries/{item['id']}").json()
        assert "hidden" not in str(detail["data"])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("frozen", [False, True])
def test_an_erased_person_leaves_no_address_in_webhook_events(
    receiver, fake_transport, queued, frozen
):
    """Low: erasure cleared the person from the events' ``profile`` and
    ``address`` but kept a clicked ``url`` and a ``bounceReason`` — where a
    personalized link (``?email={{ profile.email }}``) and a mail server's
    answer (``550 <ann@…>: no such user``) carry the address — in the delivery
    log, and sent them to the receiver (the same fields of the delivery events
    themselves are cleared by erasure)."""
    from audiences.privacy import profile_erase
    from campaigns import tasks
    from campaigns.engine.schedule import activate_campaign
    from campaigns.models import Delivery, Run
    from channels import services as channel_services
    from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience

    endpoint, receiver.secret = endpoint_create(
        url=receiver.url, events=["delivery.clicked", "delivery.bounced"]
    )
    people = make_profiles(1, prefix="erased")
    campaign = make_campaign(upload_audience(people))
    activate_campaign(campaign.pk)
    tasks.start_run(Run.objects.get(campaign=campaign).pk)
    sent = Delivery.objects.select_related("run__campaign", "profile").get(run__campaign=campaign)
    address = sent.address
    channel_services.delivery_record_click(
        delivery=sent, url=f"https://shop.example/?email={address}"
    )
    channel_services.feedback_record(
        event="bounce",
        delivery=sent,
        channel="email",
        address=address,
        bounce_type="soft",
        reason=f"550 5.1.1 <{address}>: mailbox full",
    )
    if frozen:
        delivery.claim("frozen", 10)  # built and kept, then the lease runs out
        Message.objects.update(claimed_by="", lease_expires_at=None)
    profile_erase(profile=people[0], namespace="email")

    assert address not in str(list(Message.objects.values("data", "extra")))
    delivery.deliver_due(budget_seconds=60)
    told = receiver.accepted()
    assert {e["type"] for e in told} == {"delivery.clicked", "delivery.bounced"}
    assert address not in str(told)


class OneAnswer:
    """An endpoint that answers every request with the same raw bytes."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.requests = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _address = self.listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                self.requests += 1
                conn.sendall(self.answer)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize(
    "answer, delivered",
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\na\x00b", True),
        (b"HTTP/1.1 500 Oops\r\nContent-Length: 3\r\n\r\na\x00b", False),
        (b"HTTP/1.1 2\x00 OK\r\n\r\n", False),
        (b"\x00garbage\r\n\r\n", False),
    ],
)
def test_an_answer_with_a_nul_byte_is_recorded_like_any_other(answer, delivered):
    """Medium (PostgreSQL): an endpoint whose answer held a NUL byte (in its
    body, or its status line, which the error repeats) made recording the
    attempt fail — text columns refuse NUL. Nothing was recorded: the message
    went back to the queue when its lease ran out, first in line, and was sent
    again every two minutes for ever (a 2xx answer too: endless duplicates),
    never reaching the 24-hour window that switches an endpoint off, and ahead
    of every other endpoint's events."""
    endpoint_answer = OneAnswer(answer)
    try:
        endpoint, _secret = endpoint_create(url=endpoint_answer.url, events=["delivery.sent"])
        moment = timezone.now()
        message = Message.objects.create(
            endpoint=endpoint,
            event_type="delivery.sent",
            event_id="evt_nul",
            data={"deliveryId": 1},
            created_at=moment,
            next_attempt_at=moment,
        )
        delivery.deliver_due(budget_seconds=10)
        message.refresh_from_db()
        assert message.attempts == 1 and message.first_attempt_at is not None
        assert message.claimed_by == ""
        assert message.status == ("delivered" if delivered else "pending")
        if not delivered:
            assert message.next_attempt_at > moment  # backed off, not first in line
        attempt = message.attempt_log.get()
        assert "\x00" not in attempt.response + attempt.error + message.last_error
    finally:
        endpoint_answer.close()
