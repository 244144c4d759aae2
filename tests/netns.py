"""Several "hosts" on one machine (issue 14): network namespaces wired by veth
pairs to a bridge on the web host, TCP relays that expose the loopback-only
PostgreSQL and Redis on the bridge, and worker clusters started inside the
namespaces. Shared by tests/campaigns/test_scale_out_netns.py and
``python -m bench scaleout``.

Everything created here is removed on the way out of ``worker_network`` and
``relayed_services``, whatever happened inside (an exception, Ctrl-C, or a
SIGTERM turned into SystemExit by ``exit_on_sigterm``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parents[1]


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def netns_unavailable() -> str | None:
    """Why namespaces cannot be created here, or None."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return "needs root and iproute2 for network namespaces"
    probe = f"vlyprobe{os.getpid() % 100000}"
    if ip("netns", "add", probe, check=False).returncode != 0:
        return "network namespaces are not available here"
    ip("netns", "del", probe, check=False)
    return None


@dataclass
class Network:
    web: str  # the web host's address on the bridge
    hosts: dict[str, str] = field(default_factory=dict)  # namespace → its address


@contextmanager
def worker_network(count: int, *, octet: int) -> Iterator[Network]:
    """A bridge on the web host and ``count`` namespaces wired to it, on
    10.<octet>.<pid>.0/24 (callers pick different ``octet``s so a test and a
    benchmark running at once do not collide). Removed on exit."""
    tag = f"{os.getpid() % 10000}"
    subnet = f"10.{octet}.{os.getpid() % 250}"
    bridge, hosts, links = f"vlybr{tag}", [], []
    try:
        ip("link", "add", bridge, "type", "bridge")
        ip("addr", "add", f"{subnet}.1/24", "dev", bridge)
        ip("link", "set", bridge, "up")
        for n in range(1, count + 1):
            ns, outside, inside = f"vly{tag}h{n}", f"vly{tag}a{n}", f"vly{tag}b{n}"
            ip("netns", "add", ns)
            hosts.append(ns)
            ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            links.append(outside)
            ip("link", "set", outside, "master", bridge)
            ip("link", "set", outside, "up")
            ip("link", "set", inside, "netns", ns)
            ip("-n", ns, "addr", "add", f"{subnet}.{n + 1}/24", "dev", inside)
            ip("-n", ns, "link", "set", inside, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        yield Network(f"{subnet}.1", {ns: f"{subnet}.{i + 2}" for i, ns in enumerate(hosts)})
    finally:
        for link in links:
            # Deleting one end removes the pair, even while the kernel still
            # holds the namespace for a closing socket.
            ip("link", "del", link, check=False)
        for ns in hosts:
            ip("netns", "del", ns, check=False)
        ip("link", "del", bridge, check=False)


class Relay:
    """A TCP relay from the bridge address to a service on 127.0.0.1 (PostgreSQL
    and Redis listen on loopback only): what a real network would route.

    ``socat`` (one process per connection, no GIL shared with the caller) when
    installed, else Python threads."""

    def __init__(self, host: str, target_port: int) -> None:
        self.target_port = target_port
        self.stopped = False
        self.process: subprocess.Popen | None = None
        with socket.socket() as probe:
            probe.bind((host, 0))
            self.port = probe.getsockname()[1]
        if shutil.which("socat"):
            self.process = subprocess.Popen(
                [
                    "socat",
                    f"TCP-LISTEN:{self.port},bind={host},reuseaddr,fork,backlog=128",
                    f"TCP:127.0.0.1:{target_port}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            self._wait_listening(host)
            return
        self.server = socket.create_server((host, self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _wait_listening(self, host: str) -> None:
        """Until socat listens, read from /proc/net/tcp: a probe connection would
        reach the service itself (PostgreSQL logs an incomplete start-up)."""
        import time

        wanted = f"{socket.inet_aton(host)[::-1].hex().upper()}:{self.port:04X}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open("/proc/net/tcp") as table:
                if any(
                    line.split()[1] == wanted and line.split()[3] == "0A"  # LISTEN
                    for line in list(table)[1:]
                ):
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"socat relay on {host}:{self.port} did not start")

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
        if self.process is not None:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        else:
            try:
                # Wakes the thread blocked in accept() (close alone would not).
                self.server.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.server.close()


@contextmanager
def relayed_services(web: str, database: dict, redis_url: str) -> Iterator[dict[str, str]]:
    """Relays for PostgreSQL (Django's ``database`` settings) and Redis on the
    bridge address; yields the DATABASE_URL and REDIS_URL a worker host uses."""
    parts = urlsplit(redis_url)
    redis_db = parts.path.strip("/") or "0"
    relays: list[Relay] = []
    try:
        relays.append(Relay(web, int(database["PORT"] or 5432)))
        relays.append(Relay(web, parts.port or 6379))
        pg, redis = relays
        yield {
            "DATABASE_URL": f"postgres://{database['USER']}@{web}:{pg.port}/{database['NAME']}",
            "REDIS_URL": f"redis://{web}:{redis.port}/{redis_db}",
        }
    finally:
        for relay in relays:
            relay.stop()


def start_cluster(ns: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """``manage.py qcluster`` inside namespace ``ns``, in its own process group."""
    with open(log, "w") as out:
        return subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "manage.py", "qcluster"],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_clusters(clusters: list[subprocess.Popen], *, graceful: float = 0) -> None:
    """SIGTERM (when ``graceful`` seconds are allowed), then SIGKILL, each
    cluster's whole process group."""
    for cluster in clusters:
        if graceful and cluster.poll() is None:
            os.killpg(cluster.pid, signal.SIGTERM)
            try:
                cluster.wait(timeout=graceful)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(cluster.pid, signal.SIGKILL)  # stragglers of the group too
        except ProcessLookupError:
            pass
        cluster.wait(timeout=30)


def exit_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C, so every ``finally`` removes what it made."""

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
