"""Each demo role signs in and sees exactly the navigation its role allows (SPEC §2, §8)."""

from __future__ import annotations

import pytest

NAV = {
    "viewer": ["Campaigns", "Audiences", "Templates", "Calendar"],
    "manager": ["Campaigns", "Audiences", "Templates", "Calendar"],
    "approver": ["Campaigns", "Audiences", "Templates", "Calendar", "Approvals"],
    "admin": ["Campaigns", "Audiences", "Templates", "Calendar", "Channels", "Approvals", "Admin"],
}


@pytest.mark.parametrize("username", list(NAV))
def test_each_role_sees_exactly_its_navigation(signed_in_page, username):
    page = signed_in_page(username)
    assert page.locator("nav.mainnav a").all_inner_texts() == NAV[username]
    assert page.locator(".usermenu .username").inner_text() == username


def test_signing_out_returns_to_the_sign_in_page(signed_in_page):
    page = signed_in_page("viewer")
    page.click("text=Sign out")
    page.wait_for_url("**/accounts/login/")
    page.goto("/campaigns/")
    assert "/accounts/login/" in page.url


def test_a_wrong_password_is_refused_in_the_browser(page, demo_users):
    page.goto("/accounts/login/")
    page.fill("#id_username", "viewer")
    page.fill("#id_password", "wrong password")
    page.click("button[type=submit]")
    assert "Please enter a correct username and password" in page.get_by_role("alert").inner_text()
    assert "/accounts/login/" in page.url
