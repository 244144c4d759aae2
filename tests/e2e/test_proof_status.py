"""The campaign page follows its proofs while the cluster sends them, without a reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect


@pytest.mark.django_db(transaction=True)
def test_the_proofs_table_follows_the_cluster(signed_in_page):
    from django.contrib.auth import get_user_model
    from django.core import mail

    from campaigns import tasks
    from campaigns.models import Proof
    from tests.campaigns.lifecycle_helpers import ready_email

    manager = get_user_model().objects.get(username="manager")
    campaign = ready_email(manager)
    page = signed_in_page("manager")
    page.goto(f"/campaigns/{campaign.pk}/")
    page.fill(".proof-form input[name=recipients]", "qa@example.com")
    page.get_by_role("button", name="Send proof").click()
    row = page.locator("#proofs-panel tr[data-status]")
    expect(row).to_have_attribute("data-status", "queued")
    assert mail.outbox == []

    tasks.send_proof(Proof.objects.get().pk)  # what the cluster does

    expect(row).to_have_attribute("data-status", "sent")
    assert page.locator("#proofs-panel[data-live-url]").count() == 0  # it stopped polling
    assert [m.to for m in mail.outbox] == [["qa@example.com"]]
