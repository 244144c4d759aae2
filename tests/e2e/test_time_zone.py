"""Issue 12 #7 in a real browser: the page learns the browser's time zone
(static/js/timezone.js) and shows a campaign's start in the campaign's zone with
the reader's own time beside it."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.campaigns.lifecycle_helpers import ready_email


@pytest.mark.django_db(transaction=True)
def test_the_browsers_zone_is_shown_beside_the_campaigns(
    live_server, browser, browser_context_args, make_user, sign_in
):
    from accounts.roles import MANAGER

    manager = make_user("tz-manager", MANAGER)
    start = datetime(2030, 12, 2, 9, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
    campaign = ready_email(manager, start_at=start, timezone="Europe/Amsterdam")
    context = browser.new_context(**browser_context_args, timezone_id="America/New_York")
    try:
        page = context.new_page()
        sign_in(page, "tz-manager", "pw-tz-manager")  # the first page sets the cookie
        page.goto(f"{live_server.url}/campaigns/{campaign.pk}/")
        start_text = page.inner_text("#start-at")
        assert "9 a.m." in start_text and "Europe/Amsterdam" in start_text
        assert "3 a.m. your time, America/New_York" in start_text
        page.goto(f"{live_server.url}/accounts/settings/")
        assert "America/New_York (your browser's time zone)" in page.inner_text("#viewer-zone")
    finally:
        context.close()
