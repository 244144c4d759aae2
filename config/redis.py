"""One Redis client per process, for the hot paths.

Django's ``RedisCache.get_client()`` builds a new ``redis.Redis`` for every call;
on the API's hot path that cost more than the command itself. A forked child
(gunicorn, the django-q2 cluster) must not share its parent's sockets, so the
client is keyed by process id.
"""

from __future__ import annotations

import os

from django.conf import settings

_clients: dict[int, object] = {}


def redis_client():
    """The process's client for ``REDIS_URL``, or None on the embedded default."""
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return None
    pid = os.getpid()
    client = _clients.get(pid)
    if client is None:
        import redis

        _clients.clear()
        # One connection, no pool: a third less client CPU per command (the
        # client serializes threads on it, which a sync worker never has).
        client = _clients[pid] = redis.Redis.from_url(
            url,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=30,
            single_connection_client=True,
        )
    return client


def namespaced(key: str) -> str:
    """Keys of this installation (and of this test run: the queue name differs)."""
    return f"volley:{settings.Q_CLUSTER.get('name', 'volley')}:{key}"
