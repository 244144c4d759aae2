"""Every page of the product in Chromium, as the manager and as the administrator
(issue 15, point 6): each page loads, does not scroll sideways, ties every form
control to a label, shows no bare Django form markup, and is kept as a
screenshot under ``test-results/pages/<user>-<page>.png`` to look at."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.campaigns.test_assets import png
from tests.e2e.test_look_and_feel import showcase  # noqa: F401 - the fixture

SCREENSHOTS = Path(settings.BASE_DIR) / "test-results" / "pages"

# Controls without a <label> of their own must carry an aria-label.
UNLABELLED = """() => [...document.querySelectorAll('main input, main select, main textarea')]
  .filter(el => el.type !== 'hidden' && el.type !== 'submit' && el.type !== 'button')
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby') && !el.closest('[data-testid=email-designer]'))
  .map(el => el.name || el.id || el.outerHTML.slice(0, 80))"""
# Django's bare form output: "<p><label>Name:</label>" (as_p), labels ending in a colon.
BARE = """() => [...document.querySelectorAll('main label')]
  .filter(l => /:\\s*$/.test(l.textContent) || (l.parentElement && l.parentElement.tagName === 'P'
               && l.closest('form')))
  .map(l => l.textContent.trim())"""


@pytest.fixture
def workspace(showcase, demo_users, settings, tmp_path) -> dict:  # noqa: F811
    from django.core.files.uploadedfile import SimpleUploadedFile

    from audiences.models import Audience
    from campaigns.assets import asset_create
    from campaigns.templates_services import template_create
    from channels.models import ChannelConfiguration

    settings.MEDIA_ROOT = tmp_path
    manager = demo_users["manager"]
    asset_create(actor=manager, upload=SimpleUploadedFile("hero.png", png(120, 60)))
    template = template_create(
        actor=manager,
        name="House newsletter",
        channel="email",
        content={"subject": "News", "html": "<h1>Hello {{ profile.email }}</h1>"},
    )
    return {
        **showcase,
        "template": template,
        "audience": Audience.objects.get(name="Newsletter readers"),
        "config": ChannelConfiguration.objects.filter(channel="email").first(),
    }


def _pages(data: dict) -> dict[str, str]:
    campaign = data["one_off"].pk
    return {
        "campaigns": "/campaigns/?status=all",
        "campaign-new": "/campaigns/new/",
        "campaign": f"/campaigns/{campaign}/",
        "campaign-sms": f"/campaigns/{data['sms'].pk}/",
        "campaign-edit": f"/campaigns/{campaign}/edit/",
        "campaign-preview": f"/campaigns/{campaign}/preview/",
        "campaign-designer": f"/campaigns/{campaign}/design/",
        "campaign-languages": f"/campaigns/{campaign}/languages/",
        "campaign-translation": f"/campaigns/{campaign}/languages/fr/",
        "campaign-access": f"/campaigns/{campaign}/access/",
        "report": f"/campaigns/{data['report'].pk}/report/",
        "templates": "/templates/",
        "template-new": "/templates/new/",
        "template": f"/templates/{data['template'].pk}/",
        "images": "/images/",
        "approvals": "/approvals/",
        "audiences": "/audiences/",
        "audience-new": "/audiences/new/",
        "audience-upload": "/audiences/upload/",
        "audience": f"/audiences/{data['rule'].pk}/",
        "audience-edit": f"/audiences/{data['rule'].pk}/edit/",
        "channels": "/channels/",
        "channel-new": "/channels/new/email/",
        "channel-edit": f"/channels/{data['config'].pk}/edit/",
        "channel-test": f"/channels/{data['config'].pk}/test/",
        "settings": "/accounts/settings/",
        "notifications": "/accounts/notifications/",
        "password-change": "/accounts/password/change/",
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("username", ["manager", "admin"])
def test_every_page_renders_with_labelled_forms(workspace, signed_in_page, username):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = signed_in_page(username)
    page.set_viewport_size({"width": 1280, "height": 900})
    problems = []
    for name, url in _pages(workspace).items():
        response = page.goto(url)
        if response.status == 403 and username != "admin":
            continue
        assert response.status == 200, f"{url}: {response.status}"
        page.wait_for_load_state("networkidle")
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if widths[0] > widths[1]:
            problems.append(f"{url} scrolls sideways {widths}")
        if unlabelled := page.evaluate(UNLABELLED):
            problems.append(f"{url} unlabelled controls {unlabelled}")
        if bare := page.evaluate(BARE):
            problems.append(f"{url} bare Django labels {bare}")
        height = page.evaluate("document.documentElement.scrollHeight")
        page.set_viewport_size({"width": 1280, "height": min(max(height, 900), 6000)})
        page.screenshot(path=str(SCREENSHOTS / f"{username}-{name}.png"))
        page.set_viewport_size({"width": 1280, "height": 900})
    assert not problems, "\n".join(problems)


EMPTY_LISTS = {
    "campaigns": "/campaigns/",
    "audiences": "/audiences/",
    "templates": "/templates/",
    "images": "/images/",
    "approvals": "/approvals/",
    "channels": "/channels/",
    "notifications": "/accounts/notifications/",
}


@pytest.mark.django_db(transaction=True)
def test_every_empty_list_guides_to_the_next_step(signed_in_page):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = signed_in_page("admin")
    for name, url in EMPTY_LISTS.items():
        page.goto(url)
        state = page.get_by_test_id("empty-state")
        expect(state).to_be_visible()
        expect(state.locator("a.button.primary")).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / f"empty-{name}.png"), full_page=True)
