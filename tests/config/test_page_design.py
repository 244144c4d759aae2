"""The pages look like one product (issue 15, point 6): every empty list says what
it is for and links to the next step; every form goes through the one form
partial (no bare Django ``Name:`` labels); the campaign page shows the message
as its recipient sees it, not its template source."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

from tests.campaigns.lifecycle_helpers import ready_email, sms_config

TEMPLATES = Path(settings.BASE_DIR) / "templates"
LISTS = [
    "/campaigns/",
    "/audiences/",
    "/templates/",
    "/images/",
    "/approvals/",
    "/channels/",
    "/accounts/notifications/",
]


def _empty_state(page: str) -> str:
    match = re.search(
        r'<div class="empty-state" data-testid="empty-state">(.*?)\n</div>', page, re.S
    )
    assert match, "no empty state"
    return match.group(1)


@pytest.mark.parametrize("url", LISTS)
def test_every_empty_list_says_what_it_is_for_and_links_to_the_next_step(login, administrator, url):
    page = login(administrator).get(url).content.decode()
    state = _empty_state(page)
    assert re.search(r"<h2>[^<]+</h2>", state)
    links = re.findall(r'<a class="button primary" href="([^"]+)"', state)
    assert links, f"{url}: the empty state offers no next step"
    if links[0].startswith("/"):
        assert login(administrator).get(links[0]).status_code == 200


def test_the_next_step_respects_the_users_permissions(login, viewer, manager):
    for_manager = _empty_state(login(manager).get("/audiences/").content.decode())
    assert 'href="/audiences/new/"' in for_manager
    for_viewer = _empty_state(login(viewer).get("/audiences/").content.decode())
    assert "/audiences/new/" not in for_viewer and "/audiences/upload/" not in for_viewer
    assert "Campaign managers create audiences." in for_viewer
    campaigns = _empty_state(login(viewer).get("/campaigns/").content.decode())
    assert "/campaigns/new/" not in campaigns and 'href="?status=all"' in campaigns


def test_no_template_uses_django_s_bare_form_output():
    """Every form field goes through templates/forms/field.html."""
    bare = re.compile(
        r"\.as_p\b|\.as_table\b|\.as_ul\b|\.as_div\b|label_tag|\{\{\s*\w*form\s*\}\}"
        r"|\{\{\s*\w*form\.non_field_errors\s*\}\}"
    )
    offenders = [
        str(path.relative_to(TEMPLATES))
        for path in TEMPLATES.rglob("*.html")
        if bare.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


@pytest.fixture
def workspace(manager):
    from audiences.models import Audience, Profile
    from campaigns.templates_services import template_create

    Profile.objects.create(
        email="ann@example.com", phone="+33612345678", attributes={"firstName": "Ann"}
    )
    audience = Audience.objects.create(
        name="Ann", kind="rule", rule={"all": [{"field": "email", "op": "contains", "value": "@"}]}
    )
    campaign = ready_email(manager, name="Spring", audience=audience)
    template = template_create(
        actor=manager, name="House", channel="email", content={"subject": "S", "html": "<p>x</p>"}
    )
    return {"campaign": campaign, "audience": audience, "template": template}


def test_no_page_shows_bare_django_labels(login, administrator, manager, workspace):
    campaign, audience = workspace["campaign"].pk, workspace["audience"].pk
    config = workspace["campaign"].draft_version.channel_configuration_id
    urls = [
        *LISTS,
        "/campaigns/new/",
        f"/campaigns/{campaign}/",
        f"/campaigns/{campaign}/edit/",
        f"/campaigns/{campaign}/preview/",
        f"/campaigns/{campaign}/languages/",
        f"/campaigns/{campaign}/languages/fr/",
        f"/campaigns/{campaign}/access/",
        "/templates/new/",
        f"/templates/{workspace['template'].pk}/",
        "/audiences/new/",
        "/audiences/upload/",
        f"/audiences/{audience}/",
        f"/audiences/{audience}/edit/",
        "/channels/new/email/",
        "/channels/new/sms/",
        f"/channels/{config}/edit/",
        f"/channels/{config}/test/",
        "/accounts/settings/",
        "/accounts/password/change/",
    ]
    client = login(administrator)
    colon_label = re.compile(r"<label\b[^>]*>(?:(?!</label>).)*?:\s*</label>", re.S)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        main = page[page.index("<main") : page.index("</main>")]
        assert not re.search(r"<p>\s*<label", main), f"{url}: as_p-style markup"
        assert not re.search(r"<t[hd]>\s*<label", main), f"{url}: as_table-style markup"
        assert not colon_label.search(main), f"{url}: {colon_label.search(main).group(0)}"
        # Every labelled control is in the one field partial (or a filter bar).
        for control_id in re.findall(r'<label for="([^"]+)"', main):
            assert f'id="{control_id}"' in main, f"{url}: label for a missing #{control_id}"


def test_forms_group_fields_under_legends_with_help_and_required_marks(login, administrator):
    page = login(administrator).get("/channels/new/email/").content.decode()
    legends = re.findall(r'<fieldset class="group"><legend>([^<]+)</legend>', page)
    assert legends == ["Name and purpose", "Who sends", "Delivery provider", "Sending speed"]
    assert re.search(r'<div class="field required">\s*<label for="id_name">Name</label>', page)
    # The help is tied to its control.
    assert 'aria-describedby="id_bcc_helptext"' in page and 'id="id_bcc_helptext"' in page
    errors = login(administrator).post("/channels/new/email/", {"name": ""}).content.decode()
    assert re.search(
        r'<div class="field required has-error">\s*<label for="id_name">Name</label>'
        r'.*?<ul class="errorlist" role="alert"><li>',
        errors,
        re.S,
    )


def _rendered(page: str) -> str:
    start = page.index('data-testid="rendered-message"')
    return page[start : page.index("</details>", start)]


def test_the_campaign_page_shows_the_rendered_message_not_its_source(
    login, manager, workspace, client
):
    from campaigns.services import campaign_update

    campaign = workspace["campaign"]
    campaign_update(
        campaign=campaign,
        actor=manager,
        content={
            "subject": "Spring news for {{ profile.firstName }}",
            "html": "<h1>Dear {{ profile.firstName | upper }}</h1>"
            '<a href="{{ unsubscribe_url }}">Unsubscribe</a>',
        },
    )
    page = login(manager).get(f"/campaigns/{campaign.pk}/").content.decode()
    # The message comes first, before the version's properties.
    assert page.index('id="preview-section"') < page.index("<dt>Type</dt>")
    shown = _rendered(page)
    assert re.search(r'data-testid="rendered-subject">Spring news for Ann<', shown)
    assert "{{" not in shown  # the subject is rendered, never the template
    frame = re.search(r'<iframe class="preview" sandbox [^>]*src="([^"]+)"', shown).group(1)
    body = client.get(frame.replace("&amp;", "&")).content.decode()
    assert "<h1>Dear ANN</h1>" in body
    # The source is still there for whoever wants it, folded away below the message.
    assert re.search(r'<details class="source">\s*<summary>Template source</summary>', page)


def test_the_campaign_page_shows_an_sms_on_a_phone(login, manager, workspace):
    campaign = ready_email(
        manager,
        name="Flash",
        channel="sms",
        channel_configuration=sms_config(),
        content={"text": "Hi {{ profile.firstName }}, sale today!"},
        audience=workspace["audience"],
    )
    page = login(manager).get(f"/campaigns/{campaign.pk}/").content.decode()
    assert re.search(r'class="sms-bubble" data-testid="rendered-text">Hi Ann, sale today!<', page)
