"""The trigger routes' plain views (campaigns/api_executions.py) in front of ninja's.

They must take the well-formed request themselves and answer everything else
exactly as ninja's operation does: the same status, headers that matter and body.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client, override_settings
from django.urls import resolve

from audiences.models import Profile
from campaigns import api_executions
from campaigns.engine.schedule import activate_campaign
from campaigns.models import Campaign, Run
from tests.campaigns.conftest import email_config, make_campaign

pytestmark = pytest.mark.django_db(transaction=True)

NINJA_ONLY = "tests.campaigns.urls_ninja_only"


def api_campaign(**fields) -> Campaign:
    campaign = make_campaign(
        None,
        config=email_config(purpose="transactional"),
        type="api_triggered",
        category="transactional",
        **fields,
    )
    activate_campaign(campaign.pk)
    campaign.refresh_from_db()
    return campaign


def unitary(campaign, request_id="r-1", **extra):
    return {
        "requestId": request_id,
        "campaignId": campaign.pk,
        "recipients": [{"userId": "known@example.com", "namespace": "email", "context": {}}],
        **extra,
    }


@pytest.fixture
def key_of(db):
    from accounts.services import api_key_create

    def make(user) -> str:
        return api_key_create(user=user, name="test")[1]

    return make


def send(path, *, key=None, body=None, method="post", content_type="application/json"):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    if method == "get":
        return Client().get(f"/api/v1/executions/{path}", **headers)
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return Client().post(
        f"/api/v1/executions/{path}", data=data, content_type=content_type, **headers
    )


def both(*args, **kwargs):
    """The answer through the hot view, then through ninja's operation alone."""
    hot = send(*args, **kwargs)
    with override_settings(ROOT_URLCONF=NINJA_ONLY):
        plain = send(*args, **kwargs)
    return hot, plain


def same(hot, plain) -> None:
    assert hot.status_code == plain.status_code, (hot.content, plain.content)
    assert hot["Content-Type"] == plain["Content-Type"]
    # Seconds until the window ends: the two answers may straddle a second.
    if hot.get("Retry-After") is None or plain.get("Retry-After") is None:
        assert hot.get("Retry-After") == plain.get("Retry-After")
    else:
        assert abs(int(hot["Retry-After"]) - int(plain["Retry-After"])) <= 1
    assert json.loads(hot.content) == json.loads(plain.content)


def test_the_trigger_routes_resolve_to_the_hot_views():
    assert resolve("/api/v1/executions/unitary").func is api_executions.unitary_view
    assert resolve("/api/v1/executions/audience").func is api_executions.audience_view


def test_a_well_formed_trigger_never_reaches_ninja(key_of, manager, monkeypatch):
    Profile.objects.create(email="known@example.com")
    campaign = api_campaign()

    def refuse(route):
        raise AssertionError(f"handed to ninja: {route}")

    monkeypatch.setattr(api_executions, "_ninja_operation", refuse)
    response = send("unitary", key=key_of(manager), body=unitary(campaign))
    assert response.status_code == 202, response.content
    assert Run.objects.filter(campaign=campaign, request_id="r-1").count() == 1


@pytest.mark.parametrize(
    "case",
    [
        "no key",
        "unknown key",
        "malformed json",
        "nan",
        "missing field",
        "duplicate user ids",
        "wrong method",
        "viewer",
        "outsider",
        "stopped",
        "too large context",
        "throttled",
        "restricted",
    ],
)
def test_every_other_request_gets_ninjas_own_answer(
    case, key_of, manager, viewer, outsider, settings
):
    Profile.objects.create(email="known@example.com")
    campaign = api_campaign()
    key, body, method = key_of(manager), unitary(campaign), "post"
    if case == "no key":
        key = None
    elif case == "unknown key":
        key = "vly_not-a-key"
    elif case == "malformed json":
        body = '{"requestId": '
    elif case == "nan":
        body = json.dumps(unitary(campaign)).replace('"context": {}', '"context": {"x": NaN}')
    elif case == "missing field":
        body = {"requestId": "r-1"}
    elif case == "duplicate user ids":
        body["recipients"] = body["recipients"] * 2
    elif case == "wrong method":
        method = "get"
    elif case == "viewer":
        key = key_of(viewer)
    elif case == "outsider":
        key = key_of(outsider)
    elif case == "stopped":
        Campaign.objects.filter(pk=campaign.pk).update(status="stopped")
    elif case == "too large context":
        body["recipients"][0]["context"] = {"x": "a" * 205_000}
    elif case == "throttled":
        settings.API_RATE_LIMIT_PER_MINUTE = 0
    elif case == "restricted":
        Campaign.objects.filter(pk=campaign.pk).update(restricted=True)
    hot, plain = both("unitary", key=key, body=body, method=method)
    assert hot.status_code >= 400
    same(hot, plain)
    assert not Run.objects.exists()


def test_a_replay_gets_the_same_answer_on_both_routes(key_of, manager):
    Profile.objects.create(email="known@example.com")
    campaign = api_campaign()
    key = key_of(manager)
    first = send("unitary", key=key, body=unitary(campaign))
    hot, plain = both("unitary", key=key, body=unitary(campaign))
    assert first.status_code == hot.status_code == plain.status_code == 202
    assert json.loads(hot.content) == json.loads(plain.content) == json.loads(first.content)
    assert Run.objects.count() == 1


def test_the_audience_route_answers_its_errors_as_ninja_does(key_of, manager, viewer):
    campaign = api_campaign()
    for key, body in [
        (key_of(viewer), {"requestId": "a", "campaignId": campaign.pk}),
        (key_of(manager), {"requestId": "a"}),
        (None, {"requestId": "a", "campaignId": campaign.pk}),
    ]:
        same(*both("audience", key=key, body=body))
