"""Every /api/v1/ error is application/problem+json, never a 500 for bad input (SPEC §7)."""

from __future__ import annotations

import pytest

from config.problems import ApiProblem, problem_response

pytestmark = pytest.mark.django_db
PROBLEM = "application/problem+json"


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["type"].endswith(f"/{status}")
    assert body["title"] and body["detail"]
    return body


def test_malformed_json_is_a_400_naming_the_body(api_for, viewer):
    body = assert_problem(api_for(viewer).post("/me/api-keys", "{not json"), 400)
    assert body["errors"] == {"body": ["The request body is not valid JSON."]}


def test_a_form_body_on_a_json_endpoint_is_a_400(api_for, viewer):
    response = api_for(viewer).post(
        "/me/api-keys", "name=x", content_type="application/x-www-form-urlencoded"
    )
    assert "body" in assert_problem(response, 400)["errors"]


def test_validation_errors_name_each_field(api_for, viewer):
    body = assert_problem(api_for(viewer).post("/me/api-keys", {"nmae": "x"}), 400)
    assert set(body["errors"]) == {"name", "nmae"}


def test_a_wrong_type_in_the_path_is_a_400_not_a_404(api_for, viewer):
    body = assert_problem(api_for(viewer).delete("/me/api-keys/abc"), 400)
    assert "key_id" in body["errors"] or "keyId" in body["errors"]


def test_a_huge_body_is_a_413_before_it_is_read(api_for, viewer, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    assert_problem(api_for(viewer).post("/me/api-keys", {"name": "x" * 2000}), 413)


def test_an_unknown_route_under_the_api_is_a_problem_404(api_for, viewer, client):
    assert_problem(api_for(viewer).get("/no-such-thing"), 404)
    assert_problem(client.get("/api/v1/no/such/thing"), 404)


def test_a_wrong_method_is_a_problem_405_with_allow(api_for, viewer):
    assert_problem(api_for(viewer).post("/me"), 405)


def test_a_missing_object_is_a_problem_404(api_for, viewer):
    assert_problem(api_for(viewer).delete("/me/api-keys/999999"), 404)


def test_an_unexpected_crash_is_a_problem_500(api_for, viewer, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr("accounts.api.api_key_create", boom)
    body = assert_problem(api_for(viewer).post("/me/api-keys", {"name": "x"}), 500)
    assert "kaboom" not in body["detail"]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 429])
def test_problem_responses_have_the_rfc_9457_shape(status):
    response = problem_response(status, "why", errors={"f": ["m"]} if status == 400 else None)
    assert response["Content-Type"] == PROBLEM
    assert response.status_code == status


def test_api_problem_carries_headers():
    exc = ApiProblem(429, "slow down", headers={"Retry-After": "3"})
    assert (exc.status, exc.detail, exc.headers) == (429, "slow down", {"Retry-After": "3"})


def test_the_openapi_schema_and_docs_are_public(client):
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "Volley API"
    assert "bearerAuth" in str(schema.json()["components"]) or "ApiKeyAuth" in str(
        schema.json()["components"]
    )
    assert client.get("/api/v1/docs").status_code == 200


def test_the_api_root_describes_itself(client):
    assert client.get("/api/v1/").json()["openapi"] == "/api/v1/openapi.json"


def test_uploads_have_their_own_larger_limit(api_for, viewer, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test.client import MULTIPART_CONTENT

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    settings.MAX_UPLOAD_BYTES = 100_000
    api = api_for(viewer)
    # An unknown route: whatever passes the size check answers 404.
    response = api.client.post(
        "/api/v1/uploads-somewhere",
        {"file": SimpleUploadedFile("a.csv", b"x" * 5000)},
        content_type=MULTIPART_CONTENT,
        **api.headers,
    )
    assert_problem(response, 404)
    response = api.client.post(
        "/api/v1/uploads-somewhere",
        {"file": SimpleUploadedFile("a.csv", b"x" * 200_000)},
        content_type=MULTIPART_CONTENT,
        **api.headers,
    )
    assert_problem(response, 413)


def test_a_nul_character_in_a_body_field_is_a_400_naming_it(api_for, viewer):
    from accounts.models import ApiKey

    api = api_for(viewer)
    before = ApiKey.objects.count()
    body = assert_problem(api.post("/me/api-keys", {"name": "a\u0000b"}), 400)
    assert body["errors"] == {
        "name": ["Text may not contain NUL characters or unpaired surrogates."]
    }
    assert ApiKey.objects.count() == before


def test_a_lone_surrogate_in_a_body_field_is_a_400_naming_it(api_for, viewer):
    raw = '{"name": "bad \\ud800 text"}'  # valid JSON no database can store
    body = assert_problem(api_for(viewer).post("/me/api-keys", raw), 400)
    assert set(body["errors"]) == {"name"}


def test_nested_unstorable_text_is_named_by_its_path(api_for, viewer):
    raw = '{"content": {"subject": "x\\u0000"}, "tags": ["ok", "\\u0000"]}'
    body = assert_problem(api_for(viewer).post("/campaigns", raw), 400)
    assert set(body["errors"]) == {"content.subject", "tags.1"}


def test_escaped_backslashes_and_surrogate_pairs_are_ordinary_text(api_for, viewer):
    raw = '{"name": "C:\\\\u0000 \\ud83d\\ude00"}'  # a backslash then "u0000", and an emoji
    response = api_for(viewer).post("/me/api-keys", raw)
    assert response.status_code == 201, response.content


def test_a_nul_character_in_the_query_is_a_400_naming_the_parameter(api_for, viewer):
    body = assert_problem(api_for(viewer).get("/campaigns?search=a%00b"), 400)
    assert set(body["errors"]) == {"search"}


def test_a_row_deleted_under_a_request_is_a_404_not_a_500(api_for, viewer, monkeypatch):
    from accounts.models import ApiKey

    def vanished(*args, **kwargs):
        raise ApiKey.DoesNotExist("deleted by a concurrent request")

    monkeypatch.setattr("accounts.api.api_key_create", vanished)
    assert_problem(api_for(viewer).post("/me/api-keys", {"name": "x"}), 404)


def test_a_value_the_database_refuses_is_a_400_not_a_500(api_for, viewer, monkeypatch):
    from django.db import DataError

    def refused(*args, **kwargs):
        raise DataError("integer out of range")

    monkeypatch.setattr("accounts.api.api_key_create", refused)
    body = assert_problem(api_for(viewer).post("/me/api-keys", {"name": "x"}), 400)
    assert "integer out of range" not in str(body)


def test_the_openapi_document_declares_every_problem_answer(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert set(schema["components"]["schemas"]["Problem"]["required"]) == {
        "type",
        "title",
        "status",
        "detail",
    }
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            params = operation.get("parameters", [])
            expected = {"400"} if params or "requestBody" in operation else set()
            if operation.get("security"):
                expected |= {"401", "403", "429"}
            if any(p["in"] == "path" for p in params):
                expected.add("404")
            if "requestBody" in operation:
                expected.add("413")
            assert expected <= set(responses), (method, path)
            for status in expected:
                content = responses[status]["content"]
                assert list(content) == [PROBLEM], (method, path, status)


def test_the_openapi_document_declares_409_for_status_conflicts(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert "409" in paths["/api/v1/campaigns/{campaign_id}"]["delete"]["responses"]
    assert "409" in paths["/api/v1/campaigns/{campaign_id}/activate"]["post"]["responses"]
    assert "409" in paths["/api/v1/executions/unitary"]["post"]["responses"]
    assert "Retry-After" in paths["/api/v1/campaigns"]["get"]["responses"]["429"]["headers"]


def test_the_feedback_signature_header_is_documented(client):
    feedback = client.get("/api/v1/openapi.json").json()["paths"]["/api/v1/feedback"]["post"]
    (header,) = [p for p in feedback["parameters"] if p["in"] == "header"]
    assert header["name"] == "X-Volley-Signature" and header["required"]
    assert "HMAC-SHA256" in header["description"]
    assert "401" in feedback["responses"] and "security" not in feedback


def test_domain_errors_are_answered_once_for_every_endpoint():
    """A ``DomainError`` subclass carries its status; any other error class is
    registered in one line (``problems.register``) and answered from its own
    ``status`` and ``detail``, without an ``except`` in the endpoint."""
    from ninja import NinjaAPI
    from ninja.testing import TestClient

    from config import problems

    class Gone(problems.DomainError):
        status = 410

    class Refused(Exception):  # shaped like the engine's ExecutionRefused
        def __init__(self, status: int, detail: str):
            super().__init__(detail)
            self.status, self.detail = status, detail

    api = NinjaAPI(urls_namespace="problems-test")
    problems.install(api)
    problems.register(Refused)

    @api.get("/gone")
    def gone(request):
        raise Gone("It went.", errors={"id": ["No longer here."]})

    @api.get("/refused")
    def refused(request):
        raise Refused(422, "Outside the window.")

    client = TestClient(api)
    body = assert_problem(client.get("/gone"), 410)
    assert body["detail"] == "It went." and body["errors"] == {"id": ["No longer here."]}
    assert assert_problem(client.get("/refused"), 422)["detail"] == "Outside the window."
