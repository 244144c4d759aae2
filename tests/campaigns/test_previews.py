"""Previews (SPEC §11, issue 15 point 5): the API's preview per profile and
language, the preview page at desktop and mobile widths and in each language,
an SMS with its segments and encoding, a push notification on a phone."""

from __future__ import annotations

import pytest

from audiences.channel_facts import sms_segments
from audiences.models import Profile
from campaigns.services import campaign_create
from tests.campaigns.lifecycle_helpers import GOOD_HTML, push_config, ready_email, sms_config

pytestmark = pytest.mark.usefixtures("no_worker")

CONTENT = {
    "subject": "Hello {{ profile.firstName | default('there') }}",
    "html": GOOD_HTML,
    "text": "Hello",
    "translations": {"fr": {"subject": "Bonjour {{ profile.firstName | default('toi') }}"}},
}


@pytest.fixture
def campaign(manager):
    return ready_email(manager, content=CONTENT)


@pytest.fixture
def french(db):
    return Profile.objects.create(
        email="zoe@example.com", locale="fr-CA", attributes={"firstName": "Zoé"}
    )


def test_api_preview_for_a_profile_in_its_language(manager, api_for, campaign, french):
    api = api_for(manager)
    answer = api.post(
        f"/campaigns/{campaign.pk}/preview",
        {"profile": {"namespace": "email", "value": "zoe@example.com"}},
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["subject"], body["locale"]) == ("Bonjour Zoé", "fr")
    assert "Hello" in body["html"] and body["text"]

    sample = api.post(f"/campaigns/{campaign.pk}/preview", {}).json()
    assert (sample["subject"], sample["locale"]) == ("Hello there", "")
    asked = api.post(f"/campaigns/{campaign.pk}/preview", {"locale": "fr-BE"}).json()
    assert (asked["subject"], asked["locale"]) == ("Bonjour toi", "fr")
    default = api.post(f"/campaigns/{campaign.pk}/preview", {"locale": "de"}).json()
    assert default["locale"] == ""


def test_api_preview_refuses_unknown_profiles_and_bad_locales(
    manager, viewer, api_for, campaign, french
):
    api = api_for(manager)
    unknown = api.post(
        f"/campaigns/{campaign.pk}/preview",
        {"profile": {"namespace": "email", "value": "nobody@example.com"}},
    )
    assert unknown.status_code == 400 and "profile" in unknown.json()["errors"]
    bad = api.post(f"/campaigns/{campaign.pk}/preview", {"locale": "not a tag"})
    assert bad.status_code == 400 and "locale" in bad.json()["errors"]
    assert api.post("/campaigns/999999/preview", {}).status_code == 404
    # A viewer previews with sample data, never with a person's data.
    as_viewer = api_for(viewer)
    assert as_viewer.post(f"/campaigns/{campaign.pk}/preview", {}).status_code == 200
    seen = as_viewer.post(
        f"/campaigns/{campaign.pk}/preview",
        {"profile": {"namespace": "email", "value": "zoe@example.com"}},
    )
    assert seen.status_code == 400


def test_api_preview_of_sms_counts_segments_like_the_editor(manager, api_for):
    text = "Hi {{ profile.firstName | default('you') }} ✓ " + "x" * 80
    sms = campaign_create(
        actor=manager,
        name="Text",
        channel="sms",
        channel_configuration=sms_config(),
        content={"text": text},
    )
    body = api_for(manager).post(f"/campaigns/{sms.pk}/preview", {}).json()
    assert body["text"].startswith("Hi you ✓")
    assert body["segments"] == sms_segments(body["text"])
    assert body["segments"]["encoding"] == "UCS-2" and body["segments"]["segments"] == 2


def test_api_preview_of_push(manager, api_for):
    push = campaign_create(
        actor=manager,
        name="Push",
        channel="push",
        channel_configuration=push_config(),
        content={"title": "Sale", "body": "Now {{ profile.firstName | default('') }}"},
    )
    body = api_for(manager).post(f"/campaigns/{push.pk}/preview", {}).json()
    assert (body["title"], body["body"].strip(), body["locale"]) == ("Sale", "Now", "")


def test_preview_page_desktop_mobile_and_languages(manager, login, campaign, french):
    client = login(manager)
    desktop = client.get(f"/campaigns/{campaign.pk}/preview/").content.decode()
    assert 'data-device="desktop"' in desktop
    assert 'data-locale="fr"' in desktop  # the language switch lists the translation
    mobile = client.get(
        f"/campaigns/{campaign.pk}/preview/?device=mobile&locale=fr"
    ).content.decode()
    assert 'data-device="mobile"' in mobile
    assert "Bonjour toi" in mobile
    for_profile = client.get(f"/campaigns/{campaign.pk}/preview/?profile=zoe@example.com")
    assert "Bonjour Zoé" in for_profile.content.decode()
    odd = client.get(f"/campaigns/{campaign.pk}/preview/?device=watch").content.decode()
    assert 'data-device="desktop"' in odd


def test_preview_page_shows_sms_segments_and_push_mock(manager, login):
    sms = campaign_create(
        actor=manager,
        name="T",
        channel="sms",
        channel_configuration=sms_config(),
        content={"text": "Hello €"},
    )
    push = campaign_create(
        actor=manager,
        name="P",
        channel="push",
        channel_configuration=push_config(),
        content={"title": "Sale", "body": "Today only"},
    )
    client = login(manager)
    page = client.get(f"/campaigns/{sms.pk}/preview/").content.decode()
    assert 'data-testid="preview-segments"' in page and "GSM-7" in page
    assert "7 characters · GSM-7 · 1 segment" in page
    page = client.get(f"/campaigns/{push.pk}/preview/").content.decode()
    assert 'data-testid="preview-push"' in page and "Today only" in page


def test_preview_page_in_french_ui(manager, login, campaign):
    page = (
        login(manager)
        .get(f"/campaigns/{campaign.pk}/preview/?device=mobile", HTTP_ACCEPT_LANGUAGE="fr")
        .content.decode()
    )
    assert "Ordinateur" in page and "Appareil" in page


@pytest.mark.parametrize("content", [{"translations": {}}, {"design": {}}, {"design": None}])
def test_api_preview_with_empty_extras_is_not_a_500(manager, api_for, campaign, content):
    """Review: unsaved content naming an empty ``translations`` or ``design``
    (what an editor sends for a message without them) was a KeyError, a 500."""
    answer = api_for(manager).post(f"/campaigns/{campaign.pk}/preview", {"content": content})
    assert answer.status_code == 200, answer.content
    assert answer.json()["subject"] == "Hello there"


def test_api_preview_with_invalid_content_is_a_400(manager, api_for, campaign):
    answer = api_for(manager).post(
        f"/campaigns/{campaign.pk}/preview", {"content": {"subjet": "typo"}}
    )
    assert answer.status_code == 400
