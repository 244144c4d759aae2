"""Tenth outside review of issue 10 (docs/security-review-10.md), authorization
half: each test reproduced its finding on the code before the fix. SQLite by
default, PostgreSQL + Redis with DATABASE_URL / REDIS_URL."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from guardian.shortcuts import assign_perm

from accounts import keycache
from accounts.models import ApiKey
from accounts.roles import ADMINISTRATOR, MANAGER
from campaigns.models import Campaign
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_key_memory():
    keycache.forget()
    yield
    keycache.forget()


@pytest.fixture
def secret(db):
    return Campaign.objects.create(name="Board letter", status="draft", restricted=True)


def _made_in_the_admin(client, maker, owner) -> ApiClient:
    """A key for ``owner``, made by ``maker`` on the admin's add page (as an
    administrator hands one to a colleague or a service account)."""
    client.force_login(maker)
    made = client.post("/admin/accounts/apikey/add/", {"user": owner.pk, "name": "ci"})
    assert made.status_code == 302, made.content[:500]
    page = client.get(made["Location"]).content.decode()
    return ApiClient(re.search(r"vly_[A-Za-z0-9_\-]+", page).group(0))


def _reads(api, campaign) -> int:
    keycache.forget()  # as another process would after its key memory's TTL
    return api.get(f"/campaigns/{campaign.pk}").status_code


# --- 5: a key made for someone else followed its owner's later powers -------------


def test_a_key_an_administrator_made_stops_when_its_owner_is_granted_more(
    secret, administrator, approver, client, api_for
):
    """An administrator may not make a key for someone holding a grant on a
    restricted object (review 6), but that was checked only when the key was
    made: once a superuser granted the owner a restricted campaign, the
    administrator's copy of the key read it (restricted from administrators
    too, SPEC §2)."""
    copy = _made_in_the_admin(client, administrator, approver)
    own = api_for(approver)
    assert _reads(copy, secret) == 404

    assign_perm("campaigns.view_campaign", approver, secret)

    assert _reads(copy, secret) == 401  # revoked
    assert _reads(own, secret) == 200  # the owner's own key follows their powers
    key = ApiKey.objects.get(user=approver, created_by=administrator)
    assert key.revoked_at is not None and key.for_another


def test_and_when_its_owner_is_made_a_superuser(administrator, approver, client):
    copy = _made_in_the_admin(client, administrator, approver)
    assert copy.get("/me").status_code == 200
    approver.is_superuser = True
    approver.save()
    keycache.forget()
    assert copy.get("/me").status_code == 401


def test_and_when_its_owner_joins_a_group_holding_a_grant(
    secret, administrator, approver, client, make_user
):
    board = Group.objects.create(name="Board")
    assign_perm("campaigns.view_campaign", board, secret)
    copy = _made_in_the_admin(client, administrator, approver)
    approver.groups.add(board)
    assert _reads(copy, secret) == 401


def test_and_when_the_owners_group_is_granted_later(
    secret, administrator, approver, client, make_user
):
    board = Group.objects.create(name="Board")
    approver.groups.add(board)
    copy = _made_in_the_admin(client, administrator, approver)
    assign_perm("campaigns.view_campaign", board, secret)
    assert _reads(copy, secret) == 401


def test_and_when_its_maker_holds_less(secret, administrator, approver, client):
    """The maker taken off the administrators: their copy of an approver's key
    would keep the approver's powers (publish, approve)."""
    copy = _made_in_the_admin(client, administrator, approver)
    administrator.groups.remove(Group.objects.get(name=ADMINISTRATOR))
    keycache.forget()
    assert copy.get("/me").status_code == 401


def test_keys_within_the_makers_powers_keep_working(
    secret, administrator, approver, client, make_user
):
    copy = _made_in_the_admin(client, administrator, approver)
    approver.groups.add(Group.objects.get(name=MANAGER))  # a role the maker holds too
    approver.first_name = "Alex"
    approver.save()
    assign_perm("campaigns.view_campaign", administrator, secret)  # the maker's own grant
    keycache.forget()
    assert copy.get("/me").status_code == 200
    assert not ApiKey.objects.filter(revoked_at__isnull=False).exists()


def test_keys_made_by_a_superuser_or_by_their_owner_are_not_concerned(
    secret, approver, client, make_user, api_for
):
    root = make_user("root", superuser=True)
    copy = _made_in_the_admin(client, root, approver)
    own = api_for(approver)
    assign_perm("campaigns.view_campaign", approver, secret)
    approver.is_superuser = True
    approver.save()
    assert _reads(copy, secret) == 200
    assert _reads(own, secret) == 200


def test_and_when_its_maker_is_deleted(administrator, approver, client):
    copy = _made_in_the_admin(client, administrator, approver)
    assert copy.get("/me").status_code == 200
    administrator.delete()
    keycache.forget()
    assert copy.get("/me").status_code == 401
