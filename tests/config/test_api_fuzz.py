"""The API fuzzed from its own OpenAPI document never answers 5xx (SPEC §10).

Schemathesis draws requests (valid and invalid) for every operation of
``/api/v1/openapi.json`` and sends them in-process to the Django WSGI app, on
pytest-django's test database. Each operation is tried as an administrator
(who may do everything, so requests reach the services) and with an invalid
key. Examples are few per operation to keep the suite fast; `schemathesis run`
against a live server explores far more (see docs/ or the fuzz report).
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from hypothesis import HealthCheck, Phase, settings
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from config.api import api
from tests.campaigns.lifecycle_helpers import audience, email_config, ready_email, sms_config

# JSON round trip: ninja keys responses by int, OpenAPI by string.
schema = schemathesis.openapi.from_dict(json.loads(json.dumps(api.get_openapi_schema())))
schema.app = WSGIHandler()
# Wrong-method probes are the router's business (405, tested in test_problems.py).
schema.config.phases.coverage.unexpected_methods = set()

# derandomize: the same examples on every run, so a failure reproduces exactly.
# The explicit phase carries schemathesis' coverage cases: each parameter's
# boundaries and wrong types (huge integers, NUL bytes, missing fields).
FUZZ = settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
QUICK = settings(FUZZ, phases=[Phase.generate])


def not_a_server_error(ctx, response, case) -> None:
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} answered {response.status_code}: "
        f"{response.text[:500]}\nReproduce: {case.as_curl_command()}"
    )


CHECKS = [not_a_server_error, content_type_conformance, status_code_conformance]


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """As Django's test client does: the WSGI handler would close the test
    database connection at the start and end of each request."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def admin_headers(db, administrator):
    from accounts.services import api_key_create

    # A little of everything, so some drawn ids (small integers) hit real rows.
    config = email_config()
    sms_config()
    audience()
    ready_email(administrator, channel_configuration=config)
    _key, plain = api_key_create(user=administrator, name="fuzz")
    return {"Authorization": f"Bearer {plain}"}


@schema.parametrize()
@FUZZ
def test_no_operation_answers_5xx_to_an_administrator(case, admin_headers, monkeypatch):
    monkeypatch.setattr("campaigns.engine.enqueue_activation", lambda pk: None)
    response = case.call(headers=admin_headers)
    case.validate_response(response, checks=CHECKS, headers=admin_headers)


@schema.parametrize()
@QUICK
def test_no_operation_answers_5xx_without_a_valid_key(case, db):
    headers = {"Authorization": "Bearer vly_000000000000_not-a-key"}
    response = case.call(headers=headers)
    case.validate_response(response, checks=CHECKS, headers=headers)
