"""Erasing a person (SPEC §14): reports unchanged, 404 after, never mailed again."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audiences.models import (
    Audience,
    ConsentChange,
    PrivacyLogEntry,
    Profile,
    Suppression,
)
from campaigns import tasks
from campaigns.engine.schedule import activate_campaign
from campaigns.models import Delivery, Run
from campaigns.reports import campaign_report
from channels import services as channel_services
from channels import tracking
from channels.models import DeliveryEvent
from tests.campaigns.conftest import email_config, make_campaign, make_profiles

pytestmark = pytest.mark.django_db(transaction=True)

ANN = "ann@example.com"
LYON = {"all": [{"field": "attributes.city", "op": "eq", "value": "Lyon"}]}


def lyon_audience() -> Audience:
    return Audience.objects.create(name="Lyon", kind=Audience.Kind.RULE, rule=LYON)


def send_campaign(audience: Audience, config) -> Run:
    campaign = make_campaign(audience, config)
    activate_campaign(campaign.pk)
    run = Run.objects.get(campaign=campaign)
    tasks.start_run(run.pk)
    run.refresh_from_db()
    assert run.status == "completed"
    return run


def ann_delivery(run: Run) -> Delivery:
    return Delivery.objects.get(run=run, address=ANN)


@pytest.fixture
def ann(db) -> Profile:
    return Profile.objects.create(
        email=ANN,
        phone="+33612345678",
        consent_email=True,
        attributes={"city": "Lyon", "firstName": "Ann"},
        timezone="Europe/Paris",
    )


@pytest.fixture
def three_campaigns(ann, queued, fake_transport):
    """Ann and three neighbours receive three campaigns; Ann opens, clicks, then complains."""
    make_profiles(3, prefix="lyon", attributes={"city": "Lyon"})
    ConsentChange.objects.create(profile=ann, channel="email", granted=True, source="api")
    audience, config = lyon_audience(), email_config()
    first = send_campaign(audience, config)
    channel_services.delivery_record_open(delivery=ann_delivery(first))
    second = send_campaign(audience, config)
    with time_machine.travel(timezone.now() + timedelta(minutes=2), tick=False):  # a person's
        channel_services.delivery_record_click(
            delivery=ann_delivery(second), url="https://x.example.com/?u=ann"
        )
    channel_services.feedback_record(
        event="complaint", delivery=ann_delivery(second), channel="email", address=ANN
    )
    third = send_campaign(audience, config)  # Ann is suppressed by now: excluded
    assert Delivery.objects.get(run=third, profile=ann).reason == "suppressed"
    fake_transport.sent.clear()
    return [first.campaign, second.campaign, third.campaign]


def counted(campaign) -> dict:
    """The report's numbers. Its top links are read from the click log, whose
    URLs may carry the person's data: an erased person's clicked links leave it."""
    report = campaign_report(campaign)
    del report["topLinks"]
    return report


def test_erasing_a_person_keeps_three_reports_identical(
    three_campaigns, ann, administrator, api_for, queued, fake_transport
):
    before = [counted(c) for c in three_campaigns]
    assert before[0]["opened"] == 1 and before[1]["complained"] == 1
    assert before[2]["excluded"] == {"suppressed": 1}
    links = campaign_report(three_campaigns[1])["topLinks"]
    # Her link carries her data and is not in the content: counted, never named.
    assert links == [{"url": "Personalized links", "uniqueClicks": 1, "clicks": 1}]
    api = api_for(administrator)

    assert api.delete(f"/profiles/email/{ANN}").status_code == 204

    assert [counted(c) for c in three_campaigns] == before
    assert campaign_report(three_campaigns[1])["topLinks"] == []  # her URL named her
    assert api.get(f"/profiles/email/{ANN}").status_code == 404
    assert api.get("/profiles/phone/+33612345678").status_code == 404
    assert not Profile.objects.filter(pk=ann.pk).exists()
    assert not ConsentChange.objects.filter(profile_id=ann.pk).exists()
    # The rows stay, without address, context or link back to the person.
    ann_rows = Delivery.objects.filter(run__campaign__in=three_campaigns, profile__isnull=True)
    assert ann_rows.count() == 3
    assert set(ann_rows.values_list("address", flat=True)) == {""}
    assert not Delivery.objects.filter(address=ANN).exists()
    assert not DeliveryEvent.objects.filter(address=ANN).exists()
    assert not DeliveryEvent.objects.filter(detail__contains="ann").exists()
    # A new campaign to the rule that matched her does not reach the address.
    send_campaign(lyon_audience(), email_config(name="Again"))
    assert ANN not in fake_transport.sent and len(fake_transport.sent) == 3


def test_an_erased_complainer_stays_suppressed_when_the_address_comes_back(
    three_campaigns, ann, administrator, api_for, queued, fake_transport
):
    api = api_for(administrator)
    assert api.delete(f"/profiles/email/{ANN}").status_code == 204
    entry = Suppression.objects.get(channel="email", reason="complaint")
    assert entry.address is None and len(entry.address_hash) == 64

    # Someone adds her again, with consent, to the rule's city.
    response = api.put(
        f"/profiles/email/{ANN.upper()}",
        {"attributes": {"city": "Lyon"}, "consent": {"email": True}},
    )
    assert response.status_code == 201
    assert Suppression.objects.get(pk=entry.pk).address == ANN

    run = send_campaign(lyon_audience(), email_config(name="Again"))
    assert ANN not in fake_transport.sent
    assert Delivery.objects.get(run=run, address=ANN).reason == "suppressed"


def test_an_erased_address_imported_again_is_suppressed(
    ann, administrator, api_for, django_capture_on_commit_callbacks
):
    from django.core.files.base import ContentFile

    from audiences.importer import profile_import_create, profile_import_run

    Suppression.objects.create(channel="email", address=ANN, reason="hard_bounce")
    Suppression.objects.create(channel="sms", address="+33612345678", reason="unsubscribe")
    assert api_for(administrator).delete(f"/profiles/email/{ANN}").status_code == 204
    assert not Suppression.objects.filter(address__isnull=False).exists()

    audience = Audience.objects.create(name="Upload", kind=Audience.Kind.UPLOAD)
    with django_capture_on_commit_callbacks(execute=False):
        created = profile_import_create(
            audience=audience,
            upload=ContentFile(b"email,consent_email\nANN@example.com,yes\n"),
            file_name="people.csv",
        )
    assert profile_import_run(import_id=created.id).rows_imported == 1

    assert Suppression.objects.get(channel="email").address == ANN
    assert Suppression.objects.get(channel="sms").address is None  # that one did not come back
    assert annotate_reason(Profile.objects.get(email=ANN)) == "suppressed"


def annotate_reason(profile: Profile) -> str | None:
    from audiences.selectors import annotate_eligibility

    qs = annotate_eligibility(
        Profile.objects.filter(pk=profile.pk), channel="email", category="marketing"
    )
    return qs.get().exclusion_reason


def test_erasing_again_answers_404_and_changes_nothing(ann, administrator, api_for):
    api = api_for(administrator)
    assert api.delete(f"/profiles/email/{ANN}").status_code == 204
    assert api.delete(f"/profiles/email/{ANN}").status_code == 404
    assert api.delete("/profiles/email/not-an-address").status_code == 404
    assert PrivacyLogEntry.objects.count() == 1


def test_the_privacy_log_says_who_and_when_never_the_identity(ann, administrator, api_for):
    api = api_for(administrator)
    api.delete(f"/profiles/phone/{ann.phone}")
    body = api.get("/privacy-log").json()
    assert body["count"] == 1
    item = body["items"][0]
    assert (item["action"], item["namespace"], item["by"]) == ("erase", "phone", "ada")
    assert item["at"]
    assert "ann" not in str(body) and "612345678" not in str(body)


@pytest.mark.parametrize("role", ["viewer", "manager", "approver"])
def test_only_administrators_may_erase_export_or_read_the_log(role, ann, request, api_for):
    api = api_for(request.getfixturevalue(role))
    assert api.delete(f"/profiles/email/{ANN}").status_code == 403
    assert api.get(f"/profiles/email/{ANN}/export").status_code == 403
    assert api.get("/privacy-log").status_code == 403
    assert Profile.objects.filter(pk=ann.pk).exists()
    assert not PrivacyLogEntry.objects.exists()


def test_unknown_namespace_is_a_400_problem(administrator, api_for, db):
    response = api_for(administrator).delete("/profiles/shoe_size/42")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")


def test_old_unsubscribe_links_of_an_erased_person_still_answer(
    three_campaigns, ann, administrator, api_for, client
):
    delivery = ann_delivery(Run.objects.filter(campaign=three_campaigns[0]).get())
    url = tracking.unsubscribe_url(delivery.pk).removeprefix("http://testserver")
    api_for(administrator).delete(f"/profiles/email/{ANN}")
    page = client.get(url)
    assert page.status_code == 200 and b"no longer hold any personal data" in page.content
    assert client.post(url, {"List-Unsubscribe": "One-Click"}).status_code == 200


def test_administrator_erases_from_the_admin(ann, administrator, login, make_user):
    client = login(administrator)
    response = client.post(
        "/admin/audiences/profile/",
        {"action": "erase_selected", "_selected_action": [ann.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert not Profile.objects.filter(pk=ann.pk).exists()
    entry = PrivacyLogEntry.objects.get()
    assert (entry.action, entry.namespace, entry.by, entry.via) == (
        "erase",
        "email",
        "ada",
        "admin",
    )
    assert client.get("/admin/audiences/privacylogentry/").status_code == 200


def test_deleting_a_profile_in_the_admin_erases_it_and_keeps_deliveries(
    three_campaigns, ann, administrator, login
):
    before = [counted(c) for c in three_campaigns]
    client = login(administrator)
    response = client.post(f"/admin/audiences/profile/{ann.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Profile.objects.filter(pk=ann.pk).exists()
    assert [counted(c) for c in three_campaigns] == before
    assert not Delivery.objects.filter(address=ANN).exists()
    assert PrivacyLogEntry.objects.get().via == "admin"


def test_privacy_endpoints_are_in_the_openapi_document_with_their_problems(client, db):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    erase = paths["/api/v1/profiles/{namespace}/{value}"]["delete"]["responses"]
    assert {"204", "400", "401", "403", "404", "429"} <= set(erase)
    assert "409" not in erase  # erasing twice is a 404, never a conflict
    export = paths["/api/v1/profiles/{namespace}/{value}/export"]["get"]["responses"]
    assert {"200", "401", "403", "404"} <= set(export)
    schema = export["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/ProfileExportOut")
    log = paths["/api/v1/privacy-log"]["get"]["responses"]
    assert {"200", "401", "403"} <= set(log)
    assert log["403"]["content"]["application/problem+json"]["schema"]["$ref"].endswith("Problem")


def test_an_erased_suppression_cannot_be_edited_into_a_blank_address(ann, administrator, login):
    entry = Suppression.objects.create(channel="email", address=ANN, reason="complaint")
    client = login(administrator)
    response = client.post(
        "/admin/audiences/profile/", {"action": "erase_selected", "_selected_action": [ann.pk]}
    )
    assert response.status_code == 302
    page = client.get(f"/admin/audiences/suppression/{entry.pk}/change/")
    assert page.status_code == 200
    assert 'name="address"' not in page.content.decode()
