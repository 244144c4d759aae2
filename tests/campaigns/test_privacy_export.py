"""Answering an access request (SPEC §14): one streamed JSON document, logged."""

from __future__ import annotations

import json

import pytest

from audiences.models import (
    Audience,
    AudienceMember,
    ConsentChange,
    PrivacyLogEntry,
    Profile,
    Suppression,
)
from campaigns import tasks
from campaigns.engine.schedule import activate_campaign
from campaigns.models import Delivery, Run
from channels import services as channel_services
from tests.campaigns.conftest import email_config, make_campaign, upload_audience

pytestmark = pytest.mark.django_db(transaction=True)


def body(response) -> dict:
    assert response.status_code == 200, response.content
    assert response.streaming
    assert response["Content-Type"] == "application/json"
    return json.loads(b"".join(response.streaming_content))


@pytest.fixture
def bea(db) -> Profile:
    profile = Profile.objects.create(
        email="bea@example.com",
        phone="+46701234567",
        consent_email=True,
        attributes={"city": "Malmö", "plan": "pro"},
        timezone="Europe/Stockholm",
    )
    ConsentChange.objects.create(profile=profile, channel="email", granted=True, source="import")
    ConsentChange.objects.create(profile=profile, channel="sms", granted=False, source="api")
    return profile


def test_export_holds_profile_consent_audiences_deliveries_events_and_suppressions(
    bea, administrator, api_for, queued, fake_transport
):
    members = upload_audience([bea], name="Fair visitors")
    Audience.objects.create(
        name="Pro plan",
        kind=Audience.Kind.RULE,
        rule={"all": [{"field": "attributes.plan", "op": "eq", "value": "pro"}]},
    )
    Audience.objects.create(
        name="Free plan",
        kind=Audience.Kind.RULE,
        rule={"all": [{"field": "attributes.plan", "op": "eq", "value": "free"}]},
    )
    config = email_config()
    names = []
    for name in ("Spring sale", "Summer sale"):
        campaign = make_campaign(members, config)
        campaign.name = name
        campaign.save(update_fields=["name"])
        names.append(name)
        activate_campaign(campaign.pk)
        tasks.start_run(Run.objects.get(campaign=campaign).pk)
    spring = Delivery.objects.get(run__campaign__name="Spring sale")
    channel_services.delivery_record_open(delivery=spring)
    Suppression.objects.create(channel="sms", address=bea.phone, reason="manual")

    data = body(api_for(administrator).get("/profiles/email/BEA@example.com/export"))

    assert data["profile"]["email"] == "bea@example.com"
    assert data["profile"]["attributes"] == {"city": "Malmö", "plan": "pro"}
    assert data["profile"]["timezone"] == "Europe/Stockholm"
    assert [(c["channel"], c["granted"], c["source"]) for c in data["consentChanges"]] == [
        ("email", True, "import"),
        ("sms", False, "api"),
    ]
    assert all(c["time"] for c in data["consentChanges"])
    assert {(a["name"], a["kind"]) for a in data["audiences"]} == {
        ("Fair visitors", "upload"),
        ("Pro plan", "rule"),
    }
    deliveries = {d["campaign"]: d for d in data["deliveries"]}
    assert set(deliveries) == set(names)
    assert deliveries["Spring sale"]["status"] == "sent"
    assert deliveries["Spring sale"]["channel"] == "email"
    assert deliveries["Spring sale"]["sentAt"]
    assert set(deliveries["Spring sale"]["events"]) == {"opened"}
    assert deliveries["Summer sale"]["events"] == {}
    assert data["suppressions"] == [
        {
            "channel": "sms",
            "address": "+46701234567",
            "reason": "manual",
            "createdAt": data["suppressions"][0]["createdAt"],
        }
    ]
    entry = PrivacyLogEntry.objects.get()
    assert (entry.action, entry.namespace, entry.by, entry.via) == ("export", "email", "ada", "api")


def test_export_streams_more_deliveries_than_one_chunk(bea, administrator, api_for):
    from campaigns.models import Campaign, CampaignVersion

    campaign = Campaign.objects.create(name="Daily", channel="email")
    version = CampaignVersion.objects.create(campaign=campaign)
    runs = Run.objects.bulk_create(
        [Run(campaign=campaign, version=version, kind="api_unitary") for _ in range(2100)],
        batch_size=300,
    )
    Delivery.objects.bulk_create(
        [Delivery(run=run, profile=bea, status="sent", address=bea.email) for run in runs],
        batch_size=150,
    )
    data = body(api_for(administrator).get("/profiles/phone/+46701234567/export"))
    assert len(data["deliveries"]) == 2100
    assert {d["campaign"] for d in data["deliveries"]} == {"Daily"}


def test_export_of_an_unknown_person_is_404_and_not_logged(administrator, api_for, db):
    response = api_for(administrator).get("/profiles/email/nobody@example.com/export")
    assert response.status_code == 404
    assert not PrivacyLogEntry.objects.exists()


def test_administrator_exports_from_the_admin(bea, administrator, login):
    client = login(administrator)
    response = client.post(
        "/admin/audiences/profile/", {"action": "export_selected", "_selected_action": [bea.pk]}
    )
    data = body(response)
    assert data["profile"]["phone"] == "+46701234567"
    assert PrivacyLogEntry.objects.get().via == "admin"


def test_admin_export_wants_exactly_one_person(bea, administrator, login):
    other = Profile.objects.create(email="other@example.com")
    response = login(administrator).post(
        "/admin/audiences/profile/",
        {"action": "export_selected", "_selected_action": [bea.pk, other.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert b"exactly one" in response.content
    assert not PrivacyLogEntry.objects.exists()
    assert AudienceMember.objects.count() == 0
