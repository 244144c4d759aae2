"""A new administrator configures email and SMS in the browser, previews and proofs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's Chromium"),
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


# Playwright's sync API runs an event loop in the test thread, and the test
# database may be created after the browser started: allow it for the session.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def sign_in(page, live_server, user):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", f"pw-{user.username}")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


@pytest.mark.django_db(transaction=True)
def test_administrator_configures_previews_and_proofs(page, live_server, make_user, profile):
    from django.core import mail

    from accounts.roles import ADMINISTRATOR

    assert os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] == "true"
    admin = make_user("newadmin", ADMINISTRATOR)
    sign_in(page, live_server, admin)
    page.goto(f"{live_server.url}/channels/")
    page.get_by_role("link", name="New email configuration").click()
    page.fill("input[name=name]", "Newsletter")
    page.select_option("select[name=purpose]", "marketing")
    page.fill("input[name=from_address]", "not an address")
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".errorlist").first).to_be_visible()
    page.fill("input[name=from_address]", "news@volley.example")
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".message.success")).to_have_count(1)
    page.get_by_role("link", name="Test message").first.click()
    page.fill("input[name=content_subject]", "Hello {{ profile.firstName }}")
    page.fill("textarea[name=content_html]", "<p>Hi {{ profile.firstName }}</p>")
    page.fill("input[name=profile_lookup]", "ann@example.com")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_test_id("preview-subject")).to_have_text("Hello Ann")
    page.fill("textarea[name=recipients]", "me@example.com")
    page.get_by_role("button", name="Send proofs").click()
    expect(page.locator(".message.success")).to_have_count(1)
    assert [m.to for m in mail.outbox] == [["me@example.com"]]

    page.goto(f"{live_server.url}/channels/new/sms/")
    page.fill("input[name=name]", "Promotions")
    page.select_option("select[name=purpose]", "marketing")
    page.fill("input[name=sender_number]", "+31612345000")
    page.select_option("select[name=provider]", "console")
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".message.success")).to_have_count(1)
    page.get_by_role("row", name="Promotions").get_by_role("link", name="Test message").click()
    page.fill("textarea[name=content_text]", "Hi {{ profile.firstName }} €")
    expect(page.locator("#sms-counter")).to_contain_text("GSM-7")
    page.fill("textarea[name=content_text]", "Hi ✓")
    expect(page.locator("#sms-counter")).to_contain_text("UCS-2")
    page.fill("textarea[name=content_text]", "Hi {{ profile.firstName }}")
    page.fill("input[name=profile_lookup]", "+31612345678")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_test_id("preview-text")).to_have_text("Hi Ann")
