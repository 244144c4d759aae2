"""The /channels/ pages: administrators only, restricted objects hidden."""

from __future__ import annotations

import pytest
from django.core import mail

from accounts.roles import ADMINISTRATOR
from channels.models import ChannelConfiguration


def test_administrator_sees_the_list_with_filters(login, administrator, make_config):
    make_config("email", name="Newsletter")
    make_config("sms", name="Alerts")
    client = login(administrator)
    page = client.get("/channels/")
    assert page.status_code == 200
    assert b"Newsletter" in page.content and b"Alerts" in page.content
    filtered = client.get("/channels/?channel=sms")
    assert b"Alerts" in filtered.content and b"Newsletter" not in filtered.content
    assert client.post("/channels/").status_code == 405


def test_wrong_methods_are_405(login, administrator, make_config):
    config = make_config()
    client = login(administrator)
    assert client.put("/channels/new/email/").status_code == 405
    assert client.delete(f"/channels/{config.pk}/edit/").status_code == 405
    assert client.put(f"/channels/{config.pk}/test/").status_code == 405


@pytest.mark.parametrize("persona", ["viewer", "manager", "approver", "outsider"])
def test_other_roles_may_not_manage_configurations(request, login, persona, make_config):
    config = make_config()
    client = login(request.getfixturevalue(persona))
    assert client.get("/channels/").status_code == 403
    assert client.get("/channels/new/email/").status_code == 403
    assert client.post("/channels/new/email/", {"name": "x"}).status_code == 403
    assert client.get(f"/channels/{config.pk}/edit/").status_code in (403, 404)
    assert client.post(f"/channels/{config.pk}/deactivate/").status_code in (403, 404)
    assert client.get(f"/channels/{config.pk}/test/").status_code in (403, 404)
    config.refresh_from_db()
    assert config.status == "active"
    assert ChannelConfiguration.objects.count() == 1


def test_anonymous_is_sent_to_login(client):
    response = client.get("/channels/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_create_email_configuration(login, administrator):
    client = login(administrator)
    assert client.get("/channels/new/email/").status_code == 200
    response = client.post(
        "/channels/new/email/",
        {
            "name": "Newsletter",
            "purpose": "marketing",
            "from_name": "Volley",
            "from_address": "news@volley.example",
            "reply_to": "",
            "bcc": "",
        },
    )
    assert response.status_code == 302
    config = ChannelConfiguration.objects.get()
    assert (config.channel, config.provider, config.from_address) == (
        "email",
        "smtp",
        "news@volley.example",
    )


def test_create_sms_and_push_configurations(login, administrator):
    client = login(administrator)
    response = client.post(
        "/channels/new/sms/",
        {
            "name": "Alerts",
            "purpose": "transactional",
            "sender_number": "+31 6 12345678",
            "provider": "console",
        },
    )
    assert response.status_code == 302
    response = client.post(
        "/channels/new/push/",
        {
            "name": "App",
            "purpose": "marketing",
            "platform": "android",
            "app_id": "com.volley.app",
            "provider": "webhook",
        },
    )
    assert response.status_code == 302
    assert ChannelConfiguration.objects.get(channel="sms").sender_number == "+31612345678"


def test_invalid_configuration_shows_errors_and_writes_nothing(login, administrator):
    client = login(administrator)
    response = client.post(
        "/channels/new/email/",
        {"name": "N", "purpose": "marketing", "from_address": "nope", "bcc": "also nope"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors.keys() >= {"from_address", "bcc"}
    response = client.post(
        "/channels/new/sms/",
        {"name": "N", "purpose": "marketing", "sender_number": "0612", "provider": "webhook"},
    )
    assert "sender_number" in response.context["form"].errors
    response = client.post(
        "/channels/new/push/",
        {"name": "N", "purpose": "marketing", "platform": "", "app_id": "", "provider": "smtp"},
    )
    assert response.context["form"].errors.keys() >= {"platform", "app_id", "provider"}
    assert client.get("/channels/new/fax/").status_code == 404
    assert ChannelConfiguration.objects.count() == 0


def test_edit_deactivate_and_activate(login, administrator, make_config):
    config = make_config()
    client = login(administrator)
    assert client.get(f"/channels/{config.pk}/edit/").status_code == 200
    response = client.post(
        f"/channels/{config.pk}/edit/",
        {"name": "Renamed", "purpose": "transactional", "from_address": "a@volley.example"},
    )
    assert response.status_code == 302
    config.refresh_from_db()
    assert (config.name, config.purpose) == ("Renamed", "transactional")
    assert client.get(f"/channels/{config.pk}/deactivate/").status_code == 405
    assert client.post(f"/channels/{config.pk}/deactivate/").status_code == 302
    config.refresh_from_db()
    assert config.status == "deactivated"
    client.post(f"/channels/{config.pk}/activate/")
    config.refresh_from_db()
    assert config.status == "active"
    assert client.post(f"/channels/{config.pk}/explode/").status_code == 404


def test_restricted_configuration_is_404_for_an_administrator_not_granted(
    login, make_user, make_config
):
    config = make_config(restricted=True)
    client = login(make_user("other", ADMINISTRATOR))
    assert client.get(f"/channels/{config.pk}/edit/").status_code == 404
    assert client.post(f"/channels/{config.pk}/deactivate/").status_code == 404
    assert client.get(f"/channels/{config.pk}/test/").status_code == 404
    assert config.name.encode() not in client.get("/channels/").content


def test_restricted_configuration_granted_to_the_user(login, make_user, make_config):
    from guardian.shortcuts import assign_perm

    config = make_config(restricted=True)
    user = make_user("granted", ADMINISTRATOR)
    assign_perm("channels.change_channelconfiguration", user, config)
    client = login(user)
    assert client.get(f"/channels/{config.pk}/edit/").status_code == 200


def test_test_message_previews_for_a_profile(login, administrator, make_config, profile):
    config = make_config("email")
    client = login(administrator)
    assert client.get(f"/channels/{config.pk}/test/").status_code == 200
    response = client.post(
        f"/channels/{config.pk}/test/",
        {
            "content_subject": "Hi {{ profile.firstName }}",
            "content_html": "<p>{{ context.x }}</p>",
            "category": "marketing",
            "profile_lookup": "ANN@example.com",
            "context": '{"x": "ctx"}',
            "action": "preview",
        },
    )
    assert response.status_code == 200
    assert response.context["preview"].subject == "Hi Ann"
    assert "<p>ctx</p>" in response.context["preview"].html
    assert mail.outbox == []


def test_test_message_reports_template_errors_with_the_line(login, administrator, make_config):
    config = make_config("sms", provider="console")
    response = login(administrator).post(
        f"/channels/{config.pk}/test/",
        {"content_text": "ok\n{{ profile.x }", "category": "marketing", "action": "preview"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["content_text"] == ["line 2: unexpected '}'"]
    assert response.context["preview"] is None


@pytest.fixture
def sync_mode(monkeypatch):
    """django-q2's sync mode: ``async_task`` runs the task in this process."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


SEND = {
    "content_subject": "Hi {{ profile.firstName }}",
    "content_html": "<p>x</p>",
    "category": "marketing",
    "profile_lookup": "ann@example.com",
    "recipients": "a@example.com, b@example.com",
    "action": "send",
}


def test_test_message_page_only_queues_proofs(login, administrator, make_config, profile):
    from channels.models import TestMessage

    config = make_config("email")
    client = login(administrator)
    response = client.post(f"/channels/{config.pk}/test/", SEND)
    assert response.status_code == 200
    assert mail.outbox == []  # the cluster sends it, not the web request
    message = response.context["queued"]
    assert list(message.recipients.values_list("address", "status")) == [
        ("a@example.com", "queued"),
        ("b@example.com", "queued"),
    ]
    html = response.content.decode()
    assert f'id="test-message-{message.pk}"' in html and 'data-status="queued"' in html
    # The page polls the message's fragment until it is final.
    assert f'data-live-url="/channels/{config.pk}/test/{message.pk}/"' in html
    assert "js/live-status.js" in html
    fragment = client.get(f"/channels/{config.pk}/test/{message.pk}/").content.decode()
    assert fragment.startswith("<article") and "data-live-url" in fragment
    too_many = ",".join(f"p{i}@example.com" for i in range(11))
    response = client.post(f"/channels/{config.pk}/test/", {**SEND, "recipients": too_many})
    assert "recipients" in response.context["form"].errors
    assert TestMessage.objects.count() == 1


def test_test_message_page_shows_what_the_cluster_did(
    login, administrator, make_config, profile, sync_mode, django_capture_on_commit_callbacks
):
    config = make_config("email")
    client = login(administrator)
    with django_capture_on_commit_callbacks(execute=True):
        message = client.post(f"/channels/{config.pk}/test/", SEND).context["queued"]
    assert sorted(m.to[0] for m in mail.outbox) == ["a@example.com", "b@example.com"]
    fragment = client.get(f"/channels/{config.pk}/test/{message.pk}/").content.decode()
    assert 'data-status="sent"' in fragment and "data-live-url" not in fragment  # final: no poll
    page = client.get(f"/channels/{config.pk}/test/").content.decode()
    assert page.count('<tr data-status="sent">') == 2


def test_a_failed_test_message_is_retried_from_the_page(
    login, administrator, make_config, profile, sync_mode, django_capture_on_commit_callbacks
):
    from channels.models import TestMessage

    config = make_config("email")
    client = login(administrator)
    message = client.post(f"/channels/{config.pk}/test/", SEND).context["queued"]
    TestMessage.objects.filter(pk=message.pk).update(status="failed", error="gone")
    message.recipients.update(status="failed", error="The worker stopped")
    page = client.get(f"/channels/{config.pk}/test/").content.decode()
    assert f'action="/channels/{config.pk}/test/{message.pk}/retry/"' in page
    assert client.get(f"/channels/{config.pk}/test/{message.pk}/retry/").status_code == 405
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/channels/{config.pk}/test/{message.pk}/retry/")
    assert response.status_code == 302 and response["Location"].endswith("#test-messages")
    message.refresh_from_db()
    assert message.status == "sent" and len(mail.outbox) == 2
    response = client.post(f"/channels/{config.pk}/test/{message.pk}/retry/", follow=True)
    assert "Only a failed test message can be sent again." in response.content.decode()
    assert len(mail.outbox) == 2


@pytest.mark.parametrize("persona", ["viewer", "manager", "approver"])
def test_only_administrators_read_or_retry_test_messages(
    request, login, administrator, persona, make_config, profile
):
    config = make_config("email")
    message = login(administrator).post(f"/channels/{config.pk}/test/", SEND).context["queued"]
    client = login(request.getfixturevalue(persona))
    assert client.get(f"/channels/{config.pk}/test/{message.pk}/").status_code == 403
    assert client.post(f"/channels/{config.pk}/test/{message.pk}/retry/").status_code == 403


def test_a_test_message_of_another_configuration_is_404(login, administrator, make_config, profile):
    config, other = make_config("email"), make_config("email", name="Other")
    client = login(administrator)
    message = client.post(f"/channels/{config.pk}/test/", SEND).context["queued"]
    assert client.get(f"/channels/{other.pk}/test/{message.pk}/").status_code == 404
    assert client.post(f"/channels/{other.pk}/test/{message.pk}/retry/").status_code == 404


def test_test_message_refuses_unknown_profile_and_bad_json(login, administrator, make_config):
    config = make_config("push")
    response = login(administrator).post(
        f"/channels/{config.pk}/test/",
        {
            "content_title": "t",
            "content_body": "b",
            "content_data": "[1]",
            "category": "marketing",
            "profile_lookup": "ghost@example.com",
            "context": "{",
            "action": "preview",
        },
    )
    errors = response.context["form"].errors
    assert errors.keys() >= {"profile_lookup", "content_data", "context"}


def test_push_test_message_previews_and_proofs_through_the_console(
    login,
    administrator,
    make_config,
    profile,
    capsys,
    sync_mode,
    django_capture_on_commit_callbacks,
):
    config = make_config("push", provider="console")
    with django_capture_on_commit_callbacks(execute=True):
        response = login(administrator).post(
            f"/channels/{config.pk}/test/",
            {
                "content_title": "Hi {{ profile.firstName }}",
                "content_body": "Sale in {{ profile.city }}",
                "content_url": "https://app.example/sale",
                "content_data": '{"screen": "sale"}',
                "category": "marketing",
                "profile_lookup": "+31612345678",
                "recipients": "device-token-1",
                "action": "send",
            },
        )
    assert response.status_code == 200
    preview = response.context["preview"]
    assert (preview.title, preview.body, preview.data) == (
        "Hi Ann",
        "Sale in Utrecht",
        {"screen": "sale"},
    )
    message = response.context["queued"]
    message.refresh_from_db()
    assert message.status == "sent"
    assert '"to": "device-token-1"' in capsys.readouterr().out


def test_a_filter_that_matches_nothing_says_so_not_that_nothing_exists(
    login, administrator, make_config
):
    make_config()
    html = login(administrator).get("/channels/?channel=push&status=deactivated").content.decode()
    assert "No channel configuration matches these filters." in html
    assert "No channel configurations yet" not in html


def test_an_esp_configuration_keeps_its_credentials_secret(login, administrator):
    client = login(administrator)
    form = {
        "name": "Postmark news",
        "purpose": "marketing",
        "from_address": "news@volley.example",
        "provider": "postmark",
        "credentials": "server_token=pm-secret-token-123",
    }
    assert client.post("/channels/new/email/", form).status_code == 302
    config = ChannelConfiguration.objects.get(name="Postmark news")
    assert config.provider == "postmark"
    assert config.provider_credentials() == {"server_token": "pm-secret-token-123"}
    assert "pm-secret-token-123" not in config.credentials

    page = client.get(f"/channels/{config.pk}/edit/")
    assert page.status_code == 200
    assert b"pm-secret-token-123" not in page.content
    assert b"server_token" in page.content  # which names are stored, not their values
    admin_page = client.get(f"/admin/channels/channelconfiguration/{config.pk}/change/")
    assert admin_page.status_code == 200 and b"pm-secret-token-123" not in admin_page.content

    # Saving without typing them again keeps them; a wrong line is a form error.
    assert (
        client.post(f"/channels/{config.pk}/edit/", {**form, "credentials": ""}).status_code == 302
    )
    config.refresh_from_db()
    assert config.provider_credentials() == {"server_token": "pm-secret-token-123"}
    bad = client.post(f"/channels/{config.pk}/edit/", {**form, "credentials": "just-a-token"})
    assert bad.status_code == 200
    assert "name=value" in bad.context["form"].errors["credentials"][0]
    assert b"just-a-token" not in bad.content


def test_an_esp_configuration_needs_its_credentials(login, administrator):
    client = login(administrator)
    response = client.post(
        "/channels/new/email/",
        {
            "name": "Mailgun",
            "purpose": "marketing",
            "from_address": "news@volley.example",
            "provider": "mailgun",
            "credentials": "api_key=key-123",
        },
    )
    assert response.status_code == 200
    assert "sender_domain" in response.context["form"].errors["credentials"][0]
    assert not ChannelConfiguration.objects.exists()
