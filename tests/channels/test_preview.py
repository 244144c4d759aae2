"""Preview without sending; proofs to at most ten addresses."""

from __future__ import annotations

import pytest
from django.core import mail

from channels.preview import PreviewError, render_preview, send_proofs

EMAIL = {
    "subject": "Hi {{ profile.firstName | default('there') }}",
    "html": '<p>{{ context.offer }}</p><a href="{{ unsubscribe_url }}">u</a>',
}


def test_preview_renders_for_a_profile_and_context_without_sending(profile):
    message = render_preview(
        channel="email",
        content=EMAIL,
        category="marketing",
        profile=profile,
        context={"offer": "10% off"},
    )
    assert message.subject == "Hi Ann"
    assert "<p>10% off</p>" in message.html
    assert "/t/u/preview/" in message.html
    assert mail.outbox == []


def test_preview_without_profile_uses_defaults():
    assert (
        render_preview(channel="email", content=EMAIL, category="marketing").subject == "Hi there"
    )


def test_preview_reports_template_errors_by_field():
    with pytest.raises(PreviewError) as caught:
        render_preview(channel="sms", content={"text": "{{ oops }"}, category="marketing")
    assert isinstance(caught.value, ValueError)
    assert caught.value.errors["text"][0].startswith("line 1:")


def test_email_proofs_go_through_the_configuration(make_config, profile):
    config = make_config("email")
    results = send_proofs(
        config=config,
        content=EMAIL,
        category="marketing",
        recipients=["a@example.com", " b@example.com ", "a@example.com"],
        profile=profile,
    )
    assert [r.ok for r in results] == [True, True]
    assert [m.to for m in mail.outbox] == [["a@example.com"], ["b@example.com"]]
    assert mail.outbox[0].subject == "[Proof] Hi Ann"
    # A proof never carries a working unsubscribe link or header.
    assert "List-Unsubscribe" not in mail.outbox[0].extra_headers
    ids = {m.extra_headers["Message-ID"] for m in mail.outbox}
    assert len(ids) == 2


def test_proofs_are_limited_to_ten_valid_addresses(make_config):
    config = make_config("email")
    with pytest.raises(PreviewError, match="at most 10"):
        send_proofs(
            config=config,
            content=EMAIL,
            category="marketing",
            recipients=[f"p{i}@example.com" for i in range(11)],
        )
    with pytest.raises(PreviewError) as caught:
        send_proofs(config=config, content=EMAIL, category="marketing", recipients=["nope"])
    assert "nope" in caught.value.errors["recipients"][0]
    with pytest.raises(PreviewError):
        send_proofs(config=config, content=EMAIL, category="marketing", recipients=[])
    assert mail.outbox == []


def test_sms_proofs_need_international_numbers(make_config, webhook_server):
    config = make_config("sms")
    with pytest.raises(PreviewError):
        send_proofs(
            config=config, content={"text": "x"}, category="marketing", recipients=["0612345678"]
        )
    results = send_proofs(
        config=config, content={"text": "x"}, category="marketing", recipients=["+31 6 1234 5678"]
    )
    assert results[0].ok
    assert webhook_server.requests[0]["headers"]["Idempotency-Key"].startswith("proof-")
