"""Writes for accounts: API keys and notifications."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey, Notification

KEY_PREFIX = "vly_"
# Writing last_used_at on every request would make each API call a write; a
# minute's precision is plenty for "last used".
_LAST_USED_PRECISION = timedelta(minutes=1)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_create(*, user, name: str) -> tuple[ApiKey, str]:
    """Create a key for ``user``; returns the row and the plain key (shown once)."""
    prefix = secrets.token_hex(6)
    plain = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(user=user, name=name.strip() or "API key", prefix=prefix, hashed_key=_hash(plain))
    key.full_clean()
    key.save()
    return key, plain


def api_key_revoke(*, key: ApiKey) -> None:
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_key_authenticate(plain: str) -> ApiKey | None:
    """The active key matching ``plain`` (constant-time comparison), or None."""
    if not plain.startswith(KEY_PREFIX) or plain.count("_") < 2:
        return None
    prefix = plain[len(KEY_PREFIX) :].split("_", 1)[0]
    key = ApiKey.objects.select_related("user").filter(prefix=prefix).first()
    if key is None or not hmac.compare_digest(key.hashed_key, _hash(plain)):
        return None
    if key.revoked_at is not None or not key.user.is_active:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > _LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


def notify(*, user, message: str, url: str = "") -> Notification:
    return Notification.objects.create(user=user, message=message[:500], url=url)


def user_by_username(username: str):
    return get_user_model().objects.filter(username=username).first()


__all__ = ["api_key_create", "api_key_revoke", "api_key_authenticate", "notify", "transaction"]
