"""The signature of every webhook POST (SPEC §13).

``X-Volley-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``,
keyed with the endpoint's secret. A receiver recomputes it over the raw body,
compares in constant time and refuses an old ``t`` (replays); ``verify`` is the
reference implementation the documentation shows.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

HEADER = "X-Volley-Signature"
TOLERANCE_SECONDS = 300


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return mac.hexdigest()


def header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(
    secret: str, value: str, body: bytes, *, now: float | None = None, tolerance: int = 300
) -> bool:
    """Whether ``value`` (the header) signs ``body`` with ``secret``, recently."""
    parts: dict[str, list[str]] = {}
    for item in (value or "").split(","):
        key, _sep, val = item.strip().partition("=")
        parts.setdefault(key, []).append(val)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in parts.get("v1", []))
