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
import socket
import threading
import time
from collections import Counter

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import connections

from campaigns.engine import enqueue_activation
from campaigns.models import Run
from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience
from tests.netns import (
    netns_unavailable,
    relayed_services,
    start_cluster,
    stop_clusters,
    worker_network,
)

pytestmark = [pytest.mark.cluster, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
logging.getLogger("mail.log").setLevel(logging.WARNING)


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
    if connections["default"].vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (set REDIS_URL)")
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    with worker_network(2, octet=231) as network:
        yield network


def _wait_until_running(clusters, count: int, seconds: float = 90) -> None:
    """Every host's cluster is up and reporting before the campaign starts: on
    a loaded machine one host could otherwise take (and finish) all the work
    while the other was still starting, and the test would prove nothing."""
    from django_q.brokers import get_broker
    from django_q.status import Stat

    deadline = time.monotonic() + seconds
    while len(Stat.get_all(broker=get_broker())) < count:
        assert all(c.poll() is None for c in clusters), "a worker host died"
        assert time.monotonic() < deadline, "the worker hosts did not start"
        time.sleep(0.2)


def test_two_worker_hosts_in_network_namespaces_send_one_campaign_without_duplicates(
    network, tmp_path
):
    web = network.web
    handler = PeerSink()
    with socket.socket() as probe:
        probe.bind((web, 0))
        smtp_port = probe.getsockname()[1]
    smtp = Controller(handler, hostname=web, port=smtp_port)
    smtp.start()
    database = connections["default"].settings_dict
    clusters = []
    try:
        with relayed_services(web, database, settings.REDIS_URL) as urls:
            env = {
                **os.environ,
                **urls,
                "DJANGO_SETTINGS_MODULE": "config.settings_test",
                "EMAIL_URL": f"smtp://{web}:{smtp_port}",
                "Q_CLUSTER_NAME": settings.Q_CLUSTER["name"],
                "Q_WORKERS": "2",
                "ENGINE_SENDERS": "4",
                "ENGINE_BATCH_SIZE": "100",
                "ENGINE_LEASE_SECONDS": "120",
            }
            try:
                for ns in network.hosts:
                    clusters.append(start_cluster(ns, env, tmp_path / f"{ns}.log"))
                _wait_until_running(clusters, len(network.hosts))
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
                        (tmp_path / f"{ns}.log").read_text()[-2000:] for ns in network.hosts
                    )
                    pytest.fail(f"the run did not complete within 300 s\n{logs}")
            finally:
                stop_clusters(clusters)

        with handler.lock:
            received = list(handler.received)
        assert Counter(address for _, address in received) == {p.email: 1 for p in profiles}
        assert run.duplicates == 0 and run.sent == 2000
        # Both worker hosts sent part of it, each from its own address.
        by_host = Counter(peer for peer, _ in received)
        assert set(by_host) == set(network.hosts.values()), by_host
    finally:
        smtp.stop()
