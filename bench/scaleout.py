"""Scale-out over worker hosts (issue 14): one campaign's send rate with ONE
worker host, then with TWO, each host a ``manage.py qcluster`` in its own
network namespace (tests/netns.py: veth pairs on a bridge, PostgreSQL and Redis
reached through relays on the bridge address, as over a real network).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/volley_bench REDIS_URL=redis://127.0.0.1:6379/8 \\
        .venv/bin/python -m bench scaleout --profiles 20000 --workers 2

For each configuration: a fresh campaign of ``profiles`` profiles is
materialized beforehand (not timed), the clusters are started and waited for,
then the clock starts when the sender tasks are queued (one per worker of the
configuration) and stops when the run is ``completed`` — every delivery
claimed, rendered, sent over SMTP to an aiosmtpd sink on the web host (its own
process) and recorded. Rate = profiles / that time. Ratio = two-host rate /
one-host rate. Duplicates are counted twice: by the sink (an address received
more than once) and by the engine (``Run.duplicates``); both must be 0.

One worker of the whole installation holds the resident trigger dispatcher
(campaigns/apps.py starts it with each cluster), so with ``--workers 2`` one
host has one sending worker and two hosts have three: that is the product as
deployed, and the reason ``--workers`` is a knob.

Every namespace, veth, relay, cluster and the sink are removed on the way out,
also after an error, Ctrl-C or SIGTERM. Needs root, iproute2, PostgreSQL and
Redis. On one machine the "hosts" share its CPUs: the ratio shows what a second
host adds when the CPUs are not all busy already, so read it with ``cpus`` and
the load average printed beside it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.engine import cleanup, make_campaign, new_run, setup_django

CLUSTER_NAME = "volley-bench-scaleout"


def _sink(host: str, port: int, conn, ready) -> None:
    """An aiosmtpd sink that counts every recipient per address and per sending
    host; answers ``reset`` and ``report`` on ``conn``."""
    import logging
    import threading

    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.WARNING)
    lock = threading.Lock()
    state: dict = {}

    def reset() -> None:
        state.update(addresses=Counter(), peers=Counter(), first=None, last=None)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            stamp = time.time()
            with lock:
                state["addresses"].update(envelope.rcpt_tos)
                state["peers"][session.peer[0]] += len(envelope.rcpt_tos)
                state["first"] = state["first"] or stamp
                state["last"] = stamp
            return "250 OK"

    reset()
    controller = Controller(Handler(), hostname=host, port=port)
    controller.start()
    ready.set()
    try:
        while True:
            command = conn.recv()
            with lock:
                if command == "reset":
                    reset()
                    conn.send(None)
                else:
                    addresses = state["addresses"]
                    conn.send(
                        {
                            "received": sum(addresses.values()),
                            "unique": len(addresses),
                            "duplicates": sum(n - 1 for n in addresses.values() if n > 1),
                            "by_peer": dict(state["peers"]),
                            "first": state["first"],
                            "last": state["last"],
                        }
                    )
    except EOFError:
        pass
    finally:
        controller.stop()


def _ask(conn, command: str):
    conn.send(command)
    return conn.recv()


def _wait_for_clusters(count: int, clusters: list, logs: list[Path]) -> None:
    from django_q.status import Stat

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        _check_alive(clusters, logs)
        if len(Stat.get_all()) >= count:
            time.sleep(2)  # the workers import the engine on their first task
            return
        time.sleep(0.2)
    raise SystemExit(f"the worker hosts did not come up within 120 s\n{_tails(logs)}")


def _check_alive(clusters: list, logs: list[Path]) -> None:
    if any(c.poll() is not None for c in clusters):
        raise SystemExit(f"a worker host died\n{_tails(logs)}")


def _tails(logs: list[Path]) -> str:
    return "\n".join(f"--- {log.name}\n{log.read_text()[-2000:]}" for log in logs if log.exists())


def _measure(
    hosts: dict[str, str], env: dict, profiles: int, workers: int, sink, logdir: Path
) -> dict:
    """Send one campaign with the clusters of ``hosts`` (namespace → address)."""
    from django.db import connections

    from campaigns.engine.materialize import materialize
    from campaigns.engine.runs import enqueue_senders
    from campaigns.models import Run
    from tests.netns import start_cluster, stop_clusters

    campaign, version = make_campaign(profiles, "sco")
    clusters: list = []
    logs = [logdir / f"{len(hosts)}-hosts-{ns}.log" for ns in hosts]
    try:
        run = new_run(campaign, version)
        run = Run.objects.select_related("campaign", "version__audience").get(pk=run.pk)
        materialize(run)
        Run.objects.filter(pk=run.pk).update(status=Run.Status.SENDING)
        connections.close_all()
        _ask(sink, "reset")
        clusters = [start_cluster(ns, env, log) for ns, log in zip(hosts, logs, strict=True)]
        _wait_for_clusters(len(hosts), clusters, logs)

        loads = [round(os.getloadavg()[0], 2)]
        started = time.time()
        enqueue_senders(run.pk, len(hosts) * workers)
        deadline = time.monotonic() + 120 + profiles / 20
        while True:
            status = Run.objects.filter(pk=run.pk).values_list("status", flat=True).get()
            if status == Run.Status.COMPLETED:
                break
            _check_alive(clusters, logs)
            if time.monotonic() > deadline:
                raise SystemExit(f"the run did not complete in time\n{_tails(logs)}")
            time.sleep(0.1)
        elapsed = time.time() - started
        loads.append(round(os.getloadavg()[0], 2))
        run.refresh_from_db()
        report = _ask(sink, "report")
        if run.sent != profiles or report["unique"] != profiles:
            raise SystemExit(
                f"{len(hosts)} host(s): run sent {run.sent}, sink received"
                f" {report['unique']} distinct addresses of {profiles}"
            )
        return {
            "msgs_per_s": round(profiles / elapsed),
            "seconds": round(elapsed, 2),
            # Between the first and the last message at the sink (no queueing,
            # no final recording): what SMTP alone saw.
            "sink_msgs_per_s": round(profiles / max(report["last"] - report["first"], 1e-6)),
            "duplicates": report["duplicates"] + run.duplicates,
            "by_host": {
                f"host{i + 1}": report["by_peer"].get(address, 0)
                for i, address in enumerate(hosts.values())
            },
            "load_avg_1m": loads,
        }
    finally:
        stop_clusters(clusters, graceful=15)
        cleanup(campaign)


def bench_scaleout(profiles: int, workers: int) -> dict:
    from tests.netns import exit_on_sigterm, netns_unavailable, relayed_services, worker_network

    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("bench scaleout: set DATABASE_URL=postgres://... and REDIS_URL")
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("bench scaleout: set REDIS_URL (the worker hosts share its broker)")
    reason = netns_unavailable()
    if reason:
        raise SystemExit(f"bench scaleout: {reason}")
    exit_on_sigterm()
    os.environ["Q_CLUSTER_NAME"] = CLUSTER_NAME
    setup_django()
    from django.conf import settings
    from django.db import connections

    ctx = mp.get_context("spawn")
    with (
        worker_network(2, octet=232) as network,
        tempfile.TemporaryDirectory(prefix="volley-scaleout-") as logdir,
    ):
        import socket

        with socket.socket() as probe:
            probe.bind((network.web, 0))
            smtp_port = probe.getsockname()[1]
        ours, theirs = ctx.Pipe()
        ready = ctx.Event()
        sink = ctx.Process(target=_sink, args=(network.web, smtp_port, theirs, ready), daemon=True)
        sink.start()
        try:
            if not ready.wait(30):
                raise SystemExit("the SMTP sink did not start")
            database = connections["default"].settings_dict
            with relayed_services(network.web, database, settings.REDIS_URL) as urls:
                env = {
                    **os.environ,
                    **urls,
                    "DJANGO_SETTINGS_MODULE": "config.settings",
                    "DEBUG": "0",
                    "LOG_LEVEL": "WARNING",
                    "EMAIL_URL": f"smtp://{network.web}:{smtp_port}",
                    "Q_CLUSTER_NAME": CLUSTER_NAME,
                    "Q_WORKERS": str(workers),
                }
                first = dict(list(network.hosts.items())[:1])
                one = _measure(first, env, profiles, workers, ours, Path(logdir))
                time.sleep(4)  # the first host's heartbeat expires from the broker
                two = _measure(network.hosts, env, profiles, workers, ours, Path(logdir))
        finally:
            ours.close()
            sink.join(10)
            if sink.is_alive():
                sink.terminate()
    return {
        "benchmark": "scaleout",
        "profiles": profiles,
        "workers_per_host": workers,
        "cpus": os.cpu_count(),
        "one_host_msgs_per_s": one["msgs_per_s"],
        "two_hosts_msgs_per_s": two["msgs_per_s"],
        "ratio": round(two["msgs_per_s"] / one["msgs_per_s"], 3),
        "duplicates": one["duplicates"] + two["duplicates"],
        "one_host": one,
        "two_hosts": two,
    }
