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
    page.screenshot(path=str(ARTEFACTS / "campaign-page.png"), full_page=True)

    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/preview/?device=mobile")
    expect(page.get_by_test_id("preview-email")).to_have_attribute("data-device", "mobile")
    expect(page.get_by_test_id("preview-subject")).to_have_text("This month's news")
    page.screenshot(path=str(ARTEFACTS / "preview-mobile.png"), full_page=True)
