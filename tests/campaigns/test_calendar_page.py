"""`/calendar/` (issue 16 #4): month and week views in the reader's time zone,
navigation, filters, the collision in words, the empty state, who may open it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from campaigns.models import BusinessRule, Campaign, Tag
from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
DAY = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


def planned(name: str, audience, **version) -> Campaign:
    campaign = make_campaign(audience, status="scheduled", **version)
    Campaign.objects.filter(pk=campaign.pk).update(name=name)
    return Campaign.objects.get(pk=campaign.pk)


def cell(html: str, day: str) -> str:
    match = re.search(rf'<td aria-label="([^"]*)" data-date="{day}"(.*?)</td>', html, re.S)
    assert match, day
    return match.group(1) + match.group(2)


@pytest.fixture
def collision():
    BusinessRule.objects.create(
        name="One a day", channel="email", cap_max_messages=1, cap_window_hours=24
    )
    audience = upload_audience(make_profiles(4))
    return planned("Summer sale", audience, start_at=DAY), planned(
        "Newsletter", audience, start_at=DAY + timedelta(hours=2)
    )


def test_the_month_shows_each_campaign_on_its_day_and_the_collision_in_words(
    login, manager, collision
):
    sale, news = collision
    html = login(manager).get("/calendar/").content.decode()
    assert "<caption>June 2026</caption>" in html
    day = cell(html, "2026-06-10")
    assert day.startswith(
        "Wednesday June 10, 2026, 2 campaigns, collision: 4 profiles over the cap"
    )
    assert f'href="/campaigns/{sale.pk}/"' in day and f'href="/campaigns/{news.pk}/"' in day
    assert "Collision: 4 profiles over the cap" in day  # in text, not only a colour
    assert "“One a day”: at most 1 in 24 h" in day
    assert "has-collision" in day
    # The grid: weekday headers, whole weeks (Sunday first in English), days around the month.
    assert html.count('<th scope="col">') == 7
    assert '<abbr title="Sunday">Sun</abbr>' in html.split('<th scope="col">')[1]
    assert 'data-date="2026-05-31"' in html and 'data-date="2026-07-04"' in html
    assert "Nothing is planned" not in html


def test_the_week_view_shows_times_in_the_readers_zone(login, manager, collision):
    client = login(manager)
    client.cookies["volley_tz"] = "Europe/Amsterdam"
    html = client.get("/calendar/?view=week&date=2026-06-10").content.decode()
    assert html.count("<td ") == 7
    day = cell(html, "2026-06-10")
    assert "11 a.m." in day and "1 p.m." in day  # 09:00 and 11:00 UTC
    assert "Days and times in your time zone (Europe/Amsterdam)." in html
    assert (
        'href="?view=week&amp;date=2026-05-31"' in html
    )  # previous week (weeks start on Sunday in English)
    assert 'href="?view=week&amp;date=2026-06-14"' in html  # next week


def test_navigation_keeps_the_filters(login, manager, collision):
    Tag.objects.create(name="summer").campaigns.add(collision[0])
    html = login(manager).get("/calendar/?date=2026-06-10&tag=summer").content.decode()
    assert 'href="?tag=summer&amp;view=month&amp;date=2026-05-01"' in html
    assert 'href="?tag=summer&amp;view=month&amp;date=2026-07-01"' in html
    assert 'href="?tag=summer&amp;view=month"' in html  # today
    day = cell(html, "2026-06-10")
    assert ", 1 campaign," in day  # only the tagged one listed …
    assert "Newsletter" in day  # … and named in its collision
    html = login(manager).get("/calendar/?date=2026-06-10&channel=sms").content.decode()
    assert "No campaign of these filters sends in this period." in html


def test_dutch_dates_and_a_week_that_starts_on_monday(login, manager, collision):
    html = (
        login(manager).get("/calendar/?date=2026-06-10", HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    )
    assert "<caption>juni 2026</caption>" in html
    assert '<abbr title="maandag">' in html.split('<th scope="col">')[1]
    assert cell(html, "2026-06-10").startswith("woensdag 10 juni 2026, 2 campagnes")


def test_the_empty_state_guides_to_scheduling(login, manager, viewer):
    html = login(manager).get("/calendar/").content.decode()
    assert "Nothing is planned for this period." in html
    assert 'href="/campaigns/new/">Schedule a campaign</a>' in html
    html = login(viewer).get("/calendar/").content.decode()
    assert "Nothing is planned for this period." in html
    assert "Schedule a campaign</a>" not in html  # a viewer cannot create one


def test_a_bad_date_shows_today_with_a_notice(login, manager):
    response = login(manager).get("/calendar/?date=2026-13-45&view=nonsense")
    assert response.status_code == 200
    assert "That date could not be read; showing today." in response.content.decode()
    assert login(manager).get("/calendar/?date=0001-01-01").status_code == 200
    assert login(manager).get("/calendar/?date=0001-01-01&view=week").status_code == 200
    assert login(manager).get("/calendar/?date=9999-12-31").status_code == 200
    assert login(manager).get("/calendar/?date=9999-12-31&view=week").status_code == 200


def test_who_may_open_the_calendar(client, login, outsider, viewer):
    assert client.get("/calendar/").status_code == 302  # to the sign-in page
    assert login(outsider).get("/calendar/").status_code == 403
    assert login(viewer).post("/calendar/").status_code == 405
    html = login(viewer).get("/campaigns/").content.decode()
    assert '<a href="/calendar/">Calendar</a>' in html


def test_a_hidden_campaign_is_not_on_the_page(login, manager, collision):
    Campaign.objects.filter(pk=collision[1].pk).update(restricted=True)
    html = login(manager).get("/calendar/?date=2026-06-10").content.decode()
    day = cell(html, "2026-06-10")
    assert "Newsletter" not in day and "collision" not in day.lower()


def test_a_draft_links_to_its_day_where_the_collision_shows_before_activation(login, manager):
    """A new user's path (issue 16): the draft's page links to the calendar with
    drafts shown, where the draft already collides with a scheduled campaign."""
    BusinessRule.objects.create(
        name="One a day", channel="email", cap_max_messages=1, cap_window_hours=24
    )
    audience = upload_audience(make_profiles(3))
    planned("Flash sale", audience, start_at=DAY)
    draft = make_campaign(audience, status="draft", start_at=DAY + timedelta(hours=6))
    Campaign.objects.filter(pk=draft.pk).update(
        name="Draft promo", draft_version=draft.live_version, live_version=None
    )
    client = login(manager)
    page = client.get(f"/campaigns/{draft.pk}/").content.decode()
    link = re.search(r'<a id="calendar-link" href="([^"]+)"', page).group(1)
    assert link == "/calendar/?date=2026-06-10&amp;drafts=1"
    day = cell(client.get(link.replace("&amp;", "&")).content.decode(), "2026-06-10")
    assert "Draft promo" in day and "not activated" in day
    assert ", 2 campaigns, collision: 3 profiles over the cap" in day
    # Without drafts the calendar shows only what is activated: no collision yet.
    day = cell(client.get("/calendar/?date=2026-06-10").content.decode(), "2026-06-10")
    assert "Draft promo" not in day and "collision" not in day
