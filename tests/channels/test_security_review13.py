"""Security review 13 (issue 10): guards for probes of the pipelined SMTP path
that held (docs/security-review-13.md, "What was probed and held")."""

from __future__ import annotations

import pytest

from channels.rendering import RenderedMessage
from channels.transports import OutboundMessage, get_transport
from tests.channels.test_smtp_pipelining import sink  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

# What a template or a profile could put into a message to end it early and
# start another transaction in the same pipelined write.
SMUGGLED = (
    "\r\n.\r\nMAIL FROM:<x@evil.example>\r\nRCPT TO:<victim@evil.example>\r\nDATA\r\n"
    "Subject: smuggled\r\n\r\nhi\r\n.\r\n"
)
BREAKS = [SMUGGLED, SMUGGLED.replace("\r\n", "\n"), SMUGGLED.replace("\r\n", "\r"), "\r.\r"]


@pytest.mark.parametrize("from_name", ["Volley", "A\r\nBcc: victim@evil.example"])
def test_no_message_of_a_pipelined_batch_breaks_into_another(sink, make_config, from_name):  # noqa: F811
    """Line breaks and lone dots in the subject, both bodies, the List-Unsubscribe
    URL and the language of a batch's messages (and in the sender's name):
    every message arrives alone, to its one recipient, with one Subject and no
    Bcc header; a value that cannot be a header fails its own message only."""
    config = make_config("email", "marketing", from_name=from_name)
    messages = []
    for value in BREAKS:
        for field in ("subject", "text", "html", "unsubscribe_url", "locale"):
            rendered = RenderedMessage(subject="S", text="T\n", html="<p>H</p>")
            setattr(rendered, field, getattr(rendered, field, "") + "a" + value + "b")
            n = len(messages) + 1
            messages.append(OutboundMessage(n, f"r{n}@example.com", rendered, "marketing"))
    results = get_transport(config).send_batch(messages)

    sent = sorted(r.delivery_id for r in results if r.ok)
    assert len(sent) >= 3 * len(BREAKS)  # subject and bodies always go out
    envelopes = sink.envelopes
    assert sorted(int(e.rcpt_tos[0][1:].split("@")[0]) for e in envelopes) == sent
    for envelope in envelopes:
        assert len(envelope.rcpt_tos) == 1 and "evil" not in envelope.rcpt_tos[0]
        assert envelope.mail_from == "news@volley.example"
        head = envelope.content.split(b"\r\n\r\n")[0]
        names = [line.split(b":")[0] for line in head.split(b"\r\n") if line[:1].isalpha()]
        assert names.count(b"Subject") == 1 and b"Bcc" not in names, head
