"""Fixed-window request limits shared by every web process.

The window's count lives in Redis (``INCRBY`` on the process's client, one
round trip; the key's expiry is set by the first hit of its window) or, on the
embedded default (one machine, no Redis), in a small file updated under an
exclusive ``flock``, which is atomic across gunicorn workers — Django's file
cache ``add``/``incr`` is not.

A process takes its share of a window in leases of 1 % of the limit (at least
one request): one round trip per lease instead of one per request. A lease is
granted only below the limit, so no more than ``limit`` requests pass in a
window; near the limit, tokens leased by one process and not yet used may make
another wait (at most 1 % of the limit per process).
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from django.conf import settings

from config.clients import client_network
from config.redis import namespaced, redis_client

_leases: dict[str, list[int]] = {}  # name → [window, requests left]


def allow(name: str, window: int, limit: int) -> bool:
    """Count one request of ``name`` in ``window``; False once ``limit`` is reached."""
    lease = _leases.get(name)
    if lease is not None and lease[0] == window and lease[1] > 0:
        lease[1] -= 1
        return True
    chunk = max(1, limit // 100)
    end = hit(name, window, amount=chunk)
    granted = max(0, min(chunk, limit - (end - chunk)))
    if len(_leases) > 10_000:
        _leases.clear()
    _leases[name] = [window, max(granted - 1, 0)]
    return granted > 0


def hit(name: str, window: int, *, amount: int = 1, ttl: int = 120) -> int:
    """Add ``amount`` to the count of ``name`` in ``window``; the new count."""
    client = redis_client()
    if client is not None:
        key = namespaced(f"rate:{name}:{window}")
        count = int(client.incrby(key, amount))
        if count == amount:  # the window's first hit; its key names the window, never reused
            client.expire(key, ttl)
        return count
    return _file_hit(name, window, amount)


def _directory() -> Path:
    path = Path(settings.VAR_DIR) / "ratelimit" / settings.Q_CLUSTER.get("name", "volley")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _file_hit(name: str, window: int, amount: int = 1) -> int:
    path = _directory() / name.replace("/", "_").replace(":", "_")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        raw = os.pread(fd, 64, 0).decode("ascii", "replace").split()
        before = int(raw[1]) if len(raw) == 2 and raw[0] == str(window) else 0
        count = before + amount
        data = f"{window} {count}".ljust(40).encode()
        os.pwrite(fd, data, 0)
        return count
    finally:
        os.close(fd)  # closing releases the lock


def signin_wait(request) -> int | None:
    """Count one sign-in attempt from the request's address (an IPv6 address's
    /64: ``client_network``); None when it may go on, else the seconds until
    the current minute ends."""
    now = time.time()
    window = int(now // 60)
    if allow(f"signin:{client_network(request)}", window, settings.LOGIN_RATE_PER_MINUTE):
        return None
    return max(1, int((window + 1) * 60 - now))
