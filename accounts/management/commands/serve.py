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
            web = [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "-b",
                f"{host}:{port}",
                "-w",
                "2",
                "--access-logfile",
                "-",
            ]
        procs = [subprocess.Popen(web), subprocess.Popen(manage + ["qcluster"])]
        self.stdout.write(
            self.style.SUCCESS(
                f"Volley is running at http://{host}:{port}/ — web + worker cluster. Ctrl-C stops both."
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
            deadline = time.monotonic() + 15
            for proc in procs:
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.stdout.write("Stopped.")
