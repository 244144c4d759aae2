"""Review 19: the test-message page's profile look-up is bounded as the API's is."""

from __future__ import annotations

from django.core import mail


def test_a_profile_look_up_longer_than_the_apis_bound_is_a_form_error(
    login, administrator, make_config, profile
):
    config = make_config("email")  # and a profile: SQLite reads the pattern row by row
    client = login(administrator)
    client.raise_request_exception = False
    response = client.post(
        f"/channels/{config.pk}/test/",
        {
            "content_subject": "Hi",
            "content_html": "<p>x</p>",
            "category": "marketing",
            "profile_lookup": "x" * 70_000,  # SQLite: "LIKE or GLOB pattern too complex", a 500
            "recipients": "a@example.com",
            "action": "send",
        },
    )
    assert response.status_code == 200
    assert "profile_lookup" in response.context["form"].errors
    assert mail.outbox == []
