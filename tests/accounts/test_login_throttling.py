"""Sign-in throttling with django-axes (issue 10 #5)."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt

pytestmark = pytest.mark.django_db


def _sign_in(client, username: str, password: str):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_thirty_wrong_passwords_then_the_right_one_stays_locked(client, viewer, settings):
    for _ in range(30):
        assert _sign_in(client, "vera", "wrong").status_code in (200, 429)
    response = _sign_in(client, "vera", "pw-vera")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    html = response.content.decode()
    assert "Too many sign-in attempts" in html
    assert "css/volley.css" in html  # our layout, not a bare text answer
    assert f"Try again in {settings.AXES_COOLOFF_TIME.seconds // 60} minutes" in html


def test_the_lock_starts_at_the_configured_limit(client, viewer, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _sign_in(client, "vera", "wrong").status_code == 200
    assert _sign_in(client, "vera", "pw-vera").status_code == 302  # a success resets
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, "vera", "wrong")
    assert _sign_in(client, "vera", "pw-vera").status_code == 429


def test_the_lock_message_is_translated(client, viewer, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, "vera", "wrong")
    response = client.post(
        "/accounts/login/",
        {"username": "vera", "password": "pw-vera"},
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    assert response.status_code == 429
    assert "Trop de tentatives de connexion" in response.content.decode()


def test_another_user_from_the_same_place_is_not_locked(client, viewer, manager, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT + 2):
        _sign_in(client, "vera", "wrong")
    assert _sign_in(client, "mona", "pw-mona").status_code == 302


def test_an_administrator_unlocks_in_the_admin(client, viewer, administrator, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, "vera", "wrong")
    attempt = AccessAttempt.objects.get(username="vera")
    client.force_login(administrator)
    assert client.get("/admin/axes/accessattempt/").status_code == 200
    response = client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    client.logout()
    assert _sign_in(client, "vera", "pw-vera").status_code == 302


def test_api_keys_are_not_throttled_by_sign_in_failures(client, viewer, api_for, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        _sign_in(client, "vera", "wrong")
    assert api_for(viewer).get("/campaigns").status_code == 200
