"""`manage.py serve`: the web server and the worker cluster together (for `make run`).

Ctrl-C (or SIGTERM) stops both; if either dies, the other is stopped too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

STOP_TIMEOUT_SECONDS = 20


class Command(BaseCommand):
    help = "Start the web server and the django-q2 cluster together; Ctrl-C stops both."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args, port: int, host: str, **options) -> None:
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        if settings.DEBUG:
            web = manage + ["runserver", f"{host}:{port}", "--noreload"]
        else:
            subprocess.run(manage + ["collectstatic", "--noinput", "-v0"], check=True)
            web = [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"{host}:{port}"]
            web += ["-w", "2", "--access-logfile", "-"]
        # Each child leads its own process group: Ctrl-C reaches only us, and we
        # send each child exactly one SIGTERM (a qcluster that gets SIGINT from
        # the terminal and SIGTERM from us at once can hang while stopping),
        # and can kill a child's whole group, workers included, if it hangs.
        procs = [
            subprocess.Popen(web, start_new_session=True),
            subprocess.Popen(manage + ["qcluster"], start_new_session=True),
        ]
        self.stdout.write(
            self.style.SUCCESS(
                f"Volley is running at http://{host}:{port}/ — web + worker cluster. "
                "Ctrl-C stops both."
            )
        )
        stopping = False

        def stop(signum=None, frame=None) -> None:
            nonlocal stopping
            if stopping:
                return
            stopping = True
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while all(p.poll() is None for p in procs):
                time.sleep(0.3)
        finally:
            stop()
            _reap(procs)
        self.stdout.write("Stopped.")


def _reap(procs: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        # Whatever is left in the child's group (the cluster's workers) goes too.
        try:
            os.killpg(proc.pid, signal.SIGKILL if proc.poll() is None else signal.SIGTERM)
        except ProcessLookupError:
            pass
        proc.wait()
