"""An aiosmtpd sink on a free loopback port, recording every message it accepts.

Addresses starting with ``reject`` are refused permanently (550); addresses
starting with ``later`` are refused once with a transient 451, then accepted.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections import Counter

from aiosmtpd.controller import Controller

# aiosmtpd logs every SMTP command at INFO: thousands of lines per test.
logging.getLogger("mail.log").setLevel(logging.WARNING)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler:
    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.lock = threading.Lock()
        self.received: list[str] = []
        self.message_ids: list[str] = []
        self.contents: list[tuple[str, bytes]] = []  # (recipient, message bytes)
        self.deferred: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject"):
            return "550 5.1.1 No such user here"
        if address.startswith("later") and address not in self.deferred:
            self.deferred.add(address)
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)  # a slow provider
        message_id = ""
        for line in envelope.content.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                message_id = line.split(b":", 1)[1].strip().decode()
                break
            if not line:
                break
        with self.lock:
            self.received.extend(envelope.rcpt_tos)
            self.message_ids.append(message_id)
            self.contents.extend((rcpt, envelope.content) for rcpt in envelope.rcpt_tos)
        return "250 Message accepted"


class Sink:
    def __init__(self, delay: float = 0.0):
        self.handler = _Handler(delay)
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> Sink:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def received(self) -> list[str]:
        with self.handler.lock:
            return list(self.handler.received)

    def messages(self) -> dict[str, bytes]:
        """recipient → the last message's bytes."""
        with self.handler.lock:
            return dict(self.handler.contents)

    def counts(self) -> Counter:
        return Counter(self.received())
