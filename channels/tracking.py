"""Signed tracking links: open pixel, click redirect, unsubscribe (SPEC §6).

A token is the delivery id (and, for clicks, the destination) signed with
SECRET_KEY under a purpose-specific salt, so an open token cannot be replayed as
an unsubscribe token, a delivery id cannot be guessed into a valid link, and a
click can only ever redirect to the URL that was signed into it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

_SALTS = {
    "open": "volley.tracking.open",
    "click": "volley.tracking.click",
    "unsubscribe": "volley.tracking.unsubscribe",
}


@dataclass(frozen=True)
class Token:
    delivery_id: int
    url: str = ""


def _sign(kind: str, payload: dict) -> str:
    # No timestamp: the same delivery always gets the same link, and links in
    # old messages keep working.
    return signing.Signer(salt=_SALTS[kind]).sign_object(payload, compress=True)


def read_token(kind: str, token: str) -> Token | None:
    """The token's content, or None when it is tampered, unsigned or of another kind."""
    try:
        payload = signing.Signer(salt=_SALTS[kind]).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("d"), int):
        return None
    url = payload.get("u", "")
    if kind == "click" and not (
        isinstance(url, str) and url.lower().startswith(("http://", "https://"))
    ):
        return None
    return Token(delivery_id=payload["d"], url=url if isinstance(url, str) else "")


def _absolute(path: str) -> str:
    return settings.SITE_URL + path


def open_url(delivery_id: int) -> str:
    token = _sign("open", {"d": delivery_id})
    return _absolute(reverse("public:open", args=[token]))


def click_url(delivery_id: int, url: str) -> str:
    token = _sign("click", {"d": delivery_id, "u": url})
    return _absolute(reverse("public:click", args=[token]))


def unsubscribe_url(delivery_id: int) -> str:
    token = _sign("unsubscribe", {"d": delivery_id})
    return _absolute(reverse("public:unsubscribe", args=[token]))


def preview_unsubscribe_url() -> str:
    """What ``{{ unsubscribe_url }}`` shows in previews and proofs: a page that
    explains the link, since a proof has no delivery to unsubscribe."""
    return _absolute(reverse("public:unsubscribe_preview"))
