"""Inputs the fuzzer found: each answered 5xx before its fix (SPEC §10)."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign
from tests.campaigns.lifecycle_helpers import email_config

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_worker")]


def test_an_offset_past_any_list_is_a_400_naming_it(api_for, manager):
    response = api_for(manager).get("/campaigns?offset=127371168734156500762624")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert set(response.json()["errors"]) == {"offset"}


def test_the_largest_offset_allowed_is_an_empty_page(api_for, manager):
    response = api_for(manager).get("/campaigns?offset=1000000000")
    assert response.status_code == 200, response.content
    assert response.json()["items"] == []


def test_a_campaign_deleted_while_being_edited_is_a_404(api_for, manager, monkeypatch):
    api = api_for(manager)
    created = api.post(
        "/campaigns",
        {
            "name": "Gone soon",
            "type": "scheduled",
            "category": "marketing",
            "channelConfigurationId": email_config().pk,
            "content": {"subject": "Hi", "html": "<p>Hi</p>"},
        },
    )
    assert created.status_code == 201, created.content
    from campaigns import api as campaigns_api

    original = campaigns_api.get_campaign_for

    def seen_then_deleted(user, pk):
        campaign = original(user, pk)
        assert campaign.draft_version is not None  # loaded before the row goes
        Campaign.objects.filter(pk=pk).delete()  # a concurrent DELETE wins the race
        return campaign

    monkeypatch.setattr(campaigns_api, "get_campaign_for", seen_then_deleted)
    response = api.patch(f"/campaigns/{created.json()['id']}", {"name": "Edited"})
    assert response.status_code == 404, response.content
    assert response["Content-Type"] == "application/problem+json"
