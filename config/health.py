"""`GET /healthz` (SPEC §9): database, broker and worker cluster, 503 when one is down."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache


def _database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True, connection.vendor
    except Exception as exc:  # any driver error means "down"
        return False, f"{type(exc).__name__}: {exc}"[:200]


def _broker() -> tuple[bool, str]:
    from django_q.brokers import get_broker

    try:
        broker = get_broker()
        ok = bool(broker.ping())
        if type(broker).__name__ == "ORM":
            # The ORM broker's ping() always says yes: ask its queue table instead.
            broker.queue_size()
        return ok, type(broker).__name__
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"[:200]


def _cluster() -> tuple[bool, str]:
    """Up when at least one qcluster has reported its heartbeat in the last seconds."""
    from django_q.conf import Conf
    from django_q.status import Stat

    try:
        stats = Stat.get_all()
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"[:200]
    # A cluster still starting (no workers yet) or stopping cannot take tasks.
    running = [s for s in stats if s.status in (Conf.IDLE, Conf.WORKING) and s.workers]
    if not running:
        return False, "no worker cluster is running"
    return True, f"{len(running)} cluster(s), {sum(len(s.workers) for s in running)} worker(s)"


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {}
    for name, probe in (("database", _database), ("broker", _broker), ("cluster", _cluster)):
        ok, detail = probe()
        checks[name] = {"ok": ok, "detail": detail}
    healthy = all(c["ok"] for c in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "down", "checks": checks}, status=200 if healthy else 503
    )
