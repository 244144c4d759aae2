"""Make the OpenAPI document tell the whole truth about errors (SPEC §7).

django-ninja documents only each operation's success answer; every operation
also answers problem+json errors (config/problems.py). They are added here,
from what the operation takes, so no router has to repeat them.
"""

from __future__ import annotations

from typing import Any

from config.problems import PROBLEM_CONTENT_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "description": "For 400: each invalid field (camelCase, dotted for nested ones) "
            "with its messages.",
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
}

DESCRIPTIONS = {
    400: "Invalid request: `errors` names each field.",
    401: "No valid API key (`Authorization: Bearer <key>`).",
    403: "The key's role may not do this.",
    404: "No such resource, or the key may not see it.",
    409: "The resource's status does not allow this; the detail names the status.",
    413: "The request body (or a recipient's context) is too large.",
    429: "Too many requests for this key; see `Retry-After`.",
}
HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}},
}
# Operations whose errors the shape of the request does not tell.
EXTRA = {
    ("post", "/api/v1/feedback"): {401},  # signature, not an API key
    ("post", "/api/v1/executions/unitary"): {404, 409},
    ("post", "/api/v1/executions/audience"): {404, 409},
    ("post", "/api/v1/audiences/upload"): {404},  # audienceId
    ("get", "/api/v1/calendar"): {400},  # the range is checked by the endpoint
    # erasing is not a status change: a second erasure answers 404, never 409
    ("delete", "/api/v1/profiles/{namespace}/{value}"): {404},
}

NO_CONFLICT = {("delete", "/api/v1/profiles/{namespace}/{value}")}


def problem_statuses(method: str, path: str, operation: dict) -> set[int]:
    params = operation.get("parameters") or []
    has_body = "requestBody" in operation
    statuses = set(EXTRA.get((method, path), ()))
    if params or has_body:
        statuses.add(400)
    if operation.get("security"):
        statuses |= {401, 403, 429}
    if any(p.get("in") == "path" for p in params):
        statuses.add(404)
        if method != "get" and (method, path) not in NO_CONFLICT:
            statuses.add(409)
    if has_body:
        statuses.add(413)
    return statuses


def document_problems(schema: dict) -> dict:
    """Declare every problem answer of every operation, with the Problem schema."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    ref = {"$ref": "#/components/schemas/Problem"}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in sorted(problem_statuses(method, path, operation)):
                response = {
                    "description": DESCRIPTIONS[status],
                    "content": {PROBLEM_CONTENT_TYPE: {"schema": ref}},
                }
                if status in HEADERS:
                    response["headers"] = HEADERS[status]
                responses.setdefault(status, response)  # ninja keys responses by int
    return schema
