"""API throughput (SPEC §10): POST /api/v1/executions/unitary under 32 concurrent
clients, against a trivial Django JSON view on the same server and settings.

    python -m bench api --duration 15 --connections 32

Both targets are served by one gunicorn started as deployed
(config/gunicorn.conf.py: 2 × cores + 1 sync workers, five on the 2-core
reference machine; ``WEB_CONCURRENCY`` overrides it) with
``bench.settings`` — the product's settings (DEBUG off, PostgreSQL, Redis cache
and broker) plus ``bench/urls.py``, which adds the baseline view
``/bench/trivial`` in front of the product's URLs. The load comes from ``wrk``
(``-t2 -c32``) with a Lua script that POSTs one unitary execution per request:
a unique ``requestId``, one recipient (one of 1,000 profiles), a small context,
authenticated with a Campaign Manager's API key (so the role checks run).

A real ``qcluster`` (2 workers) runs during both measurements and sends the
triggered emails to an aiosmtpd sink, so the API is measured while its queue
drains, as in production. ``--no-cluster`` measures the endpoint alone.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from bench import cpu

ROOT = Path(__file__).resolve().parent.parent

LUA = """
local counter = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  prefix = "%(token)s-" .. tid .. "-"
end
local headers = {["Content-Type"] = "application/json",
                 ["Authorization"] = "Bearer %(key)s"}
request = function()
  counter = counter + 1
  local body = string.format(
    '{"requestId":"%%s%%d","campaignId":%(campaign)d,' ..
    '"recipients":[{"userId":"api%%d@bench.example.com","namespace":"email",' ..
    '"context":{"n":%%d}}]}',
    prefix, counter, counter %% %(profiles)d, counter)
  return wrk.format("POST", nil, headers, body)
end
"""


def wrk_path() -> str:
    """``wrk`` (Debian package ``wrk``); installed with apt when running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench api: installing wrk (apt-get install -y wrk)", file=sys.stderr, flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("bench api needs wrk: sudo apt-get install wrk (or brew install wrk)")
    return found


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def parse_wrk(output: str) -> dict:
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    percentiles = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, re.M))
    if "50" not in percentiles:
        raise SystemExit(f"cannot read wrk output:\n{output}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket = re.search(r"Socket errors: (.*)", output)
    return {
        "requests": requests,
        "req_per_s": round(rate),
        "p50_ms": round(_ms(percentiles["50"]), 1),
        "p99_ms": round(_ms(percentiles["99"]), 1),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket.group(1) if socket else "",
    }


def run_wrk(url: str, *, duration: int, connections: int, script: str | None = None) -> dict:
    command = [wrk_path(), "-t2", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script:
        command += ["-s", script]
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    if "Requests/sec" not in output or "Latency Distribution" not in output:
        raise SystemExit(f"wrk gave no result for {url}:\n{output}")
    return {**parse_wrk(output), "load_avg_1m": round(os.getloadavg()[0], 2)}


def _wait_http(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _fixtures(profiles: int):
    """A live API-triggered campaign over ``profiles`` profiles; a manager's key."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from accounts.roles import MANAGER
    from accounts.services import api_key_create
    from bench.engine import make_campaign
    from campaigns.models import Campaign

    campaign, version = make_campaign(profiles, "api")
    Campaign.objects.filter(pk=campaign.pk).update(type="api_triggered")
    user, _ = get_user_model().objects.get_or_create(username="bench-api-manager")
    user.groups.add(Group.objects.get(name=MANAGER))
    _key, plain = api_key_create(user=user, name=f"bench {uuid.uuid4().hex[:6]}")
    return campaign, plain


def _drain(expected: int, counter, since: float, limit: float) -> float | None:
    """Seconds from ``since`` (the load's end) until the sink has ``expected``
    messages, or None after ``limit``."""
    while counter.value < expected:
        if time.monotonic() - since > limit:
            return None
        time.sleep(0.05)
    return round(time.monotonic() - since, 2)


class _Timeline:
    """Messages at the sink in each second from the load's start (a thread
    reading the shared counter): how delivery kept pace during the load and
    how fast the rest went after it."""

    def __init__(self, counter) -> None:
        import threading

        self.counter = counter
        self.samples: list[int] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start, previous = time.monotonic(), self.counter.value
        tick = 1
        while not self.stop.is_set():
            self.stop.wait(max(0.0, start + tick - time.monotonic()))
            current = self.counter.value
            self.samples.append(current - previous)
            previous, tick = current, tick + 1

    def __enter__(self) -> _Timeline:
        self.thread.start()
        return self

    def finish(self) -> list[int]:
        self.stop.set()
        self.thread.join()
        return self.samples


def bench_api(duration: int = 15, connections: int = 32, cluster: bool = True) -> dict:
    import multiprocessing as mp

    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ["API_RATE_LIMIT_PER_MINUTE"] = "100000000"
    os.environ["Q_CLUSTER_NAME"] = f"volley-bench-api-{os.getpid()}"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    wrk_path()
    from bench.engine import _sink_process, analyze, cleanup, setup_django, sink_pipelining
    from tests.campaigns.smtp_sink import free_port

    smtp_port, http_port = free_port(), free_port()
    ctx = mp.get_context("spawn")
    counter, ready = ctx.Value("l", 0), ctx.Event()
    sink = ctx.Process(target=_sink_process, args=(smtp_port, counter, ready), daemon=True)
    sink.start()
    ready.wait(30)
    setup_django(smtp_port)
    from django.db import connections as db_connections

    from campaigns.models import Run

    profiles = 1000
    campaign, key = _fixtures(profiles)
    db_connections.close_all()
    from bench.procs import gunicorn, qcluster, web_workers

    server = gunicorn(http_port)
    workers = qcluster() if cluster else None
    base = f"http://127.0.0.1:{http_port}"
    try:
        _wait_http(f"{base}/bench/trivial")
        with tempfile.TemporaryDirectory() as tmp:
            # One script per run: a run's requestIds never repeat an earlier
            # run's (a repeat is a replay, answered without a new trigger).
            scripts = []
            for name in ("warm", "measured"):
                script = Path(tmp) / f"unitary-{name}.lua"
                token = f"wrk-{uuid.uuid4().hex[:8]}"
                script.write_text(
                    LUA
                    % {"token": token, "key": key, "campaign": campaign.pk, "profiles": profiles}
                )
                scripts.append(str(script))
            unitary = f"{base}/api/v1/executions/unitary"
            # Warm both targets (imports, connections, caches) before the clock.
            run_wrk(f"{base}/bench/trivial", duration=2, connections=connections)
            run_wrk(unitary, duration=2, connections=connections, script=scripts[0])
            database = db_connections["default"].settings_dict["NAME"]
            # Every warm-up message has reached the sink before either clock
            # starts: the baseline is not measured while the cluster drains them.
            warm_runs = Run.objects.filter(campaign=campaign).count()
            if cluster and _drain(warm_runs, counter, time.monotonic(), 120) is None:
                raise SystemExit("bench api: the warm-up triggers never reached the sink")
            # Statistics of tables holding the warm-up's rows, as autovacuum's
            # analyze keeps them on a server where it is on (bench.engine.vacuum).
            analyze()
            time.sleep(1)
            cpu_base = cpu.snapshot(database)
            baseline = run_wrk(f"{base}/bench/trivial", duration=duration, connections=connections)
            cpu_base_end = cpu.snapshot(database)
            cpu_start = cpu.snapshot(database)
            timeline = _Timeline(counter).__enter__()
            api = run_wrk(unitary, duration=duration, connections=connections, script=scripts[1])
            load_end = time.monotonic()
            cpu_load_end = cpu.snapshot(database)
        runs = Run.objects.filter(campaign=campaign).count() - warm_runs
        drained = _drain(warm_runs + runs, counter, load_end, 120) if cluster else None
        # A request wrk gave up on at its deadline may still commit after the
        # count above (one per web worker at most): count again until the
        # count holds, and wait for those messages too.
        while True:
            total = Run.objects.filter(campaign=campaign).count() - warm_runs
            if total == runs:
                break
            runs = total
            if cluster and drained is not None:
                drained = _drain(warm_runs + runs, counter, load_end, 120)
        per_second = timeline.finish()
        cpu_drained = cpu.snapshot(database)
        sent = counter.value - warm_runs if cluster else None
        from django_q.brokers import get_broker

        queue_left = get_broker().queue_size()
    finally:
        for process in (workers, server):
            if process is not None:
                process.terminate()
                process.wait(timeout=120)
        sink.terminate()
        db_connections.close_all()
        cleanup(campaign)
    ratio = api["req_per_s"] / baseline["req_per_s"]
    return {
        "benchmark": "api",
        "server": f"gunicorn -c config/gunicorn.conf.py ({web_workers()} sync workers)",
        "load": f"wrk -t2 -c{connections} -d{duration}s",
        "cluster": cluster,
        "sink_pipelining": sink_pipelining(),
        "baseline_trivial_json": baseline,
        "unitary": api,
        "runs_created": runs,
        "emails_at_sink": sent,
        "last_email_after_load_end_s": drained,
        "tasks_left_in_queue": queue_left,
        # Emails reaching the sink in each second from the load's start.
        "sink_per_second": per_second if cluster else None,
        "ratio": round(ratio, 3),
        # Diagnostics: CPU milliseconds per accepted trigger, by process group,
        # during the load and from its start until the sink had every message.
        "cpu_ms_per_trivial_request": cpu.per_unit(cpu_base, cpu_base_end, baseline["requests"]),
        "cpu_ms_per_trigger_during_load": cpu.per_unit(cpu_start, cpu_load_end, runs),
        "cpu_ms_per_trigger_until_drained": cpu.per_unit(cpu_start, cpu_drained, runs),
        "bar": "ratio >= 0.25, unitary >= 1000 req/s, p99 < 50 ms, every answer 2xx, "
        "every triggered email at the sink within 5 s of the load's end",
        "passes": ratio >= 0.25
        and api["req_per_s"] >= 1000
        and api["p99_ms"] < 50
        and api["non_2xx"] == 0
        and not api["socket_errors"]
        and (not cluster or (drained is not None and drained <= 5)),
    }
