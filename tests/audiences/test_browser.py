"""In a real browser: build a rule audience on the page and see its size."""

from __future__ import annotations

import os
import shutil

import pytest

from audiences.models import Audience, Profile

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium is not installed"),
]


@pytest.fixture
def browser_page(live_server):
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        page = browser.new_page()
        page.set_default_timeout(10_000)
        yield page
        page.wait_for_load_state("networkidle")  # no request left holding a connection
        browser.close()


@pytest.mark.django_db(transaction=True)
def test_manager_builds_a_rule_audience_and_sees_its_size(browser_page, live_server, make_user):
    from accounts.roles import MANAGER

    make_user("mona", MANAGER)
    for i, city in enumerate(["Paris", "Paris", "Lyon"]):
        Profile.objects.create(email=f"p{i}@example.com", attributes={"city": city, "age": 30 + i})
    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "mona")
    page.fill("input[name=password]", "pw-mona")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/audiences/new/")
    page.fill("input[name=name]", "Parisians")
    page.fill("input[name='c-0-field']", "attributes.city")
    page.select_option("select[name='c-0-op']", "eq")
    page.fill("input[name='c-0-value']", "Paris")
    # The live preview (JavaScript) counts while the marketer types.
    page.wait_for_function(
        "document.getElementById('preview-size').textContent.includes('2 profiles match')"
    )
    page.click("button[name=save]")
    page.wait_for_url("**/audiences/*/")
    assert page.locator("#audience-size").inner_text() == "2"
    assert Audience.objects.get().name == "Parisians"
