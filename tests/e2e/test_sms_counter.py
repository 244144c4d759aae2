"""The campaign editor counts an SMS with the one page script, and in the
browser that script agrees with the server on every shared test vector."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures/sms_segments.json").read_text("utf-8")
)


@pytest.mark.django_db(transaction=True)
def test_the_campaign_editor_counts_sms_like_the_server(page, live_server, make_user, sign_in):
    from accounts.roles import MANAGER
    from campaigns.services import campaign_create
    from tests.campaigns.lifecycle_helpers import sms_config

    manager = make_user("smsauthor", MANAGER)
    campaign = campaign_create(
        actor=manager,
        name="Text",
        channel="sms",
        channel_configuration=sms_config(),
        content={"text": "Hi"},
    )
    sign_in(page, manager.username, f"pw-{manager.username}")
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/edit/")
    area = page.locator("textarea[name=content_text]")
    counter = page.locator("#sms-counter")
    area.fill("a" * 159 + "€")  # 160 characters, 161 septets
    expect(counter).to_contain_text("160 characters · 2 segment(s) · GSM-7")
    area.fill("😀" * 36)  # 72 UTF-16 units
    expect(counter).to_contain_text("36 characters · 2 segment(s) · UCS-2")
    counted = page.evaluate("cases => cases.map(c => window.VolleySms.count(c.text))", VECTORS)
    for case, got in zip(VECTORS, counted, strict=True):
        expected = {k: case[k] for k in ("characters", "units", "encoding", "segments")}
        assert got == expected, case["why"]
