"""API keys (SPEC §7): bearer auth, shown once, stored hashed, revocable, last use recorded."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import ApiKey
from accounts.services import api_key_create, api_key_revoke
from tests.config.procs import database_url
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


def test_a_valid_key_acts_as_its_owner(manager):
    _key, plain = api_key_create(user=manager, name="ci")
    response = ApiClient(plain).get("/me")
    assert response.status_code == 200
    assert response.json() == {
        "username": "mona",
        "email": "mona@example.com",
        "roles": ["Campaign Manager"],
        "isSuperuser": False,
        "timeZone": "",
    }


def test_the_key_is_stored_only_as_a_hash(manager):
    key, plain = api_key_create(user=manager, name="ci")
    stored = ApiKey.objects.filter(pk=key.pk).values().get()
    assert plain not in str(stored)
    assert len(key.hashed_key) == 64


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer ",
        "Bearer vly_nothing",
        "Bearer vly_0123456789ab_wrongsecret",
        "Basic dXNlcjpwYXNz",
        "vly_abc_def",
    ],
)
def test_missing_or_wrong_keys_get_401_problem_json(manager, client, header):
    api_key_create(user=manager, name="ci")
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get("/api/v1/me", **extra)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == 401 and body["title"] and body["type"] and body["detail"]


def test_a_right_prefix_with_a_wrong_secret_is_refused(manager):
    key, plain = api_key_create(user=manager, name="ci")
    forged = plain[:-4] + ("AAAA" if not plain.endswith("AAAA") else "BBBB")
    assert ApiClient(forged).get("/me").status_code == 401


def test_a_revoked_key_is_refused(manager):
    key, plain = api_key_create(user=manager, name="ci")
    api_key_revoke(key=key)
    assert ApiClient(plain).get("/me").status_code == 401


def test_a_key_of_a_deactivated_user_is_refused(manager):
    _key, plain = api_key_create(user=manager, name="ci")
    manager.is_active = False
    manager.save()
    assert ApiClient(plain).get("/me").status_code == 401


def test_last_use_is_recorded_to_the_minute(manager):
    key, plain = api_key_create(user=manager, name="ci")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        ApiClient(plain).get("/me")
    key.refresh_from_db()
    assert key.last_used_at == start
    with time_machine.travel(start + timedelta(seconds=20), tick=False):
        ApiClient(plain).get("/me")
    key.refresh_from_db()
    assert key.last_used_at == start  # no write on every request
    with time_machine.travel(start + timedelta(minutes=5), tick=False):
        ApiClient(plain).get("/me")
    key.refresh_from_db()
    assert key.last_used_at == start + timedelta(minutes=5)


# -- the caller's own keys through the API --------------------------------


def test_a_user_creates_a_key_through_the_api_and_sees_it_once(api_for, viewer):
    api = api_for(viewer)
    response = api.post("/me/api-keys", {"name": "laptop"})
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "laptop" and body["key"].startswith("vly_")
    assert ApiClient(body["key"]).get("/me").status_code == 200
    listed = api.get("/me/api-keys").json()
    assert {k["name"] for k in listed} == {"test", "laptop"}
    assert all("key" not in k and "hashedKey" not in k for k in listed)


def test_a_user_revokes_only_their_own_keys(api_for, viewer, manager):
    other, other_plain = api_key_create(user=manager, name="theirs")
    api = api_for(viewer)
    assert api.delete(f"/me/api-keys/{other.pk}").status_code == 404
    assert ApiClient(other_plain).get("/me").status_code == 200
    mine = ApiKey.objects.get(user=viewer)
    assert api.delete(f"/me/api-keys/{mine.pk}").status_code == 204
    assert api.get("/me").status_code == 401


# -- manage.py create_api_key ---------------------------------------------


def test_create_api_key_prints_the_key_as_the_last_line(manager, capsys):
    call_command("create_api_key", "mona")
    out = capsys.readouterr().out
    plain = out.strip().splitlines()[-1]
    assert ApiClient(plain).get("/me").json()["username"] == "mona"


def test_create_api_key_for_an_unknown_user_fails_clearly(db):
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("create_api_key", "ghost")


def test_create_api_key_exits_non_zero_for_an_unknown_user(db):
    unknown = subprocess.run(
        [sys.executable, "manage.py", "create_api_key", "ghost"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DATABASE_URL": database_url()},
    )
    assert unknown.returncode == 1
    assert "No user named 'ghost'" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(manager, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    _key, plain = api_key_create(user=manager, name="ci")
    other_key, other_plain = api_key_create(user=manager, name="other")
    api = ApiClient(plain)
    start = timezone.now().replace(second=10, microsecond=0)
    with time_machine.travel(start, tick=False):
        assert [api.get("/me").status_code for _ in range(3)] == [200, 200, 200]
        response = api.get("/me")
        assert response.status_code == 429
        assert response["Content-Type"] == "application/problem+json"
        assert 1 <= int(response["Retry-After"]) <= 51
        assert ApiClient(other_plain).get("/me").status_code == 200  # per key
    with time_machine.travel(start + timedelta(minutes=1), tick=False):
        assert api.get("/me").status_code == 200


def test_the_user_sets_their_time_zone_through_the_api(api_for, manager):
    """The settings page's time zone has its API twin (issue 12 #6, #7)."""
    client = api_for(manager)
    assert client.get("/me").json()["timeZone"] == ""
    answer = client.patch("/me", {"timeZone": "Europe/Amsterdam"})
    assert answer.status_code == 200, answer.content
    assert answer.json()["timeZone"] == "Europe/Amsterdam"
    refused = client.patch("/me", {"timeZone": "Mars/Olympus"})
    assert refused.status_code == 400
    assert client.get("/me").json()["timeZone"] == "Europe/Amsterdam"
