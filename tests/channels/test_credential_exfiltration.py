"""Second review of issue 10: provider credentials are write-only, yet an
administrator could read any server secret with them.

``env:SECRET_KEY`` (or ``env:DATABASE_URL``) as a credential plus a provider URL
of their own sends that secret to them with the next test message; changing the
provider URL of a configuration whose credentials someone else entered sends
those. Only superusers name environment variables, and a new provider URL needs
the credentials typed again.
"""

from __future__ import annotations

import pytest

from channels.models import ChannelConfiguration

pytestmark = pytest.mark.django_db


def _twilio(**extra) -> dict:
    return {
        "name": "SMS",
        "channel": "sms",
        "purpose": "marketing",
        "sms": {"senderNumber": "+31612345678", "provider": "twilio"},
        **extra,
    }


def test_administrators_cannot_reference_server_environment_variables(api_for, administrator):
    response = api_for(administrator).post(
        "/channel-configurations",
        _twilio(
            providerUrl="https://collector.example/",
            credentials={"account_sid": "AC1", "auth_token": "env:SECRET_KEY"},
        ),
    )
    assert response.status_code == 400, response.content
    assert "credentials" in response.json()["errors"]
    assert not ChannelConfiguration.objects.filter(name="SMS").exists()


def test_administrators_cannot_reference_them_in_the_form(login, administrator):
    response = login(administrator).post(
        "/channels/new/sms/",
        {
            "name": "SMS",
            "purpose": "marketing",
            "sender_number": "+31612345678",
            "provider": "twilio",
            "provider_url": "https://collector.example/",
            "credentials": "account_sid=AC1\nauth_token=env:DATABASE_URL",
        },
    )
    assert response.status_code == 200
    assert not ChannelConfiguration.objects.filter(name="SMS").exists()


def test_superusers_still_reference_environment_variables(api_for, make_user):
    root = make_user("root", superuser=True)
    response = api_for(root).post(
        "/channel-configurations",
        _twilio(credentials={"account_sid": "AC1", "auth_token": "env:TWILIO_AUTH_TOKEN"}),
    )
    assert response.status_code == 201, response.content


def test_a_new_provider_url_needs_the_credentials_again(api_for, administrator, make_user):
    root = make_user("root", superuser=True)
    created = api_for(root).post(
        "/channel-configurations",
        _twilio(credentials={"account_sid": "AC1", "auth_token": "env:TWILIO_AUTH_TOKEN"}),
    )
    config_id = created.json()["id"]
    api = api_for(administrator)
    moved = api.put(
        f"/channel-configurations/{config_id}", _twilio(providerUrl="https://collector.example/")
    )
    assert moved.status_code == 400, moved.content
    config = ChannelConfiguration.objects.get(pk=config_id)
    assert config.provider_url == ""
    assert config.stored_credentials()["auth_token"] == "env:TWILIO_AUTH_TOKEN"
    # Other edits keep the stored credentials.
    renamed = api.put(f"/channel-configurations/{config_id}", _twilio(name="SMS 2"))
    assert renamed.status_code == 200, renamed.content
    assert ChannelConfiguration.objects.get(pk=config_id).credential_names == [
        "account_sid",
        "auth_token",
    ]
    # With the credentials typed again, the URL may change.
    retyped = api.put(
        f"/channel-configurations/{config_id}",
        _twilio(
            providerUrl="https://api.eu.twilio.example/",
            credentials={"account_sid": "AC1", "auth_token": "typed-token"},
        ),
    )
    assert retyped.status_code == 200, retyped.content


def test_the_admin_does_not_move_stored_credentials_either(login, administrator):
    config = ChannelConfiguration(
        name="SMS",
        channel="sms",
        purpose="marketing",
        provider="twilio",
        sender_number="+31612345678",
    )
    config.set_credentials({"account_sid": "AC1", "auth_token": "env:TWILIO_AUTH_TOKEN"})
    config.save()
    page = login(administrator).get(f"/admin/channels/channelconfiguration/{config.pk}/change/")
    assert page.status_code == 200
    assert 'name="provider_url"' not in page.content.decode()
