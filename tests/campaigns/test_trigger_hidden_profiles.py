"""A unitary API trigger never sends to a profile the campaign's owner could
not see (issue 10, third review: like rule audiences). Naming a hidden person's
address would otherwise render their hidden attributes into a message whose
content the caller wrote. Decided by the dispatcher in the cluster, so the
trigger's hot path pays nothing."""

from __future__ import annotations

import pytest
from guardian.shortcuts import assign_perm

from audiences.models import Audience, AudienceMember, Profile
from campaigns.engine import dispatch
from campaigns.models import Campaign, Delivery
from tests.campaigns.test_triggers import api_campaign, body

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def vip(db):
    audience = Audience.objects.create(name="VIP", kind="upload", restricted=True, size=1)
    secret = Profile.objects.create(email="secret@example.com", attributes={"city": "Oslo"})
    AudienceMember.objects.create(audience=audience, profile=secret)
    Profile.objects.create(email="public@example.com")
    return audience


def _trigger(api_for, owner, request_id="r-1"):
    campaign = api_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(created_by=owner)
    response = api_for(owner).post(
        "/executions/unitary",
        body(campaign, request_id, "secret@example.com", "public@example.com"),
    )
    assert response.status_code == 202, response.content
    dispatch.dispatch_batch()
    return campaign


def test_a_trigger_does_not_send_to_a_hidden_profile(api_for, manager, vip, queued, fake_transport):
    _trigger(api_for, manager)
    assert fake_transport.sent == ["public@example.com"]
    assert not Delivery.objects.filter(address="secret@example.com").exists()


def test_a_grant_lets_the_trigger_reach_them(api_for, manager, vip, queued, fake_transport):
    assign_perm("audiences.view_audience", manager, vip)
    _trigger(api_for, manager)
    assert sorted(fake_transport.sent) == ["public@example.com", "secret@example.com"]
