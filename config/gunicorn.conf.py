"""Gunicorn settings for production: `gunicorn -c config/gunicorn.conf.py config.wsgi`.

Every value can be overridden from the environment (and command-line flags
still win over this file). Static files are served by whitenoise from
STATIC_ROOT, so run `manage.py collectstatic --noinput` first (`bin/volley web`
and the container image do). `manage.py serve` stays the development command.

- BIND (e.g. `0.0.0.0:8000`, `unix:/run/volley.sock`), or HOST + PORT
  (default 127.0.0.1:8000; the container sets HOST=0.0.0.0).
- WEB_CONCURRENCY: worker processes, default 2 × CPU cores + 1 (at most 12).
- GUNICORN_THREADS: threads per worker, default 1 (sync workers).
- GUNICORN_TIMEOUT: seconds a request may take, default 300: an audience CSV
  upload of MAX_UPLOAD_MB (200 MB) over a slow link is read by the worker
  before the view runs. Put a buffering proxy in front (nginx buffers request
  bodies by default) and the worker only sees the upload at LAN speed.
- GUNICORN_MAX_REQUESTS: recycle a worker after this many requests (default
  100000, with jitter) so a slow leak never grows without bound. A new worker
  costs about a second of CPU (it imports Django and the apps after the fork):
  at the API's production rate a low value spends a fifth of the machine on
  restarts (1000 did, at 1,000 requests/s over five workers).
- Graceful reload: `kill -HUP <master pid>` starts new workers with the new
  code and stops the old ones after their current request (up to
  GUNICORN_GRACEFUL_TIMEOUT seconds, default 30); SIGTERM stops the same way.
"""

from __future__ import annotations

import multiprocessing
import os


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {raw!r}.") from None
    if value < minimum:
        raise SystemExit(f"{name} must be at least {minimum}.")
    return value


def _bind() -> str:
    if os.environ.get("BIND", "").strip():
        return os.environ["BIND"].strip()
    host = os.environ.get("HOST", "").strip() or "127.0.0.1"
    return f"{host}:{_int('PORT', 8000, minimum=1)}"


bind = [_bind()]
workers = _int("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 12), minimum=1)
threads = _int("GUNICORN_THREADS", 1, minimum=1)
timeout = _int("GUNICORN_TIMEOUT", 300, minimum=10)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30, minimum=1)
keepalive = _int("GUNICORN_KEEPALIVE", 5, minimum=1)
max_requests = _int("GUNICORN_MAX_REQUESTS", 100000)
max_requests_jitter = max_requests // 10
# The proxy in front says who the client was; trust it only from where it runs.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# Logs to stdout/stderr: the container runtime or systemd keeps them.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# remote address, user, request line, status, bytes, referer, user agent, duration (µs)
access_log_format = (
    '%({x-forwarded-for}i)s %(h)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)s'
)
# Workers load the application after the fork: a HUP reload picks up new code.
preload_app = False
proc_name = "volley-web"
# Temporary files of the worker heartbeat in memory when the platform has it
# (Docker's /tmp may be an overlay on a slow disk).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
