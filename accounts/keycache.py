"""A short per-process memory of authenticated API keys, for the hot API paths.

Looking a key up, checking its hash and loading its owner's permissions cost
three queries per request. The trigger endpoints (``/executions/…``) remember
a successful authentication for ``API_KEY_CACHE_SECONDS`` (at most 30): a key
revoked or a user deactivated meanwhile is refused by this process at the
latest when the entry expires, and at once by the process that revoked it.
Nothing unsafe follows from the delay: the trigger's one INSERT re-checks the
key and its owner in the same statement that accepts the trigger, so no trigger
is accepted after a revocation has committed.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings

_entries: dict[str, CachedKey] = {}
_MAX_ENTRIES = 1024
_clock = time.monotonic  # tests move it forward


@dataclass(frozen=True)
class CachedKey:
    key: object  # accounts.models.ApiKey, its user's permissions preloaded
    expires: float


def ttl() -> float:
    return float(min(getattr(settings, "API_KEY_CACHE_SECONDS", 10), 30))


def authenticate(plain: str):
    """The active ApiKey for ``plain`` (from memory when recently seen), or None."""
    from accounts.permissions import preload_permissions
    from accounts.services import api_key_authenticate

    digest = hashlib.sha256(plain.encode()).hexdigest()
    entry = _entries.get(digest)
    moment = _clock()
    if entry is not None and entry.expires > moment:
        return entry.key
    key = api_key_authenticate(plain)
    if key is None:
        _entries.pop(digest, None)
        return None
    preload_permissions(key.user)
    if len(_entries) >= _MAX_ENTRIES:
        _entries.clear()
    _entries[digest] = CachedKey(key, moment + ttl())
    return key


def forget(prefix: str | None = None) -> None:
    """Drop remembered keys (one key by its prefix, or all)."""
    if prefix is None:
        _entries.clear()
        return
    for digest, entry in list(_entries.items()):
        if entry.key.prefix == prefix:
            _entries.pop(digest, None)
