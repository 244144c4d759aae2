"""Rule conditions on conversion events (docs/CONVERSIONS.md): performed (or
not) an event in the last N days or ever, evaluated by the database (SQLite,
and PostgreSQL with DATABASE_URL), in the API and the rule builder."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audiences.models import Audience, ConversionEvent, Profile
from audiences.rules import RuleError, compile_rule

NOW = timezone.now()


@pytest.fixture
def people(db) -> dict[str, Profile]:
    """ann bought 2 days ago, bob 40 days ago, cy signed up yesterday, dee did nothing."""
    found = {
        n: Profile.objects.create(email=f"{n}@example.com") for n in ["ann", "bob", "cy", "dee"]
    }
    for name, event, days in [("ann", "purchase", 2), ("bob", "purchase", 40), ("cy", "signup", 1)]:
        ConversionEvent.objects.create(
            profile=found[name], name=event, occurred_at=NOW - timedelta(days=days)
        )
    return found


def members(*conditions: dict, kind: str = "all") -> set[str]:
    rule = {kind: list(conditions)}
    return {p.email.split("@")[0] for p in Profile.objects.filter(compile_rule(rule))}


def test_performed_an_event_in_the_last_days_or_ever(people):
    assert members({"event": "purchase", "withinDays": 7}) == {"ann"}
    assert members({"event": "purchase", "withinDays": 60}) == {"ann", "bob"}
    assert members({"event": "purchase"}) == {"ann", "bob"}
    assert members({"event": "purchase", "withinDays": 7, "performed": False}) == {
        "bob",
        "cy",
        "dee",
    }
    assert members({"event": "purchase", "performed": False}) == {"cy", "dee"}
    assert members(
        {"event": "signup", "withinDays": 7}, {"event": "purchase", "withinDays": 7}, kind="any"
    ) == {"ann", "cy"}


@pytest.mark.parametrize(
    ("condition", "path"),
    [
        ({"event": "two words"}, "rule.all.0.event"),
        ({"event": "purchase", "withinDays": 0}, "rule.all.0.withinDays"),
        ({"event": "purchase", "withinDays": 3651}, "rule.all.0.withinDays"),
        ({"event": "purchase", "performed": "yes"}, "rule.all.0.performed"),
        ({"event": "purchase", "campaignId": 3}, "rule.all.0"),
    ],
)
def test_bad_event_conditions_name_the_problem(db, condition, path):
    with pytest.raises(RuleError) as caught:
        compile_rule({"all": [condition]})
    assert path in caught.value.errors


def test_the_api_builds_an_audience_of_recent_buyers(people, api_for, manager):
    api = api_for(manager)
    rule = {"all": [{"event": "purchase", "withinDays": 30}]}
    response = api.post("/audiences", {"name": "Recent buyers", "rule": rule})
    assert response.status_code == 201, response.content
    assert response.json()["size"] == 1
    response = api.post("/audiences", {"name": "Bad", "rule": {"all": [{"event": ""}]}})
    assert response.status_code == 400


def test_the_builder_saves_and_shows_an_event_condition(people, login, manager):
    client = login(manager)
    data = {
        "name": "Lapsed buyers",
        "match": "all",
        "c-TOTAL_FORMS": "1",
        "c-INITIAL_FORMS": "0",
        "c-0-field": "",
        "c-0-op": "eq",
        "c-0-value": "",
        "e-TOTAL_FORMS": "1",
        "e-INITIAL_FORMS": "0",
        "e-0-engagement": "not_performed",
        "e-0-event": "purchase",
        "e-0-within_days": "30",
        "save": "1",
    }
    response = client.post("/audiences/new/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    audience = Audience.objects.get(name="Lapsed buyers")
    assert audience.rule == {"all": [{"event": "purchase", "withinDays": 30, "performed": False}]}
    assert audience.size == 3
    detail = client.get(f"/audiences/{audience.pk}/").content.decode()
    assert "did not perform the event “purchase” in the last 30 days" in detail
    edit = client.get(f"/audiences/{audience.pk}/edit/").content.decode()
    assert 'value="purchase"' in edit and 'value="not_performed" selected' in edit

    data.update({"name": "Typo", "e-0-engagement": "performed", "e-0-event": ""})
    response = client.post("/audiences/new/", data)
    assert response.status_code == 200
    assert not Audience.objects.filter(name="Typo").exists()
    assert "e-0-event" in response.content.decode() and response.context["engagements"].forms[
        0
    ].errors.get("event")
