"""Users, roles and API keys in the Django admin (SPEC §2, §8)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from accounts.models import ApiKey
from accounts.roles import ADMINISTRATOR, MANAGER
from accounts.services import api_key_authenticate, api_key_create

pytestmark = pytest.mark.django_db
User = get_user_model()


def test_administrators_open_the_admin_without_is_staff(login, administrator):
    assert not administrator.is_staff
    client = login(administrator)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/auth/user/").status_code == 200
    assert client.get("/admin/auth/group/").status_code == 200
    assert client.get("/admin/accounts/apikey/").status_code == 200


@pytest.mark.parametrize("persona", ["viewer", "manager", "approver", "outsider"])
def test_other_roles_are_refused_by_the_admin(request, login, persona):
    response = login(request.getfixturevalue(persona)).get("/admin/auth/user/", follow=True)
    assert response.status_code == 403


def test_anonymous_visitors_are_sent_to_the_one_sign_in_page(client):
    response = client.get("/admin/auth/user/", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/accounts/login/?next=/admin/auth/user/"


def test_administrators_assign_roles_but_not_superuser_powers(login, administrator, make_user):
    mona = make_user("mona2")
    client = login(administrator)
    page = client.get(f"/admin/auth/user/{mona.pk}/change/")
    assert page.status_code == 200
    assert b'name="groups"' in page.content
    assert b'name="is_superuser"' not in page.content
    assert b'name="user_permissions"' not in page.content


def test_administrators_cannot_change_a_superuser(login, administrator, make_user):
    root = make_user("root", superuser=True)
    client = login(administrator)
    assert client.post(f"/admin/auth/user/{root.pk}/change/", {"username": "x"}).status_code == 403
    assert client.post(f"/admin/auth/user/{root.pk}/delete/", {"post": "yes"}).status_code == 403
    assert User.objects.filter(username="root").exists()


def test_the_admin_user_list_shows_roles(login, administrator, make_user):
    make_user("mona2", MANAGER)
    page = login(administrator).get("/admin/auth/user/")
    assert MANAGER.encode() in page.content


def test_administrators_create_a_key_for_anyone_and_see_it_once(login, administrator, manager):
    client = login(administrator)
    response = client.post(
        "/admin/accounts/apikey/add/", {"user": manager.pk, "name": "deploys"}, follow=True
    )
    assert response.status_code == 200
    key = ApiKey.objects.get(name="deploys")
    assert key.user == manager
    shown = re.search(rb"(vly_[0-9a-f]+_[A-Za-z0-9_-]+)", response.content).group(1).decode()
    assert api_key_authenticate(shown) == key
    assert shown not in client.get(f"/admin/accounts/apikey/{key.pk}/change/").content.decode()
    assert key.hashed_key != shown and shown not in key.hashed_key


def test_administrators_revoke_keys_with_an_action(login, administrator, manager):
    key, plain = api_key_create(user=manager, name="ci")
    response = login(administrator).post(
        "/admin/accounts/apikey/", {"action": "revoke", "_selected_action": [key.pk]}
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api_key_authenticate(plain) is None


def test_notifications_are_not_editable_in_the_admin(login, make_user):
    root = make_user("root", superuser=True)
    assert login(root).get("/admin/accounts/notification/add/").status_code == 403


def test_admin_index_lists_users_and_keys_for_administrators(login, make_user):
    ada = make_user("ada2", ADMINISTRATOR)
    page = login(ada).get("/admin/")
    assert b"/admin/auth/user/" in page.content
    assert b"/admin/accounts/apikey/" in page.content


def test_administrators_cannot_make_anyone_a_superuser(login, administrator, make_user):
    mona = make_user("mona2")
    response = login(administrator).post(
        f"/admin/auth/user/{mona.pk}/change/",
        {
            "username": "mona2",
            "email": "mona2@example.com",
            "is_active": "on",
            "is_superuser": "on",
            "is_staff": "on",
            "groups": [],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "10:00:00",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    mona.refresh_from_db()
    assert not mona.is_superuser and not mona.is_staff


def test_the_refusal_is_a_page_in_our_layout(login, viewer):
    response = login(viewer).get("/admin/", follow=True)
    assert response.status_code == 403
    assert b"css/volley.css" in response.content
    assert b"The admin is for Campaign Administrators." in response.content
