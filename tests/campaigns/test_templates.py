"""Message templates (SPEC §11, issue 15 point 2): the API round trip, starting a
campaign from a template or a starter design, saving a campaign's content as a
template, the pages, roles and restriction."""

from __future__ import annotations

import pytest
from guardian.shortcuts import assign_perm

from accounts.roles import MANAGER
from campaigns.models import Campaign, ContentTemplate
from campaigns.starters import STARTERS
from campaigns.templates_services import template_create
from campaigns.validation import template_errors
from tests.campaigns.lifecycle_helpers import GOOD_HTML, audience, email_config

pytestmark = pytest.mark.usefixtures("no_worker")

TEMPLATE_KEYS = {"id", "name", "channel", "content", "createdAt", "updatedAt"}
CONTENT = {"subject": "Hi {{ profile.firstName }}", "preheader": "", "html": GOOD_HTML, "text": ""}


def _restricted_template(owner=None) -> ContentTemplate:
    return template_create(
        actor=owner, name="Secret", channel="email", content=CONTENT, restricted=True
    )


# --- API ---------------------------------------------------------------------


def test_template_round_trip_through_the_api(manager, api_for):
    api = api_for(manager)
    created = api.post("/templates", {"name": "Welcome", "channel": "email", "content": CONTENT})
    assert created.status_code == 201, created.content
    body = created.json()
    assert set(body) == TEMPLATE_KEYS
    assert body["content"] == CONTENT
    tid = body["id"]

    listed = api.get("/templates").json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == tid
    assert api.get("/templates?channel=sms").json()["count"] == 0

    patched = api.patch(f"/templates/{tid}", {"content": {"subject": "New subject"}})
    assert patched.status_code == 200
    assert patched.json()["content"]["subject"] == "New subject"
    assert patched.json()["content"]["html"] == GOOD_HTML  # partial down to fields
    assert api.get(f"/templates/{tid}").json()["content"]["subject"] == "New subject"

    assert api.delete(f"/templates/{tid}").status_code == 204
    assert api.get(f"/templates/{tid}").status_code == 404


def test_campaign_created_from_a_template_copies_its_content(manager, api_for):
    api = api_for(manager)
    tid = api.post(
        "/templates", {"name": "Welcome", "channel": "email", "content": CONTENT}
    ).json()["id"]
    config, aud = email_config(), audience()
    answer = api.post(
        "/campaigns",
        {
            "name": "From template",
            "type": "scheduled",
            "category": "marketing",
            "channelConfigurationId": config.pk,
            "audienceId": aud.pk,
            "templateId": tid,
            "content": {"preheader": "Given here"},
        },
    )
    assert answer.status_code == 201, answer.content
    content = answer.json()["content"]
    assert content["subject"] == CONTENT["subject"] and content["html"] == GOOD_HTML
    assert content["preheader"] == "Given here"
    # A copy: changing the template later does not change the campaign.
    api.patch(f"/templates/{tid}", {"content": {"subject": "Changed"}})
    campaign = Campaign.objects.get(pk=answer.json()["id"])
    assert campaign.draft_version.content["subject"] == CONTENT["subject"]


def test_template_of_another_channel_or_unseen_is_refused(manager, make_user, api_for):
    api = api_for(manager)
    sms = api.post("/templates", {"name": "S", "channel": "sms", "content": {"text": "Hi"}}).json()
    secret = _restricted_template(make_user("other", MANAGER))
    config = email_config()
    base = {
        "name": "X",
        "type": "scheduled",
        "category": "marketing",
        "channelConfigurationId": config.pk,
        "audienceId": audience().pk,
    }
    for template_id in (sms["id"], secret.pk, 999999):
        answer = api.post("/campaigns", {**base, "templateId": template_id})
        assert answer.status_code == 400, answer.content
        assert "templateId" in answer.json()["errors"]
    assert Campaign.objects.count() == 0


def test_bad_template_content_is_a_400_naming_the_field(manager, api_for):
    api = api_for(manager)
    answer = api.post(
        "/templates", {"name": "B", "channel": "email", "content": {"html": "{{ oops"}}
    )
    assert answer.status_code == 400
    assert "content.html" in answer.json()["errors"]
    answer = api.post("/templates", {"name": "B", "channel": "email", "content": {"subjet": "x"}})
    assert answer.status_code == 400
    assert api.patch("/templates/1", {"channel": "sms"}).status_code == 404
    assert ContentTemplate.objects.count() == 0


def test_template_channel_cannot_change(manager, api_for):
    api = api_for(manager)
    tid = api.post("/templates", {"name": "S", "channel": "sms", "content": {"text": "x"}}).json()[
        "id"
    ]
    answer = api.patch(f"/templates/{tid}", {"channel": "email"})
    assert answer.status_code == 400
    assert ContentTemplate.objects.get(pk=tid).channel == "sms"


def test_viewer_reads_templates_but_cannot_write(viewer, manager, api_for):
    template = template_create(actor=manager, name="T", channel="email", content=CONTENT)
    api = api_for(viewer)
    assert api.get("/templates").json()["count"] == 1
    assert api.get(f"/templates/{template.pk}").status_code == 200
    assert api.post("/templates", {"name": "N", "channel": "sms"}).status_code == 403
    assert api.patch(f"/templates/{template.pk}", {"name": "N"}).status_code == 403
    assert api.delete(f"/templates/{template.pk}").status_code == 403
    template.refresh_from_db()
    assert template.name == "T"


def test_restricted_template_is_hidden_until_granted(manager, make_user, api_for):
    owner = make_user("owner", MANAGER)
    secret = _restricted_template(owner)
    api = api_for(manager)
    assert api.get("/templates").json()["count"] == 0
    assert api.get(f"/templates/{secret.pk}").status_code == 404
    assert api.delete(f"/templates/{secret.pk}").status_code == 404
    # The owner kept access when restricting it.
    assert api_for(owner).get(f"/templates/{secret.pk}").status_code == 200
    assign_perm("campaigns.view_contenttemplate", manager, secret)
    assert api.get(f"/templates/{secret.pk}").status_code == 200
    assert api.patch(f"/templates/{secret.pk}", {"name": "Mine"}).status_code == 403


def test_anonymous_api_is_refused(anonymous_api):
    assert anonymous_api.get("/templates").status_code == 401


# --- starters ----------------------------------------------------------------


def test_every_starter_design_is_valid_content_for_its_channel():
    kinds = {(s.channel, s.kind) for s in STARTERS.values()}
    for channel in ("email", "sms", "push"):
        for kind in ("newsletter", "announcement", "receipt", "password_reset"):
            assert (channel, kind) in kinds
    for starter in STARTERS.values():
        content = starter.content()
        assert template_errors(starter.channel, content) == {}, starter.key
        if starter.channel == "email" and starter.category == "marketing":
            assert "{{ unsubscribe_url }}" in content["html"]


def test_starters_follow_the_active_language():
    from django.utils import translation

    with translation.override("fr"):
        french = STARTERS["email-newsletter"].content()["subject"]
    assert french != STARTERS["email-newsletter"].content()["subject"]


# --- pages -------------------------------------------------------------------


def test_gallery_shows_starters_per_channel_and_saved_templates(manager, login):
    template_create(actor=manager, name="Monthly letter", channel="email", content=CONTENT)
    client = login(manager)
    page = client.get("/templates/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Monthly letter" in html
    for key in STARTERS:
        assert f'data-starter="{key}"' in html
    sms_only = client.get("/templates/?channel=sms").content.decode()
    assert 'data-starter="sms-receipt"' in sms_only
    assert 'data-starter="email-receipt"' not in sms_only
    assert "Monthly letter" not in sms_only


def test_gallery_empty_state_guides_to_the_next_step(viewer, login):
    html = login(viewer).get("/templates/").content.decode()
    assert "No saved templates yet." in html
    assert 'href="/templates/new/' not in html  # a viewer cannot create one
    assert 'href="/campaigns/new/?starter=' not in html


def test_outsider_cannot_open_the_gallery(outsider, login):
    assert login(outsider).get("/templates/").status_code == 403


def test_new_campaign_from_a_starter_copies_its_content(manager, login):
    client = login(manager)
    page = client.get("/campaigns/new/?starter=sms-announcement")
    assert page.status_code == 200
    assert 'name="starter" value="sms-announcement"' in page.content.decode()
    answer = client.post(
        "/campaigns/new/",
        {
            "starter": "sms-announcement",
            "name": "Launch",
            "type": "scheduled",
            "category": "marketing",
            "channel": "email",  # ignored: the starter's channel is kept
        },
    )
    assert answer.status_code == 302, answer.content
    campaign = Campaign.objects.get(name="Launch")
    assert campaign.channel == "sms"
    assert campaign.draft_version.content == STARTERS["sms-announcement"].content()


def test_new_campaign_from_a_template_and_unseen_template(manager, make_user, login):
    template = template_create(actor=manager, name="Letter", channel="email", content=CONTENT)
    secret = _restricted_template(make_user("other", MANAGER))
    client = login(manager)
    answer = client.post(
        "/campaigns/new/",
        {"template": template.pk, "name": "Copy", "type": "scheduled", "category": "marketing"},
    )
    assert answer.status_code == 302
    assert Campaign.objects.get(name="Copy").draft_version.content["subject"] == CONTENT["subject"]
    assert client.get(f"/campaigns/new/?template={secret.pk}").status_code == 404
    assert client.get("/campaigns/new/?starter=nope").status_code == 404
    assert client.get("/campaigns/new/?template=abc").status_code == 404


def test_save_campaign_content_as_template_from_its_page(manager, login):
    client = login(manager)
    from tests.campaigns.lifecycle_helpers import ready_email

    campaign = ready_email(manager)
    page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert f'action="/campaigns/{campaign.pk}/save-as-template/"' in page
    answer = client.post(f"/campaigns/{campaign.pk}/save-as-template/", {"name": "Saved"})
    template = ContentTemplate.objects.get(name="Saved")
    assert answer.status_code == 302 and answer["Location"] == f"/templates/{template.pk}/"
    assert template.channel == "email"
    assert template.content["html"] == GOOD_HTML
    assert client.get(f"/campaigns/{campaign.pk}/save-as-template/").status_code == 405


def test_viewer_cannot_save_as_template(viewer, manager, login):
    from tests.campaigns.lifecycle_helpers import ready_email

    campaign = ready_email(manager)
    client = login(viewer)
    assert "save-as-template" not in client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert (
        client.post(f"/campaigns/{campaign.pk}/save-as-template/", {"name": "x"}).status_code == 403
    )
    assert not ContentTemplate.objects.exists()


def test_template_pages_create_edit_delete(manager, login):
    client = login(manager)
    form = client.get("/templates/new/?starter=email-receipt")
    assert form.status_code == 200 and 'name="content_html"' in form.content.decode()
    answer = client.post(
        "/templates/new/",
        {"channel": "sms", "name": "Short", "content_text": "Hi {{ profile.firstName }}"},
    )
    template = ContentTemplate.objects.get(name="Short")
    assert answer.status_code == 302 and template.channel == "sms"
    bad = client.post(f"/templates/{template.pk}/", {"name": "Short", "content_text": "{% if"})
    assert bad.status_code == 400
    ok = client.post(f"/templates/{template.pk}/", {"name": "Shorter", "content_text": "Hello"})
    assert ok.status_code == 302
    template.refresh_from_db()
    assert (template.name, template.content["text"]) == ("Shorter", "Hello")
    assert client.post(f"/templates/{template.pk}/delete/").status_code == 302
    assert not ContentTemplate.objects.exists()


def test_template_pages_refuse_viewers_and_hide_restricted(viewer, manager, make_user, login):
    template = template_create(actor=manager, name="T", channel="sms", content={"text": "x"})
    secret = _restricted_template(make_user("other", MANAGER))
    client = login(viewer)
    assert client.get(f"/templates/{template.pk}/").status_code == 200
    assert client.post(f"/templates/{template.pk}/", {"name": "N"}).status_code == 403
    assert client.post(f"/templates/{template.pk}/delete/").status_code == 403
    assert client.get("/templates/new/").status_code == 403
    assert client.get(f"/templates/{secret.pk}/").status_code == 404
    assert login(manager).get(f"/templates/{secret.pk}/access/").status_code == 404
    assert ContentTemplate.objects.get(pk=template.pk).name == "T"


def test_administrator_restricts_a_template_on_its_access_page(administrator, manager, login):
    template = template_create(actor=manager, name="T", channel="sms", content={"text": "x"})
    client = login(administrator)
    assert client.get(f"/templates/{template.pk}/access/").status_code == 200
    client.post(f"/templates/{template.pk}/access/", {"op": "restrict", "restricted": "on"})
    template.refresh_from_db()
    assert template.restricted
    assert login(manager).get(f"/templates/{template.pk}/").status_code == 404


def test_admin_lists_templates_for_administrators_only(administrator, manager, make_user, login):
    template_create(actor=manager, name="Open", channel="sms", content={"text": "x"})
    _restricted_template(make_user("other", MANAGER))
    client = login(administrator)
    page = client.get("/admin/campaigns/contenttemplate/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Open" in html and "Secret" not in html  # restricted means restricted here too
