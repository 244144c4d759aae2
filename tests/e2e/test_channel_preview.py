"""A new administrator configures email and SMS in the browser, previews and proofs."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect


@pytest.mark.django_db(transaction=True)
def test_administrator_configures_previews_and_proofs(page, live_server, make_user, sign_in):
    from django.core import mail

    from accounts.roles import ADMINISTRATOR
    from audiences.models import Profile
    from channels.models import TestMessage
    from channels.tasks import send_test_message

    Profile.objects.create(
        email="ann@example.com",
        phone="+31612345678",
        attributes={"firstName": "Ann"},
        consent_email=True,
        consent_sms=True,
    )

    admin = make_user("newadmin", ADMINISTRATOR)
    sign_in(page, admin.username, f"pw-{admin.username}")
    page.goto(f"{live_server.url}/channels/")
    page.get_by_role("link", name="New email configuration").click()
    page.fill("input[name=name]", "Newsletter")
    page.select_option("select[name=purpose]", "marketing")
    page.fill("input[name=from_address]", "not an address")
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".errorlist").first).to_be_visible()
    page.fill("input[name=from_address]", "news@volley.example")
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".message.success")).to_have_count(1)
    page.get_by_role("link", name="Test message").first.click()
    page.fill("input[name=content_subject]", "Hello {{ profile.firstName }}")
    page.fill("textarea[name=content_html]", "<p>Hi {{ profile.firstName }}</p>")
    page.fill("input[name=profile_lookup]", "ann@example.com")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_test_id("preview-subject")).to_have_text("Hello Ann")
    page.fill("textarea[name=recipients]", "me@example.com")
    page.get_by_role("button", name="Send proofs").click()
    expect(page.locator(".message.success")).to_have_count(1)
    assert mail.outbox == []  # the cluster sends it, not the web request
    message = TestMessage.objects.get()
    shown = page.locator(f"#test-message-{message.pk}")
    expect(shown).to_have_attribute("data-status", "queued")
    send_test_message(message.pk)  # what the cluster does
    # The page follows it without a reload (static/js/live-status.js).
    expect(shown).to_have_attribute("data-status", "sent", timeout=15_000)
    expect(shown.locator("tr[data-status=sent]")).to_have_count(1)
    assert [m.to for m in mail.outbox] == [["me@example.com"]]

    page.goto(f"{live_server.url}/channels/new/sms/")
    page.fill("input[name=name]", "Promotions")
    page.select_option("select[name=purpose]", "marketing")
    page.fill("input[name=sender_number]", "+31612345000")
    page.select_option("select[name=provider]", "console")
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".message.success")).to_have_count(1)
    page.get_by_role("row", name="Promotions").get_by_role("link", name="Test message").click()
    page.fill("textarea[name=content_text]", "Hi {{ profile.firstName }} €")
    expect(page.locator("#sms-counter")).to_contain_text("GSM-7")
    page.fill("textarea[name=content_text]", "Hi ✓")
    expect(page.locator("#sms-counter")).to_contain_text("UCS-2")
    page.fill("textarea[name=content_text]", "Hi {{ profile.firstName }}")
    page.fill("input[name=profile_lookup]", "+31612345678")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_test_id("preview-text")).to_have_text("Hi Ann")
