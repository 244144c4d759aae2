"""Fifth outside review of issue 10 (docs/security-review-5.md), channels:
each test reproduced its finding on the code before the fix. SQLite by
default, PostgreSQL + Redis with DATABASE_URL / REDIS_URL."""

from __future__ import annotations

import pytest

from channels.models import TestMessage

EMAIL = {
    "content_subject": "Hi",
    "content_html": "<p>x</p>",
    "category": "marketing",
    "recipients": "a@example.com",
    "action": "send",
}
PUSH = {
    "content_title": "T",
    "content_body": "B",
    "category": "marketing",
    "recipients": "tok-123456",
    "action": "send",
}


@pytest.mark.parametrize(
    ("channel", "field", "value"),
    [
        ("email", "context", '{"a": "\\u0000"}'),
        ("email", "context", '{"a": ["x", "\\ud800"]}'),
        ("email", "context", '{"\\u0000": 1}'),
        ("push", "content_data", '{"a": "\\u0000"}'),
        ("push", "content_data", '{"a": "\\udfff"}'),
    ],
)
def test_the_test_message_page_refuses_json_no_database_can_store(
    login, administrator, make_config, channel, field, value
):
    """Low (PostgreSQL): since test messages are stored for the cluster (tmsg),
    a NUL or a lone surrogate written as a JSON escape in the page's context or
    push custom data reached the JSON column: a 500 (the API refuses them in its
    middleware; the page did not)."""
    config = make_config(channel)
    data = {**(EMAIL if channel == "email" else PUSH), field: value}
    response = login(administrator).post(f"/channels/{config.pk}/test/", data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not TestMessage.objects.exists()
