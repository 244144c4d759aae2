"""channels.smtp.send_raw: smtplib's sendmail semantics, pipelined when the server
offers PIPELINING (RFC 2920), against aiosmtpd sinks with and without it."""

from __future__ import annotations

import smtplib

import pytest

from channels.rendering import RenderedMessage
from channels.smtp import send_raw
from channels.transports import OutboundMessage, get_transport
from tests.channels.conftest import SinkHandler

MESSAGE = b"Subject: dots\r\n\r\n.leading dot\r\n..two\r\n.\r\nlast line"


class PipeliningSink(SinkHandler):
    """The channel tests' sink, also refusing the sender ``blocked@…``."""

    def __init__(self, pipelining: bool) -> None:
        super().__init__()
        self.pipelining = pipelining

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        if address.startswith("blocked@"):
            return "550 5.7.1 Sender blocked"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"


@pytest.fixture(params=[True, False], ids=["pipelining", "one-by-one"])
def sink(request, settings):
    from aiosmtpd.controller import Controller

    from tests.channels.conftest import _free_port

    handler = PipeliningSink(pipelining=request.param)
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10
    handler.port = controller.port
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def smtp(sink):
    client = smtplib.SMTP("127.0.0.1", sink.port, timeout=10)
    writes: list[bytes] = []
    original = client.send

    def counting(data):
        writes.append(data if isinstance(data, bytes) else data.encode())
        return original(data)

    client.send = counting
    client.writes = writes
    try:
        yield client
    finally:
        client.close()


def test_dots_and_a_missing_final_line_break_arrive_intact(smtp, sink):
    assert send_raw(smtp, "news@volley.example", ["ann@example.com"], MESSAGE) == {}
    [envelope] = sink.envelopes
    assert envelope.content == MESSAGE + b"\r\n"
    assert envelope.mail_from == "news@volley.example"
    assert f"SIZE={len(MESSAGE)}" in envelope.mail_options


def test_commands_are_pipelined_only_when_the_server_offers_it(smtp, sink):
    send_raw(smtp, "news@volley.example", ["ann@example.com", "archive@example.com"], MESSAGE)
    commands = [w for w in smtp.writes if w.startswith((b"MAIL", b"RCPT", b"DATA", b"ehlo"))]
    if sink.pipelining:
        assert commands[1:] == [
            f"MAIL FROM:<news@volley.example> SIZE={len(MESSAGE)}\r\n".encode()
            + b"RCPT TO:<ann@example.com>\r\nRCPT TO:<archive@example.com>\r\nDATA\r\n"
        ]
    else:
        assert [c.split(b":")[0].split(b"\r")[0] for c in commands[1:]] == [
            b"MAIL FROM",
            b"RCPT TO",
            b"RCPT TO",
            b"DATA",
        ]
    assert sorted(sink.envelopes[0].rcpt_tos) == ["ann@example.com", "archive@example.com"]


def test_a_partly_refused_envelope_returns_the_refusals(smtp, sink):
    refused = send_raw(
        smtp, "news@volley.example", ["nobody@example.com", "ann@example.com"], MESSAGE
    )
    assert list(refused) == ["nobody@example.com"]
    assert refused["nobody@example.com"][0] == 550
    assert sink.envelopes[0].rcpt_tos == ["ann@example.com"]


def test_refusals_raise_smtplibs_exceptions_and_leave_the_session_usable(smtp, sink):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send_raw(smtp, "news@volley.example", ["nobody@example.com", "busy@example.com"], MESSAGE)
    codes = {address: code for address, (code, _text) in refused.value.recipients.items()}
    assert codes == {"nobody@example.com": 550, "busy@example.com": 451}
    with pytest.raises(smtplib.SMTPSenderRefused) as sender:
        send_raw(smtp, "blocked@volley.example", ["ann@example.com"], MESSAGE)
    assert sender.value.smtp_code == 550
    # The transaction was reset: the same session sends the next message.
    assert send_raw(smtp, "news@volley.example", ["ann@example.com"], MESSAGE) == {}
    assert len(sink.envelopes) == 1


def test_the_transport_classifies_failures_the_same_way_with_either_server(sink, make_config):
    def outbound(delivery_id, to):
        rendered = RenderedMessage(subject="Hi", text="Hi\n", html="<p>Hi</p>")
        return OutboundMessage(delivery_id, to, rendered, "transactional")

    config = make_config("email", "transactional", bcc="archive@volley.example")
    results = get_transport(config).send_batch(
        [
            outbound(1, "nobody@example.com"),
            outbound(2, "busy@example.com"),
            outbound(3, "ann@example.com"),
        ]
    )
    nobody, busy, ann = results
    assert not nobody.ok and nobody.permanent and nobody.reason.startswith("550")
    assert not busy.ok and not busy.permanent and busy.reason.startswith("451")
    assert ann.ok
    # The refused recipients' BCC copies went out, but only Ann's counts as sent.
    assert [sorted(e.rcpt_tos) for e in sink.envelopes][-1] == [
        "ann@example.com",
        "archive@volley.example",
    ]
