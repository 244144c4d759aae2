"""Seventeenth outside review of issue 10 (docs/security-review-17.md),
authorization and restricted data: each test reproduced its finding on the
code before the fix. SQLite by default, PostgreSQL + Redis with DATABASE_URL /
REDIS_URL."""

from __future__ import annotations

import pytest
from guardian.shortcuts import get_groups_with_perms, get_users_with_perms

from accounts.models import ApiKey
from accounts.roles import MANAGER, VIEWER
from audiences.models import Audience

pytestmark = pytest.mark.django_db

OSLO = {"all": [{"field": "attributes.city", "op": "eq", "value": "Oslo"}]}


@pytest.fixture
def keyed(administrator, make_user, login):
    """A manager and a viewer, each with a key an administrator made for them
    in the admin (an integration's key)."""
    mike, vic = make_user("mike", MANAGER), make_user("vic", VIEWER)
    page = login(administrator)
    for user in (mike, vic):
        made = page.post("/admin/accounts/apikey/add/", {"user": user.pk, "name": "integration"})
        assert made.status_code == 302
    return mike, vic


def _live_keys() -> set[str]:
    return set(
        ApiKey.objects.filter(for_another=True, revoked_at__isnull=True).values_list(
            "user__username", flat=True
        )
    )


def _assignable_roles(page, user) -> set[str]:
    form = page.get(f"/admin/auth/user/{user.pk}/change/").context["adminform"].form
    return set(form.fields["groups"].queryset.values_list("name", flat=True))


def test_a_managers_grant_to_a_role_group_revokes_no_keys_and_keeps_the_role_assignable(
    keyed, manager, administrator, api_for, make_user, client
):
    """An audience's creator manages its access (a manager). A group holding
    any grant is one only superusers put people in, and the keys
    administrators made for its members are revoked (reviews 6, 10: such a key
    would read what the administrator may not). A manager granting their own
    *open* audience — which gives nobody anything — to the Campaign Manager and
    Campaign Viewer groups revoked every key administrators had made for
    managers and viewers (integrations down) and left administrators unable to
    give anyone those roles. Sharing with a group is the administrators'."""
    api = api_for(manager)
    created = api.post("/audiences", {"name": "Mine", "rule": OSLO})
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    for restricted in (False, True):
        answer = api.put(
            f"/audiences/{pk}/access",
            {
                "restricted": restricted,
                "grants": [
                    {"group": MANAGER, "permission": "view"},
                    {"group": VIEWER, "permission": "view"},
                ],
            },
        )
        assert answer.status_code == 400, answer.content
        assert "grants" in answer.json()["errors"]
    assert _live_keys() == {"mike", "vic"}
    assert not get_groups_with_perms(Audience.objects.get(pk=pk))
    newcomer = make_user("newcomer")
    client.force_login(administrator)
    assert {MANAGER, VIEWER} <= _assignable_roles(client, newcomer)


def test_nor_through_the_access_page(keyed, manager, login, api_for):
    from django.contrib.auth.models import Group

    created = api_for(manager).post(
        "/audiences", {"name": "Mine", "rule": OSLO, "restricted": True}
    )
    audience = Audience.objects.get(pk=created.json()["id"])
    page = login(manager)
    shown = page.get(f"/audiences/{audience.pk}/access/")
    assert shown.status_code == 200
    assert 'name="group"' not in shown.content.decode()
    group = Group.objects.get(name=VIEWER)
    page.post(
        f"/audiences/{audience.pk}/access/",
        {"op": "grant", "group": group.pk, "level": "view"},
    )
    assert not get_groups_with_perms(audience)
    assert _live_keys() == {"mike", "vic"}


def test_a_grant_on_an_open_audience_by_its_creator_is_refused(keyed, manager, api_for):
    """While the audience is open every role sees it: the grant gives nothing,
    but revoked the key an administrator had made for its grantee."""
    mike, _vic = keyed
    api = api_for(manager)
    pk = api.post("/audiences", {"name": "Mine", "rule": OSLO}).json()["id"]
    answer = api.put(
        f"/audiences/{pk}/access",
        {"restricted": False, "grants": [{"user": "mike", "permission": "view"}]},
    )
    assert answer.status_code == 400, answer.content
    assert "mike" in _live_keys()


def test_the_creator_still_shares_a_restricted_audience_with_people(manager, api_for, make_user):
    colleague = make_user("colleague", MANAGER)
    api = api_for(manager)
    pk = api.post("/audiences", {"name": "Mine", "rule": OSLO}).json()["id"]
    answer = api.put(
        f"/audiences/{pk}/access",
        {"restricted": True, "grants": [{"user": "colleague", "permission": "view"}]},
    )
    assert answer.status_code == 200, answer.content
    assert colleague in get_users_with_perms(Audience.objects.get(pk=pk))


def test_administrators_still_share_with_groups_and_creators_keep_their_grants(
    manager, administrator, api_for
):
    """An administrator's group grant stays when the creator rewrites the list
    around it (a grant kept as it is was someone's to give)."""
    api = api_for(manager)
    pk = api.post("/audiences", {"name": "Mine", "rule": OSLO, "restricted": True}).json()["id"]
    shared = api.put(
        f"/audiences/{pk}/access",
        {"restricted": True, "grants": [{"user": "ada", "permission": "change"}]},
    )
    assert shared.status_code == 200, shared.content
    by_admin = api_for(administrator).put(
        f"/audiences/{pk}/access",
        {
            "restricted": True,
            "grants": [
                {"group": VIEWER, "permission": "view"},
                {"user": "mona", "permission": "change"},
                {"user": "ada", "permission": "change"},
            ],
        },
    )
    assert by_admin.status_code == 200, by_admin.content
    kept = api.put(
        f"/audiences/{pk}/access",
        {
            "restricted": True,
            "grants": [
                {"group": VIEWER, "permission": "view"},
                {"user": "mona", "permission": "change"},
            ],
        },
    )
    assert kept.status_code == 200, kept.content


# --- 2 (Low): an administrator revoked a superuser's keys --------------------------


def test_an_administrator_does_not_revoke_or_delete_a_superusers_key(
    administrator, make_user, login
):
    """The keys of someone holding more than the administrator — a superuser,
    a grant on a restricted object — are a superuser's to revoke, as their
    lock-outs are to lift (review 6 #6): an administrator revoked and deleted
    a superuser's keys (their integrations down)."""
    from accounts.services import api_key_authenticate, api_key_create

    root = make_user("root", superuser=True)
    key, plain = api_key_create(user=root, name="deploys")
    page = login(administrator)
    page.post("/admin/accounts/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    page.post(f"/admin/accounts/apikey/{key.pk}/delete/", {"post": "yes"})
    page.post(
        "/admin/accounts/apikey/",
        {"action": "delete_selected", "_selected_action": [key.pk], "post": "yes"},
    )
    assert api_key_authenticate(plain) == key
    own, _plain = api_key_create(user=make_user("mia", MANAGER), name="ci")
    page.post("/admin/accounts/apikey/", {"action": "revoke", "_selected_action": [own.pk]})
    own.refresh_from_db()
    assert own.revoked_at is not None  # a manager's key: still the administrators'
