"""Review 19: sign-in throttling behind a proxy, and other bad-input edges."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.2"  # the reverse proxy: every request reaches gunicorn from it


def _sign_in(client, username: str, password: str, client_address: str):
    return client.post(
        "/accounts/login/",
        {"username": username, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=client_address,
    )


def test_behind_a_proxy_a_stranger_cannot_lock_someone_else_out(client, viewer, settings):
    settings.BEHIND_PROXY = True
    for _ in range(settings.AXES_FAILURE_LIMIT + 2):
        _sign_in(client, "vera", "wrong", "203.0.113.9")
    assert _sign_in(client, "vera", "pw-vera", "198.51.100.7").status_code == 302


def test_behind_a_proxy_the_guesser_stays_locked(client, viewer, settings):
    settings.BEHIND_PROXY = True
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, "vera", "wrong", "203.0.113.9")
    assert _sign_in(client, "vera", "pw-vera", "203.0.113.9").status_code == 429


def test_compose_publishes_the_web_port_on_loopback_only():
    # Reached around the proxy, a client would choose the X-Forwarded-For that
    # the lock above trusts.
    from pathlib import Path

    compose = (Path(__file__).resolve().parents[2] / "compose.yaml").read_text()
    assert '"${VOLLEY_BIND:-127.0.0.1}:${VOLLEY_PORT:-8000}:8000"' in compose
