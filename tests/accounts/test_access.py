"""The Access page of campaigns, audiences and channel configurations (SPEC §2)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from guardian.shortcuts import assign_perm, get_groups_with_perms, get_users_with_perms

from accounts.permissions import can_manage_access, can_see
from accounts.roles import MANAGER, VIEWER
from audiences.models import Audience
from campaigns.models import Campaign
from channels.models import ChannelConfiguration

pytestmark = pytest.mark.django_db

RULE = {"all": [{"field": "attributes.city", "op": "eq", "value": "Paris"}]}


def make_campaign(**fields):
    return Campaign.objects.create(name=fields.pop("name", "Spring sale"), **fields)


def make_audience(**fields):
    return Audience.objects.create(
        name=fields.pop("name", "Paris"), kind="rule", rule=RULE, **fields
    )


def make_config(**fields):
    return ChannelConfiguration.objects.create(
        name=fields.pop("name", "Newsletter"),
        channel="email",
        purpose="marketing",
        from_address="news@example.com",
        from_name="Volley",
        **fields,
    )


KINDS = {
    "campaign": (make_campaign, "/campaigns/{}/access/", "/campaigns/{}/"),
    "audience": (make_audience, "/audiences/{}/access/", "/audiences/{}/"),
    "channel": (make_config, "/channels/{}/access/", "/channels/{}/edit/"),
}


@pytest.fixture(params=sorted(KINDS))
def kind(request):
    return request.param


def build(kind, **fields):
    return KINDS[kind][0](**fields)


def access_url(kind, obj):
    return KINDS[kind][1].format(obj.pk)


def grants(obj):
    users = {u.username: set(p) for u, p in get_users_with_perms(obj, attach_perms=True).items()}
    groups = {g.name: set(p) for g, p in get_groups_with_perms(obj, attach_perms=True).items()}
    return users, groups


# ---------------------------------------------------------------- happy path


def test_administrator_sees_the_access_page(kind, login, administrator):
    obj = build(kind)
    response = login(administrator).get(access_url(kind, obj))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Nobody has been granted access yet." in body
    assert 'name="op" value="grant"' in body


def test_restricting_grants_the_restrictor_change_access_in_the_same_step(
    kind, login, administrator
):
    obj = build(kind)
    client = login(administrator)
    response = client.post(access_url(kind, obj), {"op": "restrict", "restricted": "on"})
    assert response.status_code == 302
    obj.refresh_from_db()
    assert obj.restricted
    users, _ = grants(obj)
    assert len(users["ada"]) == 2  # view and change
    # Not locked out: the object and its Access page still open.
    assert client.get(KINDS[kind][2].format(obj.pk)).status_code == 200
    assert client.get(access_url(kind, obj)).status_code == 200


def test_removing_the_restriction_keeps_the_grants(kind, login, administrator, viewer):
    obj = build(kind, restricted=True)
    assign_perm(obj._meta.app_label + ".view_" + obj._meta.model_name, viewer, obj)
    assign_perm(obj._meta.app_label + ".change_" + obj._meta.model_name, administrator, obj)
    response = login(administrator).post(access_url(kind, obj), {"op": "restrict"})
    assert response.status_code == 302
    obj.refresh_from_db()
    assert not obj.restricted
    assert "vera" in grants(obj)[0]


def test_granting_a_user_opens_a_restricted_object_to_them(
    kind, login, administrator, make_user, client
):
    obj = build(kind, restricted=True)
    other = make_user("otto", VIEWER if kind != "channel" else "Campaign Administrator")
    assert not can_see(other, obj)
    login(administrator)
    # the administrator needs a grant to reach a restricted object at all
    assign_perm(obj._meta.app_label + ".change_" + obj._meta.model_name, administrator, obj)
    response = client.post(
        access_url(kind, obj), {"op": "grant", "username": " otto ", "level": "view"}
    )
    assert response.status_code == 302
    assert can_see(other, obj)
    page = client.get(access_url(kind, obj)).content.decode()
    assert "otto" in page and "can view" in page


def test_granting_a_group_change_access_and_downgrading_it(kind, login, administrator):
    obj = build(kind, restricted=True)
    assign_perm(obj._meta.app_label + ".change_" + obj._meta.model_name, administrator, obj)
    group = Group.objects.get(name=MANAGER)
    client = login(administrator)
    client.post(access_url(kind, obj), {"op": "grant", "group": group.pk, "level": "change"})
    assert grants(obj)[1][MANAGER] == {
        "view_" + obj._meta.model_name,
        "change_" + obj._meta.model_name,
    }
    assert "can change" in client.get(access_url(kind, obj)).content.decode()
    client.post(access_url(kind, obj), {"op": "grant", "group": group.pk, "level": "view"})
    assert grants(obj)[1][MANAGER] == {"view_" + obj._meta.model_name}


def test_revoking_a_grant_closes_the_object_again(kind, login, administrator, viewer):
    obj = build(kind, restricted=True)
    assign_perm(obj._meta.app_label + ".change_" + obj._meta.model_name, administrator, obj)
    assign_perm(obj._meta.app_label + ".view_" + obj._meta.model_name, viewer, obj)
    response = login(administrator).post(
        access_url(kind, obj), {"op": "revoke", "grantee": f"user:{viewer.pk}"}
    )
    assert response.status_code == 302
    assert "vera" not in grants(obj)[0]
    assert not can_see(viewer, obj)


def test_link_to_the_access_page_only_for_those_who_may_manage_it(
    kind, login, administrator, viewer
):
    obj = build(kind)
    page = KINDS[kind][2].format(obj.pk)
    assert access_url(kind, obj) in login(administrator).get(page).content.decode()
    if kind != "channel":  # the channel edit page is for administrators only
        response = login(viewer).get(page)
        assert response.status_code == 200
        assert access_url(kind, obj) not in response.content.decode()


def test_superuser_manages_a_restricted_object_without_a_grant(kind, login, make_user):
    root = make_user("root", superuser=True)
    obj = build(kind, restricted=True)
    assert login(root).get(access_url(kind, obj)).status_code == 200


def test_audience_creator_manages_its_access(login, manager):
    audience = make_audience(created_by=manager, restricted=True)
    assign_perm("audiences.change_audience", manager, audience)
    assign_perm("audiences.view_audience", manager, audience)
    assert can_manage_access(manager, audience)
    assert login(manager).get(f"/audiences/{audience.pk}/access/").status_code == 200


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_wrong_method_is_405(kind, login, administrator, method):
    obj = build(kind)
    assert getattr(login(administrator), method)(access_url(kind, obj)).status_code == 405


def test_anonymous_is_sent_to_sign_in(kind, client):
    obj = build(kind)
    response = client.get(access_url(kind, obj))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("persona", ["viewer", "manager", "approver"])
def test_other_roles_are_refused_with_403_and_nothing_changes(kind, login, request, persona):
    user = request.getfixturevalue(persona)
    if kind == "channel" and persona != "viewer":
        pass  # managers and approvers see configurations too (channel.view)
    obj = build(kind)
    client = login(user)
    assert client.get(access_url(kind, obj)).status_code == 403
    response = client.post(access_url(kind, obj), {"op": "restrict", "restricted": "on"})
    assert response.status_code == 403
    obj.refresh_from_db()
    assert not obj.restricted
    assert grants(obj) == ({}, {})


def test_outsider_without_a_role_gets_404(kind, login, outsider):
    obj = build(kind)
    assert login(outsider).get(access_url(kind, obj)).status_code == 404


def test_restricted_object_not_granted_is_404_even_for_an_administrator(kind, login, administrator):
    obj = build(kind, restricted=True)
    client = login(administrator)
    assert client.get(access_url(kind, obj)).status_code == 404
    response = client.post(access_url(kind, obj), {"op": "restrict"})
    assert response.status_code == 404
    obj.refresh_from_db()
    assert obj.restricted


def test_unknown_or_impossible_object_is_404(kind, login, administrator):
    client = login(administrator)
    assert client.get(KINDS[kind][1].format(987654)).status_code == 404
    assert client.get(KINDS[kind][1].format(2**70)).status_code == 404


def test_audience_of_someone_else_is_403_for_a_manager(login, manager, make_user):
    audience = make_audience(created_by=make_user("other", MANAGER))
    assert login(manager).get(f"/audiences/{audience.pk}/access/").status_code == 403


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "data, field",
    [
        ({"op": "grant", "level": "view"}, "__all__"),
        ({"op": "grant", "username": "nobody", "level": "view"}, "username"),
        ({"op": "grant", "username": "vera", "group": "1", "level": "view"}, "__all__"),
        ({"op": "grant", "username": "vera", "level": "own"}, "level"),
        ({"op": "grant", "group": "999999", "level": "view"}, "group"),
        ({"op": "revoke", "grantee": "user:abc"}, "grantee"),
        ({"op": "revoke", "grantee": "user:999999"}, "grantee"),
    ],
)
def test_bad_input_is_a_form_error_and_writes_nothing(
    kind, login, administrator, viewer, data, field
):
    obj = build(kind)
    response = login(administrator).post(access_url(kind, obj), data)
    assert response.status_code == 400
    form = response.context["grant_form" if data["op"] == "grant" else "revoke_form"]
    assert field in form.errors
    assert grants(obj) == ({}, {})


def test_inactive_user_cannot_be_granted(kind, login, administrator, viewer):
    viewer.is_active = False
    viewer.save()
    obj = build(kind)
    response = login(administrator).post(
        access_url(kind, obj), {"op": "grant", "username": "vera", "level": "view"}
    )
    assert response.status_code == 400
    assert grants(obj) == ({}, {})


def test_unknown_operation_is_400(kind, login, administrator):
    obj = build(kind)
    response = login(administrator).post(access_url(kind, obj), {"op": "delete"})
    assert response.status_code == 400


def test_revoking_your_own_access_to_a_restricted_object_is_refused(kind, login, administrator):
    obj = build(kind)
    client = login(administrator)
    client.post(access_url(kind, obj), {"op": "restrict", "restricted": "on"})
    before = grants(obj)
    response = client.post(
        access_url(kind, obj), {"op": "revoke", "grantee": f"user:{administrator.pk}"}
    )
    assert response.status_code == 400
    assert "your own access" in response.content.decode()
    assert grants(obj) == before
    response = client.post(
        access_url(kind, obj), {"op": "grant", "username": "ada", "level": "view"}
    )
    assert response.status_code == 400
    assert grants(obj) == before
