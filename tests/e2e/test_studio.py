"""The content studio in the browser (issue 15): a manager starts a newsletter
from the starter gallery, uploads an image to the library, inserts it into the
email from the editor's image picker and saves; the campaign page shows the
rendered message. Screenshots are kept under test-results/studio/."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.campaigns.test_assets import png

ARTEFACTS = Path(settings.BASE_DIR) / "test-results" / "studio"


def _shoot_whole_page(page, name: str) -> None:
    """The page in one tall viewport: Chromium leaves a sandboxed preview frame
    blank in a stitched ``full_page`` capture."""
    viewport = page.viewport_size
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": viewport["width"], "height": max(height, viewport["height"])})
    page.wait_for_timeout(300)  # the frame paints at the new size
    page.screenshot(path=str(ARTEFACTS / name))
    page.set_viewport_size(viewport)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def test_manager_builds_a_newsletter_from_a_starter_with_a_library_image(
    signed_in_page, live_server, media, tmp_path
):
    from campaigns.models import Asset, Campaign

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page = signed_in_page("manager")

    page.get_by_role("link", name="Templates").click()
    expect(page.get_by_test_id("starter-gallery")).to_be_visible()
    page.screenshot(path=str(ARTEFACTS / "template-gallery.png"), full_page=True)

    page.get_by_role("link", name="Image library").click()
    image = tmp_path / "hero.png"
    image.write_bytes(png(60, 30))
    page.set_input_files("input[name=file]", str(image))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_test_id("image-library")).to_contain_text("hero.png")
    asset = Asset.objects.get()

    page.goto(f"{live_server.url}/templates/?channel=email")
    page.locator('[data-starter="email-newsletter"]').get_by_role(
        "link", name="Use in a new campaign"
    ).click()
    expect(page.locator("#campaign-source")).to_contain_text("Newsletter")
    page.fill("input[name=name]", "May newsletter")
    page.get_by_role("button", name="Create and continue").click()
    page.wait_for_url("**/edit/")

    html = page.locator("textarea[name=content_html]")
    # The cursor after the heading: the image goes between it and the text.
    html.evaluate("t => { const at = t.value.indexOf('</h1>') + 5; t.setSelectionRange(at, at); }")
    page.get_by_test_id("insert-image").click()
    page.locator("dialog button.pick").first.click()
    expect(page.locator("dialog.picker-dialog")).not_to_be_visible()
    assert f"/assets/{asset.key.hex}.png" in html.input_value()
    page.locator("#save").click()
    page.wait_for_url("**/campaigns/*/?version=draft")

    campaign = Campaign.objects.get(name="May newsletter")
    content = campaign.draft_version.content
    assert f'</h1><img src="{settings.SITE_URL}/assets/{asset.key.hex}.png"' in content["html"]
    assert "{{ unsubscribe_url }}" in content["html"]
    # The campaign page shows the message as it arrives, not its template source.
    expect(page.get_by_test_id("rendered-subject")).to_have_text("This month's news")
    message = page.frame_locator("[data-testid=rendered-message] iframe.preview")
    expect(message.locator(f'img[src$="/assets/{asset.key.hex}.png"]')).to_have_count(1)
    expect(page.locator("details.source")).not_to_have_attribute("open", "")
    _shoot_whole_page(page, "campaign-page.png")

    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/preview/?device=mobile")
    expect(page.get_by_test_id("preview-email")).to_have_attribute("data-device", "mobile")
    expect(page.get_by_test_id("preview-subject")).to_have_text("This month's news")
    page.screenshot(path=str(ARTEFACTS / "preview-mobile.png"), full_page=True)


def test_designer_builds_an_email_that_reopens_and_sends(signed_in_page, live_server, media):
    from django.contrib.auth import get_user_model
    from django.core import mail
    from django.core.files.uploadedfile import SimpleUploadedFile

    from accounts.demo import seed  # noqa: F401 - the demo users exist (signed_in_page)
    from audiences.models import Profile
    from campaigns import tasks
    from campaigns.assets import asset_create
    from campaigns.engine.schedule import activate_campaign
    from campaigns.models import Run
    from tests.campaigns.conftest import make_campaign, upload_audience
    from tests.campaigns.lifecycle_helpers import ready_email

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page = signed_in_page("manager")
    manager = get_user_model().objects.get(username="manager")
    asset = asset_create(actor=manager, upload=SimpleUploadedFile("logo.png", png(120, 40)))
    campaign = ready_email(manager, name="Designed")

    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/design/")
    designer = page.get_by_test_id("email-designer")
    expect(designer).to_be_visible()
    designer.locator("[data-add=heading]").click()
    heading = designer.locator(".dz-block[data-type=heading] h1")
    heading.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("Spring news")
    designer.locator("[data-add=image]").click()
    designer.locator("dialog.dz-picker button.pick").first.click()
    expect(designer.locator(".dz-block[data-type=image] img")).to_have_attribute(
        "src", f"{settings.SITE_URL}/assets/{asset.key.hex}.png"
    )
    designer.locator("[data-add=button]").click()
    designer.locator("#dz-href").fill("https://example.com/shop")
    designer.locator("#dz-href").dispatch_event("change")
    # The editor's history: undo the link, then the button; redo both.
    designer.locator(".dz-undo").click()
    expect(designer.locator(".dz-block[data-type=button]")).to_have_count(1)
    designer.locator(".dz-undo").click()
    expect(designer.locator(".dz-block[data-type=button]")).to_have_count(0)
    designer.locator(".dz-redo").click()
    designer.locator(".dz-redo").click()
    expect(designer.locator(".dz-block[data-type=button]")).to_have_count(1)
    # Reorder: the button up with its settings' arrow, the image back down by dragging.
    designer.locator(".dz-block[data-type=button]").click()
    designer.locator(".dz-settings .dz-up").click()
    types = designer.locator(".dz-canvas > .dz-block")
    expect(types.nth(1)).to_have_attribute("data-type", "button")
    types.nth(2).drag_to(types.nth(1))
    expect(types.nth(1)).to_have_attribute("data-type", "image")
    # A text block (added after the selected image) with bold and a personalization.
    designer.locator("[data-add=text]").click()
    text = designer.locator(".dz-block[data-type=text] .dz-rich")
    text.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("Dear ")
    designer.locator(".dz-personalize").select_option("profile.email")
    page.keyboard.press("Control+A")
    designer.locator("[data-format=bold]").click()
    expect(text.locator("b, strong")).to_contain_text("Dear {{ profile.email }}")
    page.screenshot(path=str(ARTEFACTS / "designer.png"), full_page=True)
    page.locator("#save-design").click()
    expect(page.locator(".message.success")).to_have_count(1)

    # Reopened: the same blocks, in the same order.
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/design/")
    blocks = page.get_by_test_id("email-designer").locator(".dz-canvas > .dz-block")
    expect(blocks).to_have_count(4)
    assert [blocks.nth(n).get_attribute("data-type") for n in range(4)] == [
        "heading",
        "image",
        "text",
        "button",
    ]
    expect(blocks.nth(0)).to_contain_text("Spring news")

    # Code mode shows the HTML the design produced, editable.
    page.get_by_test_id("email-designer").locator("[data-mode=code]").click()
    code = page.locator("textarea.dz-code")
    expect(code).to_be_visible()
    assert "Spring news" in code.input_value()
    expect(page.locator(".dz-canvas")).to_be_hidden()

    campaign.refresh_from_db()
    content = campaign.draft_version.content
    assert [b["type"] for b in content["design"]["blocks"]] == [
        "heading",
        "image",
        "text",
        "button",
    ]
    assert "<strong>Dear {{ profile.email }}</strong>" in content["html"]

    # What the designer saved is what a profile receives.
    profile = Profile.objects.create(email="reader@example.com", consent_email=True)
    content = {**content, "text": "Dear reader"}
    sending = make_campaign(
        upload_audience([profile]), content=content, track_clicks=False, track_opens=False
    )
    activate_campaign(sending.pk)
    tasks.start_run(Run.objects.get(campaign=sending).pk)
    sent = mail.outbox[-1].alternatives[0][0]
    assert f"{settings.SITE_URL}/assets/{asset.key.hex}.png" in sent
    assert 'style="margin:0;font-family' in sent and 'href="https://example.com/shop"' in sent
    assert "<strong>Dear reader@example.com</strong>" in sent


def test_marketer_builds_a_two_language_newsletter_sends_a_proof_and_activates(
    signed_in_page, live_server, media
):
    """Issue 15's bar: from a starter, with an image and a button, in two
    languages, without touching HTML; a French proof; activated."""
    from django.contrib.auth import get_user_model
    from django.core import mail
    from django.core.files.uploadedfile import SimpleUploadedFile

    from campaigns.assets import asset_create
    from campaigns.models import Campaign
    from tests.campaigns.lifecycle_helpers import audience, email_config

    email_config(name="Newsletter sender")
    audience(name="Everyone")
    approver = get_user_model().objects.get(username="approver")
    asset = asset_create(actor=approver, upload=SimpleUploadedFile("team.png", png(300, 150)))
    page = signed_in_page("approver")

    page.goto(f"{live_server.url}/templates/?channel=email")
    page.locator('[data-starter="email-newsletter"]').get_by_role(
        "link", name="Use in a new campaign"
    ).click()
    page.fill("input[name=name]", "June letter")
    page.get_by_role("button", name="Create and continue").click()
    page.wait_for_url("**/edit/")
    page.select_option("select[name=channel_configuration]", label="Newsletter sender")
    page.locator("select[name=audience]").select_option(index=1)
    page.locator("#save").click()
    page.wait_for_url("**/?version=draft")
    campaign = Campaign.objects.get(name="June letter")

    # The starter opens as blocks; an image from the library goes under the heading.
    page.get_by_role("link", name="Open the visual designer").click()
    designer = page.get_by_test_id("email-designer")
    expect(designer.locator(".dz-canvas > .dz-block[data-type=button]")).to_have_count(1)
    designer.locator(".dz-canvas > .dz-block[data-type=heading]").click()
    designer.locator("[data-add=image]").click()
    designer.locator("dialog.dz-picker button.pick").first.click()
    page.locator("#save-design").click()
    expect(page.locator(".message.success")).to_have_count(1)

    # French: the subject on the languages page, the layout in the designer.
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/languages/")
    page.select_option("select[name=common]", "fr")
    page.get_by_role("button", name="Continue").click()
    page.fill("input[name=content_subject]", "Les nouvelles du mois")
    page.get_by_role("button", name="Save translation").click()
    page.locator('tr[data-locale="fr"]').get_by_role("link", name="Design").click()
    heading = page.locator(".dz-block[data-type=heading] h1")
    heading.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("Les nouvelles du mois")
    page.locator("#save-design").click()
    expect(page.locator(".message.success")).to_have_count(1)

    campaign.refresh_from_db()
    content = campaign.draft_version.content
    assert f"/assets/{asset.key.hex}.png" in content["html"]
    assert "Les nouvelles du mois" in content["translations"]["fr"]["html"]
    assert f"/assets/{asset.key.hex}.png" in content["translations"]["fr"]["html"]

    # A French proof, then activation.
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/")
    page.fill("input[name=recipients]", "me@example.com")
    page.select_option("select[name=locale]", "fr")
    page.get_by_role("button", name="Send proof").click()
    expect(page.locator(".message.success")).to_have_count(1)
    # The page only queued it; what the cluster's task then does:
    from campaigns.models import Proof
    from campaigns.proofs import deliver_proof

    [proof] = Proof.objects.filter(campaign=campaign, status=Proof.Status.QUEUED)
    assert proof.content_locale == "fr"
    deliver_proof(proof.pk)
    assert mail.outbox[-1].subject == "[Proof] Les nouvelles du mois"
    assert "Les nouvelles du mois" in mail.outbox[-1].alternatives[0][0]
    page.get_by_role("button", name="Activate", exact=True).click()
    expect(page.locator(".message.success")).to_have_count(1)
    campaign.refresh_from_db()
    assert campaign.status in {"activating", "scheduled", "live"}
