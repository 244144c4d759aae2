"""Security review 13 (issue 10): resource exhaustion, bad input and hardening.

Each test reproduces a finding of docs/security-review-13.md (it failed on the
code before the fix).
"""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db

RESET = "/accounts/password/reset/"


def _reset_link(message) -> str:
    return re.search(r"http://testserver(/accounts/password/reset/\S+/)", message.body).group(1)


def test_2_repeated_reset_requests_send_one_email_per_interval(
    client, viewer, mailoutbox, django_capture_on_commit_callbacks
):
    """Finding 2. Anyone could ask for a reset of a known address as often as
    they liked: each request sent an email to the person through the
    installation's mail server (the one campaigns send through)."""
    for _ in range(20):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(RESET, {"email": "vera@example.com"})
        assert response.status_code == 302
        assert response["Location"] == "/accounts/password/reset/sent/"
    assert len(mailoutbox) == 1
    # The one link sent works.
    form = client.get(_reset_link(mailoutbox[0]), follow=True)
    assert b'name="new_password1"' in form.content


def test_2_the_next_reset_is_sent_once_the_interval_has_passed(
    client, viewer, mailoutbox, django_capture_on_commit_callbacks, time_machine
):
    time_machine.move_to(timezone.now(), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(RESET, {"email": "vera@example.com"})
    time_machine.shift(16 * 60)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(RESET, {"email": "vera@example.com"})
    assert len(mailoutbox) == 2


def test_2_the_reset_email_is_sent_by_the_cluster_not_in_the_request(
    client, viewer, mailoutbox, django_capture_on_commit_callbacks
):
    """SPEC §5: nothing is sent inside a web request. The reset email was sent
    by the request itself, so an anonymous visitor held a web worker for the
    mail server's answer (up to ``EMAIL_TIMEOUT`` when it is slow or down)."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(RESET, {"email": "vera@example.com"})
    assert response.status_code == 302
    assert mailoutbox == []  # queued, not sent by the request
    assert len(callbacks) == 1
    callbacks[0]()
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["vera@example.com"]
    assert "/accounts/password/reset/" in mailoutbox[0].body


CHANGE = {"new_password1": "Fresh-start-42", "new_password2": "Fresh-start-42"}


@pytest.mark.parametrize("page", ["/accounts/password/change/", "/admin/password_change/"])
def test_3_wrong_current_passwords_on_the_change_page_count_as_failed_sign_ins(
    login, administrator, settings, page
):
    """Finding 3. The change pages checked the current password without
    django-axes: a signed-in session (a borrowed laptop, a stolen cookie)
    could guess it without limit, then set a new one and keep the account."""
    client = login(administrator)
    for _ in range(settings.AXES_FAILURE_LIMIT + 5):
        client.post(page, {"old_password": "guess", **CHANGE})
    client.post(page, {"old_password": "pw-ada", **CHANGE})
    administrator.refresh_from_db()
    assert administrator.check_password("pw-ada")  # locked out: the right guess changed nothing


def test_3_the_current_password_still_changes_it(login, administrator):
    client = login(administrator)
    client.post("/accounts/password/change/", {"old_password": "guess", **CHANGE})
    right = client.post("/accounts/password/change/", {"old_password": "pw-ada", **CHANGE})
    assert right["Location"] == "/accounts/password/change/done/"
    administrator.refresh_from_db()
    assert administrator.check_password("Fresh-start-42")
