"""Issue 12 #8: one phone normalisation (E.164) and one validity rule for the
CSV import, the profile API, provider feedback, proofs and the configuration form.

The rule: a number in international format whose length is possible for its
country as a whole number (``+1 555 0100`` is a 7-digit local number without an
area code: refused everywhere; ``+31600000001`` and ``+31970000000`` are
complete Dutch numbers: accepted everywhere, whether or not the range is
assigned today — the provider says whether it reaches someone).
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from audiences.importer import profile_import_create, profile_import_run
from audiences.models import Audience, Profile
from audiences.services import normalize_phone
from channels.models import ChannelConfiguration
from channels.preview import PreviewError, clean_proof_recipients
from channels.transports import sign_body

REFUSED = ["+1 555 0100", "0612345678", "+33 1", "call me"]
ACCEPTED = {
    "+31600000001": "+31600000001",
    "+31 97 000 0000": "+31970000000",
    "+33 6 12 34 56 78": "+33612345678",
    "+1 (202) 555-0143": "+12025550143",
}


@pytest.mark.parametrize("value", REFUSED)
def test_incomplete_numbers_are_refused(value):
    with pytest.raises(ValueError):
        normalize_phone(value)


@pytest.mark.parametrize(("value", "expected"), ACCEPTED.items())
def test_complete_numbers_become_e164(value, expected):
    assert normalize_phone(value) == expected


def _import(rows: str):
    audience = Audience.objects.create(name="Upload", kind=Audience.Kind.UPLOAD)
    created = profile_import_create(
        audience=audience, upload=ContentFile(rows.encode()), file_name="p.csv"
    )
    return profile_import_run(import_id=created.id)


def test_the_import_refuses_a_local_number_and_keeps_a_complete_one(
    db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        result = _import(
            "email,phone,consent_sms\n"
            "us@example.com,+1 555 0100,yes\n"
            "nl@example.com,+31600000001,yes\n"
        )
    assert result.rows_imported == 1
    [rejected] = result.rejected
    assert rejected["line"] == 2 and "phone" in rejected["reason"]
    assert list(Profile.objects.values_list("phone", flat=True)) == ["+31600000001"]


def test_the_profile_api_uses_the_same_rule(api_for, manager):
    client = api_for(manager)
    refused = client.put("/profiles/email/us@example.com", {"phone": "+1 555 0100"})
    assert refused.status_code == 400, refused.content
    accepted = client.put("/profiles/email/nl@example.com", {"phone": "+31 6 00000001"})
    assert accepted.status_code in (200, 201), accepted.content
    assert Profile.objects.get(email="nl@example.com").phone == "+31600000001"


def _feedback(payload: dict):
    body = json.dumps({"eventId": uuid.uuid4().hex, "timestamp": int(time.time()), **payload})
    return Client().post(
        "/api/v1/feedback",
        data=body.encode(),
        content_type="application/json",
        HTTP_X_VOLLEY_SIGNATURE=sign_body(body.encode()),
    )


def test_an_sms_stop_for_an_imported_number_withdraws_consent(db, settings):
    settings.WEBHOOK_SIGNING_SECRET = "feedback-secret"
    profile = Profile.objects.create(phone=normalize_phone("+31600000001"), consent_sms=True)
    response = _feedback({"event": "sms_stop", "recipient": "+31 6 0000 0001"})
    assert response.json() == {"status": "accepted"}
    profile.refresh_from_db()
    assert profile.consent_sms is False


def test_the_configuration_form_accepts_a_complete_dutch_number(login, administrator):
    client = login(administrator)
    response = client.post(
        "/channels/new/sms/",
        {
            "name": "M2M",
            "purpose": "transactional",
            "sender_number": "+31970000000",
            "provider": "console",
        },
    )
    assert response.status_code == 302, response.context["form"].errors
    assert ChannelConfiguration.objects.get(name="M2M").sender_number == "+31970000000"
    response = client.post(
        "/channels/new/sms/",
        {
            "name": "US",
            "purpose": "marketing",
            "sender_number": "+1 555 0100",
            "provider": "console",
        },
    )
    assert "sender_number" in response.context["form"].errors


def test_proof_recipients_use_the_same_rule():
    assert clean_proof_recipients("sms", ["+31 6 00000001"]) == ["+31600000001"]
    with pytest.raises(PreviewError):
        clean_proof_recipients("sms", ["+1 555 0100"])
