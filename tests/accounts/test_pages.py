"""Sign-in, sign-out, the settings page with personal API keys, login-protected pages."""

from __future__ import annotations

import pytest

from accounts.models import ApiKey
from accounts.services import api_key_authenticate, api_key_create

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/campaigns/", "/accounts/settings/", "/"])
def test_pages_require_login(client, path):
    response = client.get(path, follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/?next=")


def test_sign_in_with_the_right_password_opens_the_campaigns(client, viewer):
    response = client.post("/accounts/login/", {"username": "vera", "password": "pw-vera"})
    assert response.status_code == 302
    assert response["Location"] == "/campaigns/"
    assert client.get("/campaigns/").status_code == 200


def test_sign_in_with_a_wrong_password_says_so(client, viewer):
    response = client.post("/accounts/login/", {"username": "vera", "password": "nope"})
    assert response.status_code == 200
    assert b"errorlist" in response.content
    assert client.get("/campaigns/").status_code == 302


def test_sign_in_follows_next(client, viewer):
    response = client.post(
        "/accounts/login/?next=/accounts/settings/",
        {"username": "vera", "password": "pw-vera", "next": "/accounts/settings/"},
    )
    assert response["Location"] == "/accounts/settings/"


def test_sign_out_is_a_post(login, viewer):
    client = login(viewer)
    assert client.get("/accounts/logout/").status_code == 405
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/campaigns/").status_code == 302


def test_the_layout_uses_our_stylesheet(login, viewer):
    page = login(viewer).get("/campaigns/")
    assert b"css/volley.css" in page.content
    assert b"Sign out" in page.content


def test_settings_page_creates_a_key_and_shows_it_once(login, viewer):
    client = login(viewer)
    response = client.post("/accounts/settings/", {"name": "laptop"})
    assert response.status_code == 302
    page = client.get("/accounts/settings/").content.decode()
    key = ApiKey.objects.get(user=viewer)
    plain = page.split('data-testid="new-key">', 1)[1].split("<", 1)[0]
    assert api_key_authenticate(plain) == key
    assert plain not in client.get("/accounts/settings/").content.decode()


def test_settings_page_refuses_a_key_without_a_name(login, viewer):
    response = login(viewer).post("/accounts/settings/", {"name": ""})
    assert response.status_code == 400
    assert not ApiKey.objects.exists()


def test_settings_page_lists_only_my_keys(login, viewer, manager):
    api_key_create(user=viewer, name="mine")
    api_key_create(user=manager, name="theirs")
    page = login(viewer).get("/accounts/settings/").content
    assert b"mine" in page and b"theirs" not in page


def test_a_user_revokes_their_own_key(login, viewer):
    key, plain = api_key_create(user=viewer, name="mine")
    client = login(viewer)
    assert client.get(f"/accounts/settings/keys/{key.pk}/revoke/").status_code == 405
    assert client.post(f"/accounts/settings/keys/{key.pk}/revoke/").status_code == 302
    assert api_key_authenticate(plain) is None


def test_a_user_cannot_revoke_someone_elses_key(login, viewer, manager):
    key, plain = api_key_create(user=manager, name="theirs")
    assert login(viewer).post(f"/accounts/settings/keys/{key.pk}/revoke/").status_code == 404
    assert api_key_authenticate(plain) == key


def test_settings_page_refuses_other_methods(login, viewer):
    assert login(viewer).put("/accounts/settings/").status_code == 405
