"""The preference page in Chromium, in the browser's language (SPEC §14)."""

from __future__ import annotations

import pytest

from audiences.models import ConsentChange, Profile


@pytest.fixture
def unsubscribe_path(transactional_db):
    from campaigns.models import Campaign, CampaignVersion, Delivery, Run
    from channels import tracking

    profile = Profile.objects.create(
        email="eva@example.com",
        phone="+46701234567",
        consent_email=True,
        consent_sms=True,
    )
    campaign = Campaign.objects.create(name="Spring", channel="email")
    version = CampaignVersion.objects.create(campaign=campaign)
    run = Run.objects.create(campaign=campaign, version=version, kind=Run.Kind.ONE_SHOT)
    delivery = Delivery.objects.create(
        run=run, profile=profile, status=Delivery.Status.SENT, address=profile.email
    )
    return tracking.unsubscribe_url(delivery.pk).removeprefix("http://testserver"), profile


def open_in(browser, live_server, locale: str, path: str):
    context = browser.new_context(locale=locale, base_url=live_server.url)
    page = context.new_page()
    page.goto(path)
    return context, page


def test_dutch_reader_switches_sms_off(browser, live_server, unsubscribe_path):
    path, profile = unsubscribe_path
    context, page = open_in(browser, live_server, "nl-NL", path)
    try:
        assert page.locator("html").get_attribute("lang") == "nl"
        assert page.get_by_role("heading").inner_text() == "Uw voorkeuren"
        email = page.get_by_label("Marketingberichten via E-mail")
        sms = page.get_by_label("Marketingberichten via Sms")
        assert email.is_checked() and sms.is_checked()
        sms.uncheck()
        page.get_by_role("button", name="Voorkeuren opslaan").click()
        assert page.get_by_role("status").inner_text() == "Uw voorkeuren zijn opgeslagen."
        assert not page.get_by_label("Marketingberichten via Sms").is_checked()
    finally:
        context.close()
    profile.refresh_from_db()
    assert (profile.consent_email, profile.consent_sms) == (True, False)
    assert ConsentChange.objects.get().source == "preference_page"


def test_french_reader_unsubscribes_from_everything(browser, live_server, unsubscribe_path):
    path, profile = unsubscribe_path
    context, page = open_in(browser, live_server, "fr-FR", path)
    try:
        assert page.locator("html").get_attribute("lang") == "fr"
        page.get_by_role("button", name="Me désabonner de tout").click()
        assert "désabonné(e) de tout" in page.get_by_role("status").inner_text()
        assert not page.get_by_label("Messages marketing par E-mail").is_checked()
    finally:
        context.close()
    profile.refresh_from_db()
    assert (profile.consent_email, profile.consent_sms) == (False, False)
    assert set(ConsentChange.objects.values_list("source", flat=True)) == {"preference_page"}
