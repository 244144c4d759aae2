"""The preference page behind the unsubscribe link (SPEC §14)."""

from __future__ import annotations

import pytest
from django.test import Client

from audiences.models import ConsentChange, Profile, Suppression
from channels import tracking
from channels.models import DeliveryEvent


@pytest.fixture
def anon():
    return Client()


def url_of(delivery) -> str:
    return tracking.unsubscribe_url(delivery.pk).removeprefix("http://testserver")


def consent(profile: Profile) -> tuple[bool, bool, bool]:
    profile.refresh_from_db()
    return profile.consent_email, profile.consent_sms, profile.consent_push


def test_page_shows_a_switch_per_channel_the_person_has_an_identity_for(anon, make_delivery):
    delivery = make_delivery()
    Profile.objects.filter(pk=delivery.profile_id).update(push_token=None)
    page = anon.get(url_of(delivery))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="channel" value="email"' in html and 'name="channel" value="sms"' in html
    assert 'value="push"' not in html
    assert "Unsubscribe from everything" in html
    assert not ConsentChange.objects.exists()  # looking changes nothing


def test_switching_one_channel_off_records_a_preference_page_change(anon, make_delivery, profile):
    delivery = make_delivery()  # an email
    response = anon.post(url_of(delivery), {"action": "save", "channel": ["email", "push"]})
    assert response.status_code == 200
    assert consent(profile) == (True, False, True)
    change = ConsentChange.objects.get()
    assert (change.channel, change.granted, change.source) == ("sms", False, "preference_page")
    delivery.refresh_from_db()
    assert delivery.unsubscribed_at is None  # this message's channel stays on
    assert not Suppression.objects.exists()


def test_unsubscribe_from_everything_turns_every_channel_off(anon, make_delivery, profile):
    delivery = make_delivery("sms")
    response = anon.post(url_of(delivery), {"action": "all"})
    assert b"unsubscribed from everything" in response.content
    assert consent(profile) == (False, False, False)
    assert set(ConsentChange.objects.values_list("channel", "source")) == {
        ("email", "preference_page"),
        ("sms", "preference_page"),
        ("push", "preference_page"),
    }
    delivery.refresh_from_db()
    assert delivery.unsubscribed_at is not None  # counted in the campaign's report
    assert DeliveryEvent.objects.filter(kind="unsubscribe").count() == 1
    # Saved again: nothing new is recorded.
    anon.post(url_of(delivery), {"action": "all"})
    assert ConsentChange.objects.count() == 3
    assert DeliveryEvent.objects.filter(kind="unsubscribe").count() == 1


def test_switching_a_channel_back_on_lifts_only_an_unsubscribe_suppression(
    anon, make_delivery, profile
):
    delivery = make_delivery()
    anon.post(url_of(delivery), {"List-Unsubscribe": "One-Click"})
    Suppression.objects.create(channel="sms", address=profile.phone, reason="complaint")
    assert consent(profile)[0] is False

    anon.post(url_of(delivery), {"action": "save", "channel": ["email", "sms", "push"]})

    assert consent(profile) == (True, True, True)
    assert not Suppression.objects.filter(channel="email").exists()
    assert Suppression.objects.filter(channel="sms", reason="complaint").exists()
    assert ConsentChange.objects.filter(
        channel="email", granted=True, source="preference_page"
    ).exists()


def test_one_click_post_still_unsubscribes_exactly_as_before(make_delivery, profile):
    client = Client(enforce_csrf_checks=True)
    delivery = make_delivery()
    response = client.post(url_of(delivery), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert consent(profile) == (False, True, True)
    assert Suppression.objects.get().reason == "unsubscribe"
    assert ConsentChange.objects.get().source == "unsubscribe"


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("nl", "Afmelden voor alles"),
        ("sv", "Avregistrera mig från allt"),
        ("fr", "Me désabonner de tout"),
        ("en", "Unsubscribe from everything"),
    ],
)
def test_page_speaks_the_browsers_language(anon, make_delivery, language, text):
    page = anon.get(url_of(make_delivery()), HTTP_ACCEPT_LANGUAGE=f"{language},en;q=0.5")
    assert text in page.content.decode()


def test_a_tampered_link_is_404(anon, make_delivery):
    url = url_of(make_delivery())
    assert anon.get(url[:-3] + "abc").status_code == 404
    assert anon.post(url[:-3] + "abc", {"action": "all"}).status_code == 404
