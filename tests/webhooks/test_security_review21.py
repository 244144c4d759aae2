"""Security review 21 (issue 10): what the outbound webhooks are told.

#1 (Medium): the tracking URLs are public, and every open or click of one
message was written as one webhook message per subscribed endpoint, delivered
one at a time by the one deliverer before everyone's later events. A few
anonymous requests a second to one message's pixel or link delayed every
endpoint's events without bound. Now at most ``WEBHOOK_ENGAGEMENT_PER_HOUR``
opens and clicks of a message are told an hour; every one is still recorded.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from campaigns.models import Delivery
from channels import tracking
from channels.models import DeliveryEvent
from tests.webhooks.test_delivery import send_campaign, subscribe
from webhooks.models import Message

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0"


@pytest.fixture(autouse=True)
def _engine_inline(queued):
    """The engine's follow-up tasks are collected, not queued: the tests call them."""


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_1_one_messages_opens_and_clicks_are_told_a_bounded_number_of_times_an_hour(
    receiver, fake_transport, settings
):
    settings.WEBHOOK_ENGAGEMENT_PER_HOUR = 5
    endpoints = [subscribe(receiver, "delivery.opened", "delivery.clicked") for _ in range(2)]
    with time_machine.travel(START, tick=True) as clock:
        run = send_campaign(1)
        sent = Delivery.objects.get(run=run, status="sent")
        anonymous = Client()
        pixel = _path(tracking.open_url(sent.pk))
        links = [_path(tracking.click_url(sent.pk, f"https://shop.example/{n}")) for n in range(3)]
        for _ in range(12):
            assert anonymous.get(pixel, HTTP_USER_AGENT=BROWSER).status_code == 200
        for n in range(12):
            answer = anonymous.get(links[n % 3], HTTP_USER_AGENT=BROWSER)
            assert answer.status_code == 302

        # Every request is recorded (reports are unchanged) …
        events = DeliveryEvent.objects.filter(delivery=sent)
        assert events.filter(kind="open").count() == 12
        assert events.filter(kind="click").count() == 12
        # … but each endpoint is told of five opens and five clicks, not 12 of each.
        for endpoint in endpoints:
            told = Message.objects.filter(endpoint=endpoint)
            assert told.filter(event_type="delivery.opened").count() == 5
            assert told.filter(event_type="delivery.clicked").count() == 5

        # An hour later the person's opens are told again.
        clock.shift(timedelta(hours=1, seconds=1))
        assert anonymous.get(pixel, HTTP_USER_AGENT=BROWSER).status_code == 200
        for endpoint in endpoints:
            told = Message.objects.filter(endpoint=endpoint, event_type="delivery.opened")
            assert told.count() == 6


def test_1_another_message_is_counted_on_its_own(receiver, fake_transport, settings):
    settings.WEBHOOK_ENGAGEMENT_PER_HOUR = 2
    subscribe(receiver, "delivery.opened")
    run = send_campaign(2)
    first, second = Delivery.objects.filter(run=run, status="sent").order_by("pk")
    anonymous = Client()
    for _ in range(4):
        anonymous.get(_path(tracking.open_url(first.pk)), HTTP_USER_AGENT=BROWSER)
    anonymous.get(_path(tracking.open_url(second.pk)), HTTP_USER_AGENT=BROWSER)
    told = Message.objects.filter(event_type="delivery.opened")
    assert told.filter(ref_id=first.pk).count() == 2
    assert told.filter(ref_id=second.pk).count() == 1


def test_1_switching_a_channel_on_and_off_on_the_public_page_is_told_a_bounded_number_of_times(
    receiver, fake_transport, settings
):
    """The preference page is public too (its token is the credential), and each
    switch off after a switch on was a ``profile.unsubscribed`` per endpoint."""
    from audiences.models import ConsentChange

    settings.WEBHOOK_ENGAGEMENT_PER_HOUR = 3
    subscribe(receiver, "profile.unsubscribed")
    run = send_campaign(1)
    sent = Delivery.objects.get(run=run, status="sent")
    page = _path(tracking.unsubscribe_url(sent.pk))
    anonymous = Client()
    for _ in range(8):
        assert anonymous.post(page, {"action": "all"}).status_code == 200
        assert anonymous.post(page, {"action": "save", "channel": "email"}).status_code == 200
    # Every change is recorded …
    changes = ConsentChange.objects.filter(profile=sent.profile_id, channel="email")
    assert changes.filter(granted=False).count() == 8
    # … three are told.
    assert Message.objects.filter(event_type="profile.unsubscribed").count() == 3


# --- #2 (Low): reserved IPv6 forms of internal addresses ----------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://[::127.0.0.1]/hook",  # IPv4-compatible (deprecated): ::/8 is reserved
        "http://[::a9fe:a9fe]/hook",  # the same for 169.254.169.254
        "http://[64:ff9b:1::a00:1]/hook",  # RFC 8215 local-use NAT64: 10.0.0.1 behind a translator
        "http://[fec0::1]/hook",  # site-local
    ],
)
def test_2_reserved_ipv6_forms_of_internal_addresses_are_refused(
    api_for, administrator, settings, url
):
    settings.VOLLEY_ALLOW_PRIVATE_PROVIDER_URLS = False
    answer = api_for(administrator).post("/webhooks", {"url": url, "events": ["delivery.sent"]})
    assert answer.status_code == 400, answer.content
    assert "url" in answer.json()["errors"]


def test_2_public_addresses_and_the_well_known_nat64_prefix_are_still_accepted():
    from channels.netguard import forbidden

    for address in ("8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808"):
        assert not forbidden(address)
    assert forbidden("64:ff9b::a00:1")  # 10.0.0.1 behind the well-known prefix, as before


# --- #3 (Low): the number of endpoints ------------------------------------------


def test_3_endpoints_are_bounded_through_the_api_and_the_admin(
    api_for, administrator, client, settings, monkeypatch
):
    from webhooks import services

    settings.VOLLEY_ALLOW_PRIVATE_PROVIDER_URLS = True
    monkeypatch.setattr(services, "MAX_ENDPOINTS", 3, raising=False)
    api = api_for(administrator)
    created = [
        api.post("/webhooks", {"url": f"https://hooks.example/{n}", "events": ["delivery.sent"]})
        for n in range(3)
    ]
    assert [a.status_code for a in created] == [201, 201, 201]
    refused = api.post("/webhooks", {"url": "https://hooks.example/4", "events": ["delivery.sent"]})
    assert refused.status_code == 400
    assert "3 webhook endpoints" in refused.content.decode()
    client.force_login(administrator)
    page = client.post(
        "/admin/webhooks/endpoint/add/",
        {"url": "https://hooks.example/5", "events": ["delivery.sent"], "active": "on"},
    )
    assert page.status_code == 200 and "3 webhook endpoints" in page.content.decode()
    from webhooks.models import Endpoint

    assert Endpoint.objects.count() == 3
    # Changing one at the bound is allowed; deleting one makes room.
    first = created[0].json()["id"]
    assert api.patch(f"/webhooks/{first}", {"active": False}).status_code == 200
    assert api.delete(f"/webhooks/{first}").status_code == 204
    again = api.post("/webhooks", {"url": "https://hooks.example/6", "events": ["delivery.sent"]})
    assert again.status_code == 201
