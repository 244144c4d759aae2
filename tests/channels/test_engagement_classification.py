"""Honest engagement (SPEC §13, issue 17): every open and click is classified
human / machine_privacy / machine_scanner with the rule that decided it, and a
delivery's first-event times count people only."""

from __future__ import annotations

import html
import ipaddress
import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from channels import tracking
from channels.models import DeliveryEvent
from channels.rendering import compile_content

SHOP = "https://shop.example.com/sale"
BLOG = "https://blog.example.com/news"
HELP = "https://help.example.com/"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
APPLE_MAIL = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
)
SENT = timezone.now().replace(microsecond=0) - timedelta(days=1)


def path(url: str) -> str:
    return url.removeprefix("http://testserver")


@pytest.fixture
def sent(make_delivery):
    """A delivery sent at SENT (the clock is moved relative to it)."""

    def make(channel: str = "email"):
        delivery = make_delivery(channel)
        type(delivery).objects.filter(pk=delivery.pk).update(sent_at=SENT)
        delivery.refresh_from_db()
        return delivery

    return make


def at(seconds: float):
    return time_machine.travel(SENT + timedelta(seconds=seconds), tick=False)


def click(delivery, url: str = SHOP, *, agent: str = FIREFOX, method: str = "get", **extra):
    client = Client(HTTP_USER_AGENT=agent, **extra)
    return getattr(client, method)(path(tracking.click_url(delivery.pk, url)))


def open_pixel(delivery, *, agent: str, ip: str = "198.51.100.7"):
    return Client(HTTP_USER_AGENT=agent, REMOTE_ADDR=ip).get(path(tracking.open_url(delivery.pk)))


def events(delivery, kind: str = "click") -> list[tuple[str, str, str]]:
    rows = DeliveryEvent.objects.filter(delivery=delivery, kind=kind).order_by("created_at", "id")
    return list(rows.values_list("detail", "classification", "rule"))


def test_a_click_two_seconds_after_the_send_is_a_scanners(sent):
    delivery = sent()
    with at(2):
        response = click(delivery)
    assert response.status_code == 302 and response["Location"] == SHOP  # still redirected
    assert events(delivery) == [(SHOP, "machine_scanner", "click_within_seconds_of_delivery")]
    delivery.refresh_from_db()
    assert delivery.clicked_at is None and delivery.opened_at is None
    assert delivery.machine_clicked_at == SENT + timedelta(seconds=2)


def test_a_click_a_minute_after_the_send_is_a_persons(sent):
    delivery = sent()
    with at(60):
        click(delivery)
    assert events(delivery) == [(SHOP, "human", "")]
    delivery.refresh_from_db()
    assert delivery.clicked_at == delivery.opened_at == SENT + timedelta(seconds=60)
    assert delivery.machine_clicked_at is None


def test_the_seconds_after_the_send_are_configurable(sent, settings):
    settings.TRACKING_SCANNER_CLICK_SECONDS = 120
    delivery = sent()
    with at(60):
        click(delivery)
    assert events(delivery) == [(SHOP, "machine_scanner", "click_within_seconds_of_delivery")]


def test_a_push_tapped_seconds_after_the_send_is_a_persons(sent):
    delivery = sent("push")
    with at(2):
        click(delivery, "https://app.example.com/x")
    assert events(delivery)[0][1:] == ("human", "")


def test_a_head_request_records_nothing_and_still_redirects(sent):
    delivery = sent()
    with at(60):
        response = click(delivery, method="head")
        pixel = Client().head(path(tracking.open_url(delivery.pk)))
    assert response.status_code == 302 and response["Location"] == SHOP
    assert pixel.status_code == 200
    assert not DeliveryEvent.objects.filter(delivery=delivery).exists()
    delivery.refresh_from_db()
    assert delivery.clicked_at is delivery.machine_clicked_at is delivery.opened_at is None


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (compatible; Barracuda Sentinel)",
        "Proofpoint URL Defense",
        "Mimecast-URL-Protect/1.0",
        "python-requests/2.32.3",
        "Mozilla/5.0",  # no browser a person uses sends only this
    ],
)
def test_a_known_scanner_user_agent_is_a_scanner(sent, agent):
    delivery = sent()
    with at(600):
        click(delivery, agent=agent)
    (_url, classification, rule) = events(delivery)[0]
    assert classification == "machine_scanner"
    assert rule in {"scanner_user_agent", "bare_user_agent"}
    delivery.refresh_from_db()
    assert delivery.clicked_at is None and delivery.machine_clicked_at is not None


def test_more_scanner_user_agents_are_configurable(sent, settings):
    settings.TRACKING_SCANNER_USER_AGENTS = ["AcmeGateway"]
    delivery = sent()
    with at(600):
        click(delivery, agent=FIREFOX + " acmegateway/3")
    assert events(delivery)[0][1:] == ("machine_scanner", "scanner_user_agent")


def test_every_link_clicked_at_once_turns_the_whole_burst_into_a_scanner(sent):
    """The first click looks like a person's; the second link a second later
    shows the burst, and the first is re-classified with it."""
    delivery = sent()
    with at(30):
        click(delivery, SHOP)
    delivery.refresh_from_db()
    assert delivery.clicked_at is not None  # a person, as far as it could tell
    with at(30.8):
        click(delivery, BLOG)
    with at(31.5):
        click(delivery, HELP)
    assert events(delivery) == [
        (SHOP, "machine_scanner", "burst_all_links"),
        (BLOG, "machine_scanner", "burst_all_links"),
        (HELP, "machine_scanner", "burst_all_links"),
    ]
    delivery.refresh_from_db()
    assert delivery.clicked_at is None and delivery.opened_at is None
    assert delivery.machine_clicked_at == SENT + timedelta(seconds=30)


def test_a_burst_leaves_an_earlier_persons_click_alone(sent):
    delivery = sent()
    with at(60):
        click(delivery, SHOP)
    with at(600):
        click(delivery, BLOG)
    with at(600.5):
        click(delivery, HELP)
    assert [e[1] for e in events(delivery)] == ["human", "machine_scanner", "machine_scanner"]
    delivery.refresh_from_db()
    assert delivery.clicked_at == delivery.opened_at == SENT + timedelta(seconds=60)


def test_a_person_clicking_two_links_minutes_apart_is_no_burst(sent):
    delivery = sent()
    with at(60):
        click(delivery, SHOP)
    with at(180):
        click(delivery, BLOG)
    with at(181):
        click(delivery, BLOG)  # the same link twice (a double tap) is no burst either
    assert [e[1] for e in events(delivery)] == ["human", "human", "human"]


def test_emails_carry_a_hidden_trap_link_that_people_cannot_follow():
    content = {"subject": "S", "html": f'<html><body><a href="{SHOP}">Sale</a></body></html>'}
    compiled = compile_content(
        "email", content, category="marketing", track_opens=True, track_clicks=True
    )
    message = compiled.render(profile=None, delivery_id=42)
    anchors = re.findall(r"<a\b[^>]*>[^<]*</a>", message.html)
    traps = [a for a in anchors if "/t/l/" in a]
    assert len(traps) == 1
    trap = traps[0]
    assert 'aria-hidden="true"' in trap and 'tabindex="-1"' in trap and "display:none" in trap
    assert trap.endswith("></a>")  # nothing to see or click
    href = html.unescape(re.search(r'href="([^"]+)"', trap).group(1))
    assert tracking.read_token("trap", href.rsplit("/", 1)[1]).delivery_id == 42
    assert "/t/l/" not in message.text  # the plain-text part has no trap


def test_no_trap_link_without_click_tracking_or_when_switched_off(settings):
    content = {"subject": "S", "html": f'<a href="{SHOP}">Sale</a>'}
    plain = compile_content("email", content, category="marketing", track_opens=True)
    assert "/t/l/" not in plain.render(profile=None, delivery_id=1).html
    settings.TRACKING_TRAP_LINK = False
    off = compile_content("email", content, category="marketing", track_clicks=True)
    assert "/t/l/" not in off.render(profile=None, delivery_id=1).html


def test_the_trap_link_marks_its_follower_and_the_clicks_around_it(sent):
    delivery = sent()
    with at(40):
        click(delivery, SHOP)  # looked like a person's
    with at(45):
        response = Client(HTTP_USER_AGENT=FIREFOX).get(path(tracking.trap_url(delivery.pk)))
    assert response.status_code == 200 and "Location" not in response
    with at(50):
        click(delivery, BLOG)  # the same scanner, still walking the links
    assert events(delivery) == [
        (SHOP, "machine_scanner", "trap_link"),
        ("", "machine_scanner", "trap_link"),
        (BLOG, "machine_scanner", "trap_link"),
    ]
    delivery.refresh_from_db()
    assert delivery.clicked_at is None and delivery.opened_at is None
    assert delivery.machine_clicked_at == SENT + timedelta(seconds=40)


def test_a_head_on_the_trap_records_nothing_and_a_forged_trap_is_404(sent):
    delivery = sent()
    trap = path(tracking.trap_url(delivery.pk))
    assert Client().head(trap).status_code == 200
    assert not DeliveryEvent.objects.exists()
    click_token = tracking.click_url(delivery.pk, SHOP).rsplit("/", 1)[1]
    assert Client().get(f"/t/l/{click_token}").status_code == 404


def test_an_apple_mail_privacy_protection_open_is_a_privacy_proxys(sent):
    delivery = sent()
    with at(5):
        response = open_pixel(delivery, agent="Mozilla/5.0", ip="17.58.101.4")
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    assert events(delivery, "open") == [("", "machine_privacy", "apple_mpp_proxy")]
    delivery.refresh_from_db()
    assert delivery.opened_at is None
    assert delivery.machine_opened_at == SENT + timedelta(seconds=5)
    # The person reads it later and clicks: a human click is a human open.
    with at(3600):
        click(delivery, agent=APPLE_MAIL)
    delivery.refresh_from_db()
    assert delivery.opened_at == delivery.clicked_at == SENT + timedelta(seconds=3600)


def test_the_bare_proxy_agent_from_elsewhere_and_a_real_mail_client(sent, settings):
    relayed, reader = sent(), sent()
    with at(60):
        open_pixel(relayed, agent="Mozilla/5.0", ip="203.0.113.9")
        open_pixel(reader, agent=APPLE_MAIL, ip="17.58.101.4")  # Apple's network, a person's app
    assert events(relayed, "open") == [("", "machine_privacy", "apple_mpp_user_agent")]
    assert events(reader, "open") == [("", "human", "")]
    gmail = sent()
    with at(60):
        open_pixel(gmail, agent="Mozilla/5.0 (via ggpht.com GoogleImageProxy)")
    assert events(gmail, "open") == [("", "human", "google_image_proxy")]


@pytest.mark.parametrize(
    ("networks", "forwarded"),
    [
        (["192.0.2.0/24"], "17.1.1.1, 192.0.2.44"),  # the proxy added the last one
        # Azure's Application Gateway and IIS ARR append the client's port (review 22's
        # note): with the port the address matched no network.
        (None, "17.58.101.4:51234"),
    ],
)
def test_the_proxy_networks_are_configurable_and_read_behind_a_proxy(
    sent, settings, networks, forwarded
):
    if networks is not None:
        settings.TRACKING_PRIVACY_PROXY_NETWORKS = [ipaddress.ip_network(n) for n in networks]
    settings.BEHIND_PROXY = True
    delivery = sent()
    with at(60):
        Client(
            HTTP_USER_AGENT="Mozilla/5.0", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded
        ).get(path(tracking.open_url(delivery.pk)))
    assert events(delivery, "open") == [("", "machine_privacy", "apple_mpp_proxy")]


def test_an_open_during_a_scanners_burst_is_the_scanners(sent):
    delivery = sent()
    with at(30):
        click(delivery, SHOP)
    with at(30.5):
        click(delivery, BLOG)
    with at(31):
        open_pixel(delivery, agent=FIREFOX)
    assert events(delivery, "open") == [("", "machine_scanner", "burst_all_links")]
    delivery.refresh_from_db()
    assert delivery.opened_at is None and delivery.machine_opened_at is not None


def test_bad_network_settings_stop_start_up(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from config.env import env_networks

    monkeypatch.setenv("TRACKING_PRIVACY_PROXY_NETWORKS", "17.0.0.0/8, not-a-network")
    with pytest.raises(ImproperlyConfigured, match="TRACKING_PRIVACY_PROXY_NETWORKS"):
        env_networks("TRACKING_PRIVACY_PROXY_NETWORKS", [])
    monkeypatch.setenv("TRACKING_PRIVACY_PROXY_NETWORKS", "17.0.0.0/8,2620:149::/32")
    assert len(env_networks("TRACKING_PRIVACY_PROXY_NETWORKS", [])) == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_clicks_of_one_scanner_see_each_other(make_delivery):
    """A scanner fires its clicks in parallel: under the delivery's row lock
    the second sees the first (on PostgreSQL too), so no burst passes as two
    people's clicks."""
    import threading

    from django.db import connection

    deliveries = []
    for _ in range(4):
        delivery = make_delivery()
        type(delivery).objects.filter(pk=delivery.pk).update(sent_at=SENT)
        deliveries.append(delivery)
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def fire(delivery, url):
        try:
            barrier.wait(timeout=10)
            assert click(delivery, url).status_code == 302
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)
        finally:
            connection.close()

    with at(300):
        for delivery in deliveries:
            threads = [threading.Thread(target=fire, args=(delivery, u)) for u in (SHOP, BLOG)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
    assert failures == []
    for delivery in deliveries:
        assert {e[1:] for e in events(delivery)} == {("machine_scanner", "burst_all_links")}
        delivery.refresh_from_db()
        assert delivery.clicked_at is None and delivery.machine_clicked_at is not None
