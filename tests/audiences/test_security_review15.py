"""Fifteenth outside review of issue 10 (docs/security-review-15.md), the
audiences' part: the test reproduced its finding on the code before the fix.
SQLite by default, PostgreSQL + Redis with DATABASE_URL / REDIS_URL."""

from __future__ import annotations

import pytest

from audiences.models import Audience
from campaigns.models import ApprovalRequest, CampaignVersion
from campaigns.models import CampaignStatus as S
from tests.audiences.test_rule_change_guard import EVERYONE, PARIS
from tests.campaigns.lifecycle_helpers import force_status, ready_email

pytestmark = pytest.mark.django_db


def test_the_audience_of_a_version_waiting_for_approval_is_guarded_too(api_for, manager, make_user):
    """Changing an audience's rule needs the permission to activate the
    campaigns committed to it (issue 10 #4): their live version's audience, or
    a draft's in review. The draft version of a *live* campaign waiting for
    approval was not counted: a manager changed the rule of the audience only
    that version uses while the approver was deciding on it."""
    requester = make_user("requester", "Campaign Manager")
    elsewhere = Audience.objects.create(name="Elsewhere", kind="rule", rule=PARIS)
    paris = Audience.objects.create(name="Paris", kind="rule", rule=PARIS)
    campaign = force_status(ready_email(None, name="Weekly letter", audience=elsewhere), S.LIVE)
    pending = CampaignVersion.objects.create(
        campaign=campaign, number=2, audience=paris, content=campaign.live_version.content
    )
    campaign.draft_version = pending
    campaign.save(update_fields=["draft_version"])
    ApprovalRequest.objects.create(campaign=campaign, version=pending, requested_by=requester)
    answer = api_for(manager).patch(f"/audiences/{paris.pk}", {"rule": EVERYONE})
    assert answer.status_code == 409, answer.content
    assert "Weekly letter" in answer.json()["detail"]
    paris.refresh_from_db()
    assert paris.rule == PARIS
