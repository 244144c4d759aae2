"""Reproductions for docs/security-review-22.md (each failed on the code before
its fix): the sign-in lock behind a proxy that writes the client's port."""

from __future__ import annotations

import uuid

import pytest
from django.test import RequestFactory

from config.clients import client_network

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.2"


def _v4() -> str:
    raw = uuid.uuid4().bytes
    return f"10.{raw[0]}.{raw[1]}.{raw[2]}"


def _sign_in(client, username: str, password: str = "wrong", **meta):
    return client.post("/accounts/login/", {"username": username, "password": password}, **meta)


@pytest.mark.parametrize(
    ("forwarded", "network"),
    [
        ("203.0.113.5:51234", "203.0.113.5"),
        ("[2001:db8:1:2::5]:443", "2001:db8:1:2::"),
        ("[2001:db8:1:2::5]", "2001:db8:1:2::"),
        ('"203.0.113.5"', "203.0.113.5"),
        ("2001:db8:1:2::5", "2001:db8:1:2::"),
    ],
)
def test_2_a_forwarded_address_with_its_port_is_the_clients(settings, forwarded, network):
    settings.BEHIND_PROXY = True
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR=PROXY)
    assert client_network(request) == network


def test_2_behind_a_proxy_writing_ports_a_stranger_does_not_lock_a_person_out(
    client, settings, viewer
):
    """Old code: "203.0.113.5:51234" (Azure's Application Gateway, IIS ARR) was
    read as no address, so every client counted against the proxy's own: five
    wrong passwords from anyone locked the person out for everyone — the lock
    reviews 19 and 20 made per client was the username alone again."""
    settings.BEHIND_PROXY = True
    stranger, vera = _v4(), _v4()
    for port in range(settings.AXES_FAILURE_LIMIT + 1):
        _sign_in(
            client, "vera", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{stranger}:{4000 + port}"
        )
    locked = _sign_in(
        client, "vera", "pw-vera", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{stranger}:5000"
    )
    assert locked.status_code == 429  # the stranger stays locked, whatever the port
    answer = _sign_in(
        client, "vera", "pw-vera", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{vera}:6000"
    )
    assert answer.status_code == 302
    assert client.session["_auth_user_id"] == str(viewer.pk)


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("64:ff9b::203.0.113.5", "203.0.113.5"),
        ("64:ff9b::198.51.100.7", "198.51.100.7"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.0.2.45"),  # Teredo (RFC 4380's example)
        ("::ffff:203.0.113.5", "203.0.113.5"),
    ],
)
def test_3_an_ipv4_client_behind_a_translator_is_its_ipv4_address(settings, address, network):
    """Old code: an IPv4 client reaching an IPv6-only installation through a
    NAT64/SIIT translator (64:ff9b::a.b.c.d) counted as 64:ff9b::/64, the whole
    IPv4 internet at once: five wrong passwords from anyone locked a person out
    for every IPv4 client, and LOGIN_RATE_PER_MINUTE was shared by all of them."""
    settings.BEHIND_PROXY = False
    request = RequestFactory().get("/", REMOTE_ADDR=address)
    assert client_network(request) == network


def test_3_two_ipv4_clients_behind_a_translator_do_not_share_a_lock(client, settings, viewer):
    settings.BEHIND_PROXY = False
    stranger = "64:ff9b::" + _v4()
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        _sign_in(client, "vera", REMOTE_ADDR=stranger)
    assert _sign_in(client, "vera", "pw-vera", REMOTE_ADDR=stranger).status_code == 429
    answer = _sign_in(client, "vera", "pw-vera", REMOTE_ADDR="64:ff9b::" + _v4())
    assert answer.status_code == 302
