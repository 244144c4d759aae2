"""Shared token buckets: the per-campaign throttle and the per-configuration limit.

Every sender on every host takes tokens from the same bucket before it claims a
batch, so the configured rate holds for the run as a whole, not per worker.
With ``REDIS_URL`` the bucket is a Redis hash updated by one Lua script
(atomic across hosts). Without Redis Volley runs on one machine (SQLite cannot be
shared between hosts), and the bucket is a small file under ``var/`` updated
under an exclusive ``flock``.

A bucket holds at most one second of tokens (``capacity = rate``), so after an
idle period a run may send one second's worth at once, then the rate.
"""

from __future__ import annotations

import fcntl
import json
import time
from pathlib import Path

from django.conf import settings

_LUA = """
local rate = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local capacity = rate
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local granted = math.min(want, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], 3600)
return granted
"""


def _refill(state: dict, rate: float, now: float) -> float:
    tokens = state.get("tokens", rate)
    return min(rate, tokens + max(0.0, now - state.get("at", now)) * rate)


class _RedisBuckets:
    def __init__(self, url: str):
        import redis

        self.client = redis.Redis.from_url(url)
        self.script = self.client.register_script(_LUA)

    def take(self, key: str, rate: float, want: int) -> int:
        return int(self.script(keys=[_name(key)], args=[rate, want, time.time()]))

    def give_back(self, key: str, rate: float, count: int) -> None:
        if count > 0:
            self.client.hincrbyfloat(_name(key), "tokens", count)


class _FileBuckets:
    def __init__(self, directory: Path):
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)

    def _update(self, key: str, change):
        path = self.directory / f"{_name(key).replace(':', '_')}.json"
        with open(path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            raw = handle.read()
            state = json.loads(raw) if raw else {}
            result, state = change(state)
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(state))
            return result

    def take(self, key: str, rate: float, want: int) -> int:
        def change(state):
            now = time.time()
            tokens = _refill(state, rate, now)
            granted = min(want, int(tokens))
            return granted, {"tokens": tokens - granted, "at": now}

        return self._update(key, change)

    def give_back(self, key: str, rate: float, count: int) -> None:
        if count > 0:
            self._update(
                key, lambda s: (None, {**s, "tokens": min(rate, s.get("tokens", 0) + count)})
            )


_buckets = None


def _name(key: str) -> str:
    # The queue name keeps parallel test runs (and installations) sharing one Redis apart.
    return f"volley:bucket:{settings.Q_CLUSTER.get('name', 'volley')}:{key}"


def buckets():
    global _buckets
    if _buckets is None:
        redis_url = getattr(settings, "REDIS_URL", "")
        _buckets = (
            _RedisBuckets(redis_url)
            if redis_url
            else _FileBuckets(Path(settings.VAR_DIR) / "buckets")
        )
    return _buckets


def acquire(limits: list[tuple[str, int]], want: int) -> int:
    """Take up to ``want`` tokens from every bucket in ``limits`` ([(key, rate)]).

    Returns how many messages may be sent now (0: wait a little). Tokens taken
    from one bucket but refused by the next are given back.
    """
    granted = want
    taken: list[tuple[str, int, int]] = []
    for key, rate in limits:
        got = buckets().take(key, float(rate), granted)
        taken.append((key, rate, got))
        granted = min(granted, got)
        if granted == 0:
            break
    for key, rate, got in taken:
        buckets().give_back(key, float(rate), got - granted)
    return granted


def release(limits: list[tuple[str, int]], count: int) -> None:
    """Give back tokens taken for messages that were not sent after all."""
    for key, rate in limits:
        buckets().give_back(key, float(rate), count)


def reset(key: str) -> None:
    """Forget a bucket (tests start from a full one)."""
    b = buckets()
    if isinstance(b, _RedisBuckets):
        b.client.delete(_name(key))
    else:
        (b.directory / f"{_name(key).replace(':', '_')}.json").unlink(missing_ok=True)
