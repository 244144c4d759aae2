"""`POST /api/v1/channel-configurations/{id}/test-message` (issue 12 #6): the
configuration's Test page through the API — preview for a profile, send to up
to 10 addresses — with the page's checks and the page's service.

Sending leaves the web request (SPEC §5): the answer is 202 with the test
message's id, and `GET …/test-messages/{id}` reads what each recipient's
provider said once the cluster has sent it. Here django-q2 runs in sync mode
(the task runs in this process when the request's transaction commits);
test_test_messages_cluster.py drives a real `qcluster` and SMTP sink."""

from __future__ import annotations

import pytest
from django.core import mail
from django_q.conf import Conf

from channels.models import TestMessage
from channels.transports import SendResult

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
EMAIL = {"subject": "Hi {{ profile.firstName }}", "html": "<p>{{ context.x }}</p>"}


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    return response.json()


def test_preview_for_a_profile_sends_nothing(api_for, administrator, make_config, profile):
    config = make_config("email")
    response = api_for(administrator).post(
        f"/channel-configurations/{config.pk}/test-message",
        {"content": EMAIL, "profile": "ANN@example.com", "context": {"x": "ctx"}},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["preview"]["subject"] == "Hi Ann"
    assert "<p>ctx</p>" in body["preview"]["html"]
    assert body["results"] is None
    assert mail.outbox == []


@pytest.fixture
def sync_mode(monkeypatch):
    """django-q2's sync mode: ``async_task`` runs the task in this process."""
    monkeypatch.setattr(Conf, "SYNC", True)


def send(api, config, **body):
    body = {"content": EMAIL, "recipients": ["a@example.com", "b@example.com"], **body}
    return api.post(f"/channel-configurations/{config.pk}/test-message", body)


def test_the_request_only_queues_the_test_message(api_for, administrator, make_config, profile):
    config = make_config("email")
    response = send(api_for(administrator), config, profile="ann@example.com")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["preview"]["subject"] == "Hi Ann"
    assert body["results"] == [
        {"address": "a@example.com", "status": "queued", "sent": False, "reason": ""},
        {"address": "b@example.com", "status": "queued", "sent": False, "reason": ""},
    ]
    url = f"/api/v1/channel-configurations/{config.pk}/test-messages/{body['id']}"
    assert response["Location"] == url
    assert mail.outbox == []  # nothing left inside the web request
    message = TestMessage.objects.get(pk=body["id"])
    assert (message.status, message.requested_by, message.profile) == (
        "queued",
        administrator,
        profile,
    )
    assert message.lease_expires_at is not None  # the sweep re-queues it if its task is lost


def test_the_cluster_sends_it_and_get_reads_each_outcome(
    api_for, administrator, make_config, profile, sync_mode, django_capture_on_commit_callbacks
):
    config = make_config("email")
    api = api_for(administrator)
    with django_capture_on_commit_callbacks(execute=True):
        body = send(api, config, profile="ann@example.com").json()
    assert sorted(m.to[0] for m in mail.outbox) == ["a@example.com", "b@example.com"]
    assert all(m.subject == "[Proof] Hi Ann" for m in mail.outbox)
    read = api.get(f"/channel-configurations/{config.pk}/test-messages/{body['id']}")
    assert read.status_code == 200, read.content
    result = read.json()
    assert (result["status"], result["error"], result["attempts"]) == ("sent", "", 1)
    assert result["requestedBy"] == administrator.username
    assert result["startedAt"] and result["finishedAt"] and result["possibleDuplicates"] == 0
    assert result["results"] == [
        {"address": "a@example.com", "status": "sent", "sent": True, "reason": ""},
        {"address": "b@example.com", "status": "sent", "sent": True, "reason": ""},
    ]
    listed = api.get(f"/channel-configurations/{config.pk}/test-messages").json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == body["id"]


class Refusing:
    """A provider that refuses every address starting with ``reject`` (until fixed)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.refuse = True

    def send_batch(self, batch):
        results = []
        for message in batch:
            ok = not (self.refuse and message.to.startswith("reject"))
            if ok:
                self.sent.append(message.to)
            results.append(SendResult(message.delivery_id, ok, not ok, "" if ok else "550 No"))
        return results


def test_a_refused_recipient_fails_with_the_reason_and_retry_resends_only_it(
    api_for, administrator, make_config, sync_mode, django_capture_on_commit_callbacks, monkeypatch
):
    provider = Refusing()
    monkeypatch.setattr("channels.preview.get_transport", lambda config: provider)
    config = make_config("email")
    api = api_for(administrator)
    with django_capture_on_commit_callbacks(execute=True):
        body = send(api, config, recipients=["ok@example.com", "reject@example.com"]).json()
    url = f"/channel-configurations/{config.pk}/test-messages/{body['id']}"
    result = api.get(url).json()
    assert result["status"] == "failed"
    assert result["error"] == "1 of 2 recipients were not sent; see each reason."
    assert [(r["status"], r["reason"]) for r in result["results"]] == [
        ("sent", ""),
        ("failed", "550 No"),
    ]

    provider.refuse = False
    with django_capture_on_commit_callbacks(execute=True):
        retried = api.post(f"{url}/retry")
    assert retried.status_code == 202, retried.content
    assert provider.sent == ["ok@example.com", "reject@example.com"]  # ok@ once only
    result = api.get(url).json()
    assert (result["status"], result["error"]) == ("sent", "")
    assert [r["status"] for r in result["results"]] == ["sent", "sent"]
    problem(api.post(f"{url}/retry"), 409)  # a sent message is not sent again


def test_a_configuration_deactivated_after_the_request_sends_nothing(
    api_for, administrator, make_config, sync_mode, django_capture_on_commit_callbacks
):
    from channels.services import channel_configuration_set_status

    config = make_config("email")
    api = api_for(administrator)
    body = send(api, config).json()  # its task is not run: still queued
    channel_configuration_set_status(config=config, status="deactivated")
    from channels.tasks import send_test_message

    send_test_message(body["id"])
    send_test_message(body["id"])  # a task delivered twice
    assert mail.outbox == []
    result = api.get(f"/channel-configurations/{config.pk}/test-messages/{body['id']}").json()
    assert result["status"] == "failed" and "deactivated" in result["error"]
    assert {r["status"] for r in result["results"]} == {"failed"}
    assert (
        "deactivated"
        in problem(
            api.post(f"/channel-configurations/{config.pk}/test-messages/{body['id']}/retry"), 409
        )["detail"]
    )


def test_a_test_message_is_read_only_through_its_own_configuration(
    api_for, administrator, manager, make_config
):
    config, other = make_config("email"), make_config("email", name="Other")
    api = api_for(administrator)
    body = send(api, config).json()
    problem(api.get(f"/channel-configurations/{other.pk}/test-messages/{body['id']}"), 404)
    problem(api.post(f"/channel-configurations/{other.pk}/test-messages/{body['id']}/retry"), 404)
    problem(api.get(f"/channel-configurations/{config.pk}/test-messages/999999"), 404)
    assert api_for(manager).get(
        f"/channel-configurations/{config.pk}/test-messages/{body['id']}"
    ).status_code in (403, 404)
    assert api_for(manager).get(
        f"/channel-configurations/{config.pk}/test-messages"
    ).status_code in (403, 404)


def test_an_sms_preview_through_the_api(api_for, administrator, make_config, profile):
    config = make_config("sms", provider="console")
    response = api_for(administrator).post(
        f"/channel-configurations/{config.pk}/test-message",
        {"content": {"text": "Hi {{ profile.city }}"}, "profile": "+31612345678"},
    )
    assert response.status_code == 200 and response.json()["preview"]["text"] == "Hi Utrecht"


@pytest.mark.parametrize("persona", ["viewer", "manager", "approver"])
def test_only_administrators_send_test_messages(api_for, request, persona, make_config):
    config = make_config("email")
    user = request.getfixturevalue(persona)
    body = {"content": EMAIL, "recipients": ["a@example.com"]}
    response = api_for(user).post(f"/channel-configurations/{config.pk}/test-message", body)
    assert response.status_code in (403, 404)
    assert response["Content-Type"].startswith(PROBLEM)
    assert mail.outbox == []
    assert not TestMessage.objects.exists()


def test_a_restricted_configuration_not_granted_is_404(api_for, administrator, make_config):
    config = make_config("email", restricted=True)
    body = {"content": EMAIL}
    problem(
        api_for(administrator).post(f"/channel-configurations/{config.pk}/test-message", body), 404
    )


def test_a_deactivated_configuration_previews_but_sends_nothing(
    api_for, administrator, make_config
):
    config = make_config("email", status="deactivated")
    api = api_for(administrator)
    url = f"/channel-configurations/{config.pk}/test-message"
    assert api.post(url, {"content": EMAIL}).status_code == 200
    assert (
        "deactivated"
        in problem(api.post(url, {"content": EMAIL, "recipients": ["a@example.com"]}), 409)[
            "detail"
        ]
    )
    assert mail.outbox == []


@pytest.mark.parametrize(
    "body, field",
    [
        ({"content": {"subject": "{% if %}", "html": "x"}}, "content.subject"),
        ({"content": {"subjet": "typo"}}, "content.subjet"),
        ({"content": {"subject": ["not text"]}}, "content.subject"),
        ({"content": EMAIL, "profile": "nobody@example.com"}, "profile"),
        ({"content": EMAIL, "recipients": ["not-an-email"]}, "recipients"),
        ({"content": EMAIL, "recipients": [f"p{i}@example.com" for i in range(11)]}, "recipients"),
        ({"content": EMAIL, "category": "spam"}, "category"),
        ({}, "content"),
    ],
)
def test_bad_input_is_a_400_problem_and_sends_nothing(
    api_for, administrator, make_config, body, field
):
    config = make_config("email")
    response = api_for(administrator).post(
        f"/channel-configurations/{config.pk}/test-message", body
    )
    errors = problem(response, 400)["errors"]
    assert any(key.startswith(field) for key in errors), errors
    assert mail.outbox == []
    assert not TestMessage.objects.exists()  # nothing written half-way


def test_the_page_sends_through_the_same_service(login, administrator, make_config):
    config = make_config("email", status="deactivated")
    response = login(administrator).post(
        f"/channels/{config.pk}/test/",
        {
            "content_subject": "s",
            "content_html": "x",
            "category": "marketing",
            "recipients": "a@example.com",
            "action": "send",
        },
    )
    assert "deactivated" in str(response.context["form"].non_field_errors())
    assert mail.outbox == []
