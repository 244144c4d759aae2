"""The dispatcher's wake-up is sent without waiting for Redis's answer
(config/redis.py, OneWay): it must still arrive, on a connection of its own,
and a broken connection is made again."""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from config.redis import OneWay, namespaced, redis_client

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL")


def _arrives(key: str, length: int) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if redis_client().llen(key) == length:
            return True
        time.sleep(0.01)
    return False


def test_commands_arrive_and_nothing_answers_them():
    key = namespaced(f"one-way-test:{time.monotonic_ns()}")
    sender = OneWay()
    try:
        for _ in range(3):
            sender.send("LPUSH", key, 1)
        assert _arrives(key, 3)
        # No reply is waiting on the socket: the server sends none.
        assert not sender._connection.can_read(timeout=0.2)
    finally:
        sender.close()
        redis_client().delete(key)


def test_a_dropped_connection_is_made_again():
    key = namespaced(f"one-way-test:{time.monotonic_ns()}")
    sender = OneWay()
    try:
        sender.send("LPUSH", key, 1)
        assert _arrives(key, 1)
        name = f"one-way-{time.monotonic_ns()}"
        sender.send("CLIENT", "SETNAME", name)
        time.sleep(0.1)
        (mine,) = [c["id"] for c in redis_client().client_list() if c.get("name") == name]
        redis_client().client_kill_filter(_id=mine)
        # The first send after the kill may vanish into the closed socket (best
        # effort); one of the next ones reconnects and arrives.
        for _ in range(5):
            try:
                sender.send("LPUSH", key, 1)
            except Exception:  # noqa: BLE001 — the drop is noticed here
                continue
            time.sleep(0.05)
        assert redis_client().llen(key) >= 2
    finally:
        sender.close()
        redis_client().delete(key)


def test_the_trigger_wake_up_reaches_the_dispatchers_list(monkeypatch):
    from campaigns.engine import dispatch

    key = namespaced("dispatch:wake")
    redis_client().delete(key)
    monkeypatch.setattr(dispatch, "_last_push", [-1.0])
    monkeypatch.setattr(dispatch, "_resident_seen", [time.monotonic()])
    dispatch.notify()
    assert _arrives(key, 1)
    redis_client().delete(key)
