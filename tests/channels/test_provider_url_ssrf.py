"""A provider URL typed into a channel configuration never makes the worker
connect to Volley's own network (issue 10, second review: blind SSRF). Refused
at save time, and at connect time for a name that resolves elsewhere later
(DNS rebinding). ``VOLLEY_ALLOW_PRIVATE_PROVIDER_URLS`` lifts the rule."""

from __future__ import annotations

import socket

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from channels.models import ChannelConfiguration
from channels.rendering import RenderedMessage
from channels.transports import OutboundMessage, get_transport
from tests.channels.fake_apis import reply

INTERNAL = [
    "http://127.0.0.1:8080/",
    "http://localhost/",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.5/",
    "http://192.168.1.1/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:a9fe:a9fe::]/",
]


@pytest.fixture(autouse=True)
def guarded(settings):
    settings.VOLLEY_ALLOW_PRIVATE_PROVIDER_URLS = False


@pytest.fixture
def dns(monkeypatch):
    """``dns["name"] = "ip"``: what a name resolves to, now (no network)."""
    table: dict[str, str] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in table:
            family = socket.AF_INET6 if ":" in table[host] else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (table[host], int(port)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


def _sms_form(url):
    return {
        "name": "SMS",
        "purpose": "marketing",
        "sender_number": "+31612345678",
        "provider": "twilio",
        "provider_url": url,
        "credentials": "account_sid=AC1\nauth_token=tw",
    }


@pytest.mark.parametrize("url", INTERNAL)
def test_the_form_refuses_an_internal_provider_url(login, administrator, url):
    response = login(administrator).post("/channels/new/sms/", _sms_form(url))
    assert response.status_code == 200
    assert "internal network" in response.content.decode()
    assert not ChannelConfiguration.objects.filter(name="SMS").exists()


def _twilio_api(url):
    return {
        "name": "SMS",
        "channel": "sms",
        "purpose": "marketing",
        "providerUrl": url,
        "sms": {"senderNumber": "+31612345678", "provider": "twilio"},
        "credentials": {"account_sid": "AC1", "auth_token": "tw"},
    }


@pytest.mark.parametrize("url", INTERNAL)
def test_the_api_refuses_an_internal_provider_url(api_for, administrator, url):
    response = api_for(administrator).post("/channel-configurations", _twilio_api(url))
    assert response.status_code == 400, response.content
    assert "providerUrl" in response.json()["errors"]
    assert not ChannelConfiguration.objects.exists()


def test_a_name_resolving_to_an_internal_address_is_refused(api_for, administrator, dns):
    dns["metadata.attacker.example"] = "169.254.169.254"
    dns["sms.provider.example"] = "93.184.216.34"
    api = api_for(administrator)
    refused = api.post("/channel-configurations", _twilio_api("http://metadata.attacker.example/"))
    assert refused.status_code == 400, refused.content
    accepted = api.post("/channel-configurations", _twilio_api("https://sms.provider.example/"))
    assert accepted.status_code == 201, accepted.content


def test_the_setting_allows_internal_urls(api_for, administrator, settings):
    settings.VOLLEY_ALLOW_PRIVATE_PROVIDER_URLS = True
    response = api_for(administrator).post(
        "/channel-configurations", _twilio_api("http://127.0.0.1:8080/")
    )
    assert response.status_code == 201, response.content


# --- connect time: a public name saved, an internal address later (DNS rebinding) ----


def _rebound(dns, api) -> str:
    """A URL whose name resolved publicly when saved and now points at ``api``."""
    dns["rebind.attacker.example"] = "127.0.0.1"
    port = api.url.rsplit(":", 1)[1].strip("/")
    return f"http://rebind.attacker.example:{port}"


def _saved(make_config, channel, provider, url, creds, **fields):
    config = make_config(channel, provider=provider, provider_url=url, **fields)
    config.set_credentials(creds)
    config.save()
    return config


def test_twilio_does_not_connect_to_a_rebound_name(make_config, fake_api, dns):
    api = fake_api(lambda r: reply(201, {"sid": "SM1"}))
    config = _saved(
        make_config, "sms", "twilio", _rebound(dns, api), {"account_sid": "A", "auth_token": "t"}
    )
    [result] = get_transport(config).send_batch(
        [OutboundMessage(1, "+31612345678", RenderedMessage(text="x"), "marketing")]
    )
    assert not result.ok and result.permanent, result
    assert "refused" in result.reason.lower()
    assert api.requests == []


def test_an_esp_does_not_connect_to_a_rebound_name(make_config, fake_api, dns):
    api = fake_api(lambda r: reply(202, b"", {"X-Message-Id": "sg-1"}))
    config = _saved(
        make_config, "email", "sendgrid", _rebound(dns, api) + "/v3/", {"api_key": "SG.k"}
    )
    rendered = RenderedMessage(subject="s", html="<p>x</p>", text="x")
    transport = get_transport(config)
    # Rebinding after the pre-check: the session itself refuses at connect time.
    dns["rebind.attacker.example"] = "93.184.216.34"
    connection = transport.connection()
    dns["rebind.attacker.example"] = "127.0.0.1"
    connection.open()
    result = transport._send_esp(
        connection, OutboundMessage(1, "ann@example.com", rendered, "marketing")
    )
    assert not result.ok and result.permanent, result
    assert api.requests == []
    [batch] = transport.send_batch([OutboundMessage(2, "ann@example.com", rendered, "marketing")])
    assert not batch.ok and batch.permanent
    assert api.requests == []


def test_apns_does_not_connect_to_a_rebound_name(make_config, fake_api, dns):
    api = fake_api(lambda r: reply(200, b"", {"apns-id": "x"}))
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    config = _saved(
        make_config,
        "push",
        "apns",
        _rebound(dns, api),
        {"team_id": "TEAM123456", "key_id": "KEY1234567", "private_key": pem},
        platform="ios",
    )
    rendered = RenderedMessage(title="t", body="b")
    [result] = get_transport(config).send_batch(
        [OutboundMessage(1, "device", rendered, "marketing")]
    )
    assert not result.ok and result.permanent, result
    assert api.requests == []
