"""Bad input the outside review turned into 500s (issue 10, #9 and #10).

Each answers a 4xx: problem+json on the API, a form error on a page.
"""

from __future__ import annotations

import json

import pytest

from audiences.models import Audience, Profile
from campaigns.models import Campaign
from tests.campaigns.conftest import email_config, make_campaign
from tests.campaigns.lifecycle_helpers import push_config

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_worker")]

PROBLEM = "application/problem+json"
NAN = float("nan")


def _is_problem(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == PROBLEM
    return response.json()


# --- unauthenticated (#9) ----------------------------------------------------


def test_a_non_ascii_signature_is_refused_not_a_crash(anonymous_api, settings):
    settings.WEBHOOK_SIGNING_SECRET = "feedback-secret"
    body = json.dumps({"event": "delivered", "messageId": "delivery-1"})
    response = anonymous_api.post(
        "/feedback", body, HTTP_X_VOLLEY_SIGNATURE="sha256=\u00e9\u00e9\u00e9"
    )
    assert _is_problem(response, 401)["title"] == "Bad signature"


def test_a_deeply_nested_body_with_a_nul_is_a_problem_not_an_html_500(anonymous_api):
    depth = 100_000
    body = "[" * depth + '"\\u0000"' + "]" * depth
    _is_problem(anonymous_api.post("/campaigns", body), 401)  # no key: refused first


def test_a_deeply_nested_body_with_a_nul_is_a_400_with_a_key(api_for, manager):
    depth = 100_000
    body = "[" * depth + '"\\u0000"' + "]" * depth
    problem = _is_problem(api_for(manager).post("/campaigns", body))
    assert "nested" in " ".join(problem["errors"]["body"])


def test_a_deeply_nested_body_is_refused_by_the_parser(api_for, manager):
    body = '{"attributes": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}"
    problem = _is_problem(api_for(manager).put("/profiles/email/deep@example.com", body))
    assert "body" in problem["errors"]
    assert not Profile.objects.filter(email="deep@example.com").exists()


# --- NaN and Infinity (#10) ----------------------------------------------------


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_profile_attributes_refuse_non_finite_numbers(api_for, manager, constant):
    body = json.dumps({"attributes": {"score": float(constant)}})  # Python writes NaN
    problem = _is_problem(api_for(manager).put("/profiles/email/nan@example.com", body))
    assert constant in " ".join(problem["errors"]["body"])
    assert not Profile.objects.filter(email="nan@example.com").exists()


def test_push_content_data_refuses_non_finite_numbers(api_for, manager):
    config = push_config()
    body = json.dumps(
        {
            "name": "Push",
            "type": "scheduled",
            "category": "marketing",
            "channelConfigurationId": config.pk,
            "content": {"title": "T", "body": "B", "data": {"x": float("inf")}},
        }
    )
    _is_problem(api_for(manager).post("/campaigns", body))
    assert not Campaign.objects.exists()


def test_execution_context_refuses_non_finite_numbers(api_for, manager):
    Profile.objects.create(email="known@example.com")
    campaign = make_campaign(
        config=email_config(purpose="transactional"),
        status="live",
        type="api_triggered",
        category="transactional",
    )
    recipient = {"userId": "known@example.com", "namespace": "email", "context": {"n": NAN}}
    body = json.dumps({"requestId": "r-1", "campaignId": campaign.pk, "recipients": [recipient]})
    _is_problem(api_for(manager).post("/executions/unitary", body))
    assert not campaign.runs.exists()


# --- dates out of range --------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "tz"),
    [
        ("0001-01-01T00:00:00+14:00", "UTC"),
        ("9999-12-31T23:59:59-14:00", "UTC"),
        # naive: read in the schedule's zone (Tokyo's local mean time, +9:18:59)
        ("0001-01-01T00:00:00", "Asia/Tokyo"),
    ],
)
def test_a_schedule_date_out_of_range_is_a_400(api_for, manager, value, tz):
    body = {
        "name": "Edge of time",
        "type": "scheduled",
        "category": "marketing",
        "channelConfigurationId": email_config().pk,
        "content": {"subject": "Hi", "html": "<p>Hi</p>"},
        "schedule": {"endAt": value, "timezone": tz},
    }
    problem = _is_problem(api_for(manager).post("/campaigns", body))
    assert "schedule.endAt" in problem["errors"]


def test_an_execution_date_out_of_range_is_a_400(api_for, manager):
    body = {
        "requestId": "r-1",
        "campaignId": 1,
        "context": {},
        "schedule": {"executeAt": "0001-01-01T00:00:00+14:00"},
    }
    problem = _is_problem(api_for(manager).post("/executions/audience", body))
    assert "schedule.executeAt" in problem["errors"]


# --- the documented maximum of an "in" condition -----------------------------------


def test_an_in_condition_with_the_documented_maximum_of_values_works(api_for, manager):
    Profile.objects.create(email="p@example.com", attributes={"city": "c999", "n": 999})
    cities = [f"c{i}" for i in range(1000)]
    response = api_for(manager).post(
        "/audiences",
        {
            "name": "Many",
            "rule": {"all": [{"field": "attributes.city", "op": "in", "value": cities}]},
        },
    )
    assert response.status_code == 201, response.content[:500]
    assert response.json()["size"] == 1
    for rule in (
        {"all": [{"field": "attributes.n", "op": "in", "value": list(range(1000))}]},
        {
            "all": [
                {
                    "field": "email",
                    "op": "in",
                    "value": [f"p{i}@example.com" for i in range(999)] + ["p@example.com"],
                }
            ]
        },
    ):
        response = api_for(manager).post("/audiences", {"name": "Many", "rule": rule})
        assert response.status_code == 201, response.content[:500]
        assert response.json()["size"] == 1


# --- the audience form's management data -------------------------------------------


@pytest.mark.parametrize("button", ["add", "save", "preview"])
def test_a_garbled_total_forms_count_is_a_form_error(login, manager, button):
    data = {
        "name": "Garbled",
        "match": "all",
        "c-TOTAL_FORMS": "abc",
        "c-INITIAL_FORMS": "0",
        button: "1",
    }
    response = login(manager).post("/audiences/new/", data)
    assert response.status_code in (200, 400)
    assert not Audience.objects.exists()
    preview = login(manager).post("/audiences/preview/", data)
    assert preview.status_code == 200
    assert preview.json()["size"] is None
