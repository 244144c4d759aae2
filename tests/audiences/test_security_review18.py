"""Reproductions for docs/security-review-18.md (each failed on the old code)."""

from __future__ import annotations

import pytest

from audiences.models import Audience, Profile
from audiences.rules import MAX_CONTAINS_TEXT, MAX_IN_VALUES, RuleError, compile_rule

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


def _contains(*texts) -> dict:
    return {"any": [{"field": "attributes.bio", "op": "contains", "value": t} for t in texts]}


def test_2_the_contains_texts_of_a_rule_are_bounded_in_all(api_for, manager):
    """Old code: each ``contains`` text could have 10,000 characters; a LIKE
    search costs the attribute's length times the pattern's on each profile
    (``"a" * 9_999 + "b"`` over 30,000 "a": 0.3 s a profile and condition, so
    100 such conditions held one preview 30 s for one profile the manager
    stored)."""
    Profile.objects.create(email="ann@example.com", attributes={"bio": "a" * 30_000})
    client = api_for(manager)
    half = MAX_CONTAINS_TEXT // 2
    rule = _contains("a" * half + "b", "a" * half + "b")
    answer = client.post("/audiences/preview", {"rule": rule})
    assert answer.status_code == 400, answer.content[:300]
    errors = answer.json()["errors"]
    assert [k for k in errors if k.endswith(".value")] == ["rule.any.1.value"], errors
    answer = client.post("/audiences", {"name": "Long", "rule": rule})
    assert answer.status_code == 400, answer.content[:300]
    assert not Audience.objects.exists()


def test_2_contains_texts_up_to_the_bound_are_compared(api_for, manager):
    Profile.objects.create(email="ann@example.com", attributes={"bio": "a" * 30_000})
    half = MAX_CONTAINS_TEXT // 2
    rule = _contains("a" * half, "a" * (MAX_CONTAINS_TEXT - half))
    answer = api_for(manager).post("/audiences/preview", {"rule": rule})
    assert answer.status_code == 200, answer.content[:300]
    assert answer.json()["size"] == 1


def test_2_the_builder_page_names_the_condition_past_the_bound(login, manager):
    data = {
        "name": "Long",
        "match": "any",
        "c-TOTAL_FORMS": "2",
        "c-INITIAL_FORMS": "0",
        "c-0-field": "attributes.bio",
        "c-0-op": "contains",
        "c-0-value": "a" * MAX_CONTAINS_TEXT,
        "c-1-field": "attributes.bio",
        "c-1-op": "contains",
        "c-1-value": "b",
        "e-TOTAL_FORMS": "0",
        "e-INITIAL_FORMS": "0",
    }
    page = login(manager).post("/audiences/new/", data)
    assert page.status_code == 200
    assert f"at most {MAX_CONTAINS_TEXT} characters in all" in page.content.decode()
    assert not Audience.objects.exists()


def test_2_a_stored_rule_past_the_bound_still_selects():
    """Bounds added later do not change what a saved audience selects."""
    Profile.objects.create(email="ann@example.com", attributes={"bio": "xy" * 700})
    rule = _contains("xy" * 300, "xy" * 300)
    with pytest.raises(RuleError):
        compile_rule(rule)
    assert Profile.objects.filter(compile_rule(rule, stored=True)).count() == 1


def test_3_a_record_over_many_lines_is_bounded_like_a_line(monkeypatch):
    """Old code: review 7 bounded each physical line (``MAX_LINE``), but a
    quoted value continues a record on the next line, so a file of short lines
    ``x","`` was one record of millions of cells, built whole by the csv module
    (10 / 20 MB: the import worker grew 146 / 294 MB, linear: a 200 MB upload
    ~3 GB). Now a record is cut where it would pass ``MAX_LINE`` characters,
    rejected, and the reader goes on."""
    import csv
    import io

    from audiences import importer

    monkeypatch.setattr(importer, "MAX_LINE", 10_000)
    largest = []
    original = csv.reader

    class MeasuringReader:
        def __init__(self, lines, *args, **kwargs):
            self.reader = original(lines, *args, **kwargs)

        def __iter__(self):
            return self

        def __next__(self):
            cells = next(self.reader)
            largest.append(sum(map(len, cells)))
            return cells

        @property
        def line_num(self):
            return self.reader.line_num

    monkeypatch.setattr(importer.csv, "reader", MeasuringReader)
    repeated = importer.MAX_LINE // 104 + 10
    data = (
        b'email,city\nann@example.com,"\n'
        + (b"x" * 100 + b'","\n') * repeated
        + b'x"\nbob@example.com,Lyon\n'
    )
    outcome = importer.Outcome()
    rows = list(importer.read_rows(io.BytesIO(data), outcome))
    assert max(largest) <= importer.MAX_LINE
    assert [(r.identities["email"], r.line) for r in rows] == [("bob@example.com", repeated + 4)]
    assert outcome.sample[0]["line"] == 2
    assert "longer than 10000 characters" in outcome.sample[0]["reason"]


def test_3_a_header_over_many_lines_past_the_bound_fails_the_import(monkeypatch):
    import io

    from audiences import importer

    monkeypatch.setattr(importer, "MAX_LINE", 10_000)
    data = b'email,"city\n' + b'x","\n' * (importer.MAX_LINE // 5 + 10) + b'"\nann@example.com,x\n'
    with pytest.raises(importer.ImportFileError, match="header row is longer"):
        list(importer.read_rows(io.BytesIO(data), importer.Outcome()))
