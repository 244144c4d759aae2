"""A real qcluster process runs our tasks, on the ORM broker and on Redis (SPEC §5, §9)."""

from __future__ import annotations

import re

import pytest
import redis
from django.conf import settings
from django.db import connections
from django_q.brokers.orm import ORM
from django_q.brokers.redis_broker import Redis
from django_q.tasks import async_task, fetch

from tests.config.procs import LOCAL_REDIS, redis_answers, wait_for

pytestmark = pytest.mark.cluster

CLUSTER_START_TIMEOUT = 60


class RedisAt(Redis):
    """A Redis broker at an explicit URL, whatever this process's settings say."""

    def __init__(self, url: str) -> None:
        self._url = url
        super().__init__(settings.Q_CLUSTER["name"])

    def get_connection(self, list_key=None):
        return redis.from_url(self._url)


def _run_task_on(broker) -> None:
    task_id = async_task("django.utils.text.slugify", "Hello Volley cluster", broker=broker)

    def done():
        connections.close_all()  # see the subprocess's commits, not a stale snapshot
        return fetch(task_id)

    task = wait_for(done, timeout=CLUSTER_START_TIMEOUT, what="the qcluster to run the task")
    assert task.success, task.result
    assert task.result == "hello-volley-cluster"


def test_a_task_runs_on_a_real_cluster_with_the_orm_broker(start_cluster):
    proc = start_cluster(redis_url=None)
    _run_task_on(ORM(list_key=settings.Q_CLUSTER["name"]))
    assert proc.poll() is None


def test_a_task_runs_on_a_real_cluster_with_the_redis_broker(start_cluster):
    url = settings.REDIS_URL or LOCAL_REDIS
    if not redis_answers(url):
        if settings.REDIS_URL:
            pytest.fail(f"REDIS_URL is set but Redis does not answer at {url}")
        pytest.skip("no Redis answers on 127.0.0.1:6379 (set REDIS_URL to test the Redis broker)")
    broker = RedisAt(url)
    broker.purge_queue()
    proc = start_cluster(redis_url=url)
    _run_task_on(broker)
    assert proc.poll() is None


def test_healthz_is_green_with_a_running_cluster(start_cluster, client):
    # First let any heartbeat of a cluster stopped by an earlier test expire (3 s),
    # so the green answer below is this cluster's.
    wait_for(
        lambda: not client.get("/healthz").json()["checks"]["cluster"]["ok"],
        timeout=CLUSTER_START_TIMEOUT,
        what="earlier clusters' heartbeats to expire",
    )
    start_cluster(redis_url=settings.REDIS_URL or None)

    def green():
        response = client.get("/healthz")
        return response if response.status_code == 200 else None

    response = wait_for(green, timeout=CLUSTER_START_TIMEOUT, what="a green /healthz")
    body = response.json()
    assert body["status"] == "ok"
    assert all(check["ok"] for check in body["checks"].values())
    assert re.fullmatch(
        r"[1-9]\d* cluster\(s\), [1-9]\d* worker\(s\)", body["checks"]["cluster"]["detail"]
    )
