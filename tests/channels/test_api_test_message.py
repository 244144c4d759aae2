"""`POST /api/v1/channel-configurations/{id}/test-message` (issue 12 #6): the
configuration's Test page through the API — preview for a profile, send to up
to 10 addresses — with the page's checks and the page's service."""

from __future__ import annotations

import pytest
from django.core import mail

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
EMAIL = {"subject": "Hi {{ profile.firstName }}", "html": "<p>{{ context.x }}</p>"}


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    return response.json()


def test_preview_for_a_profile_sends_nothing(api_for, administrator, make_config, profile):
    config = make_config("email")
    response = api_for(administrator).post(
        f"/channel-configurations/{config.pk}/test-message",
        {"content": EMAIL, "profile": "ANN@example.com", "context": {"x": "ctx"}},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["preview"]["subject"] == "Hi Ann"
    assert "<p>ctx</p>" in body["preview"]["html"]
    assert body["results"] is None
    assert mail.outbox == []


def test_send_to_recipients_reports_each_outcome(api_for, administrator, make_config, profile):
    config = make_config("email")
    response = api_for(administrator).post(
        f"/channel-configurations/{config.pk}/test-message",
        {
            "content": EMAIL,
            "profile": "ann@example.com",
            "recipients": ["a@example.com", "b@example.com"],
        },
    )
    assert response.status_code == 200, response.content
    assert response.json()["results"] == [
        {"address": "a@example.com", "sent": True, "reason": ""},
        {"address": "b@example.com", "sent": True, "reason": ""},
    ]
    assert sorted(m.to[0] for m in mail.outbox) == ["a@example.com", "b@example.com"]
    assert all(m.subject == "[Proof] Hi Ann" for m in mail.outbox)


def test_an_sms_preview_through_the_api(api_for, administrator, make_config, profile):
    config = make_config("sms", provider="console")
    response = api_for(administrator).post(
        f"/channel-configurations/{config.pk}/test-message",
        {"content": {"text": "Hi {{ profile.city }}"}, "profile": "+31612345678"},
    )
    assert response.status_code == 200 and response.json()["preview"]["text"] == "Hi Utrecht"


@pytest.mark.parametrize("persona", ["viewer", "manager", "approver"])
def test_only_administrators_send_test_messages(api_for, request, persona, make_config):
    config = make_config("email")
    user = request.getfixturevalue(persona)
    body = {"content": EMAIL, "recipients": ["a@example.com"]}
    response = api_for(user).post(f"/channel-configurations/{config.pk}/test-message", body)
    assert response.status_code in (403, 404)
    assert response["Content-Type"].startswith(PROBLEM)
    assert mail.outbox == []


def test_a_restricted_configuration_not_granted_is_404(api_for, administrator, make_config):
    config = make_config("email", restricted=True)
    body = {"content": EMAIL}
    problem(
        api_for(administrator).post(f"/channel-configurations/{config.pk}/test-message", body), 404
    )


def test_a_deactivated_configuration_previews_but_sends_nothing(
    api_for, administrator, make_config
):
    config = make_config("email", status="deactivated")
    api = api_for(administrator)
    url = f"/channel-configurations/{config.pk}/test-message"
    assert api.post(url, {"content": EMAIL}).status_code == 200
    assert (
        "deactivated"
        in problem(api.post(url, {"content": EMAIL, "recipients": ["a@example.com"]}), 409)[
            "detail"
        ]
    )
    assert mail.outbox == []


@pytest.mark.parametrize(
    "body, field",
    [
        ({"content": {"subject": "{% if %}", "html": "x"}}, "content.subject"),
        ({"content": {"subjet": "typo"}}, "content.subjet"),
        ({"content": {"subject": ["not text"]}}, "content.subject"),
        ({"content": EMAIL, "profile": "nobody@example.com"}, "profile"),
        ({"content": EMAIL, "recipients": ["not-an-email"]}, "recipients"),
        ({"content": EMAIL, "recipients": [f"p{i}@example.com" for i in range(11)]}, "recipients"),
        ({"content": EMAIL, "category": "spam"}, "category"),
        ({}, "content"),
    ],
)
def test_bad_input_is_a_400_problem_and_sends_nothing(
    api_for, administrator, make_config, body, field
):
    config = make_config("email")
    response = api_for(administrator).post(
        f"/channel-configurations/{config.pk}/test-message", body
    )
    errors = problem(response, 400)["errors"]
    assert any(key.startswith(field) for key in errors), errors
    assert mail.outbox == []


def test_the_page_sends_through_the_same_service(login, administrator, make_config):
    config = make_config("email", status="deactivated")
    response = login(administrator).post(
        f"/channels/{config.pk}/test/",
        {
            "content_subject": "s",
            "content_html": "x",
            "category": "marketing",
            "recipients": "a@example.com",
            "action": "send",
        },
    )
    assert "deactivated" in str(response.context["form"].non_field_errors())
    assert mail.outbox == []
