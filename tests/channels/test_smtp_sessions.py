"""A batch of email over several SMTP sessions (channels.transports._Sessions):
message *i* on session *i mod n*, each message exactly once, every outcome its
own, and a server that will not take more sessions costs no message."""

from __future__ import annotations

import pytest

from channels.rendering import RenderedMessage
from channels.transports import OutboundMessage, _Sessions, get_transport
from tests.channels.conftest import serve_sink
from tests.channels.test_smtp_pipelining import ClosingSink


class SessionSink(ClosingSink):
    """Records which session carried each message (``drop@`` closes its
    session at RCPT, as for ``ClosingSink``); with ``one_session`` a second
    concurrent session is refused EHLO (as a server limiting connections per
    client would)."""

    def __init__(self, pipelining: bool = True, one_session: bool = False) -> None:
        super().__init__(pipelining)
        self.one_session = one_session
        self.peers: list = []  # per message, in arrival order
        self.greeted: set = set()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        if self.one_session and self.greeted - {session.peer}:
            return ["421 4.7.0 Too many sessions from your address"]
        self.greeted.add(session.peer)
        return await super().handle_EHLO(server, session, envelope, hostname, responses)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.peers.append(session.peer)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def serve(settings):
    controllers = []

    def start(handler):
        controllers.append(serve_sink(settings, handler))
        return handler

    yield start
    for controller in controllers:
        controller.stop()


def outbound(n: int, to: str | None = None) -> OutboundMessage:
    rendered = RenderedMessage(subject=f"m{n}", text=f"Hi {n}\n", html=f"<p>Hi {n}</p>")
    return OutboundMessage(n, to or f"p{n}@example.com", rendered, "transactional")


def send(make_config, messages):
    return get_transport(make_config("email", "transactional")).send_batch(messages)


def test_a_batch_spreads_over_the_configured_sessions_each_message_once(
    serve, make_config, settings
):
    settings.EMAIL_SMTP_SESSIONS = 3
    sink = serve(SessionSink())
    results = send(make_config, [outbound(n) for n in range(40)])
    assert [(r.delivery_id, r.ok) for r in results] == [(n, True) for n in range(40)]
    assert sorted(m["Subject"] for m in sink.messages) == sorted(f"m{n}" for n in range(40))
    assert len(sink.messages) == 40
    assert len(set(sink.peers)) == 3
    # Each result names its own message.
    assert all(f"delivery-{r.delivery_id}." in r.provider_message_id for r in results)
    by_subject = {m["Subject"]: m for m in sink.messages}
    assert by_subject["m17"]["To"] == "p17@example.com"


@pytest.mark.parametrize(
    ("sessions", "pipelining", "expected"),
    [(1, True, 1), (3, False, 1), (5, True, 5)],
    ids=["one-configured", "server-without-pipelining", "five"],
)
def test_how_many_sessions_a_batch_opens(
    serve, make_config, settings, sessions, pipelining, expected
):
    settings.EMAIL_SMTP_SESSIONS = sessions
    sink = serve(SessionSink(pipelining=pipelining))
    results = send(make_config, [outbound(n) for n in range(60)])
    assert all(r.ok for r in results)
    assert len(sink.messages) == 60
    assert len(set(sink.peers)) == expected


def test_a_small_batch_stays_on_one_session(serve, make_config, settings):
    settings.EMAIL_SMTP_SESSIONS = 3
    sink = serve(SessionSink())
    assert all(r.ok for r in send(make_config, [outbound(n) for n in range(_Sessions.EVERY)]))
    assert len(set(sink.peers)) == 1
    # …and in order, as over one session.
    assert [m["Subject"] for m in sink.messages] == [f"m{n}" for n in range(_Sessions.EVERY)]


def test_a_server_refusing_more_sessions_costs_no_message(serve, make_config, settings):
    settings.EMAIL_SMTP_SESSIONS = 4
    sink = serve(SessionSink(one_session=True))
    results = send(make_config, [outbound(n) for n in range(30)])
    assert [(r.delivery_id, r.ok) for r in results] == [(n, True) for n in range(30)]
    assert len(sink.messages) == 30
    assert len(set(sink.peers)) == 1


def test_refusals_and_a_dropped_session_fail_only_their_own_messages(serve, make_config, settings):
    settings.EMAIL_SMTP_SESSIONS = 3
    sink = serve(SessionSink())
    special = {20: "nobody@example.com", 21: "busy@example.com", 25: "drop@example.com"}
    results = send(make_config, [outbound(n, special.get(n)) for n in range(40)])
    failed = {r.delivery_id: r for r in results if not r.ok}
    assert failed[20].permanent and failed[20].reason.startswith("550")
    assert not failed[21].permanent and failed[21].reason.startswith("451")
    assert not failed[25].permanent  # unconfirmed: retried, counted as a possible duplicate
    # On the dropped session, the message whose content was in flight is
    # unconfirmed too (it may have arrived); nothing else fails.
    assert set(failed) - {20, 21, 25} <= {22}
    arrived = [m["Subject"] for m in sink.messages]
    assert len(arrived) == len(set(arrived))
    ok = {r.delivery_id for r in results if r.ok}
    assert ok <= {int(s[1:]) for s in arrived}
    assert len(ok) >= 36
