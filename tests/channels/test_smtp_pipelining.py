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
    from tests.channels.conftest import serve_sink

    handler = PipeliningSink(pipelining=request.param)
    controller = serve_sink(settings, handler)
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


# ----------------------------------------------------------- Pipeline: a batch


class ClosingSink(PipeliningSink):
    """Also: ``421`` to the content of a message with "bye" in it (and closes
    the session), and a connection dropped at ``RCPT TO:<drop@…>``."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address.startswith("drop@"):
            server.transport.close()
            return "250 OK"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if b"bye" in envelope.content:
            import asyncio

            asyncio.get_running_loop().call_soon(server.transport.close)
            return "421 4.3.2 Shutting down"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture(params=[True, False], ids=["pipelining", "one-by-one"])
def closing_sink(request, settings):
    from aiosmtpd.controller import Controller

    from tests.channels.conftest import _free_port

    handler = ClosingSink(pipelining=request.param)
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    handler.port = controller.port
    try:
        yield handler
    finally:
        controller.stop()


def _sessions(port: int):
    """A ``session()`` for ``Pipeline`` that reopens a closed session, counting
    every write and every session it opened."""
    opened: list[smtplib.SMTP] = []
    writes: list[bytes] = []

    def session():
        if not opened or opened[-1].sock is None:
            client = smtplib.SMTP("127.0.0.1", port, timeout=10)
            original = client.send

            def counting(data):
                writes.append(data if isinstance(data, bytes) else data.encode())
                return original(data)

            client.send = counting
            opened.append(client)
        return opened[-1]

    session.opened, session.writes = opened, writes
    return session


def _run(pipeline, batch):
    outcomes = []
    for key, (sender, recipients, data) in enumerate(batch):
        outcomes += pipeline.submit(key, sender, recipients, data)
    outcomes += pipeline.flush()
    return outcomes


def body(n: int, extra: bytes = b"") -> bytes:
    return b"Subject: m%d\r\n\r\n.dot %d\r\n%s" % (n, n, extra)


def test_a_pipelined_batch_costs_one_write_a_message_and_arrives_intact(closing_sink):
    from channels.smtp import Pipeline

    session = _sessions(closing_sink.port)
    batch = [("news@volley.example", [f"p{n}@example.com"], body(n)) for n in range(6)]
    outcomes = _run(Pipeline(session), batch)
    assert sorted(outcomes, key=lambda o: o[0]) == [(n, {}) for n in range(6)]
    assert [e.content for e in closing_sink.envelopes] == [body(n) for n in range(6)]
    assert [e.rcpt_tos for e in closing_sink.envelopes] == [[f"p{n}@example.com"] for n in range(6)]
    transaction_writes = [w for w in session.writes if not w.lower().startswith(b"ehlo")]
    if closing_sink.pipelining:
        # The first envelope, then each content with the next envelope, then the last content.
        assert len(transaction_writes) == 7
        assert transaction_writes[1].startswith(b"Subject: m0\r\n\r\n..dot 0\r\n.\r\nMAIL FROM:")
        assert transaction_writes[1].endswith(b"RCPT TO:<p1@example.com>\r\nDATA\r\n")
    else:
        assert len(transaction_writes) == 6 * 4  # MAIL, RCPT, DATA, content
    assert len(session.opened) == 1


def test_refusals_in_a_pipeline_fail_only_their_message(closing_sink):
    from channels.smtp import Pipeline

    session = _sessions(closing_sink.port)
    batch = [
        ("news@volley.example", ["a@example.com"], body(0)),
        ("news@volley.example", ["nobody@example.com"], body(1)),  # every recipient refused
        ("news@volley.example", ["b@example.com", "busy@example.com"], body(2)),  # one of two
        ("blocked@volley.example", ["c@example.com"], body(3)),  # sender refused
        ("news@volley.example", ["busy@example.com"], body(4)),
        ("news@volley.example", ["d@example.com"], body(5)),
    ]
    outcomes = dict(_run(Pipeline(session), batch))
    assert sorted(outcomes) == list(range(6))
    assert outcomes[0] == {} and outcomes[5] == {}
    assert isinstance(outcomes[1], smtplib.SMTPRecipientsRefused)
    assert outcomes[1].recipients["nobody@example.com"][0] == 550
    assert list(outcomes[2]) == ["busy@example.com"] and outcomes[2]["busy@example.com"][0] == 451
    assert isinstance(outcomes[3], smtplib.SMTPSenderRefused)
    assert (outcomes[3].smtp_code, outcomes[3].sender) == (550, "blocked@volley.example")
    assert isinstance(outcomes[4], smtplib.SMTPRecipientsRefused)
    # The session was reset after each refusal and sent the rest: one session.
    assert [e.rcpt_tos for e in closing_sink.envelopes] == [
        ["a@example.com"],
        ["b@example.com"],
        ["d@example.com"],
    ]
    assert len(session.opened) == 1


def test_a_421_to_the_content_fails_that_message_and_the_next_goes_on_a_new_session(
    closing_sink,
):
    from channels.smtp import Pipeline

    session = _sessions(closing_sink.port)
    batch = [
        ("news@volley.example", ["a@example.com"], body(0)),
        ("news@volley.example", ["b@example.com"], body(1, b"bye\r\n")),
        ("news@volley.example", ["c@example.com"], body(2)),
        ("news@volley.example", ["d@example.com"], body(3)),
    ]
    outcomes = dict(_run(Pipeline(session), batch))
    assert outcomes[0] == {} and outcomes[2] == {} and outcomes[3] == {}
    assert isinstance(outcomes[1], smtplib.SMTPDataError) and outcomes[1].smtp_code == 421
    assert [e.rcpt_tos for e in closing_sink.envelopes] == [
        ["a@example.com"],
        ["c@example.com"],
        ["d@example.com"],
    ]
    assert len(session.opened) == 2


def test_a_dropped_connection_fails_the_message_in_flight_and_the_rest_reconnect(closing_sink):
    from channels.smtp import Pipeline

    session = _sessions(closing_sink.port)
    batch = [
        ("news@volley.example", ["a@example.com"], body(0)),
        ("news@volley.example", ["drop@example.com"], body(1)),
        ("news@volley.example", ["c@example.com"], body(2)),
    ]
    outcomes = dict(_run(Pipeline(session), batch))
    assert outcomes[0] == {} and outcomes[2] == {}
    assert isinstance(outcomes[1], (smtplib.SMTPServerDisconnected, OSError))
    assert [e.rcpt_tos for e in closing_sink.envelopes] == [["a@example.com"], ["c@example.com"]]
    assert len(session.opened) == 2


def test_an_address_smtplib_cannot_send_fails_before_anything_changes(closing_sink):
    from channels.smtp import Pipeline

    session = _sessions(closing_sink.port)
    pipeline = Pipeline(session)
    outcomes = pipeline.submit(0, "news@volley.example", ["a@example.com"], body(0))
    with pytest.raises(UnicodeEncodeError):
        pipeline.submit(1, "news@volley.example", ["zoë@example.com"], body(1))
    outcomes += pipeline.submit(2, "news@volley.example", ["c@example.com"], body(2))
    outcomes += pipeline.flush()
    assert sorted(outcomes, key=lambda o: o[0]) == [(0, {}), (2, {})]
    assert [e.rcpt_tos for e in closing_sink.envelopes] == [["a@example.com"], ["c@example.com"]]


def test_the_transport_pipelines_a_batch_and_gives_django_the_unusual_address_between(
    sink, make_config
):
    def outbound(delivery_id, to):
        rendered = RenderedMessage(subject=f"Hi {delivery_id}", text="Hi\n", html="<p>Hi</p>")
        return OutboundMessage(delivery_id, to, rendered, "transactional")

    results = get_transport(make_config("email", "transactional")).send_batch(
        [
            outbound(1, "ann@example.com"),
            outbound(2, "bob@example.com"),
            outbound(3, "zoë@example.com"),  # not channels.mime's: Django's message
            outbound(4, "nobody@example.com"),
            outbound(5, "cy@example.com"),
        ]
    )
    assert [(r.delivery_id, r.ok) for r in results] == [
        (1, True),
        (2, True),
        (3, True),
        (4, False),
        (5, True),
    ]
    assert results[3].permanent and results[3].reason.startswith("550")
    # In order, each exactly once, the unusual address after the two before it.
    assert [m["Subject"] for m in sink.messages] == ["Hi 1", "Hi 2", "Hi 3", "Hi 5"]
