"""Reproductions for docs/security-review-20.md (each failed on the old code):
the address sign-in attempts count against."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import time_machine

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 12, 1, 12, 0, 10, tzinfo=UTC)
PROXY = "10.0.0.2"


def _v4() -> str:
    raw = uuid.uuid4().bytes
    return f"10.{raw[0]}.{raw[1]}.{raw[2]}"


def _v6_net() -> str:
    """A /64 of its own (the counts live in Redis or var/ a while), as a prefix."""
    raw = uuid.uuid4().hex
    return f"2001:db8:{raw[:4]}:{raw[4:8]}:"


def _sign_in(client, username: str, password: str = "wrong", **meta):
    return client.post("/accounts/login/", {"username": username, "password": password}, **meta)


def test_2_behind_the_proxy_a_stranger_does_not_lock_a_person_out(client, settings, viewer):
    """Old code: django-axes read REMOTE_ADDR, which behind the documented proxy
    (BEHIND_PROXY=1) is the proxy's for every request, so "username+ip_address"
    was the username alone: five wrong passwords from anyone anywhere locked
    the person out of their account for 15 minutes, again and again."""
    settings.BEHIND_PROXY = True
    stranger, vera = _v4(), _v4()
    for _ in range(settings.AXES_FAILURE_LIMIT + 2):
        _sign_in(client, "vera", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=stranger)
    assert (
        _sign_in(
            client, "vera", "pw-vera", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=stranger
        ).status_code
        == 429
    )
    answer = _sign_in(client, "vera", "pw-vera", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=vera)
    assert answer.status_code == 302
    assert client.session["_auth_user_id"] == str(viewer.pk)


def test_2_a_claimed_address_before_the_proxys_is_not_believed(client, settings, viewer):
    """Only the entry the proxy adds counts: earlier ones are the client's word."""
    settings.BEHIND_PROXY = True
    stranger = _v4()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        forwarded = f"{_v4()}, {stranger}"  # a new claimed address each time
        _sign_in(client, "vera", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded)
    answer = _sign_in(client, "vera", "pw-vera", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=stranger)
    assert answer.status_code == 429


def test_3_the_sign_in_bound_counts_an_ipv6_network_not_each_address(client, settings):
    """Old code: each IPv6 address was counted alone, and a client holds a /64:
    a new address at every attempt passed LOGIN_RATE_PER_MINUTE (review 18 #6)."""
    settings.LOGIN_RATE_PER_MINUTE = 3
    net = _v6_net()
    with time_machine.travel(NOON, tick=False):
        for i in range(3):
            assert _sign_in(client, f"nobody{i}", REMOTE_ADDR=f"{net}:{i + 1:x}").status_code == 200
        assert _sign_in(client, "nobody3", REMOTE_ADDR=f"{net}:ffff").status_code == 429
        assert _sign_in(client, "nobody4", REMOTE_ADDR=f"{_v6_net()}:1").status_code == 200


def test_3_a_lock_out_holds_for_the_whole_ipv6_network(client, settings, viewer):
    net, other = _v6_net(), _v6_net()
    for i in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, "vera", REMOTE_ADDR=f"{net}:{i + 1:x}")
    assert _sign_in(client, "vera", "pw-vera", REMOTE_ADDR=f"{net}:beef").status_code == 429
    assert _sign_in(client, "vera", "pw-vera", REMOTE_ADDR=f"{other}:1").status_code == 302


class _Request:
    def __init__(self, **meta):
        self.META = meta


@pytest.mark.parametrize(
    ("meta", "proxy", "expected"),
    [
        ({"REMOTE_ADDR": "192.0.2.7"}, False, "192.0.2.7"),
        ({"REMOTE_ADDR": "2001:db8:1:2:3:4:5:6"}, False, "2001:db8:1:2::"),
        ({"REMOTE_ADDR": "::ffff:192.0.2.7"}, False, "192.0.2.7"),
        ({"REMOTE_ADDR": "fe80::1%eth0"}, False, "fe80::"),
        ({"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "1.2.3.4, 192.0.2.9"}, True, "192.0.2.9"),
        ({"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "1.2.3.4"}, False, PROXY),
        ({"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "unknown"}, True, PROXY),
        ({"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "x\x00" * 200}, True, PROXY),
        ({}, False, "0.0.0.0"),
    ],
)
def test_3_client_network(settings, meta, proxy, expected):
    from config.clients import client_network

    settings.BEHIND_PROXY = proxy
    assert client_network(_Request(**meta)) == expected


@pytest.mark.parametrize("forwarded", ["x" * 300, "a\x00b", "::1%" + "e" * 300])
def test_4_a_forwarded_value_that_is_no_address_is_no_500(client, settings, forwarded):
    """Old code: behind BEHIND_PROXY with no proxy actually in front (or one
    passing the header on), the sign-in bound named its counter after the
    forwarded value as sent — on the embedded default (a file per counter) 300
    characters or a NUL were an OSError / ValueError, a 500 on the sign-in page."""
    settings.BEHIND_PROXY = True
    answer = _sign_in(client, "nobody", REMOTE_ADDR=_v4(), HTTP_X_FORWARDED_FOR=forwarded)
    assert answer.status_code == 200
