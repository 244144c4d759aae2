"""The server processes the benchmarks start: gunicorn and a qcluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def gunicorn(port: int, env: dict | None = None) -> subprocess.Popen:
    """The product under gunicorn: 2 sync workers, one per core of the reference machine."""
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--workers", os.environ.get("BENCH_WEB_WORKERS", "2"),
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=ROOT, env=env or {**os.environ},
    )  # fmt: skip


def qcluster(env: dict | None = None, workers: int = 2) -> subprocess.Popen:
    """A real worker cluster, its output discarded."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env={**(env or os.environ), "Q_WORKERS": str(workers)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
