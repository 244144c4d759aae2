"""The visual email designer's server half (SPEC §11, issue 15 point 1): designs
checked and compiled to email HTML with inline styles, saved beside the HTML,
reopened as saved; code mode; who may use it."""

from __future__ import annotations

import json

import pytest
from django.core import mail

from campaigns.designer import clean_design, inline_html, render_design
from campaigns.services import campaign_create
from campaigns.templates_services import template_create
from channels.preview import render_preview
from tests.campaigns.lifecycle_helpers import ready_email, sms_config

pytestmark = pytest.mark.usefixtures("no_worker")

IMAGE = "http://testserver/assets/" + "a" * 32 + ".png"
DESIGN = {
    "blocks": [
        {"type": "heading", "text": "Spring news", "color": "#ff0000"},
        {
            "type": "text",
            "html": 'Hi {{ profile.firstName | default("there") }}, <b>new</b> <script>x</script>',
        },
        {"type": "image", "src": IMAGE, "alt": "Hero", "width": 1200},
        {"type": "button", "label": "Shop now", "href": "https://example.com/shop"},
        {
            "type": "columns",
            "columns": [[{"type": "text", "html": "Left"}], [{"type": "text", "html": "Right"}]],
        },
        {"type": "footer", "html": '<a href="{{ unsubscribe_url }}">Unsubscribe</a>'},
    ]
}


def test_design_is_completed_and_checked():
    design = clean_design(DESIGN)
    assert design["blocks"][0]["level"] == 1 and design["blocks"][0]["padding"] == 12
    assert design["blocks"][0]["color"] == "#ff0000"
    bad_colour = clean_design({"blocks": [{"type": "divider", "color": "red; x"}]})
    assert bad_colour["blocks"][0]["color"] == "#e4e7eb"
    for bad in (
        {"blocks": [{"type": "video"}]},
        {"blocks": [{"type": "button", "label": "x", "href": "javascript:alert(1)"}]},
        {"blocks": [{"type": "columns", "columns": [[]]}]},
        {
            "blocks": [
                {"type": "columns", "columns": [[{"type": "columns", "columns": [[], []]}], []]}
            ]
        },
        {"blocks": "nope"},
        [],
    ):
        with pytest.raises(Exception) as caught:
            clean_design(bad)
        assert caught.type.__name__ == "ValidationError"


def test_text_keeps_bold_italic_links_and_escapes_the_rest():
    assert inline_html("<b>a</b> <i>b</i> <script>c</script>") == "<strong>a</strong> <em>b</em> c"
    assert "javascript" not in inline_html('<a href="javascript:x">y</a>')
    assert 'href="https://e.com"' in inline_html('<a href="https://e.com" onclick="x">y</a>')
    assert inline_html('{{ profile.firstName | default("there") }}') == (
        '{{ profile.firstName | default("there") }}'
    )


def test_rendered_html_has_inline_styles_the_image_and_responsive_columns():
    html = render_design(clean_design(DESIGN), title="Spring")
    assert 'style="margin:0;font-family' in html and "color:#ff0000" in html
    assert f'<img src="{IMAGE}" alt="Hero" width="600"' in html  # at most the email's width
    assert 'href="https://example.com/shop"' in html and "background:#2454d6" in html
    assert html.count('class="col"') == 2 and "@media only screen" in html
    assert "<script>" not in html
    rendered = render_preview(
        channel="email", content={"subject": "S", "html": html}, category="marketing"
    )
    assert "Hi there" in rendered.html  # the personalization is a working template


def test_designer_saves_the_design_and_its_html_and_reopens_it(manager, login):
    campaign = ready_email(manager)
    client = login(manager)
    page = client.get(f"/campaigns/{campaign.pk}/design/")
    assert page.status_code == 200 and 'data-testid="email-designer"' in page.content.decode()
    answer = client.post(
        f"/campaigns/{campaign.pk}/design/", {"mode": "design", "design": json.dumps(DESIGN)}
    )
    assert answer.status_code == 302, answer.content
    campaign.refresh_from_db()
    content = campaign.draft_version.content
    assert [b["type"] for b in content["design"]["blocks"]] == [b["type"] for b in DESIGN["blocks"]]
    assert IMAGE in content["html"] and "Shop now" in content["html"]
    reopened = client.get(f"/campaigns/{campaign.pk}/design/")
    data = json.loads(
        reopened.content.decode()
        .split('id="designer-data" type="application/json">')[1]
        .split("</script>")[0]
    )
    assert data["design"] == content["design"]


def test_code_mode_saves_the_html_and_leaves_the_design(manager, login):
    campaign = ready_email(manager)
    client = login(manager)
    client.post(
        f"/campaigns/{campaign.pk}/design/", {"mode": "design", "design": json.dumps(DESIGN)}
    )
    client.post(
        f"/campaigns/{campaign.pk}/design/",
        {"mode": "code", "html": '<p>By hand</p><a href="{{ unsubscribe_url }}">u</a>'},
    )
    campaign.refresh_from_db()
    assert campaign.draft_version.content["html"].startswith("<p>By hand</p>")
    assert "design" not in campaign.draft_version.content


def test_bad_designs_are_refused_without_a_write(manager, login):
    campaign = ready_email(manager)
    before = dict(campaign.draft_version.content)
    client = login(manager)
    for design in ("{not json", json.dumps({"blocks": [{"type": "video"}]})):
        answer = client.post(
            f"/campaigns/{campaign.pk}/design/", {"mode": "design", "design": design}
        )
        assert answer.status_code == 400
    broken = client.post(f"/campaigns/{campaign.pk}/design/", {"mode": "code", "html": "{% if %}"})
    assert broken.status_code == 400
    campaign.refresh_from_db()
    assert campaign.draft_version.content == before


def test_designer_roles_and_channels(viewer, manager, login):
    campaign = ready_email(manager)
    sms = campaign_create(
        actor=manager, name="T", channel="sms", channel_configuration=sms_config()
    )
    assert login(viewer).get(f"/campaigns/{campaign.pk}/design/").status_code == 403
    assert (
        login(viewer)
        .post(f"/campaigns/{campaign.pk}/design/", {"mode": "code", "html": "x"})
        .status_code
        == 403
    )
    assert login(manager).get(f"/campaigns/{sms.pk}/design/").status_code == 404


def test_template_designer(manager, viewer, login):
    template = template_create(
        actor=manager, name="Letter", channel="email", content={"subject": "S"}
    )
    client = login(manager)
    answer = client.post(
        f"/templates/{template.pk}/design/", {"mode": "design", "design": json.dumps(DESIGN)}
    )
    assert answer.status_code == 302
    template.refresh_from_db()
    assert template.content["design"]["blocks"][0]["text"] == "Spring news"
    assert IMAGE in template.content["html"]
    assert login(viewer).get(f"/templates/{template.pk}/design/").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_sent_email_carries_the_inline_styles_and_the_image_url(queued):
    from campaigns import tasks
    from campaigns.engine.schedule import activate_campaign
    from campaigns.models import Run
    from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience

    html = render_design(clean_design(DESIGN))
    campaign = make_campaign(
        upload_audience(make_profiles(1)),
        content={"subject": "Spring", "html": html, "design": clean_design(DESIGN)},
    )
    activate_campaign(campaign.pk)
    tasks.start_run(Run.objects.get(campaign=campaign).pk)
    sent = mail.outbox[0].alternatives[0][0]
    assert IMAGE in sent and 'style="margin:0;font-family' in sent and "Hi there" in sent


def test_designer_per_language_starts_from_the_default_layout(manager, login):
    from audiences.models import Profile

    campaign = ready_email(manager)
    client = login(manager)
    client.post(
        f"/campaigns/{campaign.pk}/design/", {"mode": "design", "design": json.dumps(DESIGN)}
    )
    page = client.get(f"/campaigns/{campaign.pk}/design/?locale=fr").content.decode()
    assert "Spring news" in page  # the default's blocks, to translate
    french = {
        **DESIGN,
        "blocks": [{"type": "heading", "text": "Nouvelles du printemps"}, *DESIGN["blocks"][1:]],
    }
    answer = client.post(
        f"/campaigns/{campaign.pk}/design/?locale=fr",
        {"mode": "design", "design": json.dumps(french)},
    )
    assert answer.status_code == 302
    campaign.refresh_from_db()
    content = campaign.draft_version.content
    assert "Nouvelles du printemps" in content["translations"]["fr"]["html"]
    assert "Nouvelles" not in content["html"] and "Spring news" in content["html"]
    assert content["translations"]["fr"]["design"]["blocks"][0]["text"] == "Nouvelles du printemps"
    reader = Profile(email="r@example.com", locale="fr-CA")
    rendered = render_preview(
        channel="email", content=content, category="marketing", profile=reader
    )
    assert "Nouvelles du printemps" in rendered.html
    # Saving the French fields on the languages page keeps its layout.
    client.post(
        f"/campaigns/{campaign.pk}/languages/fr/",
        {"content_subject": "Bonjour", "content_html": content["translations"]["fr"]["html"]},
    )
    campaign.refresh_from_db()
    assert campaign.draft_version.content["translations"]["fr"]["design"]["blocks"][0]["text"] == (
        "Nouvelles du printemps"
    )
    assert client.get(f"/campaigns/{campaign.pk}/design/?locale=FR").status_code == 404


def test_personalization_picker_offers_attributes_identities_and_context(manager, login):
    from audiences.models import Profile

    Profile.objects.create(email="p@example.com", attributes={"firstName": "A", "bad key": 1})
    campaign = ready_email(
        manager, content={"subject": "Order {{ context.orderId }}", "html": "<p>x</p>"}
    )
    page = login(manager).get(f"/campaigns/{campaign.pk}/design/").content.decode()
    data = json.loads(
        page.split('id="designer-data" type="application/json">')[1].split("</script>")[0]
    )
    assert {"profile.firstName", "profile.email", "context.orderId", "unsubscribe_url"} <= set(
        data["attributes"]
    )
    assert "profile.bad key" not in data["attributes"]


def test_template_from_an_email_starter_keeps_its_design(manager, login):
    from campaigns.models import ContentTemplate
    from campaigns.starters import STARTERS

    starter = STARTERS["email-announcement"].content()
    client = login(manager)
    data = {
        "channel": "email",
        "name": "Launch",
        "content_subject": starter["subject"],
        "content_preheader": starter["preheader"],
        "content_html": starter["html"],
        "content_text": "",
    }
    client.post("/templates/new/?starter=email-announcement", data)
    assert ContentTemplate.objects.get(name="Launch").content["design"] == starter["design"]
    client.post(
        "/templates/new/?starter=email-announcement",
        {**data, "name": "Edited", "content_html": "<p>Mine</p>"},
    )
    assert "design" not in ContentTemplate.objects.get(name="Edited").content


def test_designer_page_without_javascript_saves_in_code_mode(manager, login):
    campaign = ready_email(manager)
    page = login(manager).get(f"/campaigns/{campaign.pk}/design/").content.decode()
    assert '<input type="hidden" name="mode" value="code">' in page


def test_picker_never_offers_attributes_of_profiles_hidden_from_the_user(manager, login):
    """Review (issue 10 #3 class, like the rule builder's known attributes): the
    designer's personalization picker read attribute names from every recent
    profile, those known only through a restricted audience included."""
    from audiences.models import Audience, AudienceMember, Profile

    Profile.objects.create(email="seen@example.com", attributes={"city": "Paris"})
    hidden = Profile.objects.create(email="vip@example.com", attributes={"boardSalary": 1})
    secret = Audience.objects.create(name="Board", kind="upload", restricted=True)
    AudienceMember.objects.create(audience=secret, profile=hidden)
    campaign = ready_email(manager)
    page = login(manager).get(f"/campaigns/{campaign.pk}/design/").content.decode()
    data = json.loads(
        page.split('id="designer-data" type="application/json">')[1].split("</script>")[0]
    )
    assert "profile.city" in data["attributes"]
    assert "profile.boardSalary" not in data["attributes"]


def test_designer_page_hands_the_script_only_the_allowed_markup(manager, login, approver):
    """Review (issue 10): the designer puts a text block's ``html`` into the page
    with innerHTML; a design stored through the API (``content.design`` is kept
    as given) or the designer (which keeps the raw text) could carry any markup
    into a colleague's session — <meta http-equiv=refresh> redirects the page
    even under the CSP. The page now gets the same subset the email gets."""
    evil = (
        '<img src=x onerror="alert(1)"><meta http-equiv="refresh" content="0;url=https://evil.test">'
        '<b>kept</b> <a href="https://example.com" onclick="x()">link</a>'
    )
    design = {
        "blocks": [
            {"type": "text", "html": evil},
            {"type": "columns", "columns": [[{"type": "text", "html": evil}], []]},
        ]
    }
    campaign = ready_email(manager, content={"subject": "Hi", "html": "<p>x</p>", "design": design})
    page = login(approver).get(f"/campaigns/{campaign.pk}/design/").content.decode()
    data = json.loads(
        page.split('id="designer-data" type="application/json">')[1].split("</script>")[0]
    )
    for html in (
        data["design"]["blocks"][0]["html"],
        data["design"]["blocks"][1]["columns"][0][0]["html"],
    ):
        assert "<meta" not in html and "<img" not in html and "onclick" not in html
        assert "<strong>kept</strong>" in html and 'href="https://example.com"' in html
