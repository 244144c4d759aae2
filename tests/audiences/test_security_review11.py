"""Reproductions for docs/security-review-11.md (each failed on the old code)."""

from __future__ import annotations

import pytest

from audiences.models import Audience, Profile
from audiences.rules import MAX_TEXT

pytestmark = pytest.mark.django_db

# The old code answered 500 on SQLite ("LIKE or GLOB pattern too complex": a
# pattern over 50,000 bytes, which escaping doubles for backslashes, % and _).
LONG = [
    ("email", "contains", "a" * 50_001),
    ("attributes.city", "contains", "a" * 50_001),
    ("phone", "contains", "\\" * 30_000),
    ("attributes.city", "in", ["a" * (MAX_TEXT + 1)]),
    ("attributes.city", "eq", "a" * (MAX_TEXT + 1)),
]


@pytest.mark.parametrize(("field", "op", "value"), LONG)
def test_2_a_very_long_text_in_a_condition_is_a_400(field, op, value, api_for, manager):
    Profile.objects.create(email="ann@example.com", attributes={"city": "Lyon"})
    client = api_for(manager)
    rule = {"all": [{"field": field, "op": op, "value": value}]}
    answer = client.post("/audiences/preview", {"rule": rule})
    assert answer.status_code == 400, answer.content[:300]
    assert "rule.all[0].value" in answer.json()["errors"] or any(
        k.endswith(".value") for k in answer.json()["errors"]
    )
    answer = client.post("/audiences", {"name": "Long", "rule": rule})
    assert answer.status_code == 400, answer.content[:300]
    assert not Audience.objects.exists()


def test_2_a_text_of_the_bound_is_compared(api_for, manager):
    # "eq": since review 18 all the "contains" texts of a rule have at most
    # MAX_CONTAINS_TEXT characters together (tests/audiences/test_security_review18.py).
    Profile.objects.create(email="ann@example.com", attributes={"city": "a" * MAX_TEXT})
    rule = {"all": [{"field": "attributes.city", "op": "eq", "value": "a" * MAX_TEXT}]}
    answer = api_for(manager).post("/audiences/preview", {"rule": rule})
    assert answer.status_code == 200, answer.content[:300]
    assert answer.json()["size"] == 1


def test_4_import_profiles_with_a_too_long_audience_name_is_a_command_error(tmp_path):
    """Old code: PostgreSQL refused the name (a DataError traceback); SQLite kept
    a name longer than the column."""
    from django.core.management import CommandError, call_command

    csv = tmp_path / "people.csv"
    csv.write_text("email\nann@example.com\n")
    with pytest.raises(CommandError, match="at most 200"):
        call_command("import_profiles", str(csv), "--audience", "a" * 201)
    assert not Audience.objects.exists()


def _rule_read(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if '"audiences_audience"."rule"' in q["sql"]]


def test_3_the_audience_list_and_the_campaign_form_do_not_load_rules(
    login, api_for, manager, viewer
):
    """Old code: the list page (50 a page) and the campaign form's audience
    choices (every ready audience, not paged) read each audience whole, rule
    included — a rule may hold megabytes of ``in`` values (20 of 4.4 MB: 178 MB
    traced for one view of the list)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.campaigns.lifecycle_helpers import ready_email

    rule = {"all": [{"field": "attributes.city", "op": "in", "value": ["Lyon", "Paris"]}]}
    assert api_for(manager).post("/audiences", {"name": "Cities", "rule": rule}).status_code == 201
    with CaptureQueriesContext(connection) as queries:
        page = login(viewer).get("/audiences/")
    assert page.status_code == 200 and "Cities" in page.content.decode()
    assert not _rule_read(queries)

    campaign = ready_email(manager)
    with CaptureQueriesContext(connection) as queries:
        page = login(manager).get(f"/campaigns/{campaign.pk}/edit/")
    assert page.status_code == 200 and "Cities" in page.content.decode()
    assert not [sql for sql in _rule_read(queries) if "ready" in sql]


def test_2_a_rule_stored_with_a_long_text_before_the_bound_still_selects(api_for, manager):
    """The bound is for rules written from now on: a stored one (PostgreSQL
    accepted texts of any length) keeps selecting what it did, where it is read."""
    from audiences.selectors import audience_profiles

    city = "a" * (MAX_TEXT + 5)
    Profile.objects.create(email="ann@example.com", attributes={"city": city})
    rule = {"all": [{"field": "attributes.city", "op": "eq", "value": city}]}
    audience = Audience.objects.create(name="Old", kind=Audience.Kind.RULE, rule=rule)
    assert audience_profiles(audience).count() == 1
    answer = api_for(manager).get(f"/audiences/{audience.pk}")
    assert answer.status_code == 200 and answer.json()["size"] == 1


def test_7_the_detail_page_of_a_rule_that_no_longer_compiles_is_no_500(login, viewer):
    """Old code: a 500 for every reader (the API's read already answered size 0)."""
    audience = Audience.objects.create(name="Broken", kind=Audience.Kind.RULE, rule={"all": []})
    page = login(viewer).get(f"/audiences/{audience.pk}/")
    assert page.status_code == 200 and "Broken" in page.content.decode()
