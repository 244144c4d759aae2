"""End to end through an email service provider (issue 14): a campaign goes out
through a faked ESP API, and that ESP's bounce webhook suppresses the address."""

from __future__ import annotations

import base64
import json

import pytest
from django.test import Client

from audiences.models import Suppression
from campaigns import tasks
from campaigns.engine.schedule import activate_campaign
from campaigns.models import Delivery, Run
from channels.models import ChannelConfiguration
from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience
from tests.channels.fake_apis import FakeApi, reply

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def postmark_api():
    api = FakeApi(
        lambda r: reply(
            200,
            {
                "ErrorCode": 0,
                "Message": "OK",
                "MessageID": f"pm-{r.json()['To']}",
                "To": r.json()["To"],
            },
        )
    )
    yield api
    api.stop()


def test_a_campaign_through_a_faked_esp_and_its_bounce_webhook_suppresses(
    queued, postmark_api, settings
):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": "hook:s3cret"}
    config = ChannelConfiguration(
        name="Postmark",
        channel="email",
        purpose="marketing",
        provider="postmark",
        provider_url=postmark_api.url + "/",
        from_address="news@example.com",
        from_name="Volley",
    )
    config.set_credentials({"server_token": "pm-server-token"})
    config.full_clean()
    config.save()
    profiles = make_profiles(3, prefix="esp")
    campaign = make_campaign(upload_audience(profiles), config)

    activate_campaign(campaign.pk)
    run = Run.objects.get(campaign=campaign)
    tasks.start_run(run.pk)

    sent = {r.json()["To"]: r.json() for r in postmark_api.requests}
    assert set(sent) == {p.email for p in profiles}
    assert all(
        r.headers["X-Postmark-Server-Token"] == "pm-server-token" for r in postmark_api.requests
    )
    run.refresh_from_db()
    assert (run.status, run.sent) == ("completed", 3)

    # The ESP reports a hard bounce for one of them, with the metadata we sent.
    bounced = Delivery.objects.get(run=run, address="esp1@example.com")
    metadata = sent["esp1@example.com"]["Metadata"]
    assert metadata == {"volley_key": f"delivery-{bounced.pk}"}
    webhook = {
        "RecordType": "Bounce",
        "ID": 1,
        "Type": "HardBounce",
        "MessageID": "pm-esp1@example.com",
        "Email": "esp1@example.com",
        "Description": "Unknown user",
        "Details": "smtp;550 5.1.1 user unknown",
        "Metadata": metadata,
    }
    response = Client().post(
        "/anymail/postmark/tracking/",
        data=json.dumps(webhook),
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"hook:s3cret").decode(),
    )
    assert response.status_code == 200
    assert list(Suppression.objects.values_list("address", "reason")) == [
        ("esp1@example.com", Suppression.Reason.HARD_BOUNCE)
    ]
    bounced.refresh_from_db()
    assert bounced.bounced_at is not None
