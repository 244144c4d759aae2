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


# --- 5: push custom data had no bound on its keys, each a template -----------------


def test_push_custom_data_has_a_bounded_number_of_keys(
    manager, viewer, api_for, login, monkeypatch
):
    """Reproduced: 20,000 data keys of ``{{ x }}`` (a 400 KB body) were saved
    (11 s) and each view of the campaign's page by a viewer took 35 s, its
    preview 25 s: each value is a template compiled on its own, every time
    the content is compiled (a 5 MB body: about 200,000 keys)."""
    from campaigns.services import campaign_create
    from channels import rendering
    from tests.campaigns.lifecycle_helpers import audience, push_config

    campaign = campaign_create(
        actor=manager,
        name="Push",
        channel="push",
        channel_configuration=push_config(),
        audience=audience(),
        content={"title": "T", "body": "B"},
    )
    api = api_for(manager)
    fits = {f"k{i}": "{{ profile.email }}" for i in range(100)}
    content = {"title": "T", "body": "B", "data": fits}
    assert api.patch(f"/campaigns/{campaign.pk}", {"content": content}).status_code == 200
    content["data"] = {**fits, "one more": "x"}
    refused = api.patch(f"/campaigns/{campaign.pk}", {"content": content})
    assert refused.status_code == 400
    assert "100 keys" in refused.json()["errors"]["content.data"][0]

    # Stored before the bound: refused when compiled, before any value is.
    version = campaign.draft_version
    version.refresh_from_db()
    version.content = {"title": "T", "body": "B", "data": {f"k{i}": "{{ x }}" for i in range(2000)}}
    version.save()
    compiled = []
    trial = rendering._trial_render
    monkeypatch.setattr(
        rendering,
        "_trial_render",
        lambda env, source: compiled.append(source) or trial(env, source),
    )
    assert login(viewer).get(f"/campaigns/{campaign.pk}/").status_code == 200
    assert "{{ x }}" not in compiled
