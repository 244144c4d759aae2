"""Reproductions for docs/security-review-18.md (each failed on the old code)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import time_machine
from django.contrib.auth.backends import ModelBackend

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 12, 1, 12, 0, 10, tzinfo=UTC)


def _address() -> str:
    """An address of its own (the bound's count lives in Redis or var/ a while)."""
    raw = uuid.uuid4().bytes
    return f"10.{raw[0]}.{raw[1]}.{raw[2]}"


@pytest.fixture
def checked(monkeypatch):
    """How many times a password was checked (a hash each, in production)."""
    calls = []
    original = ModelBackend.authenticate

    def counting(self, request, *args, **kwargs):
        calls.append(kwargs.get("username"))
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(ModelBackend, "authenticate", counting)
    return calls


def _sign_in(client, username: str, address: str, password: str = "wrong", **extra):
    return client.post(
        "/accounts/login/",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
        **extra,
    )


def test_6_sign_in_attempts_from_one_address_are_bounded_before_any_hash(client, settings, checked):
    """Old code: django-axes locks a username at one address, so usernames
    tried one after another were never refused, and each attempt cost a
    password hash (PBKDF2 at 1,000,000 iterations: 0.9 s of CPU here) — a few
    anonymous requests a second kept every web worker busy."""
    settings.LOGIN_RATE_PER_MINUTE = 3
    address = _address()
    with time_machine.travel(NOON, tick=False):
        for i in range(3):
            assert _sign_in(client, f"nobody{i}", address).status_code == 200
        answer = _sign_in(client, "nobody3", address)
    assert answer.status_code == 429
    assert 1 <= int(answer["Retry-After"]) <= 60
    assert "Too many sign-in attempts" in answer.content.decode()
    assert checked == ["nobody0", "nobody1", "nobody2"]  # no hash for the fourth


def test_6_another_address_and_the_next_minute_sign_in(client, settings, viewer, checked):
    settings.LOGIN_RATE_PER_MINUTE = 2
    address = _address()
    with time_machine.travel(NOON, tick=False):
        for i in range(2):
            _sign_in(client, f"nobody{i}", address)
        assert _sign_in(client, "vera", address, "pw-vera").status_code == 429
        assert _sign_in(client, "vera", _address(), "pw-vera").status_code == 302
    client.logout()
    with time_machine.travel(NOON.replace(minute=1), tick=False):
        assert _sign_in(client, "vera", address, "pw-vera").status_code == 302


def test_6_the_refusal_is_translated(client, settings):
    settings.LOGIN_RATE_PER_MINUTE = 1
    address = _address()
    with time_machine.travel(NOON, tick=False):
        _sign_in(client, "nobody", address)
        answer = _sign_in(client, "nobody", address, HTTP_ACCEPT_LANGUAGE="fr")
    assert answer.status_code == 429
    assert "Trop de tentatives de connexion sont venues de votre adresse" in answer.content.decode()
