"""A real `manage.py qcluster` subprocess against the test database, for cluster tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.config.procs import database_url

BASE_DIR = Path(settings.BASE_DIR)


@pytest.fixture
def start_cluster(transactional_db, tmp_path) -> Iterator[Callable[..., subprocess.Popen]]:
    """``start_cluster(redis_url=None)`` → a running qcluster on the test database.

    Without ``redis_url`` the cluster uses the ORM broker; it always uses this
    run's cluster name, so it only takes this run's tasks. Stopped with SIGTERM.
    """
    procs: list[subprocess.Popen] = []

    def start(redis_url: str | None = None) -> subprocess.Popen:
        env = {**os.environ, "DATABASE_URL": database_url(), "Q_WORKERS": "1"}
        env["DJANGO_SETTINGS_MODULE"] = "config.settings_test"
        env.pop("REDIS_URL", None)
        if redis_url:
            env["REDIS_URL"] = redis_url
        proc = subprocess.Popen(
            [sys.executable, str(BASE_DIR / "manage.py"), "qcluster"],
            cwd=BASE_DIR,
            env=env,
            # A file, not a pipe: a chatty cluster must never block on a full pipe.
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / f"qcluster-{len(procs)}.log").open("wb"),
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
