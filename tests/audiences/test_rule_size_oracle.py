"""A rule audience's size never counts profiles its reader could not see (third
review of issue 10). ``POST /audiences`` answered the size of a rule over every
profile, so a manager could read a hidden person's attributes one rule at a
time (``email eq X and attributes.salary gt N``) — the oracle issue 10 #3
closed in the page's preview. The stored size (shown in lists) counts only
profiles everyone may see; a single audience is counted for its reader."""

from __future__ import annotations

import pytest

from audiences.models import Audience, AudienceMember, Profile


@pytest.fixture
def secret(db):
    vip = Audience.objects.create(name="VIP list", kind="upload", restricted=True, size=1)
    profile = Profile.objects.create(email="secret@example.com", attributes={"salary": 90000})
    AudienceMember.objects.create(audience=vip, profile=profile)
    Profile.objects.create(email="public@example.com", attributes={"salary": 1})
    return profile


def _rule(value):
    return {"all": [{"field": "attributes.salary", "op": "gt", "value": value}]}


def test_creating_or_changing_a_rule_never_counts_hidden_profiles(api_for, manager, secret):
    api = api_for(manager)
    created = api.post("/audiences", {"name": "Probe", "rule": _rule(50000)})
    assert created.status_code == 201, created.content
    assert created.json()["size"] == 0
    pk = created.json()["id"]
    changed = api.patch(f"/audiences/{pk}", {"rule": _rule(80000)})
    assert changed.status_code == 200, changed.content
    assert changed.json()["size"] == 0
    listed = {a["id"]: a["size"] for a in api.get("/audiences").json()["items"]}
    assert listed[pk] == 0
    assert Audience.objects.get(pk=pk).size == 0


def test_the_page_list_shows_no_hidden_count(login, manager, secret):
    Audience.objects.create(name="Rich", kind="rule", rule=_rule(50000), size=0)
    from audiences import services

    audience = Audience.objects.get(name="Rich")
    services.audience_update_rule(audience=audience, name="Rich", rule=_rule(60000), actor=manager)
    assert Audience.objects.get(name="Rich").size == 0


def test_a_superuser_reading_one_audience_sees_everyone(api_for, make_user, manager, secret):
    created = api_for(manager).post("/audiences", {"name": "Probe", "rule": _rule(50000)}).json()
    root = make_user("root", superuser=True)
    assert api_for(root).get(f"/audiences/{created['id']}").json()["size"] == 1
