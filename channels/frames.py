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
# Frames kept per user: each is up to a 2 MB message and the cache is Redis, the
# task broker too. Every page view used to keep a new one for 30 minutes, so a
# viewer reloading a campaign page could fill the broker's memory (third review).
FRAMES_PER_USER = 32
FRAME_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline' https: http:; "
    "img-src https: http: data:; font-src https: http: data:; "
    "frame-ancestors 'self'; sandbox"
)
_KEY = "preview-frame:{}:{}"
_COUNTER = "preview-frame-n:{}"


def _next_slot(user_id) -> int:
    key = _COUNTER.format(user_id)
    try:
        return cache.incr(key) % FRAMES_PER_USER
    except ValueError:  # no counter yet (or it expired)
        cache.set(key, 0, FRAME_SECONDS)
        return 0


def frame_src(request: HttpRequest, html: str) -> str:
    """Keep ``html`` for ``request.user`` (in one of its ``FRAMES_PER_USER``
    slots, the oldest replaced) and return the URL that serves it."""
    slot = _next_slot(request.user.pk)
    token = f"{slot}-{secrets.token_urlsafe(24)}"
    cache.set(
        _KEY.format(request.user.pk, slot),
        {"user": request.user.pk, "token": token, "html": html},
        FRAME_SECONDS,
    )
    return reverse("channels:preview_frame", args=[token])


def frame_response(request: HttpRequest, token: str) -> HttpResponse:
    slot, _sep, _rest = token.partition("-")
    entry = None
    if len(token) <= 64 and slot.isascii() and slot.isdigit() and int(slot) < FRAMES_PER_USER:
        entry = cache.get(_KEY.format(request.user.pk, int(slot)))
    if not entry or entry["user"] != request.user.pk or entry.get("token") != token:
        raise Http404
    response = HttpResponse(entry["html"], content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = FRAME_POLICY
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response
