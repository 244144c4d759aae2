"""Issue 12 #7: time zones picked from the IANA list, campaign times shown in
the campaign's zone with the viewer's beside, and "Scheduled — first sends at …"
until a campaign that sends in each profile's zone has something due."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from audiences.models import Profile
from campaigns.engine import runs
from campaigns.engine.completion import tick
from campaigns.engine.schedule import activate_campaign
from campaigns.models import Campaign, Run
from tests.campaigns.conftest import make_campaign, upload_audience
from tests.campaigns.lifecycle_helpers import ready_email

AMS = ZoneInfo("Europe/Amsterdam")
START = datetime(2030, 12, 2, 9, 0, tzinfo=AMS)  # 08:00 UTC


def _amsterdam_campaign(manager) -> Campaign:
    campaign = ready_email(manager, start_at=START, timezone="Europe/Amsterdam")
    return campaign


def test_start_is_shown_in_the_campaigns_zone_with_the_viewers_beside(login, manager):
    campaign = _amsterdam_campaign(manager)
    page = login(manager).get(f"/campaigns/{campaign.pk}/").content.decode()
    start = page[page.index('id="start-at"') :][:400]
    assert "12/02/2030 9 a.m." in start and "Europe/Amsterdam" in start
    assert "(12/02/2030 8 a.m. your time, UTC)" in start  # the viewer has no zone: UTC
    assert "8 a.m. UTC (Europe/Amsterdam)" not in page


def test_the_browsers_zone_is_the_viewers_zone(login, manager):
    campaign = _amsterdam_campaign(manager)
    client = login(manager)
    client.cookies["volley_tz"] = "America%2FNew_York"  # as static/js/timezone.js sets it
    start = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    start = start[start.index('id="start-at"') :][:400]
    assert "9 a.m." in start and "(12/02/2030 3 a.m. your time, America/New_York)" in start
    client.cookies["volley_tz"] = "Not/AZone"  # a forged cookie is ignored
    assert "your time, UTC" in client.get(f"/campaigns/{campaign.pk}/").content.decode()


def test_a_viewer_in_the_campaigns_zone_sees_one_time(login, manager):
    campaign = _amsterdam_campaign(manager)
    client = login(manager)
    response = client.post("/accounts/settings/time-zone/", {"time_zone": "Europe/Amsterdam"})
    assert response.status_code == 302
    page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    start = page[page.index('id="start-at"') :][:400]
    assert "9 a.m." in start and "your time" not in start
    settings_page = client.get("/accounts/settings/").content.decode()
    assert "Times are shown in Europe/Amsterdam (your setting)." in settings_page


def test_the_setting_survives_a_new_sign_in_and_refuses_unknown_zones(client, manager):
    client.force_login(manager)
    assert client.post("/accounts/settings/time-zone/", {"time_zone": "CEST"}).status_code == 400
    client.post("/accounts/settings/time-zone/", {"time_zone": "Asia/Tokyo"})
    client.logout()
    client.force_login(manager)
    assert "Times are shown in Asia/Tokyo" in client.get("/accounts/settings/").content.decode()
    client.post("/accounts/settings/time-zone/", {"time_zone": ""})  # back to the browser's
    assert "Times are shown in UTC." in client.get("/accounts/settings/").content.decode()


def test_the_zone_is_picked_from_the_iana_list(login, manager):
    campaign = ready_email(manager)
    client = login(manager)
    page = client.get(f"/campaigns/{campaign.pk}/edit/").content.decode()
    assert 'list="iana-time-zones"' in page
    assert '<datalist id="iana-time-zones">' in page
    assert '<option value="Europe/Amsterdam">' in page and '<option value="UTC">' in page
    form = client.get(f"/campaigns/{campaign.pk}/edit/").context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None and k != "days_of_week"}
    data["tags"] = ""
    for bad in ("CEST", "Mars/Olympus", "europe/amsterdam"):
        response = client.post(f"/campaigns/{campaign.pk}/edit/", {**data, "timezone": bad})
        assert response.status_code == 200, bad
        assert "timezone" in response.context["form"].errors
    response = client.post(
        f"/campaigns/{campaign.pk}/edit/", {**data, "timezone": "Europe/Amsterdam"}
    )
    assert response.status_code == 302, response.context["form"].errors
    campaign.refresh_from_db()
    assert campaign.draft_version.timezone == "Europe/Amsterdam"


@pytest.mark.usefixtures("queued")
def test_a_profile_time_zone_campaign_says_scheduled_until_its_first_send_is_due(login, manager):
    # The earliest profile is in Amsterdam: nothing is due before 09:00 there,
    # although the campaign goes live 14 hours early for zones east of it.
    ams = Profile.objects.create(
        email="a@example.com", consent_email=True, timezone="Europe/Amsterdam"
    )
    ny = Profile.objects.create(
        email="n@example.com", consent_email=True, timezone="America/New_York"
    )
    with time_machine.travel(START - timedelta(hours=20), tick=False) as clock:
        campaign = make_campaign(
            upload_audience([ams, ny]),
            start_at=START,
            timezone="Europe/Amsterdam",
            use_profile_timezone=True,
        )
        activate_campaign(campaign.pk)
        clock.move_to(START - timedelta(hours=13))
        tick()
        runs.start_run(Run.objects.get(campaign=campaign).pk)
        assert Campaign.objects.get(pk=campaign.pk).status == "live"
        client = login(manager)
        page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
        status = page[page.index('id="status"') - 40 :][:400]
        assert "Scheduled — first sends at" in status and "9 a.m." in status
        listing = client.get("/campaigns/").content.decode()
        assert "Scheduled — first sends at 12/02/2030 9 a.m. Europe/Amsterdam" in listing

        clock.move_to(START + timedelta(minutes=1))
        page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
        assert "first sends at" not in page and ">Live<" in page


def test_a_scheduled_campaign_in_profile_zones_names_the_earliest_zone(login, manager):
    tokyo = Profile.objects.create(email="t@example.com", timezone="Asia/Tokyo")
    with time_machine.travel(START - timedelta(days=2), tick=False):
        campaign = make_campaign(
            upload_audience([tokyo]),
            start_at=START,
            timezone="Europe/Amsterdam",
            use_profile_timezone=True,
            status="scheduled",
        )
        page = login(manager).get(f"/campaigns/{campaign.pk}/").content.decode()
    status = page[page.index('id="status"') - 40 :][:400]
    # 09:00 in Tokyo is 01:00 in Amsterdam.
    assert "Scheduled — first sends at" in status and "12/02/2030 1 a.m." in status
