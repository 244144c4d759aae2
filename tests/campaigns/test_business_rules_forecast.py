"""The review's forecast of what the business rules will hold back (issue 16,
point 3), compared with what the send then does."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine

from campaigns import tasks
from campaigns.engine.completion import tick
from campaigns.engine.schedule import activate_campaign
from campaigns.forecast import forecast
from campaigns.models import BusinessRule, Campaign, Run
from campaigns.reports import campaign_report
from campaigns.review import review_campaign
from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
START = NOW + timedelta(hours=4)  # 12:00 UTC: 21:00 in Tokyo


def test_the_forecast_matches_what_the_send_then_does(queued, fake_transport):
    BusinessRule.objects.create(
        name="One a day", channel="email", cap_max_messages=1, cap_window_hours=24
    )
    BusinessRule.objects.create(
        name="Nights",
        channel="email",
        quiet_start=time(21),
        quiet_end=time(8),
        quiet_action="skip",
    )
    sent_before = make_profiles(6, prefix="sent", timezone="Europe/Paris")
    planned = make_profiles(2, prefix="plan", timezone="Europe/Paris")
    tokyo = make_profiles(2, prefix="tok", timezone="Asia/Tokyo")
    fresh = make_profiles(3, prefix="new", timezone="Europe/Paris")
    everyone = sent_before + planned + tokyo + fresh

    with time_machine.travel(NOW, tick=False):
        earlier = make_campaign(upload_audience(sent_before, name="Earlier"))
        activate_campaign(earlier.pk)
        tasks.start_run(Run.objects.get(campaign=earlier).pk)  # sent now
        other = make_campaign(
            upload_audience(planned, name="Planned"), start_at=START - timedelta(hours=1)
        )
        activate_campaign(other.pk)  # scheduled, not started
        campaign = make_campaign(upload_audience(everyone, name="All"), start_at=START)
        campaign.status = "draft"
        campaign.save()

        campaign = Campaign.objects.get(pk=campaign.pk)
        expected = {"frequency_cap": 8, "quiet_hours": 2}
        assert forecast(campaign, campaign.live_version) == expected
        codes = review_campaign(campaign, campaign.live_version).codes()
        assert {"forecast_frequency_cap", "forecast_quiet_hours"} <= codes

    assert Campaign.objects.get(pk=other.pk).status == "scheduled"
    with time_machine.travel(START - timedelta(hours=1), tick=False):
        tick()  # the scheduled campaign starts: live, its run planned
        tasks.start_run(Run.objects.get(campaign=other).pk)
    with time_machine.travel(START, tick=False):
        Campaign.objects.filter(pk=campaign.pk).update(status="activating")
        activate_campaign(campaign.pk)
        tasks.start_run(Run.objects.get(campaign=campaign).pk)

    assert campaign_report(campaign)["excluded"] == expected
    assert campaign_report(campaign)["sent"] == 3
    assert len(fake_transport.sent) == 6 + 2 + 3


def test_no_forecast_without_rules_or_for_an_exempt_campaign(queued):
    audience = upload_audience(make_profiles(2))
    campaign = make_campaign(audience)
    assert forecast(campaign, campaign.live_version) == {}
    BusinessRule.objects.create(
        name="Nights", channel="email", quiet_start=time(0), quiet_end=time(23, 59)
    )
    assert forecast(campaign, campaign.live_version) == {"quiet_hours": 2}
    campaign.exempt_from_rules = True
    campaign.status = "draft"
    assert "forecast_quiet_hours" not in review_campaign(campaign, campaign.live_version).codes()


def test_a_recurring_campaign_is_forecast_for_its_next_occurrence(queued, fake_transport):
    """Both campaigns recur daily, the other one an hour earlier: with one email
    a day, the next occurrence of ours reaches nobody the other one reached."""
    BusinessRule.objects.create(
        name="One a day", channel="email", cap_max_messages=1, cap_window_hours=24
    )
    shared = make_profiles(4, prefix="both", timezone="Europe/Paris")
    ours_only = make_profiles(3, prefix="ours", timezone="Europe/Paris")
    daily = {"frequency": "daily", "time": "12:00"}
    with time_machine.travel(NOW, tick=False):
        other = make_campaign(
            upload_audience(shared, name="Other"),
            recurrence={"frequency": "daily", "time": "11:00"},
            timezone="UTC",
        )
        activate_campaign(other.pk)
        campaign = make_campaign(
            upload_audience(shared + ours_only, name="Ours"), recurrence=daily, timezone="UTC"
        )
        campaign.status = "draft"
        campaign.save()
        campaign = Campaign.objects.get(pk=campaign.pk)
        assert forecast(campaign, campaign.live_version) == {"frequency_cap": 4}
        assert "forecast_frequency_cap" in review_campaign(campaign, campaign.live_version).codes()

    with time_machine.travel(NOW + timedelta(hours=3), tick=False):  # 11:00: the other sends
        tick()
        for run in Run.objects.filter(campaign=other, status="queued"):
            tasks.start_run(run.pk)
    with time_machine.travel(NOW + timedelta(hours=3, minutes=30), tick=False):
        Campaign.objects.filter(pk=campaign.pk).update(status="activating")
        activate_campaign(campaign.pk)
    with time_machine.travel(START, tick=False):  # 12:00: ours sends
        tick()
        for run in Run.objects.filter(campaign=campaign, status="queued"):
            tasks.start_run(run.pk)

    assert campaign_report(campaign)["excluded"] == {"frequency_cap": 4}
    assert campaign_report(campaign)["sent"] == 3


def test_no_forecast_for_a_recurrence_with_no_occurrence_left(queued):
    BusinessRule.objects.create(
        name="One a day", channel="email", cap_max_messages=1, cap_window_hours=24
    )
    campaign = make_campaign(
        upload_audience(make_profiles(2)),
        recurrence={"frequency": "daily", "time": "12:00"},
        timezone="UTC",
        start_at=NOW - timedelta(days=3),
        end_at=NOW - timedelta(days=1),
    )
    with time_machine.travel(NOW, tick=False):
        assert forecast(campaign, campaign.live_version) == {}
