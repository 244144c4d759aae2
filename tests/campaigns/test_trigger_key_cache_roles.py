"""The per-process API key memory (accounts/keycache.py) honours a change of
roles, group permissions or the user at once on the trigger endpoints (issue 10,
second review): the remembered permissions are checked at the commit point,
without an extra round trip on the hot path."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission

from accounts.roles import MANAGER, VIEWER
from audiences.models import Profile
from campaigns.models import Run
from tests.campaigns.test_triggers import api_campaign, body

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def known(db):
    return Profile.objects.create(email="known@example.com")


@pytest.fixture
def settings_ttl(settings):
    settings.API_KEY_CACHE_SECONDS = 10


def test_a_removed_role_refuses_the_next_trigger(api_for, manager, known, queued, settings_ttl):
    campaign = api_campaign()
    client = api_for(manager)
    assert client.post("/executions/unitary", body(campaign, "a")).status_code == 202
    manager.groups.remove(Group.objects.get(name=MANAGER))
    manager.groups.add(Group.objects.get(name=VIEWER))

    refused = client.post("/executions/unitary", body(campaign, "b"))

    assert refused.status_code == 403, refused.content
    assert not Run.objects.filter(request_id="b").exists()
    # Given back, the role works again at once.
    manager.groups.add(Group.objects.get(name=MANAGER))
    assert client.post("/executions/unitary", body(campaign, "c")).status_code == 202


def test_a_permission_taken_from_the_group_refuses_the_next_trigger(
    api_for,
    manager,
    known,
    queued,
    settings_ttl,
):
    campaign = api_campaign()
    client = api_for(manager)
    assert client.post("/executions/unitary", body(campaign, "a")).status_code == 202
    Group.objects.get(name=MANAGER).permissions.remove(
        Permission.objects.get(codename="change_campaign", content_type__app_label="campaigns")
    )
    refused = client.post("/executions/unitary", body(campaign, "b"))
    assert refused.status_code == 403, refused.content
    assert not Run.objects.filter(request_id="b").exists()


def test_a_user_removed_from_the_group_side_is_refused(
    api_for,
    manager,
    known,
    queued,
    settings_ttl,
):
    campaign = api_campaign()
    client = api_for(manager)
    assert client.post("/executions/unitary", body(campaign, "a")).status_code == 202
    Group.objects.get(name=MANAGER).user_set.remove(manager)
    assert client.post("/executions/unitary", body(campaign, "b")).status_code in (403, 404)
    assert not Run.objects.filter(request_id="b").exists()


def test_a_deactivated_user_is_refused_on_reads_too(
    api_for,
    manager,
    known,
    queued,
    settings_ttl,
):
    campaign = api_campaign()
    client = api_for(manager)
    first = client.post("/executions/unitary", body(campaign, "a"))
    assert first.status_code == 202
    execution = f"/executions/{first.json()['executionId']}"
    assert client.get(execution).status_code == 200
    manager.is_active = False
    manager.save()
    assert client.get(execution).status_code == 401
    assert client.post("/executions/unitary", body(campaign, "b")).status_code == 401


def test_a_removed_role_is_honoured_on_execution_reads(
    api_for,
    manager,
    known,
    queued,
    settings_ttl,
):
    campaign = api_campaign()
    client = api_for(manager)
    first = client.post("/executions/unitary", body(campaign, "a"))
    execution = f"/executions/{first.json()['executionId']}"
    assert client.get(execution).status_code == 200
    manager.groups.clear()
    assert client.get(execution).status_code in (403, 404)
