"""Fourth outside review of issue 10 (docs/security-review-4.md), outbound
webhooks: each test reproduced its finding on the code before the fix."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from django.utils import timezone

from webhooks import delivery
from webhooks.models import Message
from webhooks.services import endpoint_create

pytestmark = pytest.mark.django_db

DRIP_SECONDS = 20


class Tarpit:
    """An endpoint that answers a byte every 0.2 s for ``DRIP_SECONDS``: after
    ``head`` (the start of an HTTP answer, or of a TLS record), it never
    finishes. Records whether the client hung up before the drip ended."""

    def __init__(self, head: bytes) -> None:
        self.head = head
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.client_gave_up = threading.Event()
        self.finished_dripping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.listener.getsockname()[1]

    def _serve(self) -> None:
        conn, _address = self.listener.accept()
        with conn:
            conn.recv(65536)  # the request, or the TLS client hello
            end = time.monotonic() + DRIP_SECONDS
            try:
                conn.sendall(self.head)
                while time.monotonic() < end:
                    conn.sendall(b"a")
                    time.sleep(0.2)
                    conn.settimeout(0)
                    try:
                        if conn.recv(1) == b"":  # the client closed its side
                            raise ConnectionResetError
                    except BlockingIOError:
                        pass
                    conn.settimeout(None)
            except OSError:
                self.client_gave_up.set()
                return
            self.finished_dripping.set()

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize(
    "scheme, head",
    [
        ("http", b"HTTP/1.1 200 OK\r\nX-Slow: "),  # headers that never end
        ("http", b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"),  # a body that never ends
        # A TLS handshake record that never ends: CPython already bounds the
        # handshake as a whole; kept so that stays true of this path.
        ("https", b"\x16\x03\x03\x40\x00"),
    ],
)
def test_a_tarpit_endpoint_cannot_hold_a_worker_past_the_timeout(settings, scheme, head):
    """Medium: ``WEBHOOK_TIMEOUT_SECONDS`` bounded each read, not the answer. An
    endpoint dripping a byte every few seconds held the delivering worker for as
    long as it liked (until django-q killed the task after 10 minutes); the
    minute tick then sent the next worker into it, and with every worker there
    the cluster sent no campaign at all."""
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    tarpit = Tarpit(head)
    try:
        endpoint, secret = endpoint_create(
            url=f"{scheme}://127.0.0.1:{tarpit.port}/hook", events=["delivery.sent"]
        )
        moment = timezone.now()
        message = Message.objects.create(
            endpoint=endpoint,
            event_type="delivery.sent",
            event_id="evt_tarpit",
            data={"deliveryId": 1},
            created_at=moment,
            next_attempt_at=moment,
        )
        code, error, _snippet = delivery.post(endpoint.url, secret, message)
        assert code is None
        assert "TimeoutError" in error
        assert tarpit.client_gave_up.wait(10)  # Volley hung up, long before the drip ended
        assert not tarpit.finished_dripping.is_set()
    finally:
        tarpit.close()
