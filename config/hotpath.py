"""The trigger routes' lean WSGI path (issue 9): accepted triggers skip Django's stack.

`POST /api/v1/executions/unitary` and `/executions/audience` are the product's
hot path. Through Django's handler and its thirteen middleware (sessions,
CSRF, messages, the viewer's time zone, sign-in throttling…) a trigger cost
about twice the CPU of accepting it, for a bearer-key JSON call that uses none
of them. ``application`` (config/wsgi.py) therefore hands such a request to
the route's lean function first:

- only a request the lean path can answer exactly as Django would is tried:
  POST, no query string, no cookie, a Content-Length within
  ``DATA_UPLOAD_MAX_MEMORY_SIZE``, an allowed Host, no HTTPS redirect due, a
  body without the NUL or surrogate escapes ``ApiErrorMiddleware`` refuses;
- the lean function answers only an accepted trigger (202, a replay's stored
  answer included); anything else — a missing key, a throttled one, a body the
  schema refuses, a campaign that is not live, an unexpected error — returns
  None or raises, and the very same request (its body kept in memory) goes
  through Django, which gives the problem+json answer in the caller's
  language. Accepting is idempotent on (campaign, requestId), so a trigger
  stored before an error is answered from the stored row, never stored twice;
- the answer carries the headers Django's middleware would have added
  (``_headers``; tests/campaigns/test_trigger_lean.py compares both paths,
  header by header, under several settings), and Django's request signals are
  sent, so persistent database connections are checked and recycled the same.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable

from django.conf import settings
from django.core import signals
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.db import close_old_connections
from django.utils import translation

logger = logging.getLogger(__name__)

# A lean function: the request → the answer (a JSON-serialisable dict, 202), or
# None when Django should answer.
Lean = Callable[[WSGIRequest], "dict | None"]

_REASONS = {202: "202 Accepted"}


def _headers(request: WSGIRequest, length: int, language: str) -> list[tuple[str, str]]:
    """What Django's middleware adds to a JSON 202 with these settings, in its order."""
    from config.csp import JSON_POLICY

    middleware = settings.MIDDLEWARE
    headers = [("Content-Type", "application/json")]
    if "django.middleware.clickjacking.XFrameOptionsMiddleware" in middleware:
        headers.append(("X-Frame-Options", getattr(settings, "X_FRAME_OPTIONS", "DENY").upper()))
    headers.append(("Content-Length", str(length)))
    # LocaleMiddleware varies on the language; SessionMiddleware on the cookie,
    # as every request through Django reads the session (the viewer's zone).
    vary = [
        name
        for name, installed in (
            ("Accept-Language", "django.middleware.locale.LocaleMiddleware" in middleware),
            ("Cookie", "django.contrib.sessions.middleware.SessionMiddleware" in middleware),
        )
        if installed
    ]
    if vary:
        headers.append(("Vary", ", ".join(vary)))
    if "django.middleware.locale.LocaleMiddleware" in middleware:
        headers.append(("Content-Language", language))
    if "config.csp.VolleyCSPMiddleware" in middleware:
        headers.append(("Content-Security-Policy", JSON_POLICY))
    if "django.middleware.security.SecurityMiddleware" in middleware:
        if settings.SECURE_HSTS_SECONDS and request.is_secure():
            value = f"max-age={settings.SECURE_HSTS_SECONDS}"
            if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
                value += "; includeSubDomains"
            if settings.SECURE_HSTS_PRELOAD:
                value += "; preload"
            headers.append(("Strict-Transport-Security", value))
        if settings.SECURE_CONTENT_TYPE_NOSNIFF:
            headers.append(("X-Content-Type-Options", "nosniff"))
        if settings.SECURE_REFERRER_POLICY:
            policy = settings.SECURE_REFERRER_POLICY
            if not isinstance(policy, str):
                policy = ",".join(policy)
            headers.append(("Referrer-Policy", policy))
        if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
            headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    return headers


def _read_body(environ: dict) -> bytes | None:
    """The whole body when the lean path may take the request, else None
    (nothing read)."""
    if environ.get("QUERY_STRING") or "HTTP_COOKIE" in environ:
        return None
    if environ.get("HTTP_TRANSFER_ENCODING"):
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if length <= 0 or (limit and length > limit):
        return None
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def _storable(body: bytes) -> bool:
    from config.problems import _SUSPECT_JSON

    return b"\x00" not in body and not _SUSPECT_JSON.search(body)


class LeanRoutes:
    """A WSGI application: ``routes``' lean functions in front of Django's handler."""

    def __init__(self, django: WSGIHandler, routes: dict[str, Lean]) -> None:
        self.django = django
        self.routes = routes
        # Settings are read once per process, like Django's middleware do.
        self._headers: dict[tuple[str, bool], list[tuple[str, str]]] = {}
        self._default_language = translation.get_supported_language_variant(
            settings.LANGUAGE_CODE
        )

    def __call__(self, environ: dict, start_response):
        lean = self.routes.get(environ.get("PATH_INFO", ""))
        if lean is not None and environ.get("REQUEST_METHOD") == "POST":
            body = _read_body(environ)
            if body is not None and _storable(body):
                answered = self._lean(lean, environ, start_response)
                if answered is not None:
                    return answered
                # Django reads the same body from the start.
                environ["wsgi.input"] = io.BytesIO(body)
            elif body is not None:
                environ["wsgi.input"] = io.BytesIO(body)
        return self.django(environ, start_response)

    def _lean(self, lean: Lean, environ: dict, start_response):
        # What Django's request signals do (their receivers are Django's own):
        # the query log of DEBUG reset; persistent connections checked after
        # each request (and so before the next one: the first statement of a
        # request after the check runs the health check, campaigns/engine/
        # executions.py). Sending the signals cost a tenth of the lean path.
        if settings.DEBUG:
            signals.request_started.send(sender=WSGIHandler, environ=environ)
        try:
            request = WSGIRequest(environ)
            try:
                request.get_host()
            except DisallowedHost:
                return None  # Django answers 400 (and logs it)
            if settings.SECURE_SSL_REDIRECT and not request.is_secure():
                return None  # SecurityMiddleware redirects
            # The language only names the answer's Content-Language: an
            # accepted trigger's answer holds no text (a refusal, in the
            # caller's language, is Django's). Nothing here reads the active
            # language or time zone.
            if "HTTP_ACCEPT_LANGUAGE" in environ:
                language = translation.get_language_from_request(request)
            else:
                language = self._default_language
            try:
                answer = lean(request)
            except Exception:  # noqa: BLE001 — Django answers (and logs) it
                logger.debug("lean trigger path: handing over to Django", exc_info=True)
                return None
            if answer is None:
                return None
            body = json.dumps(answer).encode()
            secure = request.is_secure()
            headers = self._headers.get((language, secure))
            if headers is None:
                headers = self._headers[(language, secure)] = _headers(request, 0, language)
            headers = [
                ("Content-Length", str(len(body))) if name == "Content-Length" else (name, value)
                for name, value in headers
            ]
            start_response(_REASONS[202], headers)
            return [body]
        finally:
            if settings.DEBUG:
                signals.request_finished.send(sender=WSGIHandler)
            else:
                close_old_connections()
