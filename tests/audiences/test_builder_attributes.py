"""The rule builder offers the attributes profiles carry, by name and type
(issue 12, look and feel), and still takes a new attribute name."""

from __future__ import annotations

import re

import pytest

from audiences.models import Audience, Profile
from audiences.selectors import known_attributes

pytestmark = pytest.mark.django_db


def _profiles():
    Profile.objects.create(
        email="a@example.com",
        attributes={"city": "Paris", "age": 31, "vip": True, "tags": ["x"], "meta": {"a": 1}},
    )
    Profile.objects.create(email="b@example.com", attributes={"city": "Lyon", "plan": 3})
    Profile.objects.create(email="c@example.com", attributes={"plan": "pro", "note": None})


def test_known_attributes_are_sampled_with_their_kind():
    _profiles()
    assert known_attributes() == [
        ("age", "number"),
        ("city", "text"),
        ("plan", "text"),  # a number on one profile, text on another: text
        ("tags", "list"),
        ("vip", "boolean"),
    ]
    assert known_attributes(sample=1) == [("plan", "text")]


def test_builder_lists_known_attributes_with_types(login, manager):
    _profiles()
    html = login(manager).get("/audiences/new/").content.decode()
    select = re.search(r'<select name="c-0-field".*?</select>', html, re.S).group(0)
    assert '<option value="attributes.city" data-kind="text">city · text</option>' in select
    assert '<option value="attributes.age" data-kind="number">age · number</option>' in select
    assert '<option value="attributes.vip" data-kind="boolean">vip · yes/no</option>' in select
    assert 'value="attributes.*"' in select and 'value="consent.email"' in select
    assert 'name="c-0-attribute"' in html
    assert "attributes.&lt;name&gt;" not in html and "Name:" not in html
    assert re.search(r'<label for="id_name">Name</label>', html)


def _post(client, **row):
    data = {
        "name": "Gold",
        "match": "all",
        "c-TOTAL_FORMS": "1",
        "c-INITIAL_FORMS": "0",
        "c-MIN_NUM_FORMS": "0",
        "c-MAX_NUM_FORMS": "100",
        "save": "1",
    }
    data.update({f"c-0-{k}": v for k, v in row.items()})
    return client.post("/audiences/new/", data)


def test_a_new_attribute_name_is_accepted(login, manager):
    response = _post(
        login(manager), field="attributes.*", attribute="loyalty_tier", op="eq", value="gold"
    )
    assert response.status_code == 302
    assert Audience.objects.get().rule == {
        "all": [{"field": "attributes.loyalty_tier", "op": "eq", "value": "gold"}]
    }


def test_a_new_attribute_without_a_name_is_refused(login, manager):
    response = _post(login(manager), field="attributes.*", attribute=" ", op="eq", value="gold")
    assert response.status_code == 200
    assert "Name the attribute." in response.content.decode()
    assert not Audience.objects.exists()


def test_a_rule_on_an_attribute_no_profile_carries_still_shows(login, manager):
    client = login(manager)
    assert _post(client, field="attributes.shoe_size", op="gt", value="40").status_code == 302
    audience = Audience.objects.get()
    assert audience.rule == {"all": [{"field": "attributes.shoe_size", "op": "gt", "value": 40}]}
    html = client.get(f"/audiences/{audience.pk}/edit/").content.decode()
    assert '<option value="attributes.shoe_size" selected>shoe_size</option>' in html


def test_attributes_of_profiles_hidden_from_the_user_are_not_offered(make_user):
    """Only names, but still a profile known only through a restricted audience
    the user may not see (issue 10 #3): its attributes stay out of the list."""
    from accounts.roles import MANAGER
    from audiences.models import AudienceMember

    manager = make_user("m", MANAGER)
    Profile.objects.create(email="seen@example.com", attributes={"city": "Paris"})
    hidden = Profile.objects.create(email="vip@example.com", attributes={"salary": 1})
    secret = Audience.objects.create(name="Board", kind="upload", restricted=True)
    AudienceMember.objects.create(audience=secret, profile=hidden)
    assert known_attributes(manager) == [("city", "text")]
    assert ("salary", "number") in known_attributes()  # the operator's view (no user)
