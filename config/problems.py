"""RFC 9457 problem details for every API error (SPEC §7).

Endpoints raise ``ApiProblem`` (or Django's ``PermissionDenied`` / ``Http404``);
services raise a ``DomainError`` (which carries its status) or an error class
registered once with ``register``; django-ninja's own errors (validation,
malformed JSON, auth) and Django's ``ValidationError`` are mapped here too, so
no endpoint catches an error only to answer it.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _

PROBLEM_CONTENT_TYPE = "application/problem+json"


class ApiProblem(Exception):
    def __init__(
        self,
        status: int,
        detail: str = "",
        *,
        title: str | None = None,
        errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title or str(status))
        self.status = status
        self.detail = detail
        self.title = title
        self.errors = errors
        self.headers = headers or {}


class DomainError(Exception):
    """A rule of the domain refused the request. The API answers it as a problem
    with ``status`` (a class attribute, or given per instance); pages show
    ``message``. Subclass it — ``class ActionRefused(DomainError): status = 409``
    — and no endpoint needs an ``except``."""

    status = 409
    title: str | None = None

    def __init__(
        self,
        message: str,
        *,
        errors: dict[str, list[str]] | None = None,
        status: int | None = None,
        code: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors
        self.code = code
        if status is not None:
            self.status = status


# error class → (status or None to read ``exc.status``, title); see ``register``.
_REGISTERED: dict[type[Exception], tuple[int | None, str | None]] = {DomainError: (None, None)}
_INSTALLED: list = []
# URL prefix → {service field name: the API's name for it}, for 400 answers.
_FIELD_NAMES: dict[str, dict[str, str]] = {}


def register(exc_class: type[Exception], *, status: int | None = None, title=None) -> None:
    """Answer ``exc_class`` (and its subclasses) as a problem, from every API.

    ``status`` None reads the instance's ``status`` attribute; the detail is its
    ``message`` or ``detail`` attribute, else ``str(exc)``; ``errors`` is passed on.
    One line per error class, e.g. ``problems.register(ExecutionRefused)``.
    """
    _REGISTERED[exc_class] = (status, title)
    for api in _INSTALLED:
        api.add_exception_handler(exc_class, _on_registered)


def rename_fields(prefix: str, names: dict[str, str]) -> None:
    """Under the URL ``prefix`` (``/api/v1/campaigns``), name service fields
    (``channel_configuration``) as that resource does (``channelConfigurationId``)
    in the errors of a 400."""
    _FIELD_NAMES.setdefault(prefix, {}).update(names)


def _on_registered(request: HttpRequest, exc: Exception) -> JsonResponse:
    status, title = next(_REGISTERED[cls] for cls in type(exc).__mro__ if cls in _REGISTERED)
    if status is None:
        status = int(getattr(exc, "status", 409))
    detail = getattr(exc, "message", None) or getattr(exc, "detail", None) or str(exc)
    title = title or getattr(exc, "title", None)
    if title is None and status == 409:
        title = _("Conflict")
    return problem_response(
        status,
        str(detail),
        title=title,
        errors=getattr(exc, "errors", None),
        headers=getattr(exc, "headers", None) or None,
    )


def unreadable_body(cause: BaseException | None = None) -> ApiProblem:
    """The 400 for a body that is not JSON Volley reads (``config.jsonparse``):
    the reader's own reason when it refused the body (too deep, not UTF-8, NaN),
    else "not valid JSON". ninja's parser answers with it, and so do the routes
    that read their body themselves (``POST /feedback``)."""
    from config.jsonparse import JsonRefused

    if isinstance(cause, JsonRefused):
        message = str(cause)
    else:
        message = _("The request body is not valid JSON.")
    return ApiProblem(
        400,
        _("Send a JSON body with 'Content-Type: application/json'."),
        title=_("Invalid request"),
        errors={"body": [message]},
    )


def validation_problem(exc, path: str = "") -> JsonResponse:
    """A Django ``ValidationError`` as a 400 naming each field as the API does."""
    names = next((n for prefix, n in _FIELD_NAMES.items() if path.startswith(prefix)), {})
    if hasattr(exc, "error_dict"):
        errors = {
            names.get(field, field): [str(m) for m in msgs]
            for field, msgs in exc.message_dict.items()
        }
    else:
        errors = {"body": [str(m) for m in exc.messages]}
    return problem_response(
        400, _("The request has invalid fields."), title=_("Invalid request"), errors=errors
    )


def problem_response(
    status: int,
    detail: str = "",
    *,
    title: str | None = None,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    body: dict[str, Any] = {
        "type": f"https://volley.invalid/problems/{status}",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail or HTTPStatus(status).description,
    }
    if errors is not None:
        body["errors"] = errors
    response = JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _field_name(loc: list | tuple) -> str:
    """ninja's error location, e.g. ("body", "payload", "content", "subject") → "content.subject"."""
    parts = [str(p) for p in loc]
    while parts and parts[0] in {"body", "query", "path", "form", "file", "header", "cookie"}:
        parts = parts[1:]
        if parts and parts[0] in {"payload", "data", "body", "params", "filters"}:
            parts = parts[1:]
    return ".".join(parts) or "body"


def validation_errors(errors: list[dict]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for error in errors:
        if error.get("type") == "json_invalid" or "Cannot parse request body" in str(
            error.get("msg", "")
        ):
            result.setdefault("body", []).append(_("The request body is not valid JSON."))
            continue
        message = str(error.get("msg", _("Invalid value.")))
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        result.setdefault(_field_name(error.get("loc", ())), []).append(message)
    return result


def install(api) -> None:
    """Register the problem+json handlers on a NinjaAPI instance."""
    import logging

    from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
    from django.core.exceptions import ValidationError as DjangoValidationError
    from django.db import DataError
    from django.http import Http404
    from django.http.multipartparser import MultiPartParserError
    from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

    def on_problem(request: HttpRequest, exc: ApiProblem):
        return problem_response(
            exc.status, exc.detail, title=exc.title, errors=exc.errors, headers=exc.headers
        )

    def on_validation(request: HttpRequest, exc: ValidationError):
        return problem_response(
            400,
            _("The request has invalid fields."),
            title=_("Invalid request"),
            errors=validation_errors(exc.errors),
        )

    def on_django_validation(request: HttpRequest, exc: DjangoValidationError):
        return validation_problem(exc, request.path)

    def on_auth(request: HttpRequest, exc: AuthenticationError):
        return problem_response(
            401,
            _("Send a valid API key as 'Authorization: Bearer <key>'."),
            headers={"WWW-Authenticate": 'Bearer realm="volley"'},
        )

    def on_throttled(request: HttpRequest, exc: Throttled):
        wait = int(exc.wait or 1)
        return problem_response(
            429, _("Too many requests; retry later."), headers={"Retry-After": str(wait)}
        )

    def on_http(request: HttpRequest, exc: HttpError):
        if exc.status_code == 400 and "Cannot parse request body" in str(exc):
            return on_problem(request, unreadable_body(exc.__cause__))
        return problem_response(exc.status_code, str(exc))

    def on_denied(request: HttpRequest, exc: PermissionDenied):
        return problem_response(403, str(exc) or _("Your role does not allow this action."))

    def on_404(request: HttpRequest, exc: Http404 | ObjectDoesNotExist):
        return problem_response(404, _("No such resource, or you may not see it."))

    def on_bad_multipart(request: HttpRequest, exc: MultiPartParserError):
        return problem_response(
            400,
            _("Send a multipart/form-data body with its boundary."),
            title=_("Invalid request"),
            errors={"body": [_("The request body is not valid multipart/form-data.")]},
        )

    def on_data_error(request: HttpRequest, exc: DataError):
        # The database refused a value (a number out of its range, say) that
        # validation let through: the client's input, so a 400, never a 500.
        logging.getLogger("django.request").warning("API DataError on %s: %s", request.path, exc)
        return problem_response(
            400,
            _("The request has invalid fields."),
            title=_("Invalid request"),
            errors={"body": [_("A value is out of range or cannot be stored.")]},
        )

    api.add_exception_handler(ApiProblem, on_problem)
    api.add_exception_handler(ValidationError, on_validation)
    api.add_exception_handler(DjangoValidationError, on_django_validation)
    api.add_exception_handler(AuthenticationError, on_auth)
    api.add_exception_handler(Throttled, on_throttled)
    api.add_exception_handler(HttpError, on_http)
    api.add_exception_handler(PermissionDenied, on_denied)
    api.add_exception_handler(Http404, on_404)
    # A row that vanished between the visibility check and the write (deleted
    # by a concurrent request) is as gone as one that never existed.
    api.add_exception_handler(ObjectDoesNotExist, on_404)
    api.add_exception_handler(DataError, on_data_error)
    api.add_exception_handler(MultiPartParserError, on_bad_multipart)
    for exc_class in _REGISTERED:
        api.add_exception_handler(exc_class, _on_registered)
    _INSTALLED.append(api)


API_PREFIX = "/api/v1/"


class ApiErrorMiddleware:
    """Errors that never reach a ninja handler still answer problem+json under /api/v1/.

    Covers an unknown route (Django's 404), a body over the upload limit (413,
    checked before anything reads it), a wrong method, and an unexpected crash.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        from django.conf import settings

        if not request.path.startswith(API_PREFIX):
            # The pages' uploads (CSV audiences, images) stream to disk too: the
            # same limit, before anything reads the body (review, issue 10).
            if request.META.get("CONTENT_TYPE", "").startswith("multipart/"):
                try:
                    length = int(request.META.get("CONTENT_LENGTH") or 0)
                except ValueError:
                    length = 0
                limit = settings.MAX_UPLOAD_BYTES
                if limit and length > limit:
                    from django.http import HttpResponse

                    return HttpResponse(
                        _("The request body is larger than %(limit)d bytes.") % {"limit": limit},
                        status=413,
                        content_type="text/plain; charset=utf-8",
                    )
            return self.get_response(request)

        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return problem_response(400, _("The Content-Length header is not a number."))
        # JSON bodies are read into memory; multipart uploads (CSV audiences)
        # stream to disk and get their own, larger limit.
        if request.META.get("CONTENT_TYPE", "").startswith("multipart/"):
            limit = settings.MAX_UPLOAD_BYTES
        else:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit and length > limit:
            return _too_large(limit)
        unstorable = unstorable_text(request)
        if unstorable:
            return problem_response(
                400,
                _("The request has invalid fields."),
                title=_("Invalid request"),
                errors=unstorable,
            )
        response = self.get_response(request)
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith(
            PROBLEM_CONTENT_TYPE
        ):
            return _as_problem(response)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not request.path.startswith(API_PREFIX):
            return None
        from django.conf import settings
        from django.core.exceptions import RequestDataTooBig

        if isinstance(exception, RequestDataTooBig):
            return _too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        import logging

        logging.getLogger("django.request").exception("API error on %s", request.path)
        return problem_response(500, _("Something went wrong on our side; it has been logged."))


# Cheap tests on the raw bytes; the body is parsed a second time only when one hits.
_SUSPECT_JSON = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def unstorable_text(request: HttpRequest) -> dict[str, list[str]]:
    """Text no database column can hold (NUL, lone surrogates), by field.

    PostgreSQL refuses NUL in text and jsonb, and no driver encodes a lone
    surrogate: such input is a 400 naming the field, never a database error.
    """
    message = _("Text may not contain NUL characters or unpaired surrogates.")
    errors: dict[str, list[str]] = {}
    if not _storable(request.path):
        errors["path"] = [message]
    for name, values in request.GET.lists():
        if not _storable(name) or not all(_storable(v) for v in values):
            errors[name if _storable(name) else "query"] = [message]
    if request.META.get("CONTENT_TYPE", "").startswith("application/json"):
        body = request.body
        if b"\x00" in body or _SUSPECT_JSON.search(body):
            from config import jsonparse

            try:
                data = jsonparse.loads(body)
            except ValueError:
                # Malformed, or refused (too deep, NaN): ninja's parser answers
                # it with the same reader, as a 400 problem.
                return errors
            for field in unstorable_fields(data, ""):
                errors[field or "body"] = [message]
    return errors


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unstorable_fields(value: Any, path: str):
    """The paths of ``value``'s strings and keys no database column can hold."""
    if isinstance(value, str):
        if not _storable(value):
            yield path
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from unstorable_fields(item, f"{path}.{index}" if path else str(index))
    elif isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else key
            if not _storable(key):
                yield path or "body"
            else:
                yield from unstorable_fields(item, here)


def _too_large(limit: int) -> JsonResponse:
    return problem_response(
        413,
        _("The request body is larger than %(limit)d bytes.") % {"limit": limit},
    )


def _as_problem(response) -> JsonResponse:
    detail = ""
    if response.get("Content-Type", "").startswith("application/json"):
        import json

        try:
            body = json.loads(response.content)
            detail = str(body.get("detail", "")) if isinstance(body, dict) else ""
        except ValueError:
            detail = ""
    if response.status_code == 404:
        detail = detail or _("No such resource, or you may not see it.")
    headers = {
        name: response[name]
        for name in ("Allow", "Retry-After", "WWW-Authenticate")
        if response.has_header(name)
    }
    return problem_response(response.status_code, detail, headers=headers)
