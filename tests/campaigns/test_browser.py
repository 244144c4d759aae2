"""A new user creates an email campaign through the pages and finds it in the list."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.campaigns.lifecycle_helpers import audience, email_config

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed"),
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


@pytest.fixture(scope="session", autouse=True)
def allow_sync_orm_in_playwright_thread():
    # Playwright's sync API runs an event loop in the test thread.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.mark.django_db(transaction=True)
def test_create_an_email_campaign_and_see_it_in_the_list(live_server, page, make_user):
    from accounts.roles import MANAGER

    make_user("newbie", MANAGER)
    config = email_config(name="Newsletter")
    aud = audience(name="Subscribers")
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "newbie")
    page.fill("input[name=password]", "pw-newbie")
    page.locator("form button[type=submit], form input[type=submit]").last.click()
    page.goto(f"{live_server.url}/campaigns/")
    page.get_by_role("link", name="New campaign").click()
    page.fill("input[name=name]", "Browser spring sale")
    page.fill("input[name=tags]", "spring")
    page.get_by_role("button", name="Create and continue").click()
    page.wait_for_url("**/edit/")
    page.select_option("select[name=channel_configuration]", str(config.pk))
    page.select_option("select[name=audience]", str(aud.pk))
    page.fill("input[name=content_subject]", "Spring is here")
    page.fill(
        "textarea[name=content_html]",
        '<p>Hi {{ profile.firstName | default("there") }}</p>'
        '<a href="{{ unsubscribe_url }}">Unsubscribe</a>',
    )
    page.fill("textarea[name=content_text]", "Hi there")
    page.get_by_role("button", name="Refresh preview").click()
    page.wait_for_selector("#preview iframe.preview")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_selector("#review")
    assert "No errors or warnings." in page.inner_text("#review")
    page.goto(f"{live_server.url}/campaigns/")
    row = page.locator("#campaign-list tr", has_text="Browser spring sale")
    assert row.count() == 1
    assert "Draft" in row.inner_text()
