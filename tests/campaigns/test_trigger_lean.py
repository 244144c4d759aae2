"""The trigger routes' lean WSGI path (config/hotpath.py) in front of Django.

It may answer only what Django would answer the same way: an accepted trigger,
with Django's headers, byte for byte. Everything else goes through Django, once,
in the caller's language, with the rate limit counted once.
"""

from __future__ import annotations

import io
import json

import pytest

from audiences.models import Profile
from campaigns import api_executions
from campaigns.api_executions import UnitaryIn, _plain_unitary
from campaigns.engine import executions
from campaigns.models import Campaign, Run
from config import hotpath, wsgi
from tests.campaigns.test_trigger_hot_path import api_campaign, key_of, unitary  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

LEAN = wsgi.application
DJANGO = wsgi.django_application


def fresh_apps():
    """Django's handler and the lean routes in front of it, built now: Django's
    middleware read some settings once, when the handler is built."""
    from django.core.handlers.wsgi import WSGIHandler

    django = WSGIHandler()
    return hotpath.LeanRoutes(django, api_executions.LEAN_ROUTES), django


def call(app, path, *, key=None, body=None, headers=None, method="POST", query="", secure=False):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": f"/api/v1/executions/{path}",
        "SCRIPT_NAME": "",
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "443" if secure else "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.url_scheme": "https" if secure else "http",
        "wsgi.input": io.BytesIO(raw),
        "wsgi.errors": io.StringIO(),
        "CONTENT_LENGTH": str(len(raw)),
        "CONTENT_TYPE": "application/json",
        **({"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}),
        **(headers or {}),
    }
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"], answer["headers"] = status, response_headers

    chunks = app(environ, start_response)
    content = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    return answer["status"], answer["headers"], content


@pytest.fixture
def known(db):
    return Profile.objects.create(email="known@example.com")


@pytest.fixture
def no_django(monkeypatch):
    """Fail if the lean path hands the request to Django."""

    def refuse(environ, start_response):
        raise AssertionError("the request went through Django")

    monkeypatch.setattr(LEAN, "django", refuse)


@pytest.mark.parametrize(
    "variant",
    ["default", "dutch caller", "https with HSTS", "sameorigin frames", "swedish, french"],
)
def test_an_accepted_trigger_gets_djangos_own_answer_byte_for_byte(
    variant, known, key_of, manager, settings
):
    """The lean answer, then the replay answered by Django alone: the same
    status, the same headers in the same order, the same bytes."""
    headers, secure = {}, False
    if variant == "dutch caller":
        headers = {"HTTP_ACCEPT_LANGUAGE": "nl-NL,nl;q=0.9"}
    elif variant == "https with HSTS":
        secure = True
        settings.SECURE_HSTS_SECONDS = 3600
        settings.SECURE_HSTS_PRELOAD = True
    elif variant == "sameorigin frames":
        settings.X_FRAME_OPTIONS = "sameorigin"
    elif variant == "swedish, french":
        headers = {"HTTP_ACCEPT_LANGUAGE": "sv;q=0.8, fr;q=0.9"}
    campaign = api_campaign()
    key = key_of(manager)
    lean_app, django_app = fresh_apps()
    lean = call(lean_app, "unitary", key=key, body=unitary(campaign), headers=headers, secure=secure)
    django = call(
        django_app, "unitary", key=key, body=unitary(campaign), headers=headers, secure=secure
    )
    assert lean[0] == "202 Accepted"
    assert lean == django
    assert Run.objects.count() == 1
    if variant == "dutch caller":
        assert ("Content-Language", "nl") in lean[1]
    if variant == "https with HSTS":
        assert ("Strict-Transport-Security", "max-age=3600; preload") in lean[1]


def test_the_audience_route_too(key_of, manager):
    from audiences.models import Audience

    campaign = api_campaign()
    audience = Audience.objects.create(name="Everyone", kind="upload")
    type(campaign.live_version).objects.filter(pk=campaign.live_version_id).update(
        audience=audience
    )
    key = key_of(manager)
    body = {"requestId": "a-1", "campaignId": campaign.pk, "context": {"x": 1}}
    lean = call(LEAN, "audience", key=key, body=body)
    assert lean[0] == "202 Accepted"
    assert lean == call(DJANGO, "audience", key=key, body=body)
    assert Run.objects.count() == 1


def test_a_well_formed_trigger_never_reaches_django(known, key_of, manager, no_django):
    campaign = api_campaign()
    key = key_of(manager)
    status, _headers, content = call(LEAN, "unitary", key=key, body=unitary(campaign))
    assert status == "202 Accepted"
    assert Run.objects.get().pk == json.loads(content)["executionId"]
    # snake_case keys are the schema's too: pydantic decides, still lean.
    snake = {
        "request_id": "r-2",
        "campaign_id": campaign.pk,
        "recipients": [{"user_id": "known@example.com", "namespace": "email"}],
    }
    assert call(LEAN, "unitary", key=key, body=snake)[0] == "202 Accepted"
    assert Run.objects.count() == 2


@pytest.mark.parametrize(
    "case",
    [
        "no key",
        "unknown key",
        "malformed json",
        "nan",
        "nul escape",
        "extra field",
        "viewer",
        "stopped",
        "wrong host",
        "query string",
        "cookie",
        "too large body",
        "wrong method",
        "restricted",
    ],
)
def test_everything_else_is_djangos_answer(case, known, key_of, manager, viewer, settings):
    campaign = api_campaign()
    key, body, headers, method, query = key_of(manager), unitary(campaign), {}, "POST", ""
    if case == "no key":
        key = None
    elif case == "unknown key":
        key = "vly_not-a-key"
    elif case == "malformed json":
        body = b'{"requestId": '
    elif case == "nan":
        body = json.dumps(body).replace('"context": {}', '"context": {"x": NaN}').encode()
    elif case == "nul escape":
        body["recipients"][0]["context"] = {"x": "a\x00b"}
    elif case == "extra field":
        body["priority"] = 1
    elif case == "viewer":
        key = key_of(viewer)
    elif case == "stopped":
        Campaign.objects.filter(pk=campaign.pk).update(status="stopped")
    elif case == "wrong host":
        settings.ALLOWED_HOSTS = ["127.0.0.1"]
        headers = {"HTTP_HOST": "evil.example"}
    elif case == "query string":
        query = "x=1"
    elif case == "cookie":
        headers = {"HTTP_COOKIE": "sessionid=abc"}
    elif case == "too large body":
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 50
    elif case == "wrong method":
        method = "PUT"
    elif case == "restricted":
        Campaign.objects.filter(pk=campaign.pk).update(restricted=True)
    kwargs = dict(key=key, body=body, headers=headers, method=method, query=query)
    lean_app, django_app = fresh_apps()
    lean = call(lean_app, "unitary", **kwargs)
    django = call(django_app, "unitary", **kwargs)
    if case == "cookie":  # not a refusal: Django accepts it, and the replay is the same
        assert lean[0] == django[0] == "202 Accepted" and lean[2] == django[2]
        return
    if case == "query string":
        assert lean[0] == django[0] == "202 Accepted" and lean[2] == django[2]
        return
    assert int(lean[0][:3]) >= 400, lean
    assert lean[0] == django[0]
    assert dict(lean[1]).get("Content-Type") == dict(django[1]).get("Content-Type")
    assert lean[2] == django[2]
    assert not Run.objects.exists()


def test_a_refused_trigger_is_answered_in_the_callers_language(known, key_of, manager):
    campaign = api_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(status="stopped")
    status, headers, content = call(
        LEAN,
        "unitary",
        key=key_of(manager),
        body=unitary(campaign),
        headers={"HTTP_ACCEPT_LANGUAGE": "nl"},
    )
    assert status.startswith("409")
    assert ("Content-Language", "nl") in headers
    english = call(LEAN, "unitary", key=key_of(manager), body=unitary(campaign))[2]
    assert json.loads(content)["detail"] != json.loads(english)["detail"]


def test_a_request_handed_to_django_is_counted_once_by_the_rate_limit(
    known, key_of, manager, settings
):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    campaign = api_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(status="stopped")
    key = key_of(manager)
    statuses = [
        call(LEAN, "unitary", key=key, body=unitary(campaign, f"r-{n}"))[0][:3] for n in range(4)
    ]
    assert statuses == ["409", "409", "409", "429"]


def test_an_error_after_the_commit_is_answered_from_the_stored_trigger(
    known, key_of, manager, monkeypatch
):
    """The lean path fails after the INSERT committed: Django answers the
    request again, from the stored row — one run, the first answer."""
    campaign = api_campaign()
    real, calls = executions.answer, []

    def flaky(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("after the commit")
        return real(*args, **kwargs)

    monkeypatch.setattr(executions, "answer", flaky)
    status, _headers, content = call(LEAN, "unitary", key=key_of(manager), body=unitary(campaign))
    assert status == "202 Accepted"
    run = Run.objects.get()
    assert json.loads(content)["executionId"] == run.pk
    again = call(LEAN, "unitary", key=key_of(manager), body=unitary(campaign))
    assert again[2] == content


BODIES = [
    {"requestId": "r", "campaignId": 1, "recipients": [{"userId": "a", "namespace": "email"}]},
    {
        "requestId": "r" * 255,
        "campaignId": 2**63 - 1,
        "recipients": [
            {"userId": f"u{n}", "namespace": ns, "context": {"n": n, "deep": {"x": [1]}}}
            for n, ns in enumerate(["email", "phone", "profile_id", "push_token"] * 5)
        ],
    },
]
REFUSED_OR_OTHER = [
    {"requestId": "", "campaignId": 1, "recipients": [{"userId": "a", "namespace": "email"}]},
    {"requestId": "r" * 256, "campaignId": 1, "recipients": [{"userId": "a", "namespace": "email"}]},
    {"requestId": "r", "campaignId": 0, "recipients": [{"userId": "a", "namespace": "email"}]},
    {"requestId": "r", "campaignId": 2**63, "recipients": [{"userId": "a", "namespace": "email"}]},
    {"requestId": "r", "campaignId": True, "recipients": [{"userId": "a", "namespace": "email"}]},
    {"requestId": "r", "campaignId": "1", "recipients": [{"userId": "a", "namespace": "email"}]},
    {"requestId": "r", "campaignId": 1.0, "recipients": [{"userId": "a", "namespace": "email"}]},
    {"requestId": 1, "campaignId": 1, "recipients": [{"userId": "a", "namespace": "email"}]},
    {"requestId": "r", "campaignId": 1, "recipients": []},
    {"requestId": "r", "campaignId": 1, "recipients": [{"userId": "a", "namespace": "x"}]},
    {"requestId": "r", "campaignId": 1, "recipients": [{"userId": "", "namespace": "email"}]},
    {"requestId": "r", "campaignId": 1, "recipients": [{"userId": "a" * 513, "namespace": "email"}]},
    {"requestId": "r", "campaignId": 1, "recipients": [{"userId": "a", "namespace": "email"}] * 2},
    {"requestId": "r", "campaignId": 1, "recipients": [{"userId": "a"}]},
    {"requestId": "r", "campaignId": 1, "recipients": [{"userId": "a", "namespace": "email", "x": 1}]},
    {
        "requestId": "r",
        "campaignId": 1,
        "recipients": [{"userId": "a", "namespace": "email", "context": []}],
    },
    {
        "requestId": "r",
        "campaignId": 1,
        "recipients": [{"userId": f"u{n}", "namespace": "email"} for n in range(21)],
    },
    {"requestId": "r", "campaignId": 1, "recipients": [{"userId": "a", "namespace": "email"}], "x": 1},
    {"request_id": "r", "campaign_id": 1, "recipients": [{"user_id": "a", "namespace": "email"}]},
    {"requestId": "r", "campaignId": 1, "recipients": {"userId": "a", "namespace": "email"}},
    [],
    None,
]


@pytest.mark.parametrize("body", BODIES + REFUSED_OR_OTHER)
def test_the_plain_check_accepts_only_what_the_schema_accepts_and_reads_it_the_same(body):
    plain = _plain_unitary(body)
    if any(body is accepted for accepted in BODIES):
        assert plain is not None
    if plain is None:
        return
    read = {
        "request_id": plain.request_id,
        "campaign_id": plain.campaign_id,
        "recipients": [
            {"user_id": r.user_id, "namespace": r.namespace, "context": r.context}
            for r in plain.recipients
        ],
    }
    assert read == UnitaryIn.model_validate(body).model_dump()


def test_the_lean_routes_are_the_trigger_routes():
    assert set(api_executions.LEAN_ROUTES) == {
        "/api/v1/executions/unitary",
        "/api/v1/executions/audience",
    }
    assert isinstance(LEAN, hotpath.LeanRoutes)


def test_a_plain_http_trigger_is_redirected_as_django_does(known, key_of, manager, settings):
    settings.SECURE_SSL_REDIRECT = True
    campaign = api_campaign()
    lean = call(fresh_apps()[0], "unitary", key=key_of(manager), body=unitary(campaign))
    assert lean[0].startswith("301")
    assert not Run.objects.exists()
