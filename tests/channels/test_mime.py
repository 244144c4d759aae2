"""channels.mime: message bytes built without Django's MIME machinery, checked by
parsing them back and comparing with what Django's EmailMultiAlternatives makes."""

from __future__ import annotations

import base64
import random
import re
import smtplib
from email import message_from_bytes, policy

import pytest
from django.core.mail import EmailMultiAlternatives

from channels.mime import MimeAssembler, Unsupported, encode_body, encode_header
from channels.rendering import RenderedMessage
from channels.smtp import send_raw
from channels.transports import EmailTransport, OutboundMessage, get_transport, message_id

MID = "<delivery-1.0123456789abcdef@volley.example>"
UNSUBSCRIBE = "https://volley.example/t/u/" + "A1b2-_" * 20


def assembler(**kwargs) -> MimeAssembler:
    fields = {
        "from_address": "news@volley.example",
        "from_name": "Zoë from Volley",
        "reply_to": "help@volley.example",
        "bcc": "archive@volley.example",
    }
    fields.update(kwargs)
    return MimeAssembler(**fields)


def django_bytes(*, from_name, subject, text, html, unsubscribe="", to="ann@example.com") -> bytes:
    headers = {"Message-ID": MID}
    if unsubscribe:
        headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    from email.utils import formataddr

    email = EmailMultiAlternatives(
        subject,
        text,
        formataddr((from_name, "news@volley.example")),
        [to],
        bcc=["archive@volley.example"],
        reply_to=["help@volley.example"],
        headers=headers,
    )
    if html:
        email.attach_alternative(html, "text/html")
    return email.message().as_bytes(linesep="\r\n")


def parse(data: bytes):
    return message_from_bytes(data, policy=policy.default)


def lines_of(data: bytes) -> list[bytes]:
    assert data.endswith(b"\r\n")
    return data[:-2].split(b"\r\n")


def assert_wire_valid(data: bytes, *, header_limit: int = 78) -> None:
    """7-bit, CRLF only, lines ≤ 998 octets (headers ≤ 78), and no parse defects."""
    assert data.isascii()
    lines = lines_of(data)
    for line in lines:
        assert b"\r" not in line and b"\n" not in line, line
        assert len(line) <= 998
    head = lines[: lines.index(b"")]
    # Only a single unbreakable token (a long URL) may make a header line longer.
    long = [line for line in head if len(line) > header_limit and b" " in line.strip()]
    assert not long, long
    message = parse(data)
    for part in message.walk():
        assert not part.defects, part.defects
    for name, value in message.items():
        assert not getattr(value, "defects", ()), (name, value.defects)


def norm(text: str) -> str:
    """Line breaks as a text part carries them: CR, LF and CRLF are all one break."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def bodies(message) -> tuple[str, str]:
    """(text, html); a missing part reads as "" (Django leaves an empty text part out)."""
    plain = message.get_body(("plain",))
    rich = message.get_body(("html",))
    return (
        norm(plain.get_content()) if plain is not None else "",
        norm(rich.get_content()) if rich is not None else "",
    )


_ENCODED_WORD = re.compile(r"=\?utf-8\?b\?([A-Za-z0-9+/=]*)\?=", re.IGNORECASE)


def rfc2047(raw_header: str) -> str:
    """What an RFC 2047 reader shows: unfolded, encoded words decoded, and the
    whitespace between two adjacent encoded words dropped (§6.2). (Python's
    decode_header also drops the space between a plain and an encoded word.)"""
    unfolded = re.sub(r"\r?\n(?=[ \t])", "", raw_header).lstrip(" \t")
    out, pos, after_word = [], 0, False
    for match in _ENCODED_WORD.finditer(unfolded):
        between = unfolded[pos : match.start()]
        if not (after_word and between.strip(" \t") == ""):
            out.append(between)
        out.append(base64.b64decode(match.group(1)).decode("utf-8"))
        pos, after_word = match.end(), True
    out.append(unfolded[pos:])
    return "".join(out)


def raw_header(data: bytes, name: str) -> str:
    compat = message_from_bytes(data, policy=policy.compat32)
    return compat[name]


def build(a: MimeAssembler, **kwargs) -> bytes:
    fields = {
        "to": "ann@example.com",
        "subject": "Hello",
        "message_id": MID,
        "text": "Hi",
        "html": "<p>Hi</p>",
    }
    fields.update(kwargs)
    return a.build(**fields)


# --- headers ---------------------------------------------------------------------


def test_headers_match_what_django_would_send():
    text, html = "Hi Zoë 😀\n", "<p>Hi Zoë 😀</p>"
    ours = build(
        assembler(), subject="Grüße, Zoë 😀", text=text, html=html, unsubscribe_url=UNSUBSCRIBE
    )
    theirs = django_bytes(
        from_name="Zoë from Volley",
        subject="Grüße, Zoë 😀",
        text=text,
        html=html,
        unsubscribe=UNSUBSCRIBE,
    )
    assert_wire_valid(ours)
    mine, django = parse(ours), parse(theirs)
    for name in ("From", "To", "Subject", "Reply-To", "Message-ID", "List-Unsubscribe-Post"):
        assert mine[name] == django[name], name
    assert mine["List-Unsubscribe"].strip() == django["List-Unsubscribe"].strip()
    assert mine["From"].addresses[0].display_name == "Zoë from Volley"
    assert mine["From"].addresses[0].addr_spec == "news@volley.example"
    assert mine["Message-ID"] == MID
    assert mine["List-Unsubscribe"].strip() == f"<{UNSUBSCRIBE}>"
    assert mine["Date"].datetime is not None
    assert mine["MIME-Version"] == "1.0"
    assert mine.get_content_type() == "multipart/alternative"
    assert mine["Bcc"] is None and b"archive@" not in ours
    assert bodies(mine) == bodies(django) == (text, html)


def test_bcc_is_only_an_envelope_recipient():
    a = assembler()
    assert a.envelope("ann@example.com") == (
        "news@volley.example",
        ["ann@example.com", "archive@volley.example"],
    )
    assert assembler(bcc="").envelope("ann@example.com")[1] == ["ann@example.com"]
    assert b"Bcc" not in build(a)


def test_html_with_an_empty_text_is_one_html_part_as_django_sends_it():
    data = build(assembler(), text="", html="<p>é</p>")
    assert_wire_valid(data)
    message = parse(data)
    assert message.get_content_type() == "text/html"
    assert norm(message.get_content()) == "<p>é</p>"
    django = parse(django_bytes(from_name="", subject="s", text="", html="<p>é</p>"))
    assert bodies(django) == bodies(message) == ("", "<p>é</p>")


def test_without_html_the_message_is_one_text_part():
    data = build(assembler(), text="Only text, é\n", html="")
    assert_wire_valid(data)
    message = parse(data)
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert norm(message.get_content()) == "Only text, é\n"
    assert b"multipart" not in data


def test_transactional_messages_have_no_unsubscribe_headers():
    message = parse(build(assembler()))
    assert message["List-Unsubscribe"] is None and message["List-Unsubscribe-Post"] is None


@pytest.mark.parametrize(
    "subject",
    [
        "Plain ASCII",
        "Weekly update: " + "words that go on and on " * 12,
        "x" * 300,  # one word longer than a line
        "Grüße aus Köln, " * 20,
        "😀" * 60,
        "日本語のニュースレター" * 8,
        "Ünïcödé then a long ASCII tail " + "and more ASCII words " * 8,
        "=?utf-8?q?not_an_encoded_word?=",
        "Price: 5 = 5 ?",
        "",
    ],
)
def test_subjects_are_folded_encoded_and_read_back_exactly(subject):
    data = build(assembler(), subject=subject)
    assert_wire_valid(data)
    assert parse(data)["Subject"] == subject
    assert rfc2047(raw_header(data, "Subject")) == subject
    if "=?" not in subject:  # Django decodes a literal "=?…?=" in a subject: we keep it
        django = parse(django_bytes(from_name="", subject=subject, text="Hi", html=""))
        # (Django's folding may add a leading or lose a trailing space.)
        assert parse(data)["Subject"].strip() == django["Subject"].strip()


def test_a_subject_with_line_breaks_becomes_one_line():
    data = build(assembler(), subject="Hello\r\nBcc: victim@example.com")
    assert parse(data)["Subject"] == "Hello Bcc: victim@example.com"
    assert parse(data)["Bcc"] is None


def test_encode_header_keeps_runs_of_spaces_and_tabs():
    for value in ["two  spaces", " leading", "tab\there", "trailing "] * 1:
        line = encode_header("Subject", value + " é")
        assert parse(line + b"\r\n")["Subject"] == value + " é"


@pytest.mark.parametrize(
    "name",
    [
        "Volley",
        "Volley, Inc.",  # specials: quoted
        'The "Best" Shop',
        "Zoë Müller",
        "Zoë Müller — Nieuwsbrief van de Vereniging voor Heel Lange Namen en Zo Verder",
        "Newsletter of the Association for Remarkably Long Sender Names, Amsterdam",
        "😀",
    ],
)
def test_from_display_names(name):
    data = build(assembler(from_name=name))
    assert_wire_valid(data)
    address = parse(data)["From"].addresses[0]
    assert address.display_name == name
    assert address.addr_spec == "news@volley.example"
    django = parse(django_bytes(from_name=name, subject="s", text="t", html=""))
    assert django["From"].addresses[0].display_name == name


def test_a_long_run_of_non_ascii_in_a_name_is_split_into_words_rfc2047_readers_join():
    # Python's modern address parser keeps the space between two encoded words of
    # a display name (RFC 2047 §6.2 says to drop it), so read it as an MUA does.
    name = "Новости компании Ромашка и её друзей из Санкт-Петербурга"
    data = build(assembler(from_name=name))
    assert_wire_valid(data)
    assert rfc2047(raw_header(data, "From")) == f"{name} <news@volley.example>"


def test_unusual_addresses_are_left_to_django():
    with pytest.raises(Unsupported):
        build(assembler(), to="zoë@example.com")
    with pytest.raises(Unsupported):
        build(assembler(), to="not an address\n")
    with pytest.raises(Unsupported):
        assembler(from_address="news@exämple.com")
    with pytest.raises(Unsupported):
        assembler(bcc='"odd"@example.com')


def test_the_boundary_never_occurs_in_a_body():
    a = assembler(boundary="=_fixed")
    text = "--=_fixed\n--=_fixed--\n=_fixed"
    data = build(a, text=text, html=text)
    assert data.count(b"--=_fixed\r\n") == 2 and data.count(b"--=_fixed--") == 1
    assert bodies(parse(data)) == (text, text)
    with pytest.raises(ValueError):
        assembler(boundary="plain")


# --- bodies ----------------------------------------------------------------------

AWKWARD_BODIES = [
    "Hi Zoë, 😀 ünïcödé and 日本語\n",
    "x" * 5000,  # one line far over 998 octets
    "é" * 3000 + "\n" + "y" * 1200,
    ".\n.. two dots\n.\r\n.",  # lines starting with a dot (SMTP's end of data)
    "From the desk of the editor\nFrom here on\n>From quoted",
    "CRLF\r\nLF\nCR\rmixed\r\n\r\n\n\r",
    "trailing spaces   \ntrailing tab\t\nend with space ",
    "= signs == and =_ and =?x?= and =3D",
    "\x00\x01\x07\x0b\x0c\x1b\x7f control characters",
    "",
]


@pytest.mark.parametrize("text", AWKWARD_BODIES)
def test_bodies_read_back_exactly_and_lines_stay_short(text):
    html = f"<p>{text}</p>"
    data = build(assembler(), text=text, html=html)
    assert_wire_valid(data)
    assert max(len(line) for line in lines_of(data)) <= 998
    mine = bodies(parse(data))
    assert mine == (norm(text), norm(html))
    django = parse(django_bytes(from_name="", subject="s", text=text, html=html))
    assert mine == bodies(django)


def test_encode_body_output_is_quoted_printable_with_crlf():
    encoded = encode_body("a\rb\nc\r\nFrom x\n.\n" + "é" * 100)
    assert b"\n" not in encoded.replace(b"\r\n", b"")
    assert b"\r" not in encoded.replace(b"\r\n", b"")
    assert b"\r\nFrom " not in encoded and not encoded.startswith(b"From ")
    assert all(len(line) <= 76 for line in encoded.split(b"\r\n"))


def test_random_unicode_round_trips_like_django():
    """Property-style: many random strings from awkward alphabets, seeded."""
    rng = random.Random(20261130)
    alphabet = (
        list("abcXYZ019 .,;:=?_-\"'<>@()[]\\")
        + [" ", "  ", "\t", "\r", "\n", "\r\n", ".", "From ", "=_", "=?", "?=", "--"]
        + ["é", "ß", "Ω", "Ж", "中", "日本", "😀", "👍🏽", "\u0301", "\u200b", "\ufeff", "\x00"]
        + ["a" * 80, "é" * 50, "w" * 1100]
    )

    def random_text(n):
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, n)))

    for round_ in range(150):
        text, html = random_text(60), random_text(60)
        # Subjects and names arrive on one line (rendering and the model's clean
        # collapse whitespace); encode_header itself must take anything else.
        subject = " ".join(random_text(25).split())
        name = " ".join(random_text(10).replace("\x00", "").split())
        a = assembler(from_name=name)
        unsubscribe = UNSUBSCRIBE if round_ % 2 else ""
        data = build(a, subject=subject, text=text, html=html, unsubscribe_url=unsubscribe)
        assert_wire_valid(data)
        mine = parse(data)
        assert mine["Subject"] == subject, (round_, subject)
        assert rfc2047(raw_header(data, "Subject")) == subject
        shown = rfc2047(raw_header(data, "From"))
        assert shown.endswith("<news@volley.example>") or shown == "news@volley.example"
        assert mine["From"].addresses[0].addr_spec == "news@volley.example"
        if not name or len(name.encode()) <= 42:
            assert mine["From"].addresses[0].display_name == name, (round_, name)
        assert mine["To"] == "ann@example.com"
        assert bodies(mine) == (norm(text), norm(html)), round_
        django = parse(
            django_bytes(
                from_name=name, subject=subject, text=text, html=html, unsubscribe=unsubscribe
            )
        )
        assert bodies(mine) == bodies(django)
        if "=?" not in subject:
            assert mine["Subject"] == django["Subject"].strip()


# --- through the transport ------------------------------------------------------


def outbound(delivery_id, to="ann@example.com", **rendered) -> OutboundMessage:
    fields = {"subject": "Hello Zoë 😀", "text": "Hi Zoë\n", "html": "<p>Hi Zoë</p>"}
    fields.update(rendered)
    return OutboundMessage(
        delivery_id=delivery_id, to=to, rendered=RenderedMessage(**fields), category="marketing"
    )


def no_django_mime(monkeypatch):
    def refuse(self, *args, **kwargs):
        raise AssertionError("Django's MIME assembly was used")

    monkeypatch.setattr(EmailMultiAlternatives, "message", refuse)


def test_the_sink_receives_parseable_messages_through_the_transport(
    smtp_sink, make_config, monkeypatch
):
    no_django_mime(monkeypatch)
    config = make_config("email", "marketing", bcc="archive@volley.example")
    config.from_name = "Zoë — Volley"
    batch = [
        outbound(
            i,
            to=f"p{i}@example.com",
            subject=f"Nieuws {i}: " + "lange onderwerpregel " * 6 + "😀",
            text=AWKWARD_BODIES[i % len(AWKWARD_BODIES)],
            html=f"<p>{AWKWARD_BODIES[(i + 1) % len(AWKWARD_BODIES)]}</p>",
            unsubscribe_url=UNSUBSCRIBE if i % 2 else "",
        )
        for i in range(12)
    ]
    results = get_transport(config).send_batch(batch)
    assert all(r.ok for r in results)
    assert [r.provider_message_id for r in results] == [
        message_id(f"delivery-{i}", config.from_address) for i in range(12)
    ]
    assert len(smtp_sink.messages) == 12
    for i, (received, envelope) in enumerate(
        zip(smtp_sink.messages, smtp_sink.envelopes, strict=True)
    ):
        source = batch[i].rendered
        assert_wire_valid(envelope.content)
        assert sorted(envelope.rcpt_tos) == sorted([f"p{i}@example.com", "archive@volley.example"])
        assert envelope.mail_from == "news@volley.example"
        assert received["Bcc"] is None
        assert received["From"].addresses[0].display_name == "Zoë — Volley"
        assert received["To"] == f"p{i}@example.com"
        assert received["Subject"] == source.subject
        assert received["Message-ID"] == results[i].provider_message_id
        assert (received["List-Unsubscribe"] is not None) == bool(i % 2)
        assert bodies(received) == (norm(source.text), norm(source.html))


def test_an_unusual_recipient_address_still_goes_out_through_django(smtp_sink, make_config):
    results = get_transport(make_config()).send_batch(
        [outbound(1, to="zoë@exämple.com"), outbound(2)]
    )
    assert [r.ok for r in results] == [True, True]
    assert "xn--exmple-cua.com" in smtp_sink.envelopes[0].rcpt_tos[0]
    assert smtp_sink.messages[1]["To"] == "ann@example.com"


def test_recipient_refused_while_the_bcc_copy_is_accepted_fails_the_delivery(
    smtp_sink, make_config
):
    config = make_config("email", "marketing", bcc="archive@volley.example")
    results = get_transport(config).send_batch(
        [outbound(1, to="nobody@example.com"), outbound(2, to="busy@example.com"), outbound(3)]
    )
    nobody, busy, ann = results
    assert not nobody.ok and nobody.permanent and nobody.reason.startswith("550")
    assert not busy.ok and not busy.permanent and busy.reason.startswith("451")
    assert ann.ok


def test_a_dropped_connection_fails_that_message_transiently_and_the_batch_reconnects(
    smtp_sink, make_config, monkeypatch
):
    from channels import smtp as smtp_module

    calls = []

    def flaky(smtp, *args):
        calls.append(smtp)
        if len(calls) == 2:
            smtp.close()
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return send_raw(smtp, *args)

    monkeypatch.setattr(smtp_module, "send_raw", flaky)
    results = get_transport(make_config()).send_batch(
        [outbound(1, to="a@example.com"), outbound(2, to="b@example.com"), outbound(3)]
    )
    assert [(r.ok, r.permanent) for r in results] == [(True, False), (False, False), (True, False)]
    assert "unexpectedly closed" in results[1].reason
    assert calls[0] is not calls[2]  # a new session after the drop
    assert [m["To"] for m in smtp_sink.messages] == ["a@example.com", "ann@example.com"]


def test_other_backends_keep_djangos_message(make_config):
    from django.core import mail

    # locmem (the tests' EMAIL_URL) receives EmailMultiAlternatives as before.
    results = EmailTransport(make_config()).send_batch([outbound(4)])
    assert results[0].ok
    [sent] = mail.outbox
    assert sent.subject == "Hello Zoë 😀"
    assert sent.alternatives[0][0] == "<p>Hi Zoë</p>"
    assert sent.extra_headers["Message-ID"] == results[0].provider_message_id
