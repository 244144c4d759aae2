"""POST /api/v1/channel-configurations and friends."""

from __future__ import annotations

from channels.models import ChannelConfiguration

EMAIL = {
    "name": "Newsletter",
    "channel": "email",
    "purpose": "marketing",
    "email": {
        "fromName": "Volley",
        "fromAddress": "news@volley.example",
        "replyTo": "help@volley.example",
    },
}


def test_administrator_creates_email_sms_and_push_configurations(api_for, administrator):
    api = api_for(administrator)
    response = api.post("/channel-configurations", EMAIL)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == {
        "fromName": "Volley",
        "fromAddress": "news@volley.example",
        "replyTo": "help@volley.example",
        "bcc": "",
    }
    assert body["status"] == "active" and body["provider"] == "smtp" and body["sms"] is None
    sms = api.post(
        "/channel-configurations",
        {
            "name": "Alerts",
            "channel": "sms",
            "purpose": "transactional",
            "sms": {"senderNumber": "+31 6 1234 5678", "provider": "console"},
        },
    )
    assert sms.status_code == 201
    assert sms.json()["sms"] == {"senderNumber": "+31612345678", "provider": "console"}
    push = api.post(
        "/channel-configurations",
        {
            "name": "App",
            "channel": "push",
            "purpose": "marketing",
            "push": {"platform": "ios", "appId": "com.volley.app", "provider": "webhook"},
        },
    )
    assert push.status_code == 201
    assert push.json()["push"]["platform"] == "ios"
    assert ChannelConfiguration.objects.count() == 3


def test_invalid_configurations_are_400_with_field_errors_and_write_nothing(api_for, administrator):
    api = api_for(administrator)
    bad_email = {**EMAIL, "email": {"fromAddress": "not-an-address", "bcc": "nope"}}
    response = api.post("/channel-configurations", bad_email)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert set(response.json()["errors"]) == {"email.fromAddress", "email.bcc"}
    response = api.post(
        "/channel-configurations",
        {"name": "x", "channel": "sms", "purpose": "marketing", "sms": {"senderNumber": "12345"}},
    )
    assert response.status_code == 400 and "sms.senderNumber" in response.json()["errors"]
    response = api.post(
        "/channel-configurations",
        {
            "name": "x",
            "channel": "push",
            "purpose": "marketing",
            "push": {"platform": "symbian", "appId": "a b"},
        },
    )
    assert response.status_code == 400
    response = api.post(
        "/channel-configurations", {"name": "x", "channel": "sms", "purpose": "marketing"}
    )
    assert response.status_code == 400 and "sms" in response.json()["errors"]
    response = api.post("/channel-configurations", "{not json")
    assert response.status_code == 400
    assert ChannelConfiguration.objects.count() == 0


def test_only_administrators_create(api_for, manager, approver, viewer):
    for user in (manager, approver, viewer):
        response = api_for(user).post("/channel-configurations", EMAIL)
        assert response.status_code == 403
    assert ChannelConfiguration.objects.count() == 0


def test_anonymous_is_401(anonymous_api):
    assert anonymous_api.post("/channel-configurations", EMAIL).status_code == 401


def test_list_read_update_and_deactivate(api_for, administrator, viewer, make_config):
    config = make_config("email")
    listing = api_for(viewer).get("/channel-configurations").json()
    assert listing["count"] == 1 and listing["items"][0]["name"] == config.name
    assert api_for(viewer).get(f"/channel-configurations/{config.pk}").status_code == 200
    api = api_for(administrator)
    response = api.put(f"/channel-configurations/{config.pk}", {**EMAIL, "name": "Renamed"})
    assert response.status_code == 200 and response.json()["name"] == "Renamed"
    response = api.put(
        f"/channel-configurations/{config.pk}",
        {
            "name": "x",
            "channel": "sms",
            "purpose": "marketing",
            "sms": {"senderNumber": "+31612345678"},
        },
    )
    assert response.status_code == 400
    response = api.post(f"/channel-configurations/{config.pk}/deactivate")
    assert response.status_code == 200 and response.json()["status"] == "deactivated"
    assert api_for(viewer).post(f"/channel-configurations/{config.pk}/activate").status_code == 403
    config.refresh_from_db()
    assert config.status == "deactivated"


def test_restricted_configuration_is_404_for_users_not_granted(
    api_for, administrator, make_user, make_config
):
    from accounts.roles import ADMINISTRATOR

    config = make_config("email", restricted=True)
    other_admin = make_user("other", ADMINISTRATOR)
    api = api_for(other_admin)
    assert api.get(f"/channel-configurations/{config.pk}").status_code == 404
    assert api.post(f"/channel-configurations/{config.pk}/deactivate").status_code == 404
    assert api.get("/channel-configurations").json()["count"] == 0


def test_esp_credentials_are_write_only_through_the_api(api_for, administrator):
    api = api_for(administrator)
    payload = {
        **EMAIL,
        "email": {**EMAIL["email"], "provider": "sendgrid"},
        "credentials": {"api_key": "SG.api-secret-value"},
        "providerUrl": "https://api.eu.sendgrid.com/v3/",
    }
    response = api.post("/channel-configurations", payload)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["provider"] == "sendgrid" and body["credentialNames"] == ["api_key"]
    assert body["providerUrl"] == "https://api.eu.sendgrid.com/v3/"
    assert "SG.api-secret-value" not in response.content.decode()
    config = ChannelConfiguration.objects.get(pk=body["id"])
    assert config.provider_credentials() == {"api_key": "SG.api-secret-value"}
    assert (
        "SG.api-secret-value"
        not in api.get(f"/channel-configurations/{config.pk}").content.decode()
    )

    # A PUT without credentials keeps them; a change of provider drops them.
    without = {k: v for k, v in payload.items() if k != "credentials"}
    assert api.put(f"/channel-configurations/{config.pk}", without).status_code == 200
    config.refresh_from_db()
    assert config.credential_names == ["api_key"]
    mailgun = {**without, "email": {**EMAIL["email"], "provider": "mailgun"}}
    response = api.put(f"/channel-configurations/{config.pk}", mailgun)
    assert response.status_code == 400
    assert "api_key, sender_domain" in response.json()["errors"]["credentials"][0]


def test_bad_credentials_are_a_400_with_the_field(api_for, administrator):
    api = api_for(administrator)
    payload = {
        **EMAIL,
        "email": {**EMAIL["email"], "provider": "postmark"},
        "credentials": {"server_token": "env:not a variable"},
    }
    response = api.post("/channel-configurations", payload)
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"credentials"}
    assert not ChannelConfiguration.objects.exists()
