"""The cluster delivers the outbox: claim, POST signed, record, retry or give up.

* Claiming: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL lets any number of workers
  take disjoint batches; SQLite's IMMEDIATE transactions serialize the same
  UPDATE … WHERE id IN (SELECT … LIMIT n). A claim is a lease: a worker that
  dies mid-batch leaves rows that are claimed again once it expires, so every
  event is delivered at least once (receivers de-duplicate on the event id).
* No transaction is open while an endpoint answers.
* A failed attempt is retried with back-off (``BACKOFF``) for
  ``WEBHOOK_RETRY_HOURS`` after the first attempt; then the message fails, the
  endpoint is switched off and the administrators are told (in the app and by
  mail). Its other messages wait: switching it on again sends them.
* Requests go through channels/netguard.py: an endpoint's name that resolves to
  an internal address is refused when connecting (DNS rebinding), no proxy from
  the environment, no redirects followed, and one deadline for the whole
  exchange (``WEBHOOK_TIMEOUT_SECONDS``), not only for each read.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from channels import netguard
from webhooks import outbox, signing
from webhooks.models import Attempt, Endpoint, Message

logger = logging.getLogger(__name__)

# Seconds to wait after the n-th failed attempt (the last value repeats).
BACKOFF = [10, 30, 120, 300, 900, 1800, 3600, 7200, 14400]
LEASE_SECONDS = 120
SNIPPET = 500

_CLAIM = """
UPDATE {message} SET claimed_by = %s, lease_expires_at = %s
WHERE id IN (
    SELECT m.id FROM {message} m JOIN {endpoint} e ON e.id = m.endpoint_id
    WHERE m.status = 'pending' AND e.active AND m.next_attempt_at <= %s
      AND (m.lease_expires_at IS NULL OR m.lease_expires_at < %s)
    ORDER BY m.next_attempt_at, m.id
    LIMIT %s
    {lock}
)
RETURNING id
"""


def backoff(attempts: int) -> int:
    """Seconds before the next try after ``attempts`` failed ones."""
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


def new_token() -> str:
    return f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:16]}"


def claim(token: str, size: int) -> list[Message]:
    """Lease up to ``size`` due messages of active endpoints; build the data
    of those written by reference (frozen from then on)."""
    moment = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    lock = "FOR UPDATE OF m SKIP LOCKED" if connection.vendor == "postgresql" else ""
    sql = _CLAIM.format(message=Message._meta.db_table, endpoint=Endpoint._meta.db_table, lock=lock)
    lease = adapt(moment + timedelta(seconds=LEASE_SECONDS))
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, [token, lease, adapt(moment), adapt(moment), size])
            ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return []
        messages = list(
            Message.objects.filter(pk__in=ids, claimed_by=token)
            .select_related("endpoint")
            .order_by("next_attempt_at", "id")
        )
        withheld = _freeze(messages)
        if withheld:
            Message.objects.filter(pk__in=withheld).delete()
            messages = [m for m in messages if m.pk not in withheld]
    return messages


def _freeze(messages: list[Message]) -> set[int]:
    """Give rows written by reference their event id and data, once; the ids
    of those no endpoint may be told about (``outbox.WITHHELD``)."""
    todo = [m for m in messages if m.data is None]
    withheld: set[int] = set()
    if not todo:
        return withheld
    by_prefix: dict[str, list[Message]] = {}
    for message in todo:
        by_prefix.setdefault(message.event_type.split(".", 1)[0], []).append(message)
    for prefix, group in by_prefix.items():
        builder = outbox.BUILDERS.get(prefix)
        refs = sorted({m.ref_id for m in group if m.ref_id is not None})
        built = builder(refs) if builder and refs else {}
        for message in group:
            if built.get(message.ref_id) is outbox.WITHHELD:
                withheld.add(message.pk)
                continue
            data = dict(built.get(message.ref_id) or {"deliveryId": message.ref_id})
            data.update(message.extra or {})
            message.data = data
            if not message.event_id:
                message.event_id = outbox.derived_event_id(
                    message.event_type, message.ref_id or 0, message.created_at
                )
    todo = [m for m in todo if m.pk not in withheld]
    Message.objects.bulk_update(todo, ["data", "event_id"], batch_size=200)
    return withheld


def body_of(message: Message) -> bytes:
    payload = {
        "id": message.event_id,
        "type": message.event_type,
        "createdAt": message.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": message.data or {},
    }
    return json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx is an answer like any other: not a success, not followed


class _Watchdog:
    """One deadline for a whole request: connection, TLS handshake, the answer's
    headers and the part of its body read. A socket timeout alone bounds each
    read, not the exchange: an endpoint that sent a byte every few seconds held
    a worker for as long as it liked, and the one-minute tick then sent the next
    worker into it (issue 10, review 4). At the deadline the connection is shut
    down (through a duplicate of its descriptor, so the TLS layer above it and a
    descriptor number reused later are never touched)."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.fired = False
        self._watched: list[tuple[threading.Timer, socket.socket]] = []

    def watch(self, sock: socket.socket) -> socket.socket:
        duplicate = sock.dup()
        timer = threading.Timer(max(self.deadline - time.monotonic(), 0), self._cut, [duplicate])
        timer.daemon = True
        self._watched.append((timer, duplicate))
        timer.start()
        return sock

    def _cut(self, duplicate: socket.socket) -> None:
        self.fired = True
        try:
            duplicate.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def stop(self) -> None:
        for timer, duplicate in self._watched:
            timer.cancel()
            timer.join()
            duplicate.close()
        self._watched.clear()


def _watched(base: type, watchdog: _Watchdog) -> type:
    class Connection(base):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            guarded = self._create_connection  # netguard's: checked addresses only
            self._create_connection = lambda *a, **k: watchdog.watch(guarded(*a, **k))

    return Connection


def _opener(watchdog: _Watchdog) -> urllib.request.OpenerDirector:
    """No proxy from the environment, no redirect, guarded addresses, one deadline."""

    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(_watched(netguard._HTTPConnection, watchdog), req)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req):
            connection = _watched(netguard._HTTPSConnection, watchdog)
            return self.do_open(connection, req, context=self._context)

    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), HTTPHandler(), HTTPSHandler(), _NoRedirect
    )


def post(url: str, secret: str, message: Message) -> tuple[int | None, str, str]:
    """POST ``message`` to ``url``: (status code or None, error, response snippet)."""
    body = body_of(message)
    timestamp = int(timezone.now().timestamp())
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Volley-Webhooks/1",
            signing.HEADER: signing.header(secret, timestamp, body),
            "X-Volley-Event": message.event_type,
            "X-Volley-Event-Id": message.event_id,
        },
    )
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    watchdog = _Watchdog(timeout)
    too_slow = (None, f"TimeoutError: no complete answer within {timeout} s", "")
    try:
        with _opener(watchdog).open(request, timeout=timeout) as answer:
            snippet = answer.read(SNIPPET * 2).decode("utf-8", "replace")[:SNIPPET]
            return (answer.status, "", snippet) if not watchdog.fired else too_slow
    except urllib.error.HTTPError as exc:
        try:
            snippet = exc.read(SNIPPET * 2).decode("utf-8", "replace")[:SNIPPET]
        except Exception:
            snippet = ""
        return exc.code, f"HTTP {exc.code}", snippet
    except Exception as exc:  # refused, timed out, TLS, DNS: the endpoint did not answer
        if netguard.refused(exc):
            return None, "Refused: the URL resolves to an internal address.", ""
        if watchdog.fired:
            return too_slow
        reason = getattr(exc, "reason", exc)
        return None, f"{type(reason).__name__}: {reason}"[:SNIPPET], ""
    finally:
        watchdog.stop()


def attempt(message: Message, token: str, secret: str) -> bool:
    """One POST of a claimed message and its record; whether it was delivered."""
    started = time.monotonic()
    code, error, snippet = post(message.endpoint.url, secret, message)
    took = int((time.monotonic() - started) * 1000)
    ok = code is not None and 200 <= code < 300
    record(message, token, ok=ok, code=code, error=error, snippet=snippet, took=took)
    return ok


def _text(value: str, limit: int) -> str:
    """What an endpoint said, as a text column takes it: PostgreSQL refuses a
    NUL, and the answer's body and status line are the endpoint's to choose."""
    return value.replace("\x00", "\ufffd")[:limit]


def record(
    message: Message, token: str, *, ok: bool, code, error: str, snippet: str, took: int
) -> None:
    error, snippet = _text(error, 500), _text(snippet, SNIPPET)
    moment = timezone.now()
    first = message.first_attempt_at or moment
    mine = Message.objects.filter(pk=message.pk, claimed_by=token)
    common = {
        "attempts": F("attempts") + 1,
        "first_attempt_at": first,
        "claimed_by": "",
        "lease_expires_at": None,
        "last_status_code": code,
        "last_error": error[:500],
    }
    with transaction.atomic():
        Attempt.objects.create(
            message=message,
            at=moment,
            ok=ok,
            status_code=code,
            duration_ms=took,
            error=error[:500],
            response=snippet[:SNIPPET],
        )
        if ok:
            mine.update(status=Message.Status.DELIVERED, delivered_at=moment, **common)
            return
        tries = message.attempts + 1
        deadline = first + timedelta(hours=settings.WEBHOOK_RETRY_HOURS)
        if moment >= deadline:
            if mine.update(status=Message.Status.FAILED, **common):
                give_up(message.endpoint, moment, error or f"HTTP {code}")
            return
        # The last try falls on the deadline, not up to a back-off step after it.
        retry_at = min(moment + timedelta(seconds=backoff(tries)), deadline)
        mine.update(next_attempt_at=retry_at, **common)


def give_up(endpoint: Endpoint, moment, error: str) -> None:
    """Switch the endpoint off (once) and tell the administrators."""
    from django.utils.translation import gettext as _

    reason = _("Failing for %(hours)s hours; last error: %(error)s") % {
        "hours": settings.WEBHOOK_RETRY_HOURS,
        "error": error,
    }
    switched = Endpoint.objects.filter(pk=endpoint.pk, active=True).update(
        active=False, disabled_at=moment, disabled_reason=reason[:500], updated_at=moment
    )
    if switched:
        outbox.forget_subscribers()
        from webhooks.services import tell_administrators

        tell_administrators(endpoint=endpoint, reason=reason)


def deliver_due(*, budget_seconds: float | None = None, batch_size: int = 20) -> int:
    """Deliver due messages until none is left or the budget is spent; how many
    attempts were made."""
    budget = settings.WEBHOOK_DELIVER_BUDGET_SECONDS if budget_seconds is None else budget_seconds
    deadline = time.monotonic() + budget
    token = new_token()
    secrets: dict[int, str] = {}
    done = 0
    while time.monotonic() < deadline:
        batch = claim(token, batch_size)
        if not batch:
            break
        for message in batch:
            if message.endpoint_id not in secrets:
                from webhooks.services import endpoint_secret

                secrets[message.endpoint_id] = endpoint_secret(message.endpoint)
            if time.monotonic() >= deadline:  # leave the rest to the next worker now
                Message.objects.filter(pk=message.pk, claimed_by=token).update(
                    claimed_by="", lease_expires_at=None
                )
                continue
            try:
                attempt(message, token, secrets[message.endpoint_id])
            except Exception:  # one broken message never stops the others
                logger.exception("Webhook message %s could not be delivered", message.pk)
                try:  # counted as a failed attempt: backed off, and within the window
                    record(
                        message,
                        token,
                        ok=False,
                        code=None,
                        error="Could not deliver or record this attempt (see the log).",
                        snippet="",
                        took=0,
                    )
                except Exception:
                    logger.exception("Webhook message %s: attempt not recorded", message.pk)
            done += 1
    return done


def more_due() -> bool:
    return Message.objects.filter(
        status=Message.Status.PENDING,
        next_attempt_at__lte=timezone.now(),
        endpoint__active=True,
    ).exists()
