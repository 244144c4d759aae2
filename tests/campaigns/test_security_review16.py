"""Sixteenth outside review of issue 10 (docs/security-review-16.md): resource
exhaustion, bad input and hardening. Each test reproduced its finding on the
code before the fix. SQLite by default, PostgreSQL + Redis with DATABASE_URL /
REDIS_URL."""

from __future__ import annotations

import pytest

from tests.campaigns.lifecycle_helpers import ready_email

pytestmark = pytest.mark.django_db

# --- 1: exceptions a template raises that the renderer did not expect --------------

RAISING = [
    '{{ "{a}".format() }}',  # KeyError
    '{{ "{0}".format() }}',  # IndexError
    '{{ "x"|truncate(-5) }}',  # AssertionError
    '{{ "x"|xmlattr }}',  # AttributeError
]


@pytest.mark.parametrize("subject", RAISING)
def test_a_template_raising_an_unexpected_exception_is_a_template_error(
    subject, manager, viewer, login, api_for
):
    """A subject that raised KeyError, IndexError, AssertionError or
    AttributeError passed the save-time check (data-dependent failures are
    reported per send) and then answered 500 on the campaign's page for every
    reader, on its preview page and on the preview API: the renderer turned
    only TemplateError, ArithmeticError, TypeError and ValueError into a
    template error."""
    campaign = ready_email(manager)
    api = api_for(manager)
    content = {"subject": subject, "html": "<p>x</p>"}
    preview = api.post(f"/campaigns/{campaign.pk}/preview", {"content": content})
    assert preview.status_code == 400, preview.content
    assert preview.json()["errors"]["content"][0].startswith("subject: ")
    saved = api.patch(f"/campaigns/{campaign.pk}", {"content": content})
    assert saved.status_code == 200, saved.content
    page = login(manager).post(f"/campaigns/{campaign.pk}/preview/", {"content_subject": subject})
    assert page.status_code == 200
    reader = login(viewer)
    assert reader.get(f"/campaigns/{campaign.pk}/").status_code == 200
    assert reader.get(f"/campaigns/{campaign.pk}/preview/").status_code == 200
