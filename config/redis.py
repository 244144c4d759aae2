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


class OneWay:
    """Commands sent without waiting for (or receiving) their replies.

    A connection of its own, switched to ``CLIENT REPLY OFF``: the server runs
    each command and answers nothing, so sending one costs a socket write, not
    a round trip. For best-effort signals only (the dispatcher's wake-up):
    whether a command arrived is never known. Per process, like the client.
    """

    def __init__(self) -> None:
        self._pid = 0
        self._connection = None
        self._packed: dict[tuple, list] = {}  # the same command is encoded once

    def send(self, *args) -> None:
        """Send one command; on any failure the connection is dropped (and
        made again by the next call) and the error raised."""
        connection = self._connect()
        packed = self._packed.get(args)
        if packed is None:
            if len(self._packed) > 64:
                self._packed.clear()
            packed = self._packed[args] = connection.pack_command(*args)
        try:
            connection.send_packed_command(packed, check_health=False)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.disconnect()
            finally:
                self._connection = None

    def _connect(self):
        if self._connection is not None and self._pid == os.getpid():
            return self._connection
        self._connection = None  # a parent's socket is not ours to use
        client = redis_client()
        pool = client.connection_pool
        connection = pool.connection_class(**pool.connection_kwargs)
        connection.connect()  # authenticates and selects the database
        connection.send_command("CLIENT", "REPLY", "OFF")
        self._connection, self._pid = connection, os.getpid()
        return connection


one_way = OneWay()
