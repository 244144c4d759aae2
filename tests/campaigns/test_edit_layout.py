"""The campaign editor's layout (issue 12, look and feel): sections in the
order a marketer works, no "Name:" colons, repeat details only under a
repeating schedule, open tracking only for email."""

from __future__ import annotations

import re

import pytest

from campaigns.services import campaign_create
from tests.campaigns.lifecycle_helpers import audience, ready_email, sms_config

pytestmark = pytest.mark.usefixtures("no_worker")


def test_edit_page_is_in_sections_without_colons(login, manager):
    campaign = ready_email(manager)
    html = login(manager).get(f"/campaigns/{campaign.pk}/edit/").content.decode()
    sections = re.findall(r'<section class="card step" id="step-(\w+)">', html)
    assert sections == ["properties", "audience", "content", "schedule"]
    assert re.search(r'<label for="id_name">Name</label>', html)
    assert "Name:" not in html and "Description:" not in html
    # A sensible description box: a few lines of prose, not a code editor.
    assert re.search(r'<textarea name="description" cols="40" rows="3"[^>]*>', html)
    assert 'class="code"' in re.search(r"<textarea name=\"content_html\"[^>]*>", html).group(0)
    # Repeat details are marked so the page shows them only when repeating.
    for name, marks in (
        ("time", "repeat-only"),
        ("days_of_week", "repeat-only weekly-only"),
        ("day_of_month", "repeat-only monthly-only"),
    ):
        before = html[: html.index(f'name="{name}"')]
        wrapper = before[before.rindex('<div class="field ') :]
        assert marks in wrapper.split('"')[1], name
    assert 'name="track_opens"' in html


def test_sms_campaign_has_no_open_tracking_and_keeps_its_setting(login, manager):
    config = sms_config()
    campaign = campaign_create(
        actor=manager,
        name="Flash",
        channel="sms",
        channel_configuration=config,
        audience=audience(),
        content={"text": "Sale today"},
    )
    client = login(manager)
    html = client.get(f"/campaigns/{campaign.pk}/edit/").content.decode()
    assert 'name="track_opens"' not in html and 'name="track_clicks"' in html
    before = campaign.draft_version.track_opens
    response = client.post(
        f"/campaigns/{campaign.pk}/edit/",
        {
            "name": "Flash",
            "channel_configuration": config.pk,
            "audience": campaign.draft_version.audience_id,
            "identity_namespace": "phone",
            "content_text": "Sale today",
            "start_mode": "now",
            "timezone": "UTC",
            "time": "09:00",
            "track_clicks": "on",
        },
    )
    assert response.status_code == 302, response.context["form"].errors
    campaign.draft_version.refresh_from_db()
    assert campaign.draft_version.track_opens == before
