"""Every rule operator, evaluated by the database (runs on SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from audiences.models import Profile
from audiences.rules import RuleError, compile_rule


@pytest.fixture
def people(db):
    rows = {
        "ann": {"city": "Paris", "age": 34, "plan": "pro", "tags": ["vip", "beta"], "vip": True},
        "bob": {"city": "Lyon", "age": 19.5, "plan": "free", "tags": ["beta"], "vip": False},
        "cid": {"city": "paris", "age": "40", "plan": "pro", "nested": {"score": 7}},
        "dee": {"age": None, "plan": "team"},
        "eve": {},
    }
    for name, attributes in rows.items():
        Profile.objects.create(
            email=f"{name}@example.com",
            phone=None if name == "eve" else f"+3361234567{len(name) + ord(name[0]) % 10}",
            attributes=attributes,
            timezone="Europe/Paris" if name in {"ann", "bob"} else "",
            consent_email=name in {"ann", "cid"},
        )


def names(rule) -> set[str]:
    qs = Profile.objects.filter(compile_rule(rule))
    return {email.split("@")[0] for email in qs.values_list("email", flat=True)}


def cond(field, op, value=None, **extra):
    node = {"field": field, "op": op, **extra}
    if value is not None:
        node["value"] = value
    return {"all": [node]}


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        ("attributes.city", "eq", "Paris", {"ann"}),
        ("attributes.city", "neq", "Paris", {"bob", "cid", "dee", "eve"}),
        ("attributes.city", "in", ["Paris", "Lyon"], {"ann", "bob"}),
        ("attributes.city", "contains", "ari", {"ann", "cid"}),
        ("attributes.tags", "contains", "vip", {"ann"}),
        ("attributes.tags", "contains", "vi", set()),
        ("attributes.age", "eq", 34, {"ann"}),
        ("attributes.age", "eq", 34.0, {"ann"}),
        ("attributes.age", "eq", "40", {"cid"}),
        ("attributes.age", "gt", 19.5, {"ann"}),
        ("attributes.age", "gte", 19.5, {"ann", "bob"}),
        ("attributes.age", "lt", 34, {"bob"}),
        ("attributes.age", "lte", 34, {"ann", "bob"}),
        ("attributes.age", "gt", 0, {"ann", "bob"}),  # the string "40" is not a number
        ("attributes.age", "exists", True, {"ann", "bob", "cid"}),  # null is absent
        ("attributes.age", "exists", False, {"dee", "eve"}),
        ("attributes.vip", "eq", True, {"ann"}),
        ("attributes.vip", "neq", True, {"bob", "cid", "dee", "eve"}),
        ("attributes.nested.score", "gte", 7, {"cid"}),
        ("attributes.plan", "in", ["pro", "team"], {"ann", "cid", "dee"}),
        ("email", "eq", "ANN@Example.com", {"ann"}),
        ("email", "neq", "ann@example.com", {"bob", "cid", "dee", "eve"}),
        ("email", "in", ["ann@example.com", "bob@example.com"], {"ann", "bob"}),
        ("email", "contains", "EE@", {"dee"}),
        ("phone", "exists", False, {"eve"}),
        ("timezone", "eq", "Europe/Paris", {"ann", "bob"}),
        ("timezone", "exists", True, {"ann", "bob"}),
        ("consent.email", "eq", True, {"ann", "cid"}),
        ("consent.email", "neq", True, {"bob", "dee", "eve"}),
    ],
)
def test_operator_selects_matching_profiles(people, field, op, value, expected):
    assert names(cond(field, op, value)) == expected


def test_exists_defaults_to_true(people):
    assert names({"all": [{"field": "attributes.vip", "op": "exists"}]}) == {"ann", "bob"}


def test_all_and_any_groups_nest(people):
    rule = {
        "any": [
            {"field": "attributes.city", "op": "eq", "value": "Lyon"},
            {
                "all": [
                    {"field": "attributes.plan", "op": "eq", "value": "pro"},
                    {"field": "consent.email", "op": "eq", "value": True},
                    {"field": "attributes.tags", "op": "exists", "value": False},
                ]
            },
        ]
    }
    assert names(rule) == {"bob", "cid"}


def test_rule_is_one_query(people, django_assert_num_queries):
    rule = {"all": [{"field": "attributes.age", "op": "gt", "value": 1}]}
    with django_assert_num_queries(1):
        list(Profile.objects.filter(compile_rule(rule)).values_list("pk", flat=True))


def test_attribute_names_are_data_not_sql(people):
    rule = cond('attributes.x") OR 1=1 --', "eq", "a")
    assert names(rule) == set()
    assert names(cond("attributes.city__contains", "eq", "Paris")) == set()


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        ({"all": [{"field": "attributes.age", "op": "gt", "value": "10"}]}, "rule.all.0.value"),
        ({"all": [{"field": "attributes.age", "op": "between", "value": 1}]}, "rule.all.0.op"),
        ({"all": [{"field": "password", "op": "eq", "value": "x"}]}, "rule.all.0.field"),
        ({"all": [{"field": "email", "op": "gt", "value": 3}]}, "rule.all.0.op"),
        ({"all": [{"field": "email", "op": "lt", "value": 3}]}, "rule.all.0.op"),
        ({"all": [{"field": "email", "op": "eq", "value": 3}]}, "rule.all.0.value"),
        ({"all": [{"field": "attributes.city", "op": "in", "value": "Paris"}]}, "rule.all.0.value"),
        ({"all": [{"field": "attributes.city", "op": "in", "value": []}]}, "rule.all.0.value"),
        ({"all": [{"field": "attributes.city", "op": "eq", "value": {}}]}, "rule.all.0.value"),
        ({"all": [{"field": "attributes.city", "op": "eq"}]}, "rule.all.0.value"),
        ({"all": [{"field": "attributes.", "op": "eq", "value": 1}]}, "rule.all.0.field"),
        ({"all": [{"field": "consent.sms", "op": "eq", "value": "yes"}]}, "rule.all.0.op"),
        ({"all": [{"field": "email", "op": "eq", "value": "a", "x": 1}]}, "rule.all.0"),
        ({"all": []}, "rule.all"),
        ({"some": []}, "rule"),
        ([], "rule"),
        ({"all": ["city"]}, "rule.all.0"),
        (
            {"all": [{"field": "attributes.a", "op": "gt", "value": float("inf")}]},
            "rule.all.0.value",
        ),
        ({"all": [{"field": "attributes.a", "op": "eq", "value": 10**30}]}, "rule.all.0.value"),
        ({"all": [{"field": "attributes.a", "op": "in", "value": [1, None]}]}, "rule.all.0.value"),
    ],
)
def test_bad_rules_are_reported_with_their_path(rule, path):
    with pytest.raises(RuleError) as excinfo:
        compile_rule(rule)
    assert path in excinfo.value.errors


def test_every_error_is_reported_at_once():
    rule = {
        "all": [
            {"field": "nope", "op": "eq", "value": "x"},
            {"field": "attributes.a", "op": "gt", "value": "y"},
        ]
    }
    with pytest.raises(RuleError) as excinfo:
        compile_rule(rule)
    assert set(excinfo.value.errors) == {"rule.all.0.field", "rule.all.1.value"}


def test_nesting_is_bounded():
    rule: dict = {"all": [{"field": "email", "op": "exists"}]}
    for _ in range(6):
        rule = {"all": [rule]}
    with pytest.raises(RuleError):
        compile_rule(rule)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("attributes.age", [34, "40"], {"ann", "cid"}),  # cid's age is the text "40"
        ("attributes.age", [19.5, 34.0], {"ann", "bob"}),  # 34.0 equals 34
        ("attributes.vip", [False], {"bob"}),
        ("attributes.vip", [True, "Paris"], {"ann"}),
        ("attributes.city", ["Paris", 34, True], {"ann"}),
    ],
)
def test_in_matches_each_value_with_its_own_type(people, field, value, expected):
    assert names(cond(field, "in", value)) == expected
