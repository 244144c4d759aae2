"""Real `manage.py qcluster` processes against the test database and an SMTP sink.

SQLite: the in-memory test database cannot be shared with another process, so
these tests point the default connection at a migrated file under var/ for
their duration. PostgreSQL: the clusters use pytest-django's test database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections, transaction

from campaigns.engine import cancel_campaign_work, enqueue_activation
from campaigns.engine.completion import tick
from campaigns.models import Campaign, Delivery, Run
from campaigns.transitions import transition
from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience
from tests.campaigns.smtp_sink import Sink

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]
BASE_DIR = Path(__file__).resolve().parents[2]
BATCH = 250
WORKERS = 2


@pytest.fixture
def cluster_db():
    """The database URL a subprocess can reach, with this process connected to it too."""
    conn = connections["default"]
    if conn.vendor == "postgresql":
        s = conn.settings_dict
        yield f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
        return
    path = Path(settings.VAR_DIR) / f"cluster-{settings.Q_CLUSTER['name']}-{os.getpid()}.sqlite3"
    path.unlink(missing_ok=True)
    original_name, in_memory = conn.settings_dict["NAME"], conn.connection
    conn.connection = None  # keep the in-memory database alive, open a file one
    conn.settings_dict["NAME"] = str(path)
    try:
        call_command("migrate", verbosity=0)
        yield f"sqlite:///{path}"
    finally:
        conn.close()
        conn.settings_dict["NAME"], conn.connection = original_name, in_memory
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


@pytest.fixture
def sink():
    with Sink() as running:
        yield running


@pytest.fixture
def start_cluster(cluster_db, sink, tmp_path) -> Callable[..., subprocess.Popen]:
    started: list[subprocess.Popen] = []

    def start(**engine_env) -> subprocess.Popen:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings_test",
            "DATABASE_URL": cluster_db,
            "EMAIL_URL": sink.url,
            "Q_CLUSTER_NAME": settings.Q_CLUSTER["name"],
            "Q_WORKERS": str(WORKERS),
            "ENGINE_BATCH_SIZE": str(BATCH),
            "ENGINE_LEASE_SECONDS": "3",
            "ENGINE_SEND_BUDGET_SECONDS": "5",
            **{k: str(v) for k, v in engine_env.items()},
        }
        log = open(tmp_path / f"cluster-{len(started)}.log", "w")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        stop_cluster(process, signal.SIGKILL)  # a clean stop waits for running senders


def stop_cluster(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, during=None) -> None:
    """Poll the database (bounded) until ``predicate`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if during is not None:
            during()
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def run_of(campaign) -> Run | None:
    return Run.objects.filter(campaign=campaign).first()


def run_status(campaign) -> str:
    run = run_of(campaign)
    return run.status if run else ""


def activate(profiles, **version_fields) -> Campaign:
    campaign = make_campaign(upload_audience(profiles), **version_fields)
    enqueue_activation(campaign.pk)
    return campaign


def test_cluster_sends_5000_profile_campaign_exactly_once(start_cluster, sink):
    consenting = make_profiles(4800, prefix="c")
    refusing = make_profiles(200, prefix="r", consent=False)
    start_cluster()
    campaign = activate(consenting + refusing)

    wait_for(lambda: run_status(campaign) == "completed", 240, "the run to complete")

    assert sink.counts() == {p.email: 1 for p in consenting}
    run = run_of(campaign)
    assert (run.targeted, run.excluded, run.sent, run.failed) == (5000, 200, 4800, 0)
    assert Campaign.objects.get(pk=campaign.pk).status == "live"


def test_two_clusters_share_a_run_without_duplicates(start_cluster, sink):
    profiles = make_profiles(3000)
    # Nobody dies here, so no lease may expire: with the 3 s lease of the other
    # tests, a live sender queued behind the others for SQLite's write lock on a
    # loaded machine is taken for dead and its batch counted as a duplicate.
    knobs = {"ENGINE_SENDERS": 6, "ENGINE_BATCH_SIZE": 100, "ENGINE_LEASE_SECONDS": 120}
    start_cluster(**knobs)
    start_cluster(**knobs)
    campaign = activate(profiles)

    wait_for(lambda: run_status(campaign) == "completed", 240, "the run to complete")

    assert sink.counts() == {p.email: 1 for p in profiles}
    assert run_of(campaign).duplicates == 0


def test_killed_cluster_loses_nothing_and_counts_duplicates(start_cluster, sink):
    profiles = make_profiles(3000)
    first = start_cluster()
    campaign = activate(profiles, throttle_per_second=400)
    wait_for(lambda: len(sink.received()) >= 600, 120, "the first messages")

    stop_cluster(first, signal.SIGKILL)
    start_cluster()
    # What the new cluster's scheduler does every minute, driven directly here.
    wait_for(lambda: run_status(campaign) == "completed", 240, "the run to complete", during=tick)

    counts = sink.counts()
    assert set(counts) == {p.email for p in profiles}
    extra = sum(counts.values()) - len(counts)
    run = run_of(campaign)
    assert extra <= run.duplicates <= BATCH * WORKERS
    assert run.sent == 3000


def test_nothing_is_sent_after_stop_returns(start_cluster, sink):
    profiles = make_profiles(3000)
    start_cluster()
    # 50 a second: the run needs a minute, so the stop certainly lands mid-run
    # however slow this machine is between the first messages and the stop.
    campaign = activate(profiles, throttle_per_second=50)
    wait_for(lambda: len(sink.received()) >= 50, 120, "the first messages")

    with transaction.atomic():
        assert transition(Campaign.objects.get(pk=campaign.pk), "stop")
        cancel_campaign_work(campaign)
    at_stop = len(sink.received())
    # The stop waited only for the batches in flight, not for the run to end.
    assert Delivery.objects.filter(run=run_of(campaign), status="cancelled").count() > 0

    run = run_of(campaign)
    wait_for(
        lambda: not Delivery.objects.filter(run=run, status__in=["pending", "sending"]).exists(),
        60,
        "claimed batches to be given up",
    )
    assert len(sink.received()) == at_stop < 3000
    assert Delivery.objects.filter(run=run, status="sent").count() == at_stop
    assert run_status(campaign) == "cancelled"
    assert connection.vendor in {"sqlite", "postgresql"}
