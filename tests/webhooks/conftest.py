"""A real webhook receiver: a local HTTP server that checks every signature
itself (HMAC-SHA256 over "<t>.<body>", as the documentation tells receivers to)
and keeps each event it was sent."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.campaigns.conftest import fake_transport, queued  # noqa: F401  (fixtures)
from tests.campaigns.test_engine_cluster import cluster_db, sink, start_cluster  # noqa: F401
from webhooks import outbox


class Receiver:
    def __init__(self) -> None:
        self.secret = ""
        self.answer = 200  # what it answers while "up"; 503 while "down"
        self.calls: list[dict] = []  # every POST: event, valid signature, answer
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                valid = receiver.verify(self.headers.get("X-Volley-Signature", ""), body)
                answer = receiver.answer if valid else 400
                with receiver.lock:
                    receiver.calls.append(
                        {
                            "event": json.loads(body),
                            "valid": valid,
                            "answer": answer,
                            "event_header": self.headers.get("X-Volley-Event-Id"),
                        }
                    )
                self.send_response(answer)
                self.end_headers()
                self.wfile.write(b"ok" if answer == 200 else b"down for maintenance")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def verify(self, header: str, body: bytes) -> bool:
        """What a receiver does: recompute the HMAC over "<t>.<body>", compare in
        constant time, refuse a stale timestamp."""
        fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
        try:
            timestamp = int(fields["t"])
        except (KeyError, ValueError):
            return False
        expected = hmac.new(
            self.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
        ).hexdigest()
        fresh = abs(time.time() - timestamp) <= 300
        return fresh and hmac.compare_digest(expected, fields.get("v1", ""))

    def accepted(self) -> list[dict]:
        """The events it answered 2xx to."""
        return [c["event"] for c in self.calls if c["answer"] == 200]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.close()


@pytest.fixture(autouse=True)
def _no_wake_up_tasks(request, monkeypatch):
    """Outside the cluster tests, the tests run the delivery task themselves."""
    if not request.node.get_closest_marker("cluster"):
        monkeypatch.setattr(outbox, "_enqueue", lambda: None)
    outbox._last_wake[0] = 0.0
