"""Conversion goals (docs/CONVERSIONS.md) through the real engine: the holdout's
would-be send time, attribution windows at their edges, the report's
conversions per variant and for the holdout with the lift, and the winner on
conversions — on SQLite and on PostgreSQL (``DATABASE_URL``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from audiences.models import ConversionEvent
from campaigns import tasks
from campaigns.conversions import normalize_conversion
from campaigns.engine.schedule import activate_campaign
from campaigns.experiments import difference_interval, normalize_experiment
from campaigns.models import Delivery, ExperimentWinner, Run
from campaigns.reports import campaign_report
from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2030, 3, 2, 9, 0, tzinfo=UTC)


def experiment(**over) -> dict:
    value = {
        "variants": [
            {"name": "A", "weight": 1, "content": {}},
            {"name": "B", "weight": 1, "content": {"subject": "Only today"}},
        ],
        "holdoutPercent": 10,
    }
    value.update(over)
    return normalize_experiment("email", value, has_conversion=True)


def goal_campaign(
    profiles, *, window: int = 48, with_experiment: bool = True, version=None, **over
):
    return make_campaign(
        upload_audience(profiles),
        experiment=experiment(**over) if with_experiment else None,
        conversion=normalize_conversion({"event": "purchase", "windowHours": window}),
        **(version or {}),
    )


def send(campaign, moment: datetime) -> Run:
    with time_machine.travel(moment, tick=False):
        activate_campaign(campaign.pk)
        run = Run.objects.filter(campaign=campaign).latest("id")
        tasks.start_run(run.pk)
        tasks.send_run(run.pk)
    return run


def post_batch(api, events: list[dict]) -> dict:
    body = {}
    for start in range(0, len(events), 1000):
        response = api.post("/events/batch", {"events": events[start : start + 1000]})
        assert response.status_code == 200, response.content
        body = response.json()
        assert not body["rejected"]
    return body


def event(email: str, at: datetime, name: str = "purchase", value=None) -> dict:
    data = {"profile": {"namespace": "email", "value": email}, "name": name}
    data["occurredAt"] = at.isoformat()
    if value is not None:
        data["value"] = value
    return data


def test_a_2000_profile_experiment_reports_each_arms_conversions_and_the_lift_exactly(
    queued, fake_transport, manager, api_for
):
    profiles = make_profiles(2000)
    campaign = goal_campaign(profiles, window=48)
    run = send(campaign, T0)

    arms: dict[str, list[str]] = {"A": [], "B": [], "holdout": []}
    for d in Delivery.objects.filter(run=run).select_related("profile").order_by("profile_id"):
        if d.status == "sent":
            arms[d.variant].append(d.profile.email)
        else:
            assert (d.status, d.reason) == ("excluded", "holdout")
            assert d.held_out_at == T0 and d.sent_at is None
            arms["holdout"].append(d.profile.email)
    assert sum(map(len, arms.values())) == 2000
    assert all(len(people) > 150 for people in arms.values())

    # A known set converts in each arm: every 8th in A, every 4th in B, every
    # 10th of the holdout; each buyer buys twice (counted once, revenue twice).
    buyers = {"A": arms["A"][::8], "B": arms["B"][::4], "holdout": arms["holdout"][::10]}
    events = []
    for people in buyers.values():
        for email in people:
            events.append(event(email, T0 + timedelta(hours=2), value=20))
            events.append(event(email, T0 + timedelta(hours=47), value=5.5))
    # What never counts: another event, before the send, after the window,
    # someone the campaign never touched.
    outsider = make_profiles(1, prefix="outside")[0]
    others = arms["A"][1::8][:30]
    events += [event(e, T0 + timedelta(hours=1), name="signup") for e in others]
    events += [event(e, T0 - timedelta(minutes=1)) for e in others]
    events += [event(e, T0 + timedelta(hours=48)) for e in others]
    events.append(event(outsider.email, T0 + timedelta(hours=1)))
    with time_machine.travel(T0 + timedelta(hours=60), tick=False):
        post_batch(api_for(manager), events)

    report = api_for(manager).get(f"/campaigns/{campaign.pk}/report").json()
    conversion = report["conversion"]
    n = {arm: len(people) for arm, people in arms.items()}
    c = {arm: len(people) for arm, people in buyers.items()}
    assert (conversion["event"], conversion["windowHours"]) == ("purchase", 48)
    assert conversion["profiles"] == n["A"] + n["B"]
    assert conversion["conversions"] == c["A"] + c["B"]
    assert conversion["revenue"] == pytest.approx(25.5 * (c["A"] + c["B"]))
    assert conversion["conversionRate"] == round((c["A"] + c["B"]) / (n["A"] + n["B"]), 4)
    holdout = conversion["holdout"]
    assert holdout == {
        "profiles": n["holdout"],
        "conversions": c["holdout"],
        "conversionRate": round(c["holdout"] / n["holdout"], 4),
        "revenue": pytest.approx(25.5 * c["holdout"]),
    }
    expected = difference_interval(c["A"] + c["B"], n["A"] + n["B"], c["holdout"], n["holdout"])
    assert conversion["lift"]["difference"] == round(expected[0], 6)
    assert conversion["lift"]["ci95"] == [round(expected[1], 6), round(expected[2], 6)]

    rows = {row["name"]: row for row in report["variants"]}
    for name in ("A", "B"):
        row = rows[name]
        assert (row["reached"], row["conversions"]) == (n[name], c[name])
        assert row["conversionRate"] == round(c[name] / n[name], 4)
        assert row["revenue"] == pytest.approx(25.5 * c[name])
        diff, low, high = difference_interval(c[name], n[name], c["holdout"], n["holdout"])
        assert row["lift"]["difference"] == round(diff, 6)
        assert row["lift"]["ci95"] == [round(low, 6), round(high, 6)]
        assert row["lift"]["significant"] is (low > 0 or high < 0)
    # B (25%) against a 10% holdout of ~200 people: a lift that is significant.
    assert rows["B"]["lift"]["significant"] is True and rows["B"]["lift"]["ci95"][0] > 0
    # SPEC §13's fixed names are still there.
    assert report["holdout"] == n["holdout"]
    assert {"sent", "uniqueOpens", "uniqueClicks", "openRate", "clickRate", "ci95"} <= set(
        rows["A"]
    )


def test_the_window_counts_from_the_send_up_to_but_not_including_its_end(queued, fake_transport):
    profiles = make_profiles(5)
    campaign = goal_campaign(profiles, window=2, with_experiment=False)
    send(campaign, T0)
    sent_at = set(Delivery.objects.filter(status="sent").values_list("sent_at", flat=True))
    assert sent_at == {T0}
    before, at_send, last_second, at_end, never = profiles
    for profile, moment in [
        (before, T0 - timedelta(seconds=1)),
        (at_send, T0),
        (last_second, T0 + timedelta(hours=2) - timedelta(seconds=1)),
        (at_end, T0 + timedelta(hours=2)),
    ]:
        ConversionEvent.objects.create(profile=profile, name="purchase", occurred_at=moment)

    conversion = campaign_report(campaign)["conversion"]
    assert (conversion["profiles"], conversion["conversions"]) == (5, 2)
    assert conversion["holdout"] is None and conversion["lift"] is None


def test_a_purchase_after_two_sends_of_a_recurring_campaign_counts_once(queued, fake_transport):
    profile = make_profiles(1)[0]
    campaign = goal_campaign([profile], window=72, with_experiment=False)
    send(campaign, T0)
    second = Run.objects.create(
        campaign=campaign,
        version=campaign.live_version,
        kind=Run.Kind.OCCURRENCE,
        scheduled_for=T0 + timedelta(days=1),
    )
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        tasks.start_run(second.pk)
        tasks.send_run(second.pk)
    assert Delivery.objects.filter(status="sent", profile=profile).count() == 2
    ConversionEvent.objects.create(
        profile=profile, name="purchase", occurred_at=T0 + timedelta(days=1, hours=1), value=40
    )
    conversion = campaign_report(campaign)["conversion"]
    assert (conversion["conversions"], conversion["revenue"]) == (1, 40.0)


def test_the_holdout_counts_from_the_moment_it_would_have_been_sent(queued, fake_transport):
    profiles = make_profiles(400)
    campaign = goal_campaign(profiles, window=24, holdoutPercent=50)
    run = send(campaign, T0)
    held = list(Delivery.objects.filter(run=run, reason="holdout").select_related("profile")[:4])
    assert len(held) == 4 and {d.held_out_at for d in held} == {T0}
    moments = [
        T0 - timedelta(seconds=1),
        T0,
        T0 + timedelta(hours=24) - timedelta(seconds=1),
        T0 + timedelta(hours=24),
    ]
    for delivery, moment in zip(held, moments, strict=True):
        ConversionEvent.objects.create(
            profile=delivery.profile, name="purchase", occurred_at=moment
        )
    holdout = campaign_report(campaign)["conversion"]["holdout"]
    assert holdout["conversions"] == 2
    assert holdout["profiles"] == Delivery.objects.filter(run=run, reason="holdout").count()


def test_the_automatic_winner_on_conversions_with_a_controlled_clock(
    queued, fake_transport, settings
):
    settings.ENGINE_ONE_SHOT_COMPLETE_SECONDS = 30 * 24 * 3600
    profiles = make_profiles(1000)
    campaign = goal_campaign(
        profiles, window=24, testPercent=40, testHours=4, winnerMetric="conversions"
    )
    with time_machine.travel(T0, tick=False):
        activate_campaign(campaign.pk)
        run = Run.objects.get(campaign=campaign)
        tasks.start_run(run.pk)
    sent = Delivery.objects.filter(run=run, status="sent").select_related("profile")
    a = [d.profile for d in sent.filter(variant="A").order_by("id")]
    b = [d.profile for d in sent.filter(variant="B").order_by("id")]
    # A gets more clicks-worth of nothing; B's people buy.
    for profile in b[: len(b) // 3] + a[: len(a) // 20]:
        ConversionEvent.objects.create(
            profile=profile, name="purchase", occurred_at=T0 + timedelta(hours=1)
        )

    with time_machine.travel(T0 + timedelta(hours=3), tick=False):
        tasks.tick()
    assert not ExperimentWinner.objects.exists()
    with time_machine.travel(T0 + timedelta(hours=4, minutes=1), tick=False):
        tasks.tick()
    winner = ExperimentWinner.objects.get(campaign=campaign)
    assert (winner.variant, winner.automatic, winner.metric) == ("B", True, "conversions")
    rows = {r["name"]: r for r in winner.results}
    assert rows["B"]["conversions"] == len(b) // 3 and rows["A"]["conversions"] == len(a) // 20
    assert rows["B"]["reached"] == len(b) and rows["B"]["significant"] is True
    assert rows["B"]["difference"] == pytest.approx(
        len(b) // 3 / len(b) - (len(a) // 20) / len(a), abs=1e-6
    )
    event = campaign.events.get(action="experiment_winner")
    assert "conversion rate" in event.comment and event.comment.startswith("Variant B won: +")


def test_conversions_as_winner_metric_needs_a_conversion_goal(manager, api_for):
    from tests.campaigns.conftest import email_config

    config = email_config()
    api = api_for(manager)
    body = {
        "name": "Goal-less test",
        "type": "scheduled",
        "category": "marketing",
        "channelConfigurationId": config.pk,
        "content": {"subject": "Hi", "html": "<p>Hi</p>"},
        "experiment": {
            "variants": [{"name": "A", "weight": 1}, {"name": "B", "weight": 1}],
            "winnerMetric": "conversions",
        },
    }
    response = api.post("/campaigns", body)
    assert response.status_code == 400
    assert "experiment.winnerMetric" in response.json()["errors"]

    body["conversion"] = {"event": "purchase", "windowHours": 721}
    response = api.post("/campaigns", body)
    assert response.status_code == 400
    assert "conversion.windowHours" in response.json()["errors"]

    body["conversion"] = {"event": "purchase", "windowHours": 24}
    response = api.post("/campaigns", body)
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["conversion"] == {"event": "purchase", "windowHours": 24}
    assert created["experiment"]["winnerMetric"] == "conversions"

    # Removing the goal while the winner is picked on it: refused, nothing changed.
    url = f"/campaigns/{created['id']}"
    response = api.patch(url, {"conversion": None})
    assert response.status_code == 400
    assert "experiment.winnerMetric" in response.json()["errors"]
    assert api.get(url).json()["conversion"] == {"event": "purchase", "windowHours": 24}
    response = api.patch(url, {"conversion": {"event": "no spaces"}})
    assert response.status_code == 400 and "conversion.event" in response.json()["errors"]
    response = api.patch(url, {"conversion": {"event": "order.paid"}})
    assert response.json()["conversion"] == {"event": "order.paid", "windowHours": 72}


def test_a_restricted_campaigns_report_and_its_conversions_stay_hidden(
    queued, fake_transport, viewer, api_for
):
    campaign = goal_campaign(make_profiles(20), with_experiment=False)
    send(campaign, T0)
    campaign.restricted = True
    campaign.save(update_fields=["restricted"])
    assert api_for(viewer).get(f"/campaigns/{campaign.pk}/report").status_code == 404


def test_a_holdout_in_profile_time_zones_is_held_out_at_its_own_local_send_time(queued):
    from zoneinfo import ZoneInfo

    from audiences.models import Profile
    from campaigns.engine.materialize import materialize

    Profile.objects.bulk_create(
        [
            Profile(email=f"z{i}@example.com", consent_email=True, timezone=zone)
            for i in range(200)
            for zone in ["Asia/Tokyo" if i % 2 else "America/New_York"]
        ]
    )
    profiles = list(Profile.objects.filter(email__startswith="z"))
    campaign = goal_campaign(
        profiles,
        holdoutPercent=50,
        version={"use_profile_timezone": True, "timezone": "Europe/Amsterdam"},
    )
    run = Run.objects.create(
        campaign=campaign,
        version=campaign.live_version,
        kind=Run.Kind.ONE_SHOT,
        scheduled_for=datetime(2030, 3, 2, 9, 0, tzinfo=ZoneInfo("Europe/Amsterdam")),
    )
    with time_machine.travel(T0 - timedelta(days=1), tick=False):
        materialize(run)
    held = Delivery.objects.filter(run=run, reason="holdout").select_related("profile")
    assert held.count() > 50
    for delivery in held:
        local = delivery.held_out_at.astimezone(ZoneInfo(delivery.profile.timezone))
        assert (local.hour, local.minute) == (9, 0), delivery.profile.timezone
    # Their would-be sends match the people who are sent at the same local time.
    pending = Delivery.objects.filter(run=run, status="pending").select_related("profile")
    by_zone = {d.profile.timezone: d.send_after for d in pending}
    assert {d.profile.timezone: d.held_out_at for d in held} == by_zone


def test_holdout_rows_from_before_the_upgrade_get_their_runs_start(queued, fake_transport):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    campaign = goal_campaign(make_profiles(50), holdoutPercent=50)
    run = send(campaign, T0)
    held = Delivery.objects.filter(run=run, reason="holdout")
    assert held.exists()
    held.update(held_out_at=None)  # as written before held_out_at existed
    executor = MigrationExecutor(connection)
    executor.migrate([("campaigns", "0012_conversions")])
    try:
        executor = MigrationExecutor(connection)
        executor.migrate([("campaigns", "0013_backfill_held_out_at")])
        assert set(held.values_list("held_out_at", flat=True)) == {T0}
    finally:
        # Forward to the latest schema again: a later migration that adds a
        # column (campaigns/0016) is missing for every test after this one else.
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
