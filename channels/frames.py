"""Rendered email HTML, shown in a document of its own.

Email HTML is made of inline styles and remote images; the product's pages allow
neither (their Content-Security-Policy has no 'unsafe-inline'), and a srcdoc
iframe would inherit that policy. So a preview is kept for a few minutes under
a random token, for the user who rendered it, and served at its own URL into a
sandboxed iframe with a policy of its own: styles and images, never a script.
"""

from __future__ import annotations

import secrets

from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse

FRAME_SECONDS = 30 * 60
FRAME_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline' https: http:; "
    "img-src https: http: data:; font-src https: http: data:; "
    "frame-ancestors 'self'; sandbox"
)
_KEY = "preview-frame:{}"


def frame_src(request: HttpRequest, html: str) -> str:
    """Keep ``html`` for ``request.user`` and return the URL that serves it."""
    token = secrets.token_urlsafe(24)
    cache.set(_KEY.format(token), {"user": request.user.pk, "html": html}, FRAME_SECONDS)
    return reverse("channels:preview_frame", args=[token])


def frame_response(request: HttpRequest, token: str) -> HttpResponse:
    entry = cache.get(_KEY.format(token)) if len(token) <= 64 else None
    if not entry or entry["user"] != request.user.pk:
        raise Http404
    response = HttpResponse(entry["html"], content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = FRAME_POLICY
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response
