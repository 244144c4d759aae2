"""Conversion events API (docs/CONVERSIONS.md): `POST /api/v1/events` and
`/events/batch` — validation as problem+json, idempotency by eventId, who may
post, people hidden or unknown, and the person's events in privacy erase and
export."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from audiences.models import Audience, AudienceMember, ConversionEvent, Profile

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def ann(db) -> Profile:
    return Profile.objects.create(email="ann@example.com", profile_id="crm-1")


@pytest.fixture
def api(manager, api_for):
    return api_for(manager)


def body(**over) -> dict:
    data = {
        "profile": {"namespace": "email", "value": "Ann@Example.com"},
        "name": "purchase",
        "eventId": "order-1",
        "occurredAt": "2030-05-01T11:00:00+02:00",
        "value": 49.95,
        "properties": {"sku": "X-1", "items": [1, 2]},
    }
    data.update(over)
    return data


@time_machine.travel(NOW, tick=False)
def test_an_event_is_stored_once_per_event_id(ann, api, manager):
    first = api.post("/events", body())
    assert first.status_code == 201, first.content
    again = api.post("/events", body(value=1))  # a retry, even with another body
    assert again.status_code == 200
    assert again.json() == {"id": first.json()["id"], "duplicate": True}
    event = ConversionEvent.objects.get()
    assert (event.profile, event.name, event.event_id) == (ann, "purchase", "order-1")
    assert event.occurred_at == datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
    assert event.value == Decimal("49.95") and event.properties == {"sku": "X-1", "items": [1, 2]}
    assert event.created_by == manager

    # Without an eventId each post is an event; without occurredAt it is now.
    for _ in range(2):
        response = api.post(
            "/events", {"profile": {"namespace": "profile_id", "value": "crm-1"}, "name": "visit"}
        )
        assert response.status_code == 201 and response.json()["duplicate"] is False
    visits = ConversionEvent.objects.filter(name="visit")
    assert visits.count() == 2 and {e.occurred_at for e in visits} == {NOW}
    assert {e.value for e in visits} == {None}


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "has space"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"occurredAt": "2030-05-01T12:06:00Z"}, "occurredAt"),  # the future
        ({"occurredAt": "2030-05-01T12:00:00"}, "occurredAt"),  # no time zone
        ({"occurredAt": "yesterday"}, "occurredAt"),
        ({"value": 1e15}, "value"),
        ({"value": -(10**14)}, "value"),
        ({"value": 10**400}, "value"),
        ({"value": "12"}, "value"),
        ({"properties": {"blob": "x" * 17000}}, "properties"),
        ({"properties": [1]}, "properties"),
        ({"eventId": "   "}, "eventId"),
        ({"profile": {"namespace": "fax", "value": "1"}}, "profile.namespace"),
        ({"profile": {"namespace": "email", "value": "not an address"}}, "profile.value"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_events_are_refused_with_the_field_named(ann, api, change, field):
    response = api.post("/events", body(**change))
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert field in response.json()["errors"], response.json()
    assert not ConversionEvent.objects.exists()


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_non_finite_numbers_are_a_400(ann, api, number):
    raw = json.dumps(body()).replace("49.95", "__N__").encode().replace(b"__N__", number)
    response = api.post("/events", raw)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert not ConversionEvent.objects.exists()


def test_a_few_minutes_ahead_is_tolerated(ann, api):
    with time_machine.travel(NOW, tick=False):
        response = api.post("/events", body(occurredAt="2030-05-01T12:04:00Z"))
    assert response.status_code == 201


@time_machine.travel(NOW, tick=False)
def test_an_unknown_or_hidden_person_is_a_404_and_nothing_is_created(ann, api):
    response = api.post("/events", body(profile={"namespace": "email", "value": "x@example.com"}))
    assert response.status_code == 404
    assert not Profile.objects.filter(email="x@example.com").exists()
    # Known only through a restricted audience the manager may not see.
    hidden = Profile.objects.create(email="hidden@example.com")
    secret = Audience.objects.create(name="VIP", kind=Audience.Kind.UPLOAD, restricted=True)
    AudienceMember.objects.create(audience=secret, profile=hidden)
    response = api.post(
        "/events", body(profile={"namespace": "email", "value": "hidden@example.com"})
    )
    assert response.status_code == 404
    assert not ConversionEvent.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_who_may_post_events(ann, api_for, viewer, approver, administrator, outsider):
    from tests.conftest import ApiClient

    assert ApiClient(None).post("/events", body()).status_code == 401
    assert api_for(viewer).post("/events", body()).status_code == 403
    assert api_for(outsider).post("/events", body(eventId="o")).status_code == 403
    assert api_for(viewer).post("/events/batch", {"events": [body()]}).status_code == 403
    assert not ConversionEvent.objects.exists()
    assert api_for(approver).post("/events", body(eventId="a")).status_code == 201
    assert api_for(administrator).post("/events", body(eventId="b")).status_code == 201


@time_machine.travel(NOW, tick=False)
def test_a_batch_stores_known_people_lists_unknown_ones_and_counts_duplicates(ann, api):
    bob = Profile.objects.create(phone="+33612345678")
    events = [
        body(eventId="b-1"),
        body(eventId="b-2", profile={"namespace": "phone", "value": "+33 6 12 34 56 78"}),
        body(eventId="b-1"),  # the same id twice in one batch
        body(eventId="b-3", profile={"namespace": "email", "value": "nobody@example.com"}),
        body(eventId=None),
    ]
    api.post("/events", body(eventId="b-0"))
    events.append(body(eventId="b-0"))  # stored before
    response = api.post("/events/batch", {"events": events})
    assert response.status_code == 200, response.content
    answer = response.json()
    assert (answer["accepted"], answer["duplicates"]) == (3, 2)
    assert answer["rejected"] == [{"index": 3, "reason": "unknown_profile"}]
    by_index = {item["index"]: item for item in answer["items"]}
    assert by_index[2]["id"] == by_index[0]["id"] and by_index[2]["duplicate"] is True
    assert by_index[5]["duplicate"] is True
    assert ConversionEvent.objects.count() == 4  # b-0, b-1, b-2, and the one without an id
    assert ConversionEvent.objects.get(event_id="b-2").profile == bob


@time_machine.travel(NOW, tick=False)
def test_one_bad_event_refuses_the_whole_batch(ann, api):
    response = api.post(
        "/events/batch", {"events": [body(eventId="ok"), body(eventId="bad", name="no good")]}
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["events.1.name"]
    assert not ConversionEvent.objects.exists()
    too_many = {"events": [body(eventId=None)] * 1001}
    response = api.post("/events/batch", too_many)
    assert response.status_code == 400 and "events" in response.json()["errors"]
    assert api.post("/events/batch", {"events": []}).status_code == 400
    assert not ConversionEvent.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_erasing_a_person_erases_their_events_and_export_lists_them(
    ann, api, administrator, api_for
):
    other = Profile.objects.create(email="other@example.com")
    api.post("/events", body())
    api.post(
        "/events", body(eventId="o-1", profile={"namespace": "email", "value": "other@example.com"})
    )
    admin = api_for(administrator)
    exported = admin.get("/profiles/email/ann@example.com/export")
    assert exported.status_code == 200
    document = json.loads(b"".join(exported.streaming_content))
    assert document["conversionEvents"] == [
        {
            "name": "purchase",
            "eventId": "order-1",
            "occurredAt": "2030-05-01T09:00:00+00:00",
            "value": 49.95,
            "properties": {"sku": "X-1", "items": [1, 2]},
            "receivedAt": NOW.isoformat(),
        }
    ]
    assert admin.delete("/profiles/email/ann@example.com").status_code == 204
    assert list(ConversionEvent.objects.values_list("profile", flat=True)) == [other.pk]


@time_machine.travel(NOW, tick=False)
def test_an_event_id_is_per_person_and_tells_nothing_about_others(ann, api, manager, make_user):
    """Issue 10, review 5 #5: an eventId stored for a person hidden from the
    caller (known only through a restricted audience) must neither be told
    ("duplicate") nor stop the caller's own event for someone else."""
    hidden = Profile.objects.create(email="hidden@example.com")
    secret = Audience.objects.create(name="Secret", kind=Audience.Kind.UPLOAD, restricted=True)
    AudienceMember.objects.create(audience=secret, profile=hidden)
    ConversionEvent.objects.create(
        profile=hidden, name="purchase", event_id="order-77", occurred_at=NOW
    )
    first = api.post("/events", body(eventId="order-77"))
    assert first.status_code == 201, first.content
    assert first.json()["duplicate"] is False
    assert ConversionEvent.objects.filter(event_id="order-77").count() == 2
    # A retry for the same person is still the same event, in a batch too.
    assert api.post("/events", body(eventId="order-77")).json() == {
        "id": first.json()["id"],
        "duplicate": True,
    }
    batch = api.post(
        "/events/batch",
        {"events": [body(eventId="order-78"), body(eventId="order-78")]},
    ).json()
    assert [item["duplicate"] for item in batch["items"]] == [False, True]
    assert batch["items"][0]["id"] == batch["items"][1]["id"]
