"""SMS and push through the signed webhook provider, against a local HTTP server."""

from __future__ import annotations

import hashlib
import hmac
import io
import json

from channels.rendering import RenderedMessage, compile_content
from channels.transports import ConsoleTransport, OutboundMessage, get_transport, sign_body


def sms(profile, delivery_id, text="Hi {{ profile.firstName }} & co"):
    rendered = compile_content("sms", {"text": text}, category="marketing").render(profile=profile)
    return OutboundMessage(
        delivery_id=delivery_id, to=profile.phone, rendered=rendered, category="marketing"
    )


def test_sms_is_a_signed_json_post_with_an_idempotency_key(webhook_server, make_config, profile):
    results = get_transport(make_config("sms")).send_batch([sms(profile, 31)])

    assert results[0].ok and results[0].provider_message_id == "prov-1"
    [request] = webhook_server.requests
    body = request["body"]
    assert json.loads(body) == {
        "channel": "sms",
        "category": "marketing",
        "idempotencyKey": "delivery-31",
        "to": "+31612345678",
        "from": "+31612345679",
        "text": "Hi Ann & co",
    }
    expected = hmac.new(b"test-signing-secret", body, hashlib.sha256).hexdigest()
    assert request["headers"]["X-Volley-Signature"] == f"sha256={expected}"
    assert request["headers"]["Idempotency-Key"] == "delivery-31"
    assert request["headers"]["Content-Type"] == "application/json"


def test_push_carries_title_body_url_and_data(webhook_server, make_config, profile):
    rendered = compile_content(
        "push",
        {
            "title": "Hi {{ profile.firstName }}",
            "body": "New in {{ profile.city }}",
            "url": "https://app.example/x",
            "data": {"screen": "offers"},
        },
        category="marketing",
    ).render(profile=profile)
    message = OutboundMessage(
        delivery_id=8, to=profile.push_token, rendered=rendered, category="marketing"
    )
    assert get_transport(make_config("push")).send_batch([message])[0].ok
    payload = json.loads(webhook_server.requests[0]["body"])
    assert payload["title"] == "Hi Ann" and payload["body"] == "New in Utrecht"
    assert payload["url"] == "https://app.example/x" and payload["data"] == {"screen": "offers"}
    assert payload["platform"] == "android" and payload["appId"] == "com.volley.app"
    assert payload["to"] == "tok-ann"


def test_4xx_is_permanent_5xx_transient_and_each_message_gets_its_result(
    webhook_server, make_config, profile
):
    webhook_server.responses = [
        (400, b'{"error": "invalid number"}'),
        (503, b"maintenance"),
        (429, b""),
        (200, b""),
    ]
    results = get_transport(make_config("sms")).send_batch([sms(profile, i) for i in range(1, 5)])
    assert [r.delivery_id for r in results] == [1, 2, 3, 4]
    bad, down, slow, ok = results
    assert (bad.ok, bad.permanent) == (False, True) and "invalid number" in bad.reason
    assert bad.reason.startswith("HTTP 400")
    assert (down.ok, down.permanent) == (False, False) and down.reason.startswith("HTTP 503")
    assert (slow.ok, slow.permanent) == (False, False)
    assert ok.ok
    keys = [r["headers"]["Idempotency-Key"] for r in webhook_server.requests]
    assert keys == ["delivery-1", "delivery-2", "delivery-3", "delivery-4"]


def test_timeout_is_transient(webhook_server, make_config, profile, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    webhook_server.hang.set()
    [result] = get_transport(make_config("sms")).send_batch([sms(profile, 1)])
    assert (result.ok, result.permanent) == (False, False)
    assert "Timed out" in result.reason


def test_unreachable_provider_is_transient(settings, make_config, profile):
    from tests.channels.conftest import _free_port

    settings.SMS_WEBHOOK_URL = f"http://127.0.0.1:{_free_port()}/hook"
    [result] = get_transport(make_config("sms")).send_batch([sms(profile, 1)])
    assert (result.ok, result.permanent) == (False, False)


def test_redirects_are_not_followed(webhook_server, make_config, profile):
    webhook_server.responses = [(302, b"")]
    [result] = get_transport(make_config("sms")).send_batch([sms(profile, 1)])
    assert not result.ok and result.permanent
    assert len(webhook_server.requests) == 1


def test_missing_webhook_url_fails_permanently_with_a_reason(settings, make_config, profile):
    settings.SMS_WEBHOOK_URL = ""
    [result] = get_transport(make_config("sms")).send_batch([sms(profile, 1)])
    assert not result.ok and result.permanent and "not configured" in result.reason


def test_console_provider_prints_and_accepts(make_config, profile):
    transport = get_transport(make_config("sms", provider="console"))
    assert isinstance(transport, ConsoleTransport)
    transport.stream = io.StringIO()
    [result] = transport.send_batch([sms(profile, 4)])
    assert result.ok
    assert json.loads(transport.stream.getvalue())["text"] == "Hi Ann & co"


def test_sign_body_matches_a_receiver_side_check(settings):
    settings.WEBHOOK_SIGNING_SECRET = "s3cret"
    body = json.dumps({"a": 1}).encode()
    assert sign_body(body) == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert RenderedMessage().text == ""
