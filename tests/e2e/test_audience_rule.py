"""In a real browser: build a rule audience on the page and see its size."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from audiences.models import Audience, Profile


@pytest.mark.django_db(transaction=True)
def test_manager_builds_a_rule_audience_and_sees_its_size(page, live_server, make_user, sign_in):
    from accounts.roles import MANAGER

    make_user("mona", MANAGER)
    for i, city in enumerate(["Paris", "Paris", "Lyon"]):
        Profile.objects.create(email=f"p{i}@example.com", attributes={"city": city, "age": 30 + i})
    sign_in(page, "mona", "pw-mona")
    page.goto(f"{live_server.url}/audiences/new/")
    page.fill("input[name=name]", "Parisians")
    page.select_option("select[name='c-0-field']", "attributes.city")
    page.select_option("select[name='c-0-op']", "eq")
    page.fill("input[name='c-0-value']", "Paris")
    # The live preview (JavaScript) counts while the marketer types.
    # (A locator, not wait_for_function: the page's CSP forbids eval, as it should.)
    expect(page.locator("#preview-size")).to_contain_text("2 profiles match")
    page.click("button[name=save]")
    page.wait_for_url("**/audiences/*/")
    assert page.locator("#audience-size").inner_text() == "2"
    assert Audience.objects.get().name == "Parisians"
