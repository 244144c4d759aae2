"""Twelfth outside review of issue 10 (docs/security-review-12.md),
authorization half: each test reproduced its finding on the code before the
fix. SQLite by default, PostgreSQL + Redis with DATABASE_URL / REDIS_URL."""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.management.sql import emit_post_migrate_signal
from guardian.shortcuts import assign_perm

from accounts import keycache
from accounts.models import ApiKey
from campaigns.models import Campaign
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db

MIGRATION = "accounts.migrations.0008_apikeys_made_before_0007"


@pytest.fixture(autouse=True)
def _fresh_key_memory():
    keycache.forget()
    yield
    keycache.forget()


def _made_before_0007(client, maker, owner) -> tuple[ApiKey, ApiClient]:
    """A key ``maker`` made for ``owner`` on the admin's add page, as it was
    stored before migration accounts/0007: nobody known as its maker."""
    client.force_login(maker)
    made = client.post("/admin/accounts/apikey/add/", {"user": owner.pk, "name": "ci"})
    assert made.status_code == 302, made.content[:500]
    plain = re.search(r"vly_[A-Za-z0-9_\-]+", client.get(made["Location"]).content.decode())
    key = ApiKey.objects.get(user=owner)
    ApiKey.objects.filter(pk=key.pk).update(created_by=None, for_another=False)
    return key, ApiClient(plain.group(0))


def _migrate() -> None:
    importlib.import_module(MIGRATION).mark(apps, None)
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")


def _reads(api, campaign) -> int:
    keycache.forget()  # as another process would after its key memory's TTL
    return api.get(f"/campaigns/{campaign.pk}").status_code


def test_keys_administrators_made_before_0007_are_known_as_made_for_another(
    administrator, approver, client
):
    """Review 10 #5: a key an administrator makes for someone else holds no
    more than its maker (``accounts.keyguard``). Keys made before migration
    accounts/0007 did not say who made them, so they were taken for their
    owner's own and never checked: the administrator's copy of the key they
    had made for an approver read a restricted campaign once a superuser
    granted it to the approver, and held a superuser's powers once the
    approver was made one. The admin's log says who made each key."""
    key, copy = _made_before_0007(client, administrator, approver)
    _migrate()
    key.refresh_from_db()
    assert (key.created_by_id, key.for_another) == (administrator.pk, True)
    secret = Campaign.objects.create(name="Board letter", status="draft", restricted=True)
    assign_perm("campaigns.view_campaign", approver, secret)
    assert _reads(copy, secret) == 401
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_one_already_beyond_its_maker_is_revoked_at_migrate(administrator, approver, client):
    """The owner was granted more before the upgrade: checked once migrate ends."""
    key, copy = _made_before_0007(client, administrator, approver)
    secret = Campaign.objects.create(name="Board letter", status="draft", restricted=True)
    assign_perm("campaigns.view_campaign", approver, secret)
    assert _reads(copy, secret) == 200  # the hole, before the migration
    _migrate()
    assert _reads(copy, secret) == 401


def test_keys_owners_made_themselves_stay_theirs(approver, api_for, client, administrator):
    from accounts.services import api_key_create

    own, _plain = api_key_create(user=approver, name="mine")
    # An addition logged by the owner (their own key in the admin) is theirs too.
    mine = LogEntry.objects.create(
        user=approver,
        content_type=ContentType.objects.get_for_model(ApiKey),
        object_id=str(own.pk),
        object_repr="mine",
        action_flag=ADDITION,
    )
    assert mine.pk
    _migrate()
    own.refresh_from_db()
    assert (own.created_by_id, own.for_another, own.revoked_at) == (None, False, None)
