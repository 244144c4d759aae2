"""Reproductions for docs/security-review-9.md (each failed on the old code)."""

from __future__ import annotations

import json

import pytest

from audiences.models import Profile
from campaigns.models import Run
from tests.campaigns.test_trigger_hot_path import api_campaign, key_of, unitary  # noqa: F401
from tests.campaigns.test_trigger_lean import DJANGO, LEAN, call

pytestmark = pytest.mark.django_db(transaction=True)

# A lone surrogate written as raw UTF-8 bytes, not as a ``\ud800`` escape.
RAW_SURROGATE = "\ud800".encode("utf-8", "surrogatepass")  # b"\xed\xa0\x80"


@pytest.mark.parametrize("where", ["context", "context key", "requestId", "userId"])
@pytest.mark.parametrize("app", ["lean", "django"])
def test_1_a_raw_lone_surrogate_in_a_trigger_is_a_400_never_a_500_or_a_stored_trigger(
    where,
    app,
    key_of,  # noqa: F811 — the imported fixture
    manager,
):
    """Old code: 500 on PostgreSQL (``requestId``), 202 and the trigger stored
    with the surrogate on SQLite — through the lean path and Django alike."""
    Profile.objects.create(email="known@example.com")
    campaign = api_campaign()
    body = json.dumps(unitary(campaign))
    if where == "context":
        body = body.replace('"context": {}', '"context": {"x": "aSURb"}')
    elif where == "context key":
        body = body.replace('"context": {}', '"context": {"aSURb": 1}')
    elif where == "requestId":
        body = body.replace('"r-1"', '"r-SUR"')
    else:
        body = body.replace('"known@example.com"', '"SUR@example.com"')
    raw = body.encode().replace(b"SUR", RAW_SURROGATE)
    status, headers, content = call(
        LEAN if app == "lean" else DJANGO, "unitary", key=key_of(manager), body=raw
    )
    assert status.startswith("400"), (status, content)
    assert not Run.objects.exists()


def test_1_every_api_route_refuses_the_raw_surrogate(api_for, manager):
    """The same reader for every JSON body (config/api.py): a profile upsert too."""
    client = api_for(manager)
    raw = b'{"attributes": {"x": "a' + RAW_SURROGATE + b'b"}}'
    answer = client.put("/profiles/email/a@example.com", data=raw)
    assert answer.status_code == 400, answer.content
    assert not Profile.objects.exists()


@pytest.mark.parametrize("where", ["key", "value"])
def test_1_a_profile_attribute_with_a_raw_surrogate_is_never_stored(
    where, api_for, manager, client
):
    """Old code, SQLite: stored (201); then every manager's audience builder
    (which reads the latest profiles' attributes) and the profile's admin page
    answered 500 (UnicodeEncodeError). PostgreSQL: the PUT was a 500."""
    api = api_for(manager)
    if where == "key":
        raw = b'{"attributes": {"a' + RAW_SURROGATE + b'b": "x"}}'
    else:
        raw = b'{"attributes": {"plan": "a' + RAW_SURROGATE + b'b"}}'
    answer = api.put("/profiles/email/a@example.com", data=raw)
    assert answer.status_code == 400, answer.content
    assert not Profile.objects.exists()
    client.force_login(manager)
    assert client.get("/audiences/new/").status_code == 200


def test_held_the_context_growth_shortcut_is_exact_for_its_worst_character():
    """Held, a guard: ``unitary_answer`` skips measuring the contexts of a body
    of at most MAX_CONTEXT_BYTES / 6 bytes. DEL (U+007F) is one raw byte in a
    body and six once written back (``\\u007f``, json.dumps escapes it) — the
    worst case; ``1e15`` (4 bytes → 18) is the worst number. The largest body
    the shortcut trusts still holds a context within the limit."""
    from campaigns.api_executions import _CONTEXT_GROWTH
    from campaigns.engine import executions

    limit = executions.MAX_CONTEXT_BYTES // _CONTEXT_GROWTH
    shell = {
        "requestId": "r",
        "campaignId": 1,
        "recipients": [{"userId": "u", "namespace": "email", "context": {"x": ""}}],
    }
    overhead = len(json.dumps(shell, ensure_ascii=False, separators=(",", ":")).encode())
    for filler in ("\x7f", "é", "\U0001f600", "1e15"):
        if filler == "1e15":
            count = (limit - overhead) // 5
            context = {"x": [1e15] * count}
            body_size = overhead + count * 5
        else:
            count = (limit - overhead) // len(filler.encode())
            context = {"x": filler * count}
            body_size = overhead + count * len(filler.encode())
        assert body_size * _CONTEXT_GROWTH <= executions.MAX_CONTEXT_BYTES
        assert not executions.context_too_large(context), filler


def test_3_saving_a_url_waits_a_bounded_time_for_its_name(
    api_for, administrator, monkeypatch, settings
):
    """Old code: the save waited for the resolver as long as it took (glibc: 5 s
    × attempts × name servers for a name server that never answers; here a fake
    resolver that answers after 5 s). Now the save answers first, past a short
    deadline, and the name is checked again at connect time."""
    import threading

    from channels import netguard
    from webhooks.models import Endpoint

    settings.VOLLEY_ALLOW_PRIVATE_PROVIDER_URLS = False
    monkeypatch.setattr(netguard, "RESOLVE_SECONDS", 0.2, raising=False)
    release, finished = threading.Event(), threading.Event()

    def slow_resolver(host, port):
        release.wait(5)
        finished.set()
        return [(2, 1, 6, "", ("93.184.216.34", port))]

    monkeypatch.setattr(netguard, "resolve", slow_resolver)
    body = {"url": "https://slow.example/hook", "events": ["delivery.sent"]}
    try:
        response = api_for(administrator).post("/webhooks", body)
        answered_before_the_resolver = not finished.is_set()
    finally:
        release.set()
    assert response.status_code == 201, response.content
    assert answered_before_the_resolver
    assert Endpoint.objects.count() == 1


def test_4_deleting_a_webhook_endpoint_costs_the_same_whatever_its_log(administrator):
    """Old code: ``Message.objects.filter(endpoint=…).delete()`` — Message has
    attempts (CASCADE), so Django's collector loaded every message (its payload
    included) into memory and deleted them 100 ids a statement: an endpoint of a
    million messages (every delivery's events) asked the worker for the whole
    log in memory and 10,000 statements. Now the same few statements whatever
    the log's size (150 and 300 messages here), no message loaded."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.webhooks.logs import endpoint_with_log
    from webhooks.models import Attempt, Endpoint, Message
    from webhooks.services import endpoint_delete

    def endpoint_with(messages: int):
        return endpoint_with_log(administrator, messages)

    kept = endpoint_with(10)
    statements = []
    for size in (150, 300):
        endpoint = endpoint_with(size)
        with CaptureQueriesContext(connection) as queries:
            endpoint_delete(endpoint=endpoint)
        statements.append(len(queries))
        assert not Endpoint.objects.filter(pk=endpoint.pk).exists()
        assert not Message.objects.filter(endpoint_id=endpoint.pk).exists()
    assert statements[0] == statements[1], statements
    assert Message.objects.filter(endpoint=kept).count() == 10  # another endpoint's log is kept
    assert Attempt.objects.count() == 10
