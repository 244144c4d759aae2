"""Reproductions for docs/security-review-18.md (each failed on the old code)."""

from __future__ import annotations

import pytest

from campaigns.models import BusinessRule
from campaigns.rules import MAX_RULES
from campaigns.services import MAX_TAGS

pytestmark = pytest.mark.django_db

RULE = {
    "name": "One more",
    "active": False,
    "channel": "email",
    "frequencyCap": {"maxMessages": 3, "windowHours": 168},
}


def _fill(n: int = MAX_RULES) -> None:
    BusinessRule.objects.bulk_create(
        [
            BusinessRule(
                name=f"Cap {i}",
                channel="email",
                categories=["marketing"],
                cap_max_messages=3,
                cap_window_hours=24 * 30 - i,
            )
            for i in range(n)
        ]
    )


def test_4_business_rules_are_bounded_in_number(administrator, api_for):
    """Old code: any number of rules. Each capping rule is worked out on every
    viewer's calendar (30 recurring campaigns over 92 days: 1 / 20 / 40 rules
    0.22 / 1.17 / 2.65 s, so 500 rules about 30 s, page and API) and is
    counted, a counter row per person, in the claim of every batch of every
    campaign it applies to (200 rules: 311 statements for a 200-message batch
    instead of 46). An administrator's POSTs made every reader wait."""
    _fill()
    api = api_for(administrator)
    answer = api.post("/business-rules", RULE)
    assert answer.status_code == 400, answer.content[:300]
    assert f"already {MAX_RULES} business rules" in str(answer.json()["errors"])
    assert BusinessRule.objects.count() == MAX_RULES


def test_4_a_rule_may_be_added_below_the_bound_and_changed_at_it(administrator, api_for):
    _fill(MAX_RULES - 1)
    api = api_for(administrator)
    answer = api.post("/business-rules", RULE)
    assert answer.status_code == 201, answer.content[:300]
    changed = api.patch(f"/business-rules/{answer.json()['id']}", {"active": True})
    assert changed.status_code == 200, changed.content[:300]


def test_4_the_admin_refuses_a_rule_past_the_bound(administrator, client):
    _fill()
    client.force_login(administrator)
    page = client.post(
        "/admin/campaigns/businessrule/add/",
        {
            "name": "Nights",
            "channel": "sms",
            "categories": ["marketing"],
            "quiet_start": "21:00",
            "quiet_end": "08:00",
            "quiet_action": "skip",
        },
    )
    assert page.status_code == 200
    assert f"already {MAX_RULES} business rules" in page.content.decode()
    assert BusinessRule.objects.count() == MAX_RULES
    existing = BusinessRule.objects.order_by("pk").first()
    page = client.post(
        f"/admin/campaigns/businessrule/{existing.pk}/change/",
        {
            "name": "Renamed",
            "active": "on",
            "channel": "email",
            "categories": ["marketing"],
            "cap_max_messages": 3,
            "cap_window_hours": 24,
            "quiet_action": "delay",
        },
    )
    assert page.status_code == 302, page.content.decode()[:2000]


def test_5_tags_no_campaign_carries_are_not_offered_to_readers(api_for, manager, login, viewer):
    """Old code: the list's and calendar's tag filter offered every tag ever
    written, and tags taken off a campaign stay in the table — a manager
    replacing a campaign's 50 tags in a loop (review 11's bound is per
    campaign) grew every reader's pages without end: 10,000 / 20,000 such
    tags made the campaign list 0.5 / 1 MB (linear), the calendar the same."""
    from tests.campaigns.lifecycle_helpers import email_config
    from tests.campaigns.test_api import _body

    client = api_for(manager)
    answer = client.post("/campaigns", _body(email_config(), tags=["kept"]))
    assert answer.status_code == 201, answer.content[:300]
    campaign_id = answer.json()["id"]
    for round_ in range(3):
        tags = [f"gone-{round_}-{i}" for i in range(MAX_TAGS - 1)] + ["kept"]
        assert client.patch(f"/campaigns/{campaign_id}", {"tags": tags}).status_code == 200
    assert client.patch(f"/campaigns/{campaign_id}", {"tags": ["kept"]}).status_code == 200
    reader = login(viewer)
    for url in ("/campaigns/", "/calendar/"):
        page = reader.get(url)
        assert page.status_code == 200
        assert list(page.context["tags"]) == ["kept"], url
        assert "gone-" not in page.content.decode()
