"""In a real browser, the Content-Security-Policy blocks nothing the pages need
(issue 10 hardening): Chromium reports every violation on the console."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.campaigns.lifecycle_helpers import ready_email


@pytest.mark.django_db(transaction=True)
def test_pages_run_under_the_policy_without_a_violation(live_server, page, make_user, sign_in):
    root = make_user("root", superuser=True)
    campaign = ready_email(root)
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    sign_in(page, "root", "pw-root")
    page.goto(f"{live_server.url}/api/v1/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Volley API")
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/edit/")
    page.get_by_role("button", name="Refresh preview").click()
    frame = page.frame_locator("#preview iframe.preview")
    expect(frame.locator("body")).to_contain_text("Hello")
    page.goto(f"{live_server.url}/admin/auth/user/{root.pk}/change/")
    expect(page.locator("#content")).to_contain_text("root")
    assert violations == []
