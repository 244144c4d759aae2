"""`/api/v1/webhooks` (SPEC §13): administrators only, the secret shown once,
bad input a 400 problem naming the field, the delivery log and its resend."""

from __future__ import annotations

import pytest

from webhooks.models import Endpoint, Message
from webhooks.services import endpoint_secret

pytestmark = pytest.mark.django_db

GOOD = {"url": "https://hooks.example.com/volley", "events": ["delivery.sent"], "active": True}


@pytest.fixture(autouse=True)
def _public_dns(monkeypatch):
    # hooks.example.com must not depend on this machine's resolver.
    import socket

    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host == "hooks.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_administrator_creates_an_endpoint_and_sees_the_secret_once(api_for, administrator):
    api = api_for(administrator)
    response = api.post("/webhooks", GOOD)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 30
    endpoint = Endpoint.objects.get(pk=body["id"])
    assert endpoint_secret(endpoint) == body["secret"]
    assert body["secret"] not in endpoint.secret_encrypted  # stored encrypted
    detail = api.get(f"/webhooks/{body['id']}").json()
    assert "secret" not in detail
    assert detail["events"] == ["delivery.sent"] and detail["active"] is True
    listed = api.get("/webhooks").json()
    assert listed["count"] == 1 and "secret" not in listed["items"][0]


@pytest.mark.parametrize("role", ["viewer", "manager", "approver", "outsider"])
def test_only_administrators_manage_webhooks(api_for, administrator, role, request):
    endpoint_id = api_for(administrator).post("/webhooks", GOOD).json()["id"]
    api = api_for(request.getfixturevalue(role))
    assert api.post("/webhooks", GOOD).status_code == 403
    assert api.get("/webhooks").status_code == 403
    assert api.get(f"/webhooks/{endpoint_id}").status_code == 403
    assert api.patch(f"/webhooks/{endpoint_id}", {"active": False}).status_code == 403
    assert api.delete(f"/webhooks/{endpoint_id}").status_code == 403
    assert api.get(f"/webhooks/{endpoint_id}/deliveries").status_code == 403
    assert Endpoint.objects.filter(pk=endpoint_id, active=True).count() == 1


def test_anonymous_is_401(anonymous_api):
    assert anonymous_api.post("/webhooks", GOOD).status_code == 401


@pytest.mark.parametrize(
    "change, field",
    [
        ({"url": "not a url"}, "url"),
        ({"url": "ftp://hooks.example.com/x"}, "url"),
        ({"url": "http://127.0.0.1:8000/hooks"}, "url"),
        ({"url": "http://10.1.2.3/hooks"}, "url"),
        ({"url": "http://169.254.169.254/latest/meta-data"}, "url"),
        ({"url": "http://localhost/hooks"}, "url"),
        ({"events": ["delivery.sent", "delivery.exploded"]}, "events"),
        ({"events": []}, "events"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api_for, administrator, settings, change, field):
    settings.VOLLEY_ALLOW_PRIVATE_PROVIDER_URLS = False
    response = api_for(administrator).post("/webhooks", {**GOOD, **change})
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert field in response.json()["errors"]
    assert Endpoint.objects.count() == 0


def test_patch_is_validated_like_create(api_for, administrator, settings):
    settings.VOLLEY_ALLOW_PRIVATE_PROVIDER_URLS = False
    api = api_for(administrator)
    endpoint_id = api.post("/webhooks", GOOD).json()["id"]
    response = api.patch(f"/webhooks/{endpoint_id}", {"url": "http://192.168.1.10/x"})
    assert response.status_code == 400 and "url" in response.json()["errors"]
    response = api.patch(f"/webhooks/{endpoint_id}", {"events": ["nope"]})
    assert response.status_code == 400 and "events" in response.json()["errors"]
    assert Endpoint.objects.get(pk=endpoint_id).url == GOOD["url"]
    response = api.patch(
        f"/webhooks/{endpoint_id}", {"events": ["delivery.opened", "delivery.clicked"]}
    )
    assert response.status_code == 200
    assert response.json()["events"] == ["delivery.opened", "delivery.clicked"]


def test_delete_removes_the_endpoint_and_its_log(api_for, administrator):
    api = api_for(administrator)
    endpoint_id = api.post("/webhooks", GOOD).json()["id"]
    Message.objects.create(
        endpoint_id=endpoint_id,
        event_type="delivery.sent",
        event_id="evt_x",
        data={},
        created_at="2026-01-01T00:00:00Z",
    )
    assert api.delete(f"/webhooks/{endpoint_id}").status_code == 204
    assert not Endpoint.objects.exists() and not Message.objects.exists()
    assert api.get(f"/webhooks/{endpoint_id}").status_code == 404
    assert api.delete("/webhooks/999999").status_code == 404


def test_rotate_secret_answers_a_new_one(api_for, administrator):
    api = api_for(administrator)
    created = api.post("/webhooks", GOOD).json()
    response = api.post(f"/webhooks/{created['id']}/rotate-secret")
    assert response.status_code == 200
    secret = response.json()["secret"]
    assert secret != created["secret"]
    assert endpoint_secret(Endpoint.objects.get(pk=created["id"])) == secret


def test_the_openapi_document_lists_the_webhook_operations(api_for, administrator):
    paths = api_for(administrator).get("/openapi.json").json()["paths"]
    assert "post" in paths["/api/v1/webhooks"]
    assert "post" in paths["/api/v1/webhooks/{endpoint_id}/deliveries/{message_id}/resend"]
