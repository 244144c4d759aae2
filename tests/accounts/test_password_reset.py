"""Password reset by email and password change (issue 10, hardening)."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def _reset_link(message) -> str:
    return re.search(r"http://testserver(/accounts/password/reset/\S+/)", message.body).group(1)


def test_the_sign_in_page_links_to_the_reset(client):
    assert b'href="/accounts/password/reset/"' in client.get("/accounts/login/").content


def test_a_reset_by_email_sets_a_new_password(
    client, viewer, mailoutbox, django_capture_on_commit_callbacks
):
    page = client.get("/accounts/password/reset/")
    assert page.status_code == 200 and b"css/volley.css" in page.content
    with django_capture_on_commit_callbacks(execute=True):  # the email is a cluster task
        response = client.post("/accounts/password/reset/", {"email": "vera@example.com"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/reset/sent/"
    assert client.get(response["Location"]).status_code == 200
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["vera@example.com"]
    assert "vera" in mailoutbox[0].body
    form = client.get(_reset_link(mailoutbox[0]), follow=True)
    assert form.status_code == 200 and b'name="new_password1"' in form.content
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "Fresh-start-42", "new_password2": "Fresh-start-42"},
    )
    assert done["Location"] == "/accounts/password/reset/done/"
    viewer.refresh_from_db()
    assert viewer.check_password("Fresh-start-42")
    # The link works once.
    again = client.get(_reset_link(mailoutbox[0]), follow=True)
    assert b"not valid" in again.content


def test_an_unknown_address_looks_the_same_and_sends_nothing(client, mailoutbox):
    response = client.post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert mailoutbox == []


def test_the_link_uses_site_url_not_the_host_header(
    client, viewer, mailoutbox, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://volley.example.com"
    settings.ALLOWED_HOSTS = ["*"]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/accounts/password/reset/", {"email": "vera@example.com"}, HTTP_HOST="evil.test"
        )
    assert "https://volley.example.com/accounts/password/reset/" in mailoutbox[0].body
    assert "evil.test" not in mailoutbox[0].body


def test_a_reset_unlocks_a_locked_out_account(
    client, viewer, mailoutbox, settings, django_capture_on_commit_callbacks
):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "vera", "password": "wrong"})
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/accounts/password/reset/", {"email": "vera@example.com"})
    form = client.get(_reset_link(mailoutbox[0]), follow=True)
    client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "Fresh-start-42", "new_password2": "Fresh-start-42"},
    )
    response = client.post("/accounts/login/", {"username": "vera", "password": "Fresh-start-42"})
    assert response.status_code == 302


def test_the_settings_page_links_to_the_password_change(login, viewer):
    page = login(viewer).get("/accounts/settings/")
    assert b'href="/accounts/password/change/"' in page.content


def test_changing_the_password_needs_the_current_one(login, viewer):
    client = login(viewer)
    assert client.get("/accounts/password/change/").status_code == 200
    wrong = client.post(
        "/accounts/password/change/",
        {
            "old_password": "nope",
            "new_password1": "Fresh-start-42",
            "new_password2": "Fresh-start-42",
        },
    )
    assert wrong.status_code == 200
    viewer.refresh_from_db()
    assert viewer.check_password("pw-vera")
    right = client.post(
        "/accounts/password/change/",
        {
            "old_password": "pw-vera",
            "new_password1": "Fresh-start-42",
            "new_password2": "Fresh-start-42",
        },
    )
    assert right["Location"] == "/accounts/password/change/done/"
    viewer.refresh_from_db()
    assert viewer.check_password("Fresh-start-42")
    assert client.get("/accounts/settings/").status_code == 200  # still signed in


def test_the_password_change_page_needs_a_sign_in(client):
    response = client.get("/accounts/password/change/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
