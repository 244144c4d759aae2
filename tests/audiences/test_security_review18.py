"""Reproductions for docs/security-review-18.md (each failed on the old code)."""

from __future__ import annotations

import pytest

from audiences.models import Profile
from audiences.rules import MAX_IN_VALUES, compile_rule

pytestmark = pytest.mark.django_db


def _parameters(rule) -> int:
    _sql, params = Profile.objects.filter(compile_rule(rule)).query.sql_with_params()
    return len(params)


def _in(values) -> dict:
    return {"any": [{"field": "attributes.plan", "op": "in", "value": values}]}


def test_1_an_in_condition_on_an_attribute_is_one_membership_test():
    """Old code (PostgreSQL): one ``attributes #> path = value`` per value, OR'ed
    — 1,000 path extractions and comparisons for each profile and condition
    (10 conditions of 1,000 values over 20,000 profiles: six minutes). Now the
    values are one set, whatever their number (SQLite already passed them as
    one JSON array)."""
    few = _parameters(_in(["a", "b"]))
    many = _parameters(_in([f"v{i}" for i in range(MAX_IN_VALUES)]))
    assert many == few


def test_1_in_keeps_comparing_with_the_json_type():
    for name, plan in (("int", 30), ("float", 30.0), ("text", "30"), ("yes", True), ("no", None)):
        Profile.objects.create(email=f"{name}@example.com", attributes={"plan": plan})

    def selected(values) -> set[str]:
        rows = Profile.objects.filter(compile_rule(_in(values))).values_list("email", flat=True)
        return {email.split("@")[0] for email in rows}

    assert selected([30]) == {"int", "float"}
    assert selected([30.0, "x"]) == {"int", "float"}
    assert selected(["30"]) == {"text"}
    assert selected([True, "30"]) == {"yes", "text"}
    assert selected([False, 31]) == set()
    rule = {"all": [{"field": "attributes.plan", "op": "neq", "value": 30}]}
    assert Profile.objects.filter(compile_rule(rule)).count() == 3  # null and absent included
