"""The campaign calendar in Chromium (issue 16 #4): a marketer opens /calendar/,
sees the day where two campaigns would exceed a cap of one email a day marked
with the number of profiles, reaches a campaign's link with the keyboard alone
and opens it, then switches to the week view. Screenshots are kept under
test-results/calendar/."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

ARTEFACTS = Path(settings.BASE_DIR) / "test-results" / "calendar"


@pytest.fixture
def two_campaigns_one_day(demo_users):
    from campaigns.models import BusinessRule, Campaign
    from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience

    BusinessRule.objects.create(
        name="One email a day", channel="email", cap_max_messages=1, cap_window_hours=24
    )
    shared = make_profiles(12, prefix="shared")
    day = datetime.now(UTC).date() + timedelta(days=3)
    at = datetime.combine(day, time(9), tzinfo=UTC)
    sale = make_campaign(
        upload_audience(shared + make_profiles(3, prefix="extra"), name="Sale readers"),
        status="scheduled",
        start_at=at,
    )
    news = make_campaign(
        upload_audience(shared, name="Newsletter readers"),
        status="scheduled",
        start_at=at + timedelta(hours=3),
    )
    Campaign.objects.filter(pk=sale.pk).update(name="Summer sale")
    Campaign.objects.filter(pk=news.pk).update(name="Weekly newsletter")
    return day, sale, news


def test_a_marketer_sees_the_collision_and_reaches_the_campaign_by_keyboard(
    browser, browser_context_args, live_server, two_campaigns_one_day, settings
):
    day, sale, news = two_campaigns_one_day
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        **browser_context_args, timezone_id="UTC", viewport={"width": 1366, "height": 900}
    )
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto("/accounts/login/")
        page.fill("#id_username", "manager")
        page.fill("#id_password", settings.DEMO_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/campaigns/")

        page.get_by_role("link", name="Calendar").click()
        page.wait_for_url("**/calendar/")
        if not page.locator(f'td[data-date="{day.isoformat()}"]').count():
            page.get_by_test_id("calendar-next").click()  # the day is early next month
        cell = page.locator(f'td[data-date="{day.isoformat()}"]')
        expect(cell).to_have_attribute("aria-label", re.compile("collision: 12 profiles"))
        label = cell.get_attribute("aria-label")
        assert "2 campaigns, collision: 12 profiles over the cap" in label
        collision = cell.get_by_test_id("collision")
        expect(collision).to_contain_text("Collision: 12 profiles over the cap")
        expect(collision.get_by_role("link", name="Weekly newsletter")).to_be_visible()
        # Marked in words and an icon, not by colour alone; the cell's border differs too.
        assert collision.locator(".collision-icon").inner_text() == "⚠"
        page.screenshot(path=str(ARTEFACTS / "calendar-month.png"), full_page=True)

        # Keyboard only: Tab from the top of the page to the campaign's link, Enter.
        page.locator("body").focus()
        target = cell.locator(f'a[data-campaign="{sale.pk}"]')
        for _ in range(200):
            page.keyboard.press("Tab")
            if target.evaluate("el => el === document.activeElement"):
                break
        else:
            pytest.fail("the campaign link was never reached with Tab")
        outline = target.evaluate("el => getComputedStyle(el).outlineStyle")
        assert outline != "none"  # a visible focus
        page.keyboard.press("Enter")
        page.wait_for_url(f"**/campaigns/{sale.pk}/")
        expect(page.locator("h1")).to_contain_text("Summer sale")

        page.go_back()
        page.get_by_role("link", name="Week", exact=True).click()
        page.wait_for_url("**view=week**")
        expect(page.locator("table.calendar td")).to_have_count(7)
        expect(page.locator("table#calendar")).to_have_attribute("data-view", "week")
        # The week around today, or (if the day falls in the next week) one step on.
        week_cell = page.locator(f'td[data-date="{day.isoformat()}"]')
        if not week_cell.count():
            page.get_by_test_id("calendar-next").click()
        expect(week_cell.get_by_test_id("collision")).to_contain_text("12 profiles")
        expect(week_cell).to_contain_text("9 a.m.")
        page.screenshot(path=str(ARTEFACTS / "calendar-week.png"), full_page=True)

        # At phone width the days stack, each named, and nothing scrolls sideways.
        page.set_viewport_size({"width": 390, "height": 844})
        page.get_by_role("link", name="Month", exact=True).click()
        page.wait_for_url("**view=month**")
        if not page.locator(f'td[data-date="{day.isoformat()}"]').count():
            page.get_by_test_id("calendar-next").click()
        overflow = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert overflow[0] <= overflow[1], overflow
        expect(page.locator(f'td[data-date="{day.isoformat()}"] .weekday-name')).to_be_visible()
        page.screenshot(path=str(ARTEFACTS / "calendar-month-390.png"), full_page=True)
    finally:
        context.close()
