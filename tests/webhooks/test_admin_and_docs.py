"""The admin's webhook pages (administrators only; the secret shown once) and
the documentation's verification snippet, run against a real signature."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.messages import get_messages

from webhooks import signing
from webhooks.models import Endpoint
from webhooks.services import endpoint_secret

pytestmark = pytest.mark.django_db
DOC = Path(__file__).resolve().parents[2] / "docs" / "WEBHOOKS.md"


def test_administrator_adds_an_endpoint_in_the_admin_and_sees_the_secret_once(
    client, administrator
):
    client.force_login(administrator)
    assert client.get("/admin/webhooks/endpoint/add/").status_code == 200
    response = client.post(
        "/admin/webhooks/endpoint/add/",
        {"url": "http://127.0.0.1:9/hooks", "events": ["delivery.sent", "delivery.opened"]},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    endpoint = Endpoint.objects.get()
    assert endpoint.events == ["delivery.sent", "delivery.opened"]
    shown = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert endpoint_secret(endpoint) in shown
    change = f"/admin/webhooks/endpoint/{endpoint.pk}/change/"
    assert endpoint_secret(endpoint) in client.get(change).content.decode()  # the message
    assert endpoint_secret(endpoint) not in client.get(change).content.decode()  # once
    response = client.post(
        change, {"url": "http://127.0.0.1:9/other", "events": ["delivery.clicked"]}
    )  # "active" unticked
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.events, endpoint.active) == (
        "http://127.0.0.1:9/other",
        ["delivery.clicked"],
        False,
    )


def test_the_admin_refuses_an_unknown_event_and_a_private_address(client, administrator, settings):
    settings.VOLLEY_ALLOW_PRIVATE_PROVIDER_URLS = False
    client.force_login(administrator)
    response = client.post(
        "/admin/webhooks/endpoint/add/",
        {"url": "http://10.0.0.8/hooks", "events": ["delivery.sent"]},
    )
    assert response.status_code == 200  # the form again, with the error
    assert "internal network" in response.content.decode()
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize("role", ["manager", "approver", "viewer"])
def test_other_roles_do_not_reach_the_webhook_admin(client, role, request):
    client.force_login(request.getfixturevalue(role))
    for url in ("/admin/webhooks/endpoint/", "/admin/webhooks/message/"):
        response = client.get(url)
        assert response.status_code in (302, 403)


def test_the_documented_verification_accepts_a_volley_signature_and_refuses_a_forgery():
    text = DOC.read_text(encoding="utf-8")
    code = re.search(r"## Verifying a signature.*?```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102
    verify = namespace["verify"]
    import time

    body = b'{"id":"evt_1","type":"delivery.sent","createdAt":"2026-11-30T09:00:00Z","data":{}}'
    header = signing.header("whsec_test", int(time.time()), body)
    assert verify("whsec_test", header, body)
    assert not verify("whsec_other", header, body)
    assert not verify("whsec_test", header, body.replace(b"sent", b"fail"))
    stale = signing.header("whsec_test", int(time.time()) - 3600, body)
    assert not verify("whsec_test", stale, body)
