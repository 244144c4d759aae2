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
    Profile.objects.create(email="ann@example.com", attributes={"city": "a" * MAX_TEXT})
    rule = {"all": [{"field": "attributes.city", "op": "contains", "value": "a" * MAX_TEXT}]}
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
