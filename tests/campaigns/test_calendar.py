"""The campaign calendar (issue 16 #4, SPEC §12): `GET /api/v1/calendar` and the
read behind it and `/calendar/` — placement of one-off, recurring and live
campaigns on days, frequency-cap collisions counted per profile in the
database, never counting what the reader may not see. SQLite by default,
PostgreSQL with DATABASE_URL."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from guardian.shortcuts import assign_perm

from accounts.models import UserPreference
from audiences.models import Audience
from campaigns.calendar_selectors import CalendarFilters, campaign_calendar
from campaigns.models import BusinessRule, Campaign, Tag
from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
DAY = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)  # a Wednesday


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


def cap(n: int = 1, hours: int = 24, **fields) -> BusinessRule:
    fields.setdefault("channel", "email")
    return BusinessRule.objects.create(
        name=fields.pop("name", "One a day"), cap_max_messages=n, cap_window_hours=hours, **fields
    )


def planned(name: str, audience, *, status: str = "scheduled", **version) -> Campaign:
    campaign = make_campaign(audience, status=status, **version)
    campaign.name = name
    campaign.save(update_fields=["name"])
    return campaign


def days_of(answer: dict) -> dict[str, dict]:
    return {day["date"]: day for day in answer["days"]}


def test_two_campaigns_to_overlapping_audiences_on_one_day_collide(api_for, manager):
    cap()
    shared = make_profiles(5, prefix="both")
    only_a = make_profiles(2, prefix="onlya")
    a = planned("A", upload_audience(shared + only_a, name="A"), start_at=DAY)
    b = planned("B", upload_audience(shared, name="B"), start_at=DAY + timedelta(hours=5))
    response = api_for(manager).get("/calendar", {"from": "2026-06-08", "to": "2026-06-14"})

    assert response.status_code == 200
    days = days_of(response.json())
    assert list(days) == [f"2026-06-{d:02d}" for d in range(8, 15)]
    day = days["2026-06-10"]
    assert day == {
        "date": "2026-06-10",
        "campaigns": [
            {"id": a.pk, "name": "A", "channel": "email", "runs": 1},
            {"id": b.pk, "name": "B", "channel": "email", "runs": 1},
        ],
        "collisions": [
            {"ruleId": BusinessRule.objects.get().pk, "profiles": 5, "campaignIds": [a.pk, b.pk]}
        ],
    }
    assert all(
        not d["campaigns"] and not d["collisions"] for k, d in days.items() if k != day["date"]
    )


def test_campaigns_on_different_days_do_not_collide(api_for, manager):
    cap()
    audience = upload_audience(make_profiles(4))
    planned("A", audience, start_at=DAY)
    planned("B", audience, start_at=DAY + timedelta(days=1))  # 24 h later: outside (t-24h, t]
    days = days_of(
        api_for(manager).get("/calendar", {"from": "2026-06-08", "to": "2026-06-14"}).json()
    )
    assert [len(days[d]["campaigns"]) for d in ("2026-06-10", "2026-06-11")] == [1, 1]
    assert not any(d["collisions"] for d in days.values())


def test_a_rolling_window_reaches_across_days(api_for, manager):
    rule = cap(hours=48, name="One in two days")
    audience = upload_audience(make_profiles(3))
    a = planned("A", audience, start_at=DAY)
    b = planned("B", audience, start_at=DAY + timedelta(days=1))
    days = days_of(
        api_for(manager).get("/calendar", {"from": "2026-06-10", "to": "2026-06-11"}).json()
    )
    assert days["2026-06-10"]["collisions"] == []
    assert days["2026-06-11"]["collisions"] == [
        {"ruleId": rule.pk, "profiles": 3, "campaignIds": [a.pk, b.pk]}
    ]


def test_an_exempt_campaign_or_another_channel_or_category_does_not_collide(api_for, manager):
    cap()
    audience = upload_audience(make_profiles(3))
    a = planned("A", audience, start_at=DAY)
    exempt = planned("Service", audience, start_at=DAY)
    Campaign.objects.filter(pk=exempt.pk).update(exempt_from_rules=True)
    receipt = planned("Receipt", audience, start_at=DAY, category="transactional")
    answer = api_for(manager).get("/calendar", {"from": "2026-06-10", "to": "2026-06-10"}).json()
    (day,) = answer["days"]
    assert {c["id"] for c in day["campaigns"]} >= {exempt.pk, receipt.pk}
    assert day["collisions"] == []
    # The same three with a rule that also caps transactional messages: A and Receipt.
    BusinessRule.objects.update(categories=["marketing", "transactional"])
    (day,) = (
        api_for(manager).get("/calendar", {"from": "2026-06-10", "to": "2026-06-10"}).json()["days"]
    )
    assert [c["campaignIds"] for c in day["collisions"]] == [[a.pk, receipt.pk]]


def test_only_eligible_profiles_count(api_for, manager):
    """Profiles without consent or suppressed are not sent to: not in the count."""
    cap()
    ok = make_profiles(3, prefix="ok")
    refused = make_profiles(2, prefix="no", consent=False)
    audience = upload_audience(ok + refused)
    planned("A", audience, start_at=DAY)
    planned("B", audience, start_at=DAY)
    (day,) = (
        api_for(manager).get("/calendar", {"from": "2026-06-10", "to": "2026-06-10"}).json()["days"]
    )
    assert day["collisions"][0]["profiles"] == 3


def test_a_restricted_viewer_never_counts_hidden_campaigns_or_profiles(
    api_for, manager, administrator
):
    """A hidden campaign is neither listed nor part of a collision; a profile
    known only through a restricted audience the reader may not see is not
    counted (issue 10's oracle): the same day reads 3 for the manager, 5 for
    a superuser."""
    cap()
    seen = make_profiles(3, prefix="seen")
    hidden = make_profiles(2, prefix="hid")
    Audience.objects.filter(pk=upload_audience(hidden, name="VIP").pk).update(restricted=True)
    everyone = Audience.objects.create(
        name="All",
        kind=Audience.Kind.RULE,
        rule={"all": [{"field": "email", "op": "contains", "value": "@"}]},
    )
    a = planned("A", everyone, start_at=DAY)
    b = planned("B", everyone, start_at=DAY)
    secret = planned("Secret", everyone, start_at=DAY + timedelta(days=2))
    c = planned("C", upload_audience(seen, name="Seen"), start_at=DAY + timedelta(days=2))
    Campaign.objects.filter(pk=secret.pk).update(restricted=True)

    query = {"from": "2026-06-10", "to": "2026-06-12"}
    days = days_of(api_for(manager).get("/calendar", query).json())
    assert days["2026-06-10"]["collisions"][0]["profiles"] == 3
    assert days["2026-06-10"]["collisions"][0]["campaignIds"] == [a.pk, b.pk]
    assert [x["id"] for x in days["2026-06-12"]["campaigns"]] == [c.pk]
    assert days["2026-06-12"]["collisions"] == []  # Secret is not there to collide with

    root = administrator.__class__.objects.create_superuser("root", "root@example.com", "pw")
    days = days_of(api_for(root).get("/calendar", query).json())
    assert days["2026-06-10"]["collisions"][0]["profiles"] == 5
    assert days["2026-06-12"]["collisions"][0]["campaignIds"] == sorted([secret.pk, c.pk])

    # A grant on the campaign shows it (and its collision) to the manager.
    assign_perm("campaigns.view_campaign", manager, Campaign.objects.get(pk=secret.pk))
    days = days_of(api_for(manager).get("/calendar", query).json())
    assert days["2026-06-12"]["collisions"][0]["profiles"] == 3


def test_recurring_campaigns_run_on_each_occurrence(api_for, manager):
    rule = cap()
    audience = upload_audience(make_profiles(2))
    weekly = planned(
        "Weekly",
        audience,
        status="live",
        start_at=datetime(2026, 6, 1, tzinfo=UTC),
        timezone="Europe/Amsterdam",
        recurrence={"frequency": "weekly", "time": "10:00", "daysOfWeek": [0, 2]},  # Mon, Wed
    )
    daily = planned(
        "Daily",
        audience,
        start_at=datetime(2026, 6, 9, tzinfo=UTC),
        end_at=datetime(2026, 6, 13, tzinfo=UTC),
        recurrence={"frequency": "daily", "time": "18:00"},
    )
    days = days_of(
        api_for(manager).get("/calendar", {"from": "2026-06-08", "to": "2026-06-14"}).json()
    )
    runs = {d: {c["name"]: c["runs"] for c in day["campaigns"]} for d, day in days.items()}
    assert runs == {
        "2026-06-08": {"Weekly": 1},
        "2026-06-09": {"Daily": 1},
        "2026-06-10": {"Weekly": 1, "Daily": 1},
        "2026-06-11": {"Daily": 1},
        "2026-06-12": {"Daily": 1},
        "2026-06-13": {},
        "2026-06-14": {},
    }
    collided = {d: day["collisions"] for d, day in days.items() if day["collisions"]}
    assert collided == {
        "2026-06-10": [{"ruleId": rule.pk, "profiles": 2, "campaignIds": [weekly.pk, daily.pk]}]
    }


def test_days_are_the_readers_and_live_api_campaigns_span_their_window(api_for, manager):
    UserPreference.objects.create(user=manager, time_zone="Asia/Tokyo")
    late = planned(
        "Late", upload_audience(make_profiles(1)), start_at=datetime(2026, 6, 10, 20, 0, tzinfo=UTC)
    )
    api = planned(
        "Receipts",
        None,
        status="live",
        type="api_triggered",
        start_at=datetime(2026, 6, 9, 12, tzinfo=UTC),
        end_at=datetime(2026, 6, 11, 12, tzinfo=UTC),
    )
    days = days_of(
        api_for(manager).get("/calendar", {"from": "2026-06-08", "to": "2026-06-13"}).json()
    )
    # 20:00 UTC is 05:00 the next day in Tokyo.
    assert [c["id"] for c in days["2026-06-11"]["campaigns"]] == [api.pk, late.pk]
    live_days = [d for d, day in days.items() if any(c["id"] == api.pk for c in day["campaigns"])]
    assert live_days == ["2026-06-09", "2026-06-10", "2026-06-11"]
    assert {c["runs"] for day in days.values() for c in day["campaigns"] if c["id"] == api.pk} == {
        0
    }


def test_filters_by_channel_and_tag(api_for, manager):
    audience = upload_audience(make_profiles(1))
    a = planned("A", audience, start_at=DAY)
    b = planned("B", audience, start_at=DAY)
    Campaign.objects.filter(pk=b.pk).update(channel="sms")
    a.tags.add(Tag.objects.create(name="summer"))
    client = api_for(manager)
    base = {"from": "2026-06-10", "to": "2026-06-10"}

    def ids(**extra):
        return [
            c["id"]
            for c in client.get("/calendar", {**base, **extra}).json()["days"][0]["campaigns"]
        ]

    assert ids() == [a.pk, b.pk]
    assert ids(channel="sms") == [b.pk]
    assert ids(tag="summer") == [a.pk]
    assert ids(tag="winter") == []


def test_collisions_under_a_filter_still_count_every_campaign(api_for, manager):
    """Filtering by tag shows the tagged campaign's collision with an untagged one."""
    cap()
    audience = upload_audience(make_profiles(2))
    a = planned("A", audience, start_at=DAY)
    b = planned("B", audience, start_at=DAY)
    a.tags.add(Tag.objects.create(name="summer"))
    (day,) = (
        api_for(manager)
        .get("/calendar", {"from": "2026-06-10", "to": "2026-06-10", "tag": "summer"})
        .json()["days"]
    )
    assert [c["id"] for c in day["campaigns"]] == [a.pk]
    assert day["collisions"][0]["campaignIds"] == [a.pk, b.pk]


def test_drafts_only_when_asked(api_for, manager):
    cap()
    audience = upload_audience(make_profiles(2))
    a = planned("A", audience, start_at=DAY)
    draft = planned("Draft", audience, status="draft", start_at=DAY)
    Campaign.objects.filter(pk=draft.pk).update(draft_version=draft.live_version, live_version=None)
    client = api_for(manager)
    base = {"from": "2026-06-10", "to": "2026-06-10"}
    (day,) = client.get("/calendar", base).json()["days"]
    assert ([c["id"] for c in day["campaigns"]], day["collisions"]) == ([a.pk], [])
    (day,) = client.get("/calendar", {**base, "drafts": "true"}).json()["days"]
    assert day["collisions"][0]["campaignIds"] == [a.pk, draft.pk]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"to": "2026-06-10"}, "from"),
        ({"from": "2026-06-10"}, "to"),
        ({"from": "10/06/2026", "to": "2026-06-10"}, "from"),
        ({"from": "2026-02-30", "to": "2026-03-01"}, "from"),
        ({"from": "2026-06-10", "to": "2026-06-09"}, "to"),
        ({"from": "2026-01-01", "to": "2026-04-03"}, "to"),  # 93 days
        ({"from": "2026-06-10", "to": "2026-06-10", "channel": "fax"}, "channel"),
        ({"from": "1899-12-31", "to": "1900-01-02"}, "from"),
        ({"from": "9998-12-30", "to": "9999-01-01"}, "to"),
        ({"from": "2026-06-1x", "to": "2026-06-10"}, "from"),
        ({"from": "+2026-06-10", "to": "2026-06-10"}, "from"),
        ({"from": "2026-W24-3", "to": "2026-06-10"}, "from"),
    ],
)
def test_bad_ranges_are_a_400_problem(api_for, manager, query, field):
    response = api_for(manager).get("/calendar", query)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert list(response.json()["errors"]) == [field]


def test_92_days_are_answered(api_for, manager):
    response = api_for(manager).get("/calendar", {"from": "2026-01-01", "to": "2026-04-02"})
    assert response.status_code == 200
    assert len(response.json()["days"]) == 92


def test_who_may_read_the_calendar(api_for, outsider, viewer, anonymous_api):
    query = {"from": "2026-06-10", "to": "2026-06-10"}
    assert api_for(viewer).get("/calendar", query).status_code == 200
    assert api_for(outsider).get("/calendar", query).status_code == 403
    assert anonymous_api.get("/calendar", query).status_code == 401


def test_the_selector_refuses_a_range_it_would_not_answer(manager):
    with pytest.raises(ValueError):
        campaign_calendar(manager, date(2026, 1, 1), date(2026, 6, 1), tz=ZoneInfo("UTC"))
    assert (
        campaign_calendar(
            manager,
            date(2026, 6, 1),
            date(2026, 6, 1),
            tz=ZoneInfo("UTC"),
            filters=CalendarFilters(),
        )[0].entries
        == []
    )


def test_days_with_the_same_pattern_share_one_query(
    api_for, manager, django_assert_max_num_queries
):
    """Two daily campaigns for a month: one counting statement, not thirty."""
    cap()
    audience = upload_audience(make_profiles(3))
    for name, at in (("A", time(9)), ("B", time(17))):
        planned(
            name,
            audience,
            start_at=datetime(2026, 6, 1, tzinfo=UTC),
            recurrence={"frequency": "daily", "time": at.strftime("%H:%M")},
        )
    client = api_for(manager)
    with django_assert_max_num_queries(20):
        days = client.get("/calendar", {"from": "2026-06-01", "to": "2026-06-30"}).json()["days"]
    assert [d["collisions"][0]["profiles"] for d in days] == [3] * 30


def test_only_campaigns_that_reach_the_held_back_profiles_are_involved(api_for, manager):
    rule = cap()
    shared = make_profiles(2, prefix="shared")
    a = planned("A", upload_audience(shared, name="A"), start_at=DAY)
    b = planned("B", upload_audience(shared, name="B"), start_at=DAY + timedelta(hours=1))
    planned("C", upload_audience(make_profiles(3, prefix="c"), name="C"), start_at=DAY)
    (day,) = (
        api_for(manager).get("/calendar", {"from": "2026-06-10", "to": "2026-06-10"}).json()["days"]
    )
    assert len(day["campaigns"]) == 3
    assert day["collisions"] == [{"ruleId": rule.pk, "profiles": 2, "campaignIds": [a.pk, b.pk]}]


def test_the_first_and_last_days_with_a_year_long_cap_window(api_for, manager):
    cap(hours=24 * 366)
    client = api_for(manager)
    for query in (
        {"from": "1900-01-01", "to": "1900-01-07"},
        {"from": "9998-12-25", "to": "9998-12-31"},
    ):
        assert client.get("/calendar", query).status_code == 200
