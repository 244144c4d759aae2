"""The server processes the benchmarks start: gunicorn and a qcluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def gunicorn(port: int, env: dict | None = None) -> subprocess.Popen:
    """The product under gunicorn as deployed: config/gunicorn.conf.py, whose
    default is 2 × cores + 1 sync workers (``WEB_CONCURRENCY`` overrides it,
    e.g. ``WEB_CONCURRENCY=2 python -m bench api``), without the access log."""
    env = {**(env or os.environ), "GUNICORN_ACCESS_LOG": "", "GUNICORN_LOG_LEVEL": "warning"}
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application",
         "-c", "config/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env,
    )  # fmt: skip


def web_workers() -> int:
    """How many workers ``gunicorn()`` starts (for the benchmark's report)."""
    import multiprocessing

    default = min(2 * multiprocessing.cpu_count() + 1, 12)
    return int(os.environ.get("WEB_CONCURRENCY", "").strip() or default)


def qcluster(env: dict | None = None, workers: int = 2) -> subprocess.Popen:
    """A real worker cluster, its output discarded."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env={**(env or os.environ), "Q_WORKERS": str(workers)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
