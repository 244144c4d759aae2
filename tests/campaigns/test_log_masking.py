"""The log masking checked end to end: a campaign sends, people unsubscribe and
complain, an erasure runs — and the captured logs name none of them."""

from __future__ import annotations

import logging

import pytest

from audiences.models import Profile
from campaigns import tasks
from campaigns.engine.schedule import activate_campaign
from campaigns.models import Delivery, Run
from channels import services as channel_services
from channels import tracking
from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience


@pytest.mark.django_db(transaction=True)
def test_sending_a_campaign_logs_no_address_or_phone_number(
    caplog, queued, fake_transport, administrator, api_for, client
):
    caplog.set_level(logging.INFO)
    profiles = make_profiles(4, prefix="reader")
    Profile.objects.filter(pk=profiles[0].pk).update(phone="+33612345678")
    fake_transport.outcomes["reader3@example.com"] = (True, "550 reader3@example.com unknown")
    campaign = make_campaign(upload_audience(profiles))
    activate_campaign(campaign.pk)
    run = Run.objects.get(campaign=campaign)
    tasks.start_run(run.pk)
    assert Run.objects.get(pk=run.pk).sent == 3

    first = Delivery.objects.get(run=run, address="reader0@example.com")
    client.post(
        tracking.unsubscribe_url(first.pk).removeprefix("http://testserver"),
        {"List-Unsubscribe": "One-Click"},
    )
    second = Delivery.objects.get(run=run, address="reader1@example.com")
    channel_services.feedback_record(
        event="complaint", delivery=second, channel="email", address="reader1@example.com"
    )
    channel_services.feedback_record(
        event="sms_stop", delivery=None, channel="sms", address="+33612345678"
    )
    api = api_for(administrator)
    assert api.get("/profiles/email/reader9@example.com").status_code == 404
    assert api.delete("/profiles/phone/+33612345678").status_code == 204

    logged = caplog.text
    for n in range(4):
        assert f"reader{n}@example.com" not in logged
    assert "reader9@example.com" not in logged
    assert "612345678" not in logged
    # Something was logged about them, masked.
    assert "r***@example.com" in logged
    assert "+33•••78" in logged
