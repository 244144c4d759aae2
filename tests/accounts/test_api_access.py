"""`GET/PUT /api/v1/{campaigns|audiences|channel-configurations}/{id}/access`
(SPEC §7, issue 12 #6): the Access page's restrict / grant / revoke through the
API, with the page's checks (accounts.permissions.can_manage_access)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from guardian.shortcuts import assign_perm, get_groups_with_perms, get_users_with_perms

from accounts.roles import APPROVER, MANAGER
from tests.accounts.test_access import make_audience, make_campaign, make_config

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
KINDS = {
    "campaign": (make_campaign, "/campaigns/{}"),
    "audience": (make_audience, "/audiences/{}"),
    "channel": (make_config, "/channel-configurations/{}"),
}


@pytest.fixture(params=sorted(KINDS))
def kind(request):
    return request.param


def build(kind, **fields):
    return KINDS[kind][0](**fields)


def url(kind, obj) -> str:
    return KINDS[kind][1].format(obj.pk) + "/access"


def holders(obj) -> dict[str, set[str]]:
    users = {u.username: set(p) for u, p in get_users_with_perms(obj, attach_perms=True).items()}
    groups = {g.name: set(p) for g, p in get_groups_with_perms(obj, attach_perms=True).items()}
    return {**users, **{f"group:{k}": v for k, v in groups.items()}}


def test_read_an_open_object(kind, api_for, administrator):
    obj = build(kind)
    response = api_for(administrator).get(url(kind, obj))
    assert response.status_code == 200
    assert response.json() == {"restricted": False, "grants": []}


def test_put_restricts_and_sets_exactly_these_grants(kind, api_for, administrator, viewer):
    obj = build(kind)
    api = api_for(administrator)
    body = {
        "restricted": True,
        "grants": [
            {"user": viewer.username, "permission": "view"},
            {"group": MANAGER, "permission": "change"},
        ],
    }
    response = api.put(url(kind, obj), body)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["restricted"] is True
    assert all(len(g) == 2 for g in answer["grants"])  # a user or a group, never both keys
    grants = {(g.get("user") or "group:" + g["group"], g["permission"]) for g in answer["grants"]}
    # Whoever restricts keeps change access (as on the page).
    assert grants == {
        (viewer.username, "view"),
        ("group:" + MANAGER, "change"),
        (administrator.username, "change"),
    }
    obj.refresh_from_db()
    assert obj.restricted
    assert api.get(url(kind, obj)).json() == answer
    # A second PUT replaces: the viewer's grant and the group's are gone.
    response = api.put(url(kind, obj), {"restricted": True, "grants": []})
    assert response.status_code == 200
    assert set(holders(obj)) == {administrator.username}


def test_put_opens_a_restricted_object_again_keeping_the_listed_grants(
    kind, api_for, administrator, viewer
):
    obj = build(kind, restricted=True)
    view_perm = {
        "campaign": "campaigns.view_campaign",
        "audience": "audiences.view_audience",
        "channel": "channels.view_channelconfiguration",
    }[kind]
    change_perm = view_perm.replace(".view_", ".change_")
    assign_perm(change_perm, administrator, obj)
    assign_perm(view_perm, viewer, obj)
    response = api_for(administrator).put(
        url(kind, obj), {"restricted": False, "grants": [{"user": "vera", "permission": "view"}]}
    )
    assert response.status_code == 200
    obj.refresh_from_db()
    assert not obj.restricted
    assert "vera" in holders(obj) and administrator.username not in holders(obj)


@pytest.mark.parametrize("persona", ["viewer", "manager", "approver"])
def test_roles_that_may_not_manage_access_get_403_and_nothing_changes(
    kind, api_for, request, persona
):
    obj = build(kind)
    user = request.getfixturevalue(persona)
    api = api_for(user)
    for response in (
        api.get(url(kind, obj)),
        api.put(url(kind, obj), {"restricted": True, "grants": []}),
    ):
        assert response.status_code in (403, 404), response.content
        assert response["Content-Type"].startswith(PROBLEM)
    if kind != "channel":  # every role sees campaigns and audiences: refused, not hidden
        assert api.get(url(kind, obj)).status_code == 403
    obj.refresh_from_db()
    assert not obj.restricted and holders(obj) == {}


def test_restricted_object_not_granted_is_404_even_for_an_administrator(
    kind, api_for, administrator
):
    obj = build(kind, restricted=True)
    response = api_for(administrator).put(url(kind, obj), {"restricted": False, "grants": []})
    assert response.status_code == 404
    obj.refresh_from_db()
    assert obj.restricted


def test_unknown_object_is_404(kind, api_for, administrator):
    assert api_for(administrator).get(KINDS[kind][1].format(999999) + "/access").status_code == 404


@pytest.mark.parametrize(
    "grant, field",
    [
        ({"user": "nobody", "permission": "view"}, "grants.0.user"),
        ({"group": "No such group", "permission": "view"}, "grants.0.group"),
        ({"user": "vera", "group": APPROVER, "permission": "view"}, "grants.0"),
        ({"permission": "view"}, "grants.0"),
        ({"user": "vera", "permission": "own"}, "grants.0.permission"),
    ],
)
def test_bad_grants_are_a_400_problem_and_write_nothing(
    kind, api_for, administrator, viewer, grant, field
):
    obj = build(kind)
    response = api_for(administrator).put(url(kind, obj), {"restricted": True, "grants": [grant]})
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    assert field in response.json()["errors"], response.json()
    obj.refresh_from_db()
    assert not obj.restricted and holders(obj) == {}


def test_a_user_listed_twice_is_refused(kind, api_for, administrator, viewer):
    obj = build(kind)
    grants = [{"user": "vera", "permission": "view"}, {"user": "vera", "permission": "change"}]
    response = api_for(administrator).put(url(kind, obj), {"restricted": True, "grants": grants})
    assert response.status_code == 400
    obj.refresh_from_db()
    assert not obj.restricted and holders(obj) == {}


def test_inactive_user_cannot_be_granted(kind, api_for, administrator, viewer):
    viewer.is_active = False
    viewer.save()
    obj = build(kind)
    body = {"restricted": False, "grants": [{"user": "vera", "permission": "view"}]}
    assert api_for(administrator).put(url(kind, obj), body).status_code == 400


def test_audience_creator_manages_its_access_through_the_api(api_for, manager, make_user):
    mine = make_audience(created_by=manager)
    theirs = make_audience(name="Theirs", created_by=make_user("other", MANAGER))
    api = api_for(manager)
    body = {"restricted": True, "grants": [{"user": "other", "permission": "view"}]}
    assert api.put(f"/audiences/{mine.pk}/access", body).status_code == 200
    assert api.put(f"/audiences/{theirs.pk}/access", body).status_code == 403
    assert Group.objects.get(name=MANAGER) and mine.__class__.objects.get(pk=mine.pk).restricted
    # Sharing with a group is the administrators' (security review 17).
    group = {"restricted": True, "grants": [{"group": MANAGER, "permission": "view"}]}
    assert api.put(f"/audiences/{mine.pk}/access", group).status_code == 400


def test_restricting_through_the_api_hides_the_object_from_the_others(
    kind, api_for, administrator, viewer
):
    obj = build(kind)
    read = {
        "campaign": f"/campaigns/{obj.pk}",
        "audience": f"/audiences/{obj.pk}",
        "channel": f"/channel-configurations/{obj.pk}",
    }[kind]
    assert api_for(administrator).put(url(kind, obj), {"restricted": True}).status_code == 200
    assert api_for(viewer).get(read).status_code == 404
    assert api_for(administrator).get(read).status_code == 200
