"""Local servers for the channel tests: an aiosmtpd sink and a webhook receiver."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SinkHandler:
    """Accepts everything except recipients whose local part says otherwise."""

    def __init__(self) -> None:
        self.messages: list = []
        self.envelopes: list = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if local == "nobody":
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if local == "busy":
            return "451 4.3.0 Mailbox temporarily unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"


def serve_sink(settings, handler) -> Controller:
    """Start an aiosmtpd server with ``handler`` on a free port and point
    Django's SMTP backend at it (plain, no credentials); the caller stops it."""
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10
    return controller


@pytest.fixture
def smtp_sink(settings):
    handler = SinkHandler()
    controller = serve_sink(settings, handler)
    try:
        yield handler
    finally:
        controller.stop()


class WebhookServer:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.responses: list[tuple[int, bytes]] = []  # popped per request; default 200
        self.hang = threading.Event()  # set: the next request never answers in time
        self.release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.requests.append({"headers": dict(self.headers), "body": body})
                if server.hang.is_set():
                    server.release.wait(10)
                    return
                status, answer = server.responses.pop(0) if server.responses else (200, b"")
                if not answer and status == 200:
                    answer = json.dumps({"id": f"prov-{len(server.requests)}"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def webhook_server(settings):
    server = WebhookServer()
    settings.SMS_WEBHOOK_URL = server.url
    settings.PUSH_WEBHOOK_URL = server.url
    settings.WEBHOOK_SIGNING_SECRET = "test-signing-secret"
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def profile(db):
    from audiences.models import Profile

    return Profile.objects.create(
        email="ann@example.com",
        phone="+31612345678",
        push_token="tok-ann",
        attributes={"firstName": "Ann", "city": "Utrecht"},
        consent_email=True,
        consent_sms=True,
        consent_push=True,
    )


@pytest.fixture
def make_config(db):
    from channels.models import ChannelConfiguration

    def make(channel: str = "email", purpose: str = "marketing", **fields):
        defaults = {
            "email": {
                "provider": "smtp",
                "from_name": "Volley News",
                "from_address": "news@volley.example",
                "reply_to": "help@volley.example",
            },
            "sms": {"provider": "webhook", "sender_number": "+31612345679"},
            "push": {"provider": "webhook", "platform": "android", "app_id": "com.volley.app"},
        }[channel]
        return ChannelConfiguration.objects.create(
            name=fields.pop("name", f"{channel} {purpose}"),
            channel=channel,
            purpose=purpose,
            **{**defaults, **fields},
        )

    return make


@pytest.fixture
def make_delivery(db, profile):
    """A sent delivery of a campaign on ``channel`` (campaign → version → run → delivery)."""
    from campaigns.models import Campaign, CampaignVersion, Delivery, Run

    def make(channel: str = "email", *, to_profile=None, address: str | None = None):
        target = to_profile or profile
        campaign = Campaign.objects.create(name=f"c-{channel}", channel=channel)
        version = CampaignVersion.objects.create(campaign=campaign)
        run = Run.objects.create(campaign=campaign, version=version, kind=Run.Kind.ONE_SHOT)
        identity = {"email": target.email, "sms": target.phone, "push": target.push_token}
        return Delivery.objects.create(
            run=run,
            profile=target,
            status=Delivery.Status.SENT,
            address=address or identity[channel],
        )

    return make


@pytest.fixture
def fake_api():
    """``fake_api(handler)`` → a running FakeApi (see tests/channels/fake_apis.py)."""
    from tests.channels.fake_apis import FakeApi

    servers = []

    def start(handler):
        server = FakeApi(handler)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def config(db):
    """An open email configuration ("Newsletter"), as the security reviews use it."""
    from channels.models import ChannelConfiguration

    return ChannelConfiguration.objects.create(
        name="Newsletter",
        channel="email",
        purpose="marketing",
        from_name="Volley",
        from_address="news@volley.example",
    )
