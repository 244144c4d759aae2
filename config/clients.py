"""Who a request came from, as every part of Volley reads it."""

from __future__ import annotations

from django.conf import settings


def client_ip(request) -> str:
    """The address the request came from: behind a trusted proxy
    (``BEHIND_PROXY``) the last ``X-Forwarded-For`` entry, the one the proxy
    itself added (earlier entries are whatever the client claimed)."""
    if getattr(settings, "BEHIND_PROXY", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        last = forwarded.split(",")[-1].strip() if forwarded else ""
        if last:
            return last
    return request.META.get("REMOTE_ADDR", "") or ""
