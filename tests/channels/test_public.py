"""Open pixel, click redirect and unsubscribe: good, tampered and replayed tokens."""

from __future__ import annotations

import pytest
from django.test import Client

from audiences.models import ConsentChange, Suppression
from channels import tracking
from channels.models import DeliveryEvent


def path(url: str) -> str:
    return url.removeprefix("http://testserver")


def tampered(url: str) -> str:
    token = url.rsplit("/", 1)[1]
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    return url[: -len(token)] + flipped


@pytest.fixture
def anon():
    return Client()


def test_open_pixel_records_the_first_open_only(anon, make_delivery):
    delivery = make_delivery()
    url = path(tracking.open_url(delivery.pk))
    first = anon.get(url)
    assert first.status_code == 200 and first["Content-Type"] == "image/gif"
    assert first.content.startswith(b"GIF89a")
    delivery.refresh_from_db()
    opened = delivery.opened_at
    assert opened is not None
    assert anon.get(url).status_code == 200  # replayed
    delivery.refresh_from_db()
    assert delivery.opened_at == opened
    assert DeliveryEvent.objects.filter(delivery=delivery, kind="open").count() == 2


def test_head_probe_answers_but_records_nothing(anon, make_delivery):
    delivery = make_delivery()
    assert anon.head(path(tracking.open_url(delivery.pk))).status_code == 200
    delivery.refresh_from_db()
    assert delivery.opened_at is None


def test_head_on_a_click_link_answers_the_redirect_but_records_nothing(anon, make_delivery):
    delivery = make_delivery()
    response = anon.head(path(tracking.click_url(delivery.pk, "https://shop.example/sale")))
    assert response.status_code == 302 and response["Location"] == "https://shop.example/sale"
    delivery.refresh_from_db()
    assert delivery.clicked_at is None and delivery.opened_at is None
    assert not DeliveryEvent.objects.filter(delivery=delivery).exists()


def test_tampered_unsigned_or_foreign_tokens_are_404(anon, make_delivery):
    delivery = make_delivery()
    for url in (
        tampered(tracking.open_url(delivery.pk)),
        "/t/o/123.gif",
        f"/t/o/{delivery.pk}.gif",
        # an unsubscribe token is not an open token
        "/t/o/" + tracking.unsubscribe_url(delivery.pk).rsplit("/", 1)[1] + ".gif",
        tampered(tracking.click_url(delivery.pk, "https://shop.example/")),
        "/t/c/" + tracking.open_url(delivery.pk).rsplit("/", 1)[1].removesuffix(".gif"),
        tampered(tracking.unsubscribe_url(delivery.pk)),
        "/t/u/" + tracking.open_url(delivery.pk).rsplit("/", 1)[1].removesuffix(".gif"),
    ):
        response = anon.get(path(url))
        assert response.status_code == 404, url
        assert "Location" not in response
    delivery.refresh_from_db()
    assert delivery.opened_at is None and delivery.clicked_at is None
    assert DeliveryEvent.objects.count() == 0


def test_token_for_a_delivery_that_does_not_exist_is_404(anon, db):
    assert anon.get(path(tracking.open_url(999_999))).status_code == 404
    assert anon.get(path(tracking.click_url(999_999, "https://a.example/"))).status_code == 404


def test_click_redirects_only_to_the_signed_url_and_records_once(anon, make_delivery):
    delivery = make_delivery()
    url = path(tracking.click_url(delivery.pk, "https://shop.example/sale?x=1"))
    response = anon.get(url + "?next=https://evil.example/", HTTP_REFERER="https://evil.example")
    assert response.status_code == 302
    assert response["Location"] == "https://shop.example/sale?x=1"
    delivery.refresh_from_db()
    clicked = delivery.clicked_at
    assert clicked is not None and delivery.opened_at is not None  # a click implies an open
    assert anon.get(url)["Location"] == "https://shop.example/sale?x=1"
    delivery.refresh_from_db()
    assert delivery.clicked_at == clicked


def test_click_tokens_never_carry_other_schemes(anon, make_delivery, settings):
    from django.core import signing

    delivery = make_delivery()
    # Even a correctly signed token (say, from a leaked key) with javascript: is refused.
    token = signing.Signer(salt="volley.tracking.click").sign_object(
        {"d": delivery.pk, "u": "javascript:alert(1)"}, compress=True
    )
    assert anon.get(f"/t/c/{token}").status_code == 404


def test_public_endpoints_refuse_other_methods(anon, make_delivery):
    delivery = make_delivery()
    assert anon.post(path(tracking.open_url(delivery.pk))).status_code == 405
    assert anon.post(path(tracking.click_url(delivery.pk, "https://a.example/"))).status_code == 405
    assert anon.put(path(tracking.unsubscribe_url(delivery.pk))).status_code == 405


def test_unsubscribe_page_confirms_before_acting(anon, make_delivery, profile):
    delivery = make_delivery()
    url = path(tracking.unsubscribe_url(delivery.pk))
    page = anon.get(url)
    assert page.status_code == 200
    assert b'<form method="post"' in page.content
    profile.refresh_from_db()
    assert profile.consent_email is True  # a GET (link scanner) changes nothing
    assert not Suppression.objects.exists()

    done = anon.post(url)
    assert done.status_code == 200 and b"You are unsubscribed" in done.content
    profile.refresh_from_db()
    delivery.refresh_from_db()
    assert profile.consent_email is False and profile.consent_sms is True
    assert delivery.unsubscribed_at is not None
    assert Suppression.objects.get(channel="email", address="ann@example.com").reason == (
        "unsubscribe"
    )
    change = ConsentChange.objects.get(profile=profile)
    assert (change.channel, change.granted, change.source) == ("email", False, "unsubscribe")


def test_one_click_post_without_csrf_and_replay_is_idempotent(make_delivery, profile):
    client = Client(enforce_csrf_checks=True)
    delivery = make_delivery()
    url = path(tracking.unsubscribe_url(delivery.pk))
    for _ in range(2):
        response = client.post(url, {"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200
    delivery.refresh_from_db()
    first = delivery.unsubscribed_at
    assert first is not None
    assert Suppression.objects.count() == 1
    assert ConsentChange.objects.filter(profile=profile).count() == 1
    assert DeliveryEvent.objects.filter(kind="unsubscribe").count() == 1
    assert b"You are unsubscribed" in client.get(url).content


def test_unsubscribe_from_sms_withdraws_sms_consent(anon, make_delivery, profile):
    delivery = make_delivery("sms")
    anon.post(path(tracking.unsubscribe_url(delivery.pk)))
    profile.refresh_from_db()
    assert (profile.consent_sms, profile.consent_email) == (False, True)
    assert Suppression.objects.filter(channel="sms", address="+31612345678").exists()


def test_preview_unsubscribe_page_explains_and_changes_nothing(anon, db):
    response = anon.get(path(tracking.preview_unsubscribe_url()))
    assert response.status_code == 200 and b"preview" in response.content
    assert anon.post(path(tracking.preview_unsubscribe_url())).status_code == 200
    assert not Suppression.objects.exists()
