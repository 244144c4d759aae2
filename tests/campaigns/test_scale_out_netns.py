"""Scale-out on several "hosts" (issue 14): two worker clusters, each in its own
network namespace (ip netns + veth on a bridge), reach the web host's PostgreSQL,
Redis and SMTP relay only over that virtual network, and send one campaign
together without a duplicate.

Needs root, `ip`, PostgreSQL and Redis (the CI run on PostgreSQL + Redis has
them); skips cleanly otherwise. Traffic stays on the namespaces' own addresses.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import connections

from campaigns.engine import enqueue_activation
from campaigns.models import Run
from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience

pytestmark = [pytest.mark.cluster, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
BASE_DIR = Path(__file__).resolve().parents[2]
logging.getLogger("mail.log").setLevel(logging.WARNING)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def _netns_available() -> str | None:
    """Why this test cannot run here, or None."""
    if connections["default"].vendor != "postgresql":
        return "needs PostgreSQL (set DATABASE_URL)"
    if not settings.REDIS_URL:
        return "needs Redis (set REDIS_URL)"
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return "needs root and iproute2 for network namespaces"
    probe = f"vlyprobe{os.getpid() % 100000}"
    if _ip("netns", "add", probe, check=False).returncode != 0:
        return "network namespaces are not available here"
    _ip("netns", "del", probe, check=False)
    return None


class Relay:
    """A TCP relay from the bridge address to a service on 127.0.0.1 (PostgreSQL
    and Redis listen on loopback only): what a real network would route."""

    def __init__(self, host: str, target_port: int) -> None:
        self.target_port = target_port
        self.server = socket.create_server((host, 0))
        self.port = self.server.getsockname()[1]
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        self.stopped = True
        self.server.close()


class PeerSink:
    """An SMTP relay that records which host (source address) sent each message."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[tuple[str, str]] = []

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.received.extend((session.peer[0], rcpt) for rcpt in envelope.rcpt_tos)
        return "250 Message accepted"


@pytest.fixture
def network():
    """A bridge on the web host and two namespaces ("worker hosts") wired to it."""
    reason = _netns_available()
    if reason:
        pytest.skip(reason)
    tag = f"{os.getpid() % 10000}"
    subnet = f"10.231.{os.getpid() % 250}"
    bridge, hosts, links = f"vlybr{tag}", [], []
    try:
        _ip("link", "add", bridge, "type", "bridge")
        _ip("addr", "add", f"{subnet}.1/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for n in (1, 2):
            ns, outside, inside = f"vly{tag}h{n}", f"vly{tag}a{n}", f"vly{tag}b{n}"
            _ip("netns", "add", ns)
            hosts.append(ns)
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            links.append(outside)
            _ip("link", "set", outside, "master", bridge)
            _ip("link", "set", outside, "up")
            _ip("link", "set", inside, "netns", ns)
            _ip("-n", ns, "addr", "add", f"{subnet}.{n + 1}/24", "dev", inside)
            _ip("-n", ns, "link", "set", inside, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield {
            "web": f"{subnet}.1",
            "hosts": {ns: f"{subnet}.{i + 2}" for i, ns in enumerate(hosts)},
        }
    finally:
        for link in links:
            # Deleting one end removes the pair, even while the kernel still
            # holds the namespace for a closing socket.
            _ip("link", "del", link, check=False)
        for ns in hosts:
            _ip("netns", "del", ns, check=False)
        _ip("link", "del", bridge, check=False)


def test_two_worker_hosts_in_network_namespaces_send_one_campaign_without_duplicates(
    network, tmp_path
):
    web = network["web"]
    db = connections["default"].settings_dict
    redis_db = settings.REDIS_URL.rstrip("/").rsplit("/", 1)[-1]
    redis_port = int(settings.REDIS_URL.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
    pg, redis = Relay(web, int(db["PORT"] or 5432)), Relay(web, redis_port)
    handler = PeerSink()
    with socket.socket() as probe:
        probe.bind((web, 0))
        smtp_port = probe.getsockname()[1]
    smtp = Controller(handler, hostname=web, port=smtp_port)
    smtp.start()
    clusters = []
    try:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings_test",
            "DATABASE_URL": f"postgres://{db['USER']}@{web}:{pg.port}/{db['NAME']}",
            "REDIS_URL": f"redis://{web}:{redis.port}/{redis_db}",
            "EMAIL_URL": f"smtp://{web}:{smtp_port}",
            "Q_CLUSTER_NAME": settings.Q_CLUSTER["name"],
            "Q_WORKERS": "2",
            "ENGINE_SENDERS": "4",
            "ENGINE_BATCH_SIZE": "100",
            "ENGINE_LEASE_SECONDS": "120",
        }
        for ns in network["hosts"]:
            log = open(tmp_path / f"{ns}.log", "w")  # noqa: SIM115
            clusters.append(
                subprocess.Popen(
                    ["ip", "netns", "exec", ns, sys.executable, "manage.py", "qcluster"],
                    cwd=BASE_DIR,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        profiles = make_profiles(2000, prefix="netns")
        campaign = make_campaign(upload_audience(profiles))
        enqueue_activation(campaign.pk)

        deadline = time.monotonic() + 300
        run = None
        while time.monotonic() < deadline:
            run = Run.objects.filter(campaign=campaign).first()
            if run is not None and run.status == "completed":
                break
            assert all(c.poll() is None for c in clusters), "a worker host died"
            time.sleep(0.5)
        else:
            logs = "\n".join(
                (tmp_path / f"{ns}.log").read_text()[-2000:] for ns in network["hosts"]
            )
            pytest.fail(f"the run did not complete within 300 s\n{logs}")

        with handler.lock:
            received = list(handler.received)
        assert Counter(address for _, address in received) == {p.email: 1 for p in profiles}
        assert run.duplicates == 0 and run.sent == 2000
        # Both worker hosts sent part of it, each from its own address.
        by_host = Counter(peer for peer, _ in received)
        assert set(by_host) == set(network["hosts"].values()), by_host
    finally:
        for cluster in clusters:
            if cluster.poll() is None:
                os.killpg(cluster.pid, signal.SIGKILL)
                cluster.wait(timeout=30)
        smtp.stop()
        pg.stop()
        redis.stop()
