"""The embedded default under a slow provider: does the API stay responsive?

    .venv/bin/python -m bench lock [--lock-messages 1000] [--delay-ms 50]

On the SQLite default (a fresh temporary database file, no Redis), a real
``qcluster`` sends a campaign of ``--lock-messages`` emails to an aiosmtpd sink
that takes ``--delay-ms`` per message, while a client PATCHes
``/api/v1/campaigns/{id}`` on another (draft) campaign in a loop through
gunicorn (2 sync workers) on the same database. Prints one JSON line with the
PATCH latency (p50/p95/max, ms), how long the campaign took to reach the sink
and the load average. The bar (issue 11): PATCH p95 < 300 ms — the write lock is
never held while the provider answers (campaigns/barrier.py).

Needs no PostgreSQL: it sets its own DATABASE_URL.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _slow_sink(port: int, delay: float, counter, ready) -> None:
    """An aiosmtpd sink in its own process taking ``delay`` seconds per message."""
    import asyncio

    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            await asyncio.sleep(delay)
            with counter.get_lock():
                counter.value += len(envelope.rcpt_tos)
            return "250 Message accepted"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while True:
        time.sleep(3600)


def _fixtures(messages: int):
    """A live campaign over ``messages`` profiles with a queued run, a draft
    campaign to edit, and a manager's API key."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from accounts.roles import MANAGER
    from accounts.services import api_key_create
    from bench.engine import make_campaign
    from campaigns import services
    from campaigns.models import Run

    campaign, version = make_campaign(messages, "lock")
    run = Run.objects.create(campaign=campaign, version=version, kind="one_shot", status="queued")
    user, _ = get_user_model().objects.get_or_create(username="bench-lock-manager")
    user.groups.add(Group.objects.get(name=MANAGER))
    draft = services.campaign_create(
        actor=user,
        name="lock draft",
        category="transactional",
        channel_configuration=version.channel_configuration,
    )
    _key, plain = api_key_create(user=user, name="bench lock")
    return run, draft, plain


def _patch(url: str, key: str, name: str) -> float:
    body = json.dumps({"name": name}).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="PATCH",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
        if response.status != 200:
            raise SystemExit(f"bench lock: PATCH answered {response.status}")
    return (time.perf_counter() - started) * 1000


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def bench_lock(messages: int = 1000, delay_ms: int = 50) -> dict:
    from bench.api import _wait_http
    from tests.campaigns.smtp_sink import free_port

    tmp = tempfile.TemporaryDirectory(prefix="volley-bench-lock-")
    os.environ.pop("REDIS_URL", None)
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp.name}/lock.sqlite3"
    os.environ["VOLLEY_VAR_DIR"] = tmp.name
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ["API_RATE_LIMIT_PER_MINUTE"] = "100000000"
    os.environ["Q_CLUSTER_NAME"] = f"volley-bench-lock-{os.getpid()}"
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    smtp_port, http_port = free_port(), free_port()
    ctx = mp.get_context("spawn")
    counter, ready = ctx.Value("l", 0), ctx.Event()
    sink = ctx.Process(
        target=_slow_sink, args=(smtp_port, delay_ms / 1000, counter, ready), daemon=True
    )
    sink.start()
    ready.wait(30)
    from bench.engine import setup_django

    setup_django(smtp_port)
    from django.db import connections
    from django_q.tasks import async_task

    run, draft, key = _fixtures(messages)
    connections.close_all()
    from bench.procs import gunicorn, qcluster

    server = gunicorn(http_port)
    workers = qcluster()
    url = f"http://127.0.0.1:{http_port}/api/v1/campaigns/{draft.pk}"
    latencies: list[float] = []
    try:
        _wait_http(f"http://127.0.0.1:{http_port}/bench/trivial")
        for i in range(5):  # warm both workers before the clock
            _patch(url, key, f"warm {i}")
        loads = [round(os.getloadavg()[0], 2)]
        async_task("campaigns.tasks.start_run", run.pk, task_name=f"run-{run.pk}")
        started = time.monotonic()
        limit = started + max(120, messages * delay_ms / 1000 * 3)
        while counter.value == 0 and time.monotonic() < limit:
            time.sleep(0.05)  # the clock runs once the first message reached the sink
        first = time.monotonic()
        i = 0
        while counter.value < messages and time.monotonic() < limit:
            latencies.append(_patch(url, key, f"edit {i}"))
            i += 1
        seconds = round(time.monotonic() - started, 2)
        loads.append(round(os.getloadavg()[0], 2))
    finally:
        for process in (workers, server):
            process.terminate()
            process.wait(timeout=120)
        sink.terminate()
        connections.close_all()
        tmp.cleanup()
    if counter.value < messages:
        raise SystemExit(f"bench lock: the sink got {counter.value} of {messages} messages")
    p95 = _percentile(latencies, 0.95)
    return {
        "benchmark": "lock",
        "database": "sqlite (embedded default), gunicorn --workers 2, qcluster Q_WORKERS=2",
        "messages": messages,
        "sink_delay_ms": delay_ms,
        "send_seconds": seconds,
        "first_message_after_s": round(first - started, 2),
        "patches": len(latencies),
        "patch_p50_ms": round(statistics.median(latencies), 1),
        "patch_p95_ms": round(p95, 1),
        "patch_max_ms": round(max(latencies), 1),
        "load_avg_1m": loads,
        "bar": "PATCH /api/v1/campaigns/{id} p95 < 300 ms while the campaign sends",
        "passes": p95 < 300,
    }
