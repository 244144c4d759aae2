"""Real providers against local fakes that speak their APIs (no network):
ESPs through anymail, Twilio-compatible SMS, FCM HTTP v1 and APNs push.
Request shape, authentication, and error mapping (transient vs permanent)."""

from __future__ import annotations

import base64
import json
import socket
import urllib.parse

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.db import connection

from channels.rendering import RenderedMessage
from channels.transports import OutboundMessage, get_transport
from tests.channels.fake_apis import reply


def email(delivery_id=7, to="ann@example.com"):
    rendered = RenderedMessage(subject="Spring sale", html="<p>Hi Ann</p>", text="Hi Ann")
    return OutboundMessage(delivery_id=delivery_id, to=to, rendered=rendered, category="marketing")


def push(delivery_id=9, to="device-token-ann"):
    rendered = RenderedMessage(
        title="Sale", body="Today only", url="https://shop.example/sale", data={"promo": "SPRING"}
    )
    return OutboundMessage(delivery_id=delivery_id, to=to, rendered=rendered, category="marketing")


def esp_config(make_config, provider, url, **creds):
    config = make_config("email", provider=provider, provider_url=url)
    config.set_credentials(creds)
    config.full_clean()
    config.save()
    return config


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


# --- credentials ------------------------------------------------------------------


def test_credentials_are_stored_encrypted_and_env_references_are_read_at_send_time(
    make_config, fake_api, monkeypatch
):
    api = fake_api(lambda r: reply(202, b"", {"X-Message-Id": "sg-1"}))
    config = esp_config(make_config, "sendgrid", api.url + "/v3/", api_key="SG.very-secret")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT credentials FROM channels_channelconfiguration WHERE id = %s", [config.pk]
        )
        stored = cursor.fetchone()[0]
    assert stored.startswith("fernet:") and "very-secret" not in stored
    assert config.credential_names == ["api_key"]

    config.set_credentials({"api_key": "env:VOLLEY_TEST_SENDGRID_KEY"})
    config.save()
    [result] = get_transport(config).send_batch([email()])
    assert not result.ok and result.permanent
    assert "VOLLEY_TEST_SENDGRID_KEY" in result.reason and api.requests == []

    monkeypatch.setenv("VOLLEY_TEST_SENDGRID_KEY", "SG.from-env")
    assert get_transport(config).send_batch([email()])[0].ok
    assert api.requests[0].headers["Authorization"] == "Bearer SG.from-env"


def test_a_provider_needs_its_credentials(make_config):
    from django.core.exceptions import ValidationError

    config = make_config("email", provider="mailgun")
    config.set_credentials({"api_key": "key-1"})
    with pytest.raises(ValidationError) as error:
        config.full_clean()
    assert "sender_domain" in str(error.value.message_dict["credentials"])
    config.set_credentials({"api_key": "key-1", "sender_domain": "mg.example", "colour": "x"})
    with pytest.raises(ValidationError) as error:
        config.full_clean()
    assert "colour" in str(error.value.message_dict["credentials"])


# --- email service providers through anymail ---------------------------------------


def test_sendgrid_request_shape_and_authentication(make_config, fake_api):
    api = fake_api(lambda r: reply(202, b"", {"X-Message-Id": "sg-1"}))
    config = esp_config(make_config, "sendgrid", api.url + "/v3/", api_key="SG.key")
    [result] = get_transport(config).send_batch([email(delivery_id=42)])
    assert result.ok and result.provider_message_id
    [request] = api.requests
    assert (request.method, request.path) == ("POST", "/v3/mail/send")
    assert request.headers["Authorization"] == "Bearer SG.key"
    body = request.json()
    assert body["personalizations"][0]["to"] == [{"email": "ann@example.com"}]
    assert body["from"] == {"email": "news@volley.example", "name": "Volley News"}
    assert body["subject"] == "Spring sale"
    # The delivery's key comes back in every tracking event.
    assert body["custom_args"]["volley_key"] == "delivery-42"
    assert body["headers"]["Message-ID"].startswith("<delivery-42.")
    assert body["tracking_settings"]["open_tracking"] == {"enable": False}


@pytest.mark.parametrize(
    ("status", "permanent"), [(400, True), (401, True), (429, False), (500, False), (503, False)]
)
def test_esp_errors_are_transient_or_permanent(make_config, fake_api, status, permanent):
    api = fake_api(lambda r: reply(status, {"errors": [{"message": "nope"}]}))
    config = esp_config(make_config, "sendgrid", api.url + "/v3/", api_key="SG.key")
    [result] = get_transport(config).send_batch([email()])
    assert not result.ok
    assert result.permanent is permanent
    assert str(status) in result.reason


def test_an_unreachable_esp_is_transient(make_config):
    config = esp_config(make_config, "postmark", closed_port_url(), server_token="pm-token")
    [result] = get_transport(config).send_batch([email()])
    assert not result.ok and not result.permanent


def test_mailgun_request_shape_and_authentication(make_config, fake_api):
    api = fake_api(lambda r: reply(200, {"id": "<mg-1@mg.example>", "message": "Queued"}))
    config = esp_config(
        make_config, "mailgun", api.url + "/v3", api_key="key-mg", sender_domain="mg.example"
    )
    [result] = get_transport(config).send_batch([email(delivery_id=43)])
    assert result.ok and result.provider_message_id == "<mg-1@mg.example>"
    [request] = api.requests
    assert request.path == "/v3/mg.example/messages"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"api:key-mg").decode()
    form = urllib.parse.parse_qs(request.body.decode())
    assert form["v:volley_key"] == ["delivery-43"]
    assert form["to"] == ["ann@example.com"]
    assert form["o:tracking-opens"] == ["no"]


def test_postmark_request_shape_and_a_refused_recipient(make_config, fake_api):
    def handler(request):
        if "nobody" in request.json()["To"]:
            return reply(
                422, {"ErrorCode": 300, "Message": "Invalid 'To' address: 'nobody@example.com'."}
            )
        return reply(
            200, {"ErrorCode": 0, "Message": "OK", "MessageID": "pm-1", "To": "ann@example.com"}
        )

    api = fake_api(handler)
    config = esp_config(make_config, "postmark", api.url + "/", server_token="pm-token")
    ok, refused = get_transport(config).send_batch(
        [email(delivery_id=44), email(delivery_id=45, to="nobody@example.com")]
    )
    assert ok.ok and ok.provider_message_id == "pm-1"
    assert not refused.ok and refused.permanent
    first = api.requests[0]
    assert first.path == "/email"
    assert first.headers["X-Postmark-Server-Token"] == "pm-token"
    assert first.json()["Metadata"] == {"volley_key": "delivery-44"}
    assert first.json()["TrackOpens"] is False


def test_amazon_ses_request_is_signed_with_the_configured_keys(make_config, fake_api):
    pytest.importorskip("boto3")
    api = fake_api(lambda r: reply(200, {"MessageId": "ses-1"}))
    config = esp_config(
        make_config,
        "amazon_ses",
        api.url,
        access_key_id="AKIAVOLLEYTEST",
        secret_access_key="ses-secret",
        region="eu-west-1",
    )
    [result] = get_transport(config).send_batch([email(delivery_id=46)])
    assert result.ok, result.reason
    assert result.provider_message_id == "ses-1"
    [request] = api.requests
    assert request.path == "/v2/email/outbound-emails"
    assert request.headers["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIAVOLLEYTEST/"
    )
    assert "/eu-west-1/ses/aws4_request" in request.headers["Authorization"]
    raw = base64.b64decode(request.json()["Content"]["Raw"]["Data"])
    # SES hands the metadata back from this header in its events.
    assert b'X-Metadata: {"volley_key": "delivery-46"}' in raw


# --- SMS: Twilio-compatible ---------------------------------------------------------


def test_twilio_form_post_with_basic_auth_and_error_mapping(make_config, fake_api):
    def handler(request):
        form = urllib.parse.parse_qs(request.body.decode())
        if form["To"] == ["+31600000000"]:
            return reply(400, {"code": 21211, "message": "The 'To' number is not valid."})
        if form["To"] == ["+31600000001"]:
            return reply(503, {"message": "Service unavailable"})
        return reply(201, {"sid": "SM123", "status": "queued"})

    api = fake_api(handler)
    config = make_config("sms", provider="twilio", provider_url=api.url + "/2010-04-01")
    config.set_credentials({"account_sid": "AC42", "auth_token": "tw-token"})
    config.full_clean()
    config.save()
    messages = [
        OutboundMessage(i, to, RenderedMessage(text="Sale today"), "marketing")
        for i, to in ((1, "+31612345678"), (2, "+31600000000"), (3, "+31600000001"))
    ]
    ok, invalid, down = get_transport(config).send_batch(messages)
    assert ok.ok and ok.provider_message_id == "SM123"
    assert not invalid.ok and invalid.permanent and "21211" in invalid.reason
    assert not down.ok and not down.permanent
    request = api.requests[0]
    assert request.path == "/2010-04-01/Accounts/AC42/Messages.json"
    assert (
        request.headers["Authorization"] == "Basic " + base64.b64encode(b"AC42:tw-token").decode()
    )
    assert urllib.parse.parse_qs(request.body.decode()) == {
        "To": ["+31612345678"],
        "From": ["+31612345679"],
        "Body": ["Sale today"],
    }


# --- push: FCM HTTP v1 --------------------------------------------------------------


def test_fcm_service_account_oauth_then_send_and_error_mapping(make_config, fake_api, settings):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    issued = []

    def handler(request):
        if request.path == "/token":
            form = urllib.parse.parse_qs(request.body.decode())
            claims = jwt.decode(
                form["assertion"][0],
                key.public_key(),
                algorithms=["RS256"],
                audience=settings.FCM_TOKEN_URL,
            )
            assert claims["iss"] == "volley@proj.iam.gserviceaccount.com"
            assert claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
            issued.append(f"ya29.token-{len(issued) + 1}")
            return reply(200, {"access_token": issued[-1], "expires_in": 3599})
        if request.headers["Authorization"] != f"Bearer {issued[-1]}":
            return reply(401, {"error": {"status": "UNAUTHENTICATED"}})
        token = request.json()["message"]["token"]
        if token == "gone":
            return reply(
                404, {"error": {"status": "NOT_FOUND", "details": [{"errorCode": "UNREGISTERED"}]}}
            )
        if token == "busy":
            return reply(503, {"error": {"status": "UNAVAILABLE"}})
        return reply(200, {"name": "projects/proj/messages/0:1"})

    api = fake_api(handler)
    settings.FCM_TOKEN_URL = api.url + "/token"
    config = make_config("push", provider="fcm", provider_url=api.url + "/v1", platform="android")
    account = {
        "type": "service_account",
        "client_email": "volley@proj.iam.gserviceaccount.com",
        "private_key": pem,
        "private_key_id": "k1",
    }
    config.set_credentials({"project_id": "proj", "service_account": json.dumps(account)})
    config.full_clean()
    config.save()

    ok, gone, busy = get_transport(config).send_batch(
        [push(1), push(2, to="gone"), push(3, to="busy")]
    )
    assert ok.ok and ok.provider_message_id == "projects/proj/messages/0:1"
    assert not gone.ok and gone.permanent
    assert not busy.ok and not busy.permanent
    assert len(issued) == 1  # one OAuth token for the batch, cached
    send = api.requests[1]
    assert send.path == "/v1/projects/proj/messages:send"
    assert send.json()["message"] == {
        "token": "device-token-ann",
        "notification": {"title": "Sale", "body": "Today only"},
        "data": {"promo": "SPRING", "url": "https://shop.example/sale", "volley_key": "delivery-1"},
    }


def test_fcm_with_a_pre_issued_token(make_config, fake_api):
    api = fake_api(lambda r: reply(200, {"name": "projects/p/messages/1"}))
    config = make_config("push", provider="fcm", provider_url=api.url + "/v1", platform="web")
    config.set_credentials({"project_id": "p", "access_token": "env:VOLLEY_TEST_FCM_TOKEN"})
    config.full_clean()
    config.save()
    import os

    os.environ["VOLLEY_TEST_FCM_TOKEN"] = "pre-issued"
    try:
        assert get_transport(config).send_batch([push()])[0].ok
    finally:
        del os.environ["VOLLEY_TEST_FCM_TOKEN"]
    assert api.requests[0].headers["Authorization"] == "Bearer pre-issued"
    assert api.requests[0].json()["message"]["webpush"] == {
        "fcm_options": {"link": "https://shop.example/sale"}
    }


# --- push: APNs ---------------------------------------------------------------------


def test_apns_jwt_es256_headers_and_error_mapping(make_config, fake_api):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()

    def handler(request):
        token = request.headers["authorization"].removeprefix("bearer ")
        claims = jwt.decode(token, key.public_key(), algorithms=["ES256"])
        assert claims["iss"] == "TEAM123456"
        assert jwt.get_unverified_header(token)["kid"] == "KEY1234567"
        device = request.path.rsplit("/", 1)[1]
        if device == "gone":
            return reply(410, {"reason": "Unregistered", "timestamp": 1})
        if device == "bad":
            return reply(400, {"reason": "BadDeviceToken"})
        if device == "busy":
            return reply(429, {"reason": "TooManyRequests"})
        return reply(200, b"", {"apns-id": request.headers["apns-id"]})

    api = fake_api(handler)
    config = make_config("push", provider="apns", provider_url=api.url, platform="ios")
    config.set_credentials({"team_id": "TEAM123456", "key_id": "KEY1234567", "private_key": pem})
    config.full_clean()
    config.save()
    ok, gone, bad, busy = get_transport(config).send_batch(
        [push(1), push(2, to="gone"), push(3, to="bad"), push(4, to="busy")]
    )
    assert ok.ok and ok.provider_message_id
    assert not gone.ok and gone.permanent
    assert not bad.ok and bad.permanent and "BadDeviceToken" in bad.reason
    assert not busy.ok and not busy.permanent
    first = api.requests[0]
    assert first.path == "/3/device/device-token-ann"
    assert first.headers["apns-topic"] == "com.volley.app"
    assert first.headers["apns-push-type"] == "alert"
    assert first.json() == {
        "aps": {"alert": {"title": "Sale", "body": "Today only"}},
        "promo": "SPRING",
        "url": "https://shop.example/sale",
        "volley_key": "delivery-1",
    }
    # A retry of the same delivery carries the same apns-id (APNs drops duplicates).
    get_transport(config).send_batch([push(1)])
    assert api.requests[-1].headers["apns-id"] == first.headers["apns-id"]
