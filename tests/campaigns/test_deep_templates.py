"""Deeply nested templates (third review of issue 10): the parser's recursion
limit made saving such content a 500, and content stored before the check (or
by another path) made the campaign's page and API answers 500 for every
reader. Now refused when saved with a field error, and shown without crashing."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign, CampaignVersion
from channels.rendering import validate_content
from tests.campaigns.lifecycle_helpers import ready_email

pytestmark = pytest.mark.usefixtures("no_worker")

DEEP = {
    "parentheses": "{{ " + "(" * 3000 + "context.a" + ")" * 3000 + " }}",
    "attributes": "{{ context" + ".a" * 5000 + " }}",
    "blocks": "{% if x %}" * 2000 + "y" + "{% endif %}" * 2000,
}


@pytest.mark.parametrize("name", DEEP)
def test_deep_content_is_refused_when_saved(api_for, manager, name):
    campaign = ready_email(manager)
    api = api_for(manager)
    content = {"subject": DEEP[name], "html": "<p>x</p>", "text": "x"}
    response = api.patch(f"/campaigns/{campaign.pk}", {"content": content})
    assert response.status_code == 400, response.content[:300]
    assert "subject" in str(response.json()["errors"])
    assert validate_content("email", content)["subject"]


@pytest.mark.parametrize("name", DEEP)
def test_stored_deep_content_does_not_break_the_campaign_page(api_for, login, manager, name):
    campaign = ready_email(manager)
    Campaign.objects.filter(pk=campaign.pk).update(type="api_triggered")
    CampaignVersion.objects.filter(pk=campaign.draft_version_id).update(
        content={"subject": DEEP[name], "html": "<p>x</p>", "text": "x"}
    )
    api = api_for(manager)
    assert api.get(f"/campaigns/{campaign.pk}").status_code == 200
    assert api.get(f"/campaigns/{campaign.pk}/review").status_code == 200
    client = login(manager)
    assert client.get(f"/campaigns/{campaign.pk}/").status_code == 200
    assert client.get(f"/campaigns/{campaign.pk}/preview/").status_code == 200
