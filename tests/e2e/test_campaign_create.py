"""A new user creates an email campaign through the pages and finds it in the list."""

from __future__ import annotations

import pytest

from tests.campaigns.lifecycle_helpers import audience, email_config


@pytest.mark.django_db(transaction=True)
def test_create_an_email_campaign_and_see_it_in_the_list(live_server, page, make_user, sign_in):
    from accounts.roles import MANAGER

    make_user("newbie", MANAGER)
    config = email_config(name="Newsletter")
    aud = audience(name="Subscribers")
    sign_in(page, "newbie", "pw-newbie")
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
