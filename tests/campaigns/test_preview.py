"""Preview for a chosen profile and proofs (SPEC §4), from the campaign pages."""

from __future__ import annotations

import re

from audiences.models import Profile
from tests.campaigns.lifecycle_helpers import ready_email


def test_preview_renders_for_the_chosen_profile(login, manager):
    campaign = ready_email(manager)
    profile = Profile.objects.create(email="ann@example.com", attributes={"firstName": "Ann"})
    client = login(manager)
    response = client.get(f"/campaigns/{campaign.pk}/preview/?profile={profile.email}")
    assert response.status_code == 200
    # The HTML is served into a sandboxed iframe from its own URL (its own CSP).
    frame = re.search(
        r'<iframe class="preview" sandbox [^>]*src="([^"]+)"', response.content.decode()
    )
    html = client.get(frame.group(1))
    assert "Hello Ann" in html.content.decode()
    assert "sandbox" in html["Content-Security-Policy"]
    assert "script" not in html["Content-Security-Policy"]


def test_live_preview_renders_unsaved_content(login, manager):
    campaign = ready_email(manager)
    response = login(manager).post(
        f"/campaigns/{campaign.pk}/preview/",
        {"content_subject": "Unsaved {{ profile.firstName | default('you') }}"},
    )
    assert response.status_code == 200
    assert "Unsaved you" in response.content.decode()
    campaign.draft_version.refresh_from_db()
    assert campaign.draft_version.content["subject"] == "Hi"


def test_preview_shows_template_errors(login, manager):
    campaign = ready_email(manager)
    response = login(manager).post(
        f"/campaigns/{campaign.pk}/preview/", {"content_subject": "{% if %}"}
    )
    assert response.status_code == 200 and "line 1" in response.content.decode()


def test_viewer_may_not_live_preview(login, viewer):
    campaign = ready_email(None)
    assert login(viewer).post(f"/campaigns/{campaign.pk}/preview/", {}).status_code == 403


def test_proofs_are_sent_to_up_to_ten_addresses(
    login, manager, mailoutbox, monkeypatch, django_capture_on_commit_callbacks
):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)  # the cluster's task runs in this process
    campaign = ready_email(manager)
    client = login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/campaigns/{campaign.pk}/proofs/", {"recipients": "a@example.com, b@example.com"}
        )
    assert sorted(m.to[0] for m in mailoutbox) == ["a@example.com", "b@example.com"]
    assert all(m.subject.startswith("[Proof]") for m in mailoutbox)
    eleven = ",".join(f"p{i}@example.com" for i in range(11))
    response = client.post(f"/campaigns/{campaign.pk}/proofs/", {"recipients": eleven}, follow=True)
    assert "at most 10" in response.content.decode()
    assert len(mailoutbox) == 2


def test_proofs_require_post_and_the_edit_permission(login, viewer, manager):
    campaign = ready_email(manager)
    assert login(manager).get(f"/campaigns/{campaign.pk}/proofs/").status_code == 405
    assert (
        login(viewer).post(f"/campaigns/{campaign.pk}/proofs/", {"recipients": "a@b.c"}).status_code
        == 403
    )


def test_a_refused_proof_keeps_what_was_typed_and_says_why(login, manager, mailoutbox):
    campaign = ready_email(manager)
    response = login(manager).post(
        f"/campaigns/{campaign.pk}/proofs/", {"recipients": "qa@example.com, not-an-email"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'value="qa@example.com, not-an-email"' in html
    assert 'class="errorlist' in html and "not-an-email" in html
    assert mailoutbox == []


def test_a_queued_proof_counts_recipients_in_words(login, manager, mailoutbox):
    campaign = ready_email(manager)
    response = login(manager).post(
        f"/campaigns/{campaign.pk}/proofs/", {"recipients": "qa@example.com"}, follow=True
    )
    assert "Proof queued for 1 recipient" in response.content.decode()


MACRO_BOMB = (
    "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(25) }}"
)


def test_a_template_that_exhausts_the_render_budget_is_refused_when_saved(api_for, manager):
    """Issue 10 #2: refused by the API (and the form) with its line, never stored."""
    from tests.campaigns.test_api import _body, email_config

    answer = api_for(manager).post(
        "/campaigns", _body(email_config(), content={"subject": "Hi\n" + MACRO_BOMB, "html": "x"})
    )
    assert answer.status_code == 400, answer.content
    (message,) = answer.json()["errors"]["content.subject"]
    assert message.startswith("line 2:") and "Too many calls" in message


def test_previewing_a_saved_bomb_answers_a_clear_error(login, manager, viewer):
    campaign = ready_email(manager)
    version = campaign.draft_version
    version.content = {**version.content, "subject": MACRO_BOMB}  # stored before the fix
    version.save()
    for user in (manager, viewer):
        response = login(user).get(f"/campaigns/{campaign.pk}/preview/")
        assert response.status_code == 200
        assert "Too many calls" in response.content.decode()
    response = login(manager).post(
        f"/campaigns/{campaign.pk}/preview/", {"content_subject": "{{ 'x'|center(10**13) }}"}
    )
    assert response.status_code == 200 and "width" in response.content.decode()
