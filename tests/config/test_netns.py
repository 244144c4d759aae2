"""The several-hosts set-up shared by the scale-out test and `bench scaleout`
(tests/netns.py) leaves nothing behind, even when what runs inside fails."""

from __future__ import annotations

import shutil
import socket
import sys

import pytest

from tests import netns
from tests.netns import Relay, ip, netns_unavailable, worker_network


@pytest.fixture(autouse=True)
def _needs_namespaces():
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)


def _namespaces() -> str:
    return ip("netns", "list").stdout


def _links() -> str:
    return ip("link", "show").stdout


def test_namespaces_links_and_bridge_are_removed_when_the_body_fails():
    with pytest.raises(RuntimeError), worker_network(2, octet=233) as network:
        hosts = list(network.hosts)
        assert all(ns in _namespaces() for ns in hosts)
        # Each host reaches the web host's bridge address, and only that way.
        with socket.create_server((network.web, 0)) as listener:
            port = listener.getsockname()[1]
            for ns in hosts:
                reach = f"import socket; socket.create_connection(({network.web!r}, {port}), 2)"
                reply = ip("netns", "exec", ns, sys.executable, "-c", reach, check=False)
                assert reply.returncode == 0, reply.stderr
        raise RuntimeError("a failing benchmark")
    assert not any(ns in _namespaces() for ns in hosts)
    tag = hosts[0].removeprefix("vly").split("h")[0]
    assert f"vlybr{tag}" not in _links() and f"vly{tag}a1" not in _links()


@pytest.mark.parametrize("socat", [True, False], ids=["socat", "threads"])
def test_a_relay_carries_a_connection_and_stops(socat, monkeypatch):
    which = shutil.which
    if socat and which("socat") is None:
        pytest.skip("socat is not installed")
    if not socat:
        monkeypatch.setattr(netns.shutil, "which", lambda c: None if c == "socat" else which(c))
    with socket.create_server(("127.0.0.1", 0)) as upstream:
        relay = Relay("127.0.0.1", upstream.getsockname()[1])
        try:
            with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as client:
                server, _ = upstream.accept()
                with server:
                    client.sendall(b"ping")
                    assert server.recv(4) == b"ping"
        finally:
            relay.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", relay.port), timeout=2).close()
