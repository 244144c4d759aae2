"""What a Campaign Administrator who is not a superuser may not do in the admin.

Issue 10, High #1 and #14: raw permissions and django-q schedules lead to code
execution on the worker; groups holding grants on restricted objects and other
users' passwords lead into restricted data. Only superusers touch those.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django_q.models import Schedule
from guardian.shortcuts import assign_perm

from accounts.roles import ADMINISTRATOR, MANAGER
from campaigns.models import Campaign

pytestmark = pytest.mark.django_db
User = get_user_model()


def _perm(codename: str) -> Permission:
    return Permission.objects.get(content_type__app_label="django_q", codename=codename)


def test_administrators_cannot_add_a_permission_to_a_group(login, administrator):
    role = Group.objects.get(name=MANAGER)
    before = set(role.permissions.values_list("pk", flat=True))
    client = login(administrator)
    response = client.post(
        f"/admin/auth/group/{role.pk}/change/",
        {"name": role.name, "permissions": [*before, _perm("add_schedule").pk]},
    )
    assert response.status_code == 403
    assert set(role.permissions.values_list("pk", flat=True)) == before
    assert client.post("/admin/auth/group/add/", {"name": "ops"}).status_code == 403
    assert not Group.objects.filter(name="ops").exists()


def test_the_administrator_role_holds_no_group_or_permission_editing():
    perms = Group.objects.get(name=ADMINISTRATOR).permissions.values_list("codename", flat=True)
    assert not {"change_group", "add_group", "delete_group", "change_permission"} & set(perms)


def test_administrators_cannot_give_a_user_raw_permissions(login, administrator, make_user):
    mona = make_user("mona2")
    login(administrator).post(
        f"/admin/auth/user/{mona.pk}/change/",
        {
            "username": "mona2",
            "email": "mona2@example.com",
            "is_active": "on",
            "user_permissions": [_perm("add_schedule").pk],
            "groups": [],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "10:00:00",
        },
    )
    assert not mona.user_permissions.exists()


def test_no_one_but_a_superuser_creates_a_django_q_schedule(login, administrator):
    # Even an administrator who somehow holds every django-q permission.
    for perm in Permission.objects.filter(content_type__app_label="django_q"):
        administrator.user_permissions.add(perm)
    client = login(administrator)
    response = client.post(
        "/admin/django_q/schedule/add/",
        {"name": "x", "func": "subprocess.getoutput", "args": "'touch /tmp/pwned'"},
    )
    assert response.status_code == 403
    assert not Schedule.objects.filter(func="subprocess.getoutput").exists()
    for url in (
        "/admin/django_q/schedule/",
        "/admin/django_q/success/",
        "/admin/django_q/failure/",
    ):
        assert client.get(url).status_code == 403, url
    assert b"/admin/django_q/" not in client.get("/admin/").content


def test_superusers_still_manage_django_q_schedules(login, make_user):
    root = make_user("root", superuser=True)
    assert login(root).get("/admin/django_q/schedule/add/").status_code == 200


def _restricted_grant_group() -> Group:
    group = Group.objects.create(name="Board")
    campaign = Campaign.objects.create(name="Merger", restricted=True)
    assign_perm("campaigns.view_campaign", group, campaign)
    return group


def _user_form(user, groups) -> dict:
    return {
        "username": user.username,
        "email": user.email,
        "is_active": "on",
        "groups": [g.pk for g in groups],
        "date_joined_0": "2026-01-01",
        "date_joined_1": "10:00:00",
    }


def test_administrators_cannot_join_a_group_holding_a_restricted_grant(login, administrator):
    board = _restricted_grant_group()
    admin_role = Group.objects.get(name=ADMINISTRATOR)
    client = login(administrator)
    page = client.get(f"/admin/auth/user/{administrator.pk}/change/")
    assert page.status_code == 200
    assert b"Board" not in page.content
    client.post(
        f"/admin/auth/user/{administrator.pk}/change/",
        _user_form(administrator, [admin_role, board]),
    )
    assert not administrator.groups.filter(pk=board.pk).exists()


def test_administrators_cannot_put_anyone_in_such_a_group(login, administrator, make_user):
    board = _restricted_grant_group()
    client = login(administrator)
    client.post(
        "/admin/auth/user/add/",
        {"username": "newbie", "email": "newbie@example.com", "groups": [board.pk]},
    )
    assert not User.objects.filter(username="newbie", groups=board).exists()
    mona = make_user("mona2", MANAGER)
    client.post(f"/admin/auth/user/{mona.pk}/change/", _user_form(mona, [board]))
    assert not mona.groups.filter(pk=board.pk).exists()


def test_editing_a_member_of_such_a_group_keeps_the_membership(login, administrator, make_user):
    board = _restricted_grant_group()
    mona = make_user("mona2", MANAGER)
    mona.groups.add(board)
    manager_role = Group.objects.get(name=MANAGER)
    response = login(administrator).post(
        f"/admin/auth/user/{mona.pk}/change/", _user_form(mona, [manager_role])
    )
    assert response.status_code == 302
    assert mona.groups.filter(pk=board.pk).exists()


def test_administrators_cannot_join_a_group_with_permissions_they_lack(login, administrator):
    ops = Group.objects.create(name="Ops")
    ops.permissions.add(_perm("add_schedule"))
    admin_role = Group.objects.get(name=ADMINISTRATOR)
    login(administrator).post(
        f"/admin/auth/user/{administrator.pk}/change/", _user_form(administrator, [admin_role, ops])
    )
    assert not administrator.groups.filter(pk=ops.pk).exists()


def test_superusers_put_people_in_any_group(login, make_user):
    board = _restricted_grant_group()
    root = make_user("root", superuser=True)
    mona = make_user("mona2")
    login(root).post(f"/admin/auth/user/{mona.pk}/change/", _user_form(mona, [board]))
    assert mona.groups.filter(pk=board.pk).exists()


def test_administrators_cannot_set_another_users_password(login, administrator, make_user):
    mona = make_user("mona2", MANAGER)
    client = login(administrator)
    url = f"/admin/auth/user/{mona.pk}/password/"
    assert client.get(url).status_code == 403
    response = client.post(
        url, {"password1": "Taken-over-42", "password2": "Taken-over-42", "usable_password": "true"}
    )
    assert response.status_code == 403
    mona.refresh_from_db()
    assert mona.check_password("pw-mona2")


def test_administrators_cannot_reinvite_someone_who_has_a_password(
    login, administrator, make_user, mailoutbox
):
    mona = make_user("mona2", MANAGER)
    login(administrator).post(
        "/admin/auth/user/",
        {"action": "send_invitation", "_selected_action": [mona.pk]},
    )
    assert mailoutbox == []


def test_administrators_cannot_redirect_another_users_email(login, administrator, make_user):
    mona = make_user("mona2", MANAGER)
    form = _user_form(mona, [Group.objects.get(name=MANAGER)])
    form["email"] = "ada-owns-this@example.com"
    login(administrator).post(f"/admin/auth/user/{mona.pk}/change/", form)
    mona.refresh_from_db()
    assert mona.email == "mona2@example.com"


def test_superusers_set_other_users_passwords(login, make_user):
    root = make_user("root", superuser=True)
    mona = make_user("mona2", MANAGER)
    response = login(root).post(
        f"/admin/auth/user/{mona.pk}/password/",
        {"password1": "Fresh-start-42", "password2": "Fresh-start-42", "usable_password": "true"},
    )
    assert response.status_code == 302
    mona.refresh_from_db()
    assert mona.check_password("Fresh-start-42")


# Second review of issue 10: a key is a credential for the account it belongs
# to. Minting one for a superuser, or for someone whose grants reach restricted
# objects, hands the administrator that person's powers.


def test_administrators_cannot_mint_a_key_for_a_superuser(login, administrator, make_user):
    from accounts.models import ApiKey

    root = make_user("root", superuser=True)
    client = login(administrator)
    response = client.post("/admin/accounts/apikey/add/", {"user": root.pk, "name": "mine"})
    assert response.status_code in (200, 403)
    assert not ApiKey.objects.filter(user=root).exists()


def test_administrators_cannot_mint_a_key_for_a_holder_of_a_restricted_grant(
    login, administrator, make_user
):
    from accounts.models import ApiKey

    board = _restricted_grant_group()
    mona = make_user("mona2", MANAGER)
    mona.groups.add(board)
    carl = make_user("carl", MANAGER)
    assign_perm("campaigns.view_campaign", carl, Campaign.objects.get(name="Merger"))
    client = login(administrator)
    for user in (mona, carl):
        client.post("/admin/accounts/apikey/add/", {"user": user.pk, "name": "mine"})
        assert not ApiKey.objects.filter(user=user).exists(), user


def test_administrators_still_mint_keys_for_service_users(login, administrator, make_user):
    from accounts.models import ApiKey

    bot = make_user("ci-bot", MANAGER)
    response = login(administrator).post(
        "/admin/accounts/apikey/add/", {"user": bot.pk, "name": "ci"}
    )
    assert response.status_code == 302
    assert ApiKey.objects.filter(user=bot).exists()
