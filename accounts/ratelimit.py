"""Fixed-window request counters shared by every web process, in one round trip.

With Redis: one ``INCR`` on the process's client (one round trip; the key's
expiry is set by the first hit of its window). On the embedded default (one machine, no Redis) the counter
is a small file updated under an exclusive ``flock``, which is atomic across
gunicorn workers — Django's file cache ``add``/``incr`` is not.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from django.conf import settings

from config.redis import namespaced, redis_client


def hit(name: str, window: int, *, ttl: int = 120) -> int:
    """Count one hit of ``name`` in ``window`` and return the window's count."""
    client = redis_client()
    if client is not None:
        key = namespaced(f"rate:{name}:{window}")
        count = int(client.incr(key))
        if count == 1:  # the window's first hit; its key names the window, never reused
            client.expire(key, ttl)
        return count
    return _file_hit(name, window)


def _directory() -> Path:
    path = Path(settings.VAR_DIR) / "ratelimit" / settings.Q_CLUSTER.get("name", "volley")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _file_hit(name: str, window: int) -> int:
    path = _directory() / name.replace("/", "_").replace(":", "_")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        raw = os.pread(fd, 64, 0).decode("ascii", "replace").split()
        count = int(raw[1]) + 1 if len(raw) == 2 and raw[0] == str(window) else 1
        data = f"{window} {count}".ljust(40).encode()
        os.pwrite(fd, data, 0)
        return count
    finally:
        os.close(fd)  # closing releases the lock
