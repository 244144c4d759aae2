"""Email bytes assembled without Django's per-message MIME machinery.

Django builds a tree of ``email.message`` objects for every message and
serializes it with the email package's generator: on this kind of machine that
costs about as much as the SMTP exchange itself. A campaign batch sends the same
shape many times, so ``MimeAssembler`` builds the fixed parts once per batch
(From, Reply-To, the MIME skeleton with its boundary and part headers) and each
message only fills in the personal parts: To, Subject, Date, Message-ID, the
List-Unsubscribe headers and the two bodies.

What it produces is always a valid 7-bit message:

* bodies are UTF-8 in quoted-printable (``binascii.b2a_qp``, C speed): every
  line is at most 76 octets, trailing whitespace, a lone ``.`` and ``From ``
  at the start of a line are encoded, and any mix of CR, LF and CRLF becomes
  CRLF line breaks;
* the boundary starts with ``=_``, which quoted-printable can never produce, so
  it cannot occur in a body;
* headers that are not plain printable ASCII, or that would not fold into lines
  of 78 characters, are RFC 2047 encoded words (base64 of whole UTF-8
  characters), folded so no line exceeds 78 characters;
* every line ends with CRLF, as SMTP wants (SMTP clients dot-stuff the bytes
  but do not fix their line endings; ``channels.smtp`` sends them);
* BCC is never a header: ``envelope`` returns it as a recipient.

Anything unusual (an address that is not a plain ASCII addr-spec, a URL or id
that is not printable ASCII) is not handled here: ``MimeAssembler`` or
``build`` raises ``Unsupported`` and the transport falls back to Django's
``EmailMultiAlternatives`` for that batch or message. A display name or a
subject in any script is handled here.
"""

from __future__ import annotations

import binascii
import re
import secrets
import time
from email.utils import formataddr, formatdate

__all__ = ["MimeAssembler", "Unsupported", "encode_header", "encode_body"]

# Plain addr-spec: dot-atom local part and an ASCII host name. Anything else
# (quoted local parts, display names, IDN) goes through Django's sanitize_address.
_SIMPLE_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
)
# Header text that must be encoded: anything outside printable ASCII, and "=?",
# which a reader could take for the start of an encoded word.
_NEEDS_ENCODING = re.compile(r"[^\x20-\x7e]|=\?")
_FROM_LINE = re.compile(rb"^From ", re.MULTILINE)

MAX_LINE = 78  # RFC 5322's recommended limit (the hard one is 998)
# An encoded word is "=?utf-8?b?" + base64 + "?=" (12 octets of framing) and at
# most 75 octets long; 42 octets of text make 56 of base64: a 68-octet word that
# fits on the first line after "Subject: ".
_WORD_BYTES = 42
# A word that may stay as it is in a header: printable ASCII (atext only in a
# display name, where specials would need quoting), short enough to fold.
_PLAIN_TEXT_WORD = re.compile(r"[\x21-\x7e]{1,68}")
_PLAIN_PHRASE_WORD = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,68}")
_CRLF = b"\r\n"


class Unsupported(ValueError):
    """This message needs Django's general path (unusual address)."""


def _utf8_chunks(data: bytes, size: int):
    """``data`` in pieces of at most ``size`` octets, never splitting a character."""
    start, end_all = 0, len(data)
    while start < end_all:
        end = min(start + size, end_all)
        # Back off while the next octet continues a character (10xxxxxx).
        while end < end_all and (data[end] & 0xC0) == 0x80:
            end -= 1
        yield data[start:end]
        start = end


def _encoded_words(text: str) -> list[bytes]:
    """``text`` as base64 encoded words of whole characters (readers join them)."""
    return [
        b"=?utf-8?b?" + binascii.b2a_base64(chunk, newline=False) + b"?="
        for chunk in _utf8_chunks(text.encode("utf-8"), _WORD_BYTES)
    ]


def _tokens(value: str, plain: re.Pattern) -> list[bytes]:
    """The value as space-separated tokens: plain words as they are, every run
    of other words as encoded words (the spaces inside a run go inside them)."""
    words = value.split(" ")
    if "" in words:  # leading, trailing or repeated spaces: keep them exactly
        return _encoded_words(value)
    tokens: list[bytes] = []
    run: list[str] = []
    for word in words:
        if plain.fullmatch(word) and "=?" not in word:
            if run:
                tokens += _encoded_words(" ".join(run))
                run = []
            tokens.append(word.encode("ascii"))
        else:
            run.append(word)
    if run:
        tokens += _encoded_words(" ".join(run))
    return tokens


def _fold(name: str, tokens: list[bytes]) -> bytes:
    """``Name: token token…`` folded before a token so lines stay ≤ 78 octets."""
    lines = [name.encode("ascii") + b":"]
    for token in tokens:
        # The first token always stays on the header's own line.
        if len(lines) == 1 and len(lines[0]) == len(name) + 1:
            lines[0] += b" " + token
        elif len(lines[-1]) + 1 + len(token) <= MAX_LINE:
            lines[-1] += b" " + token
        else:
            lines.append(b" " + token)
    return b"\r\n".join(lines) + _CRLF


def encode_header(name: str, value: str) -> bytes:
    """One unstructured header (Subject): ``Name: value\\r\\n``, folded, encoded if needed.

    Line breaks inside the value become single spaces (a header is one line).
    """
    if "\n" in value or "\r" in value:
        value = " ".join(value.split())
    if len(name) + 2 + len(value) <= MAX_LINE and not _NEEDS_ENCODING.search(value):
        return f"{name}: {value}".encode("ascii") + _CRLF
    return _fold(name, _tokens(value, _PLAIN_TEXT_WORD))


def _address_header(name: str, display: str, address: str) -> bytes:
    """``From: Name <addr>`` with a quoted or encoded display name, folded."""
    if not _SIMPLE_ADDRESS.fullmatch(address):
        raise Unsupported(f"unusual address {address!r}")
    if not display:
        return f"{name}: {address}".encode("ascii") + _CRLF
    if not _NEEDS_ENCODING.search(display):
        line = f"{name}: {formataddr((display, address))}"
        if len(line) <= MAX_LINE:
            return line.encode("ascii") + _CRLF
    if "\n" in display or "\r" in display:
        display = " ".join(display.split())
    tokens = _tokens(display, _PLAIN_PHRASE_WORD)
    return _fold(name, [*tokens, f"<{address}>".encode("ascii")])


def encode_body(text: str) -> bytes:
    """UTF-8 quoted-printable with CRLF line breaks (CR, LF and CRLF all count)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True)
    if b"From " in encoded:
        # Mailbox files mangle a line starting "From "; keep it byte-exact.
        encoded = _FROM_LINE.sub(b"=46rom ", encoded)
    return encoded.replace(b"\n", b"\r\n")


def _part_headers(subtype: str) -> bytes:
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n"
    ).encode("ascii")


class MimeAssembler:
    """Builds the messages of one sender configuration; the skeleton is made once.

    ``build`` returns the message bytes; ``envelope`` the SMTP envelope
    (sender, recipients) — the only place a BCC address appears.
    """

    def __init__(
        self,
        *,
        from_address: str,
        from_name: str = "",
        reply_to: str = "",
        bcc: str = "",
        localtime: bool = False,
        boundary: str | None = None,
    ) -> None:
        if bcc and not _SIMPLE_ADDRESS.fullmatch(bcc):
            raise Unsupported(f"unusual address {bcc!r}")
        self.from_address = from_address
        self.bcc = bcc
        self.localtime = localtime
        fixed = _address_header("From", from_name, from_address)
        self.reply_to = _address_header("Reply-To", "", reply_to) if reply_to else b""
        # "=_" never occurs in quoted-printable: the boundary cannot be in a body.
        self.boundary = boundary or f"=_volley_{secrets.token_hex(12)}"
        if not self.boundary.startswith("=_"):
            raise ValueError("the boundary must start with '=_'")
        b = self.boundary.encode("ascii")
        self.from_header = fixed
        self.alternative_head = (
            b"MIME-Version: 1.0\r\n"
            b'Content-Type: multipart/alternative;\r\n boundary="' + b + b'"\r\n'
            b"\r\n--" + b + b"\r\n" + _part_headers("plain") + b"\r\n"
        )
        self.alternative_middle = b"\r\n--" + b + b"\r\n" + _part_headers("html") + b"\r\n"
        self.alternative_end = b"\r\n--" + b + b"--\r\n"
        self.plain_head = b"MIME-Version: 1.0\r\n" + _part_headers("plain") + b"\r\n"
        self.html_head = b"MIME-Version: 1.0\r\n" + _part_headers("html") + b"\r\n"
        self._date_second = -1
        self._date = b""

    def _date_header(self) -> bytes:
        second = int(time.time())
        if second != self._date_second:
            self._date_second = second
            value = formatdate(second, localtime=self.localtime)
            self._date = b"Date: " + value.encode("ascii") + _CRLF
        return self._date

    def envelope(self, to: str) -> tuple[str, list[str]]:
        return self.from_address, [to, self.bcc] if self.bcc else [to]

    def build(
        self,
        *,
        to: str,
        subject: str,
        message_id: str,
        text: str,
        html: str = "",
        unsubscribe_url: str = "",
        content_language: str = "",
    ) -> bytes:
        """The message's bytes; ``Unsupported`` for an address this path does not take."""
        if not _SIMPLE_ADDRESS.fullmatch(to):
            raise Unsupported(f"unusual address {to!r}")
        parts = [
            self.from_header,
            b"To: " + to.encode("ascii") + _CRLF,
            encode_header("Subject", subject),
            self._date_header(),
            _simple_header("Message-ID", message_id),
        ]
        if self.reply_to:
            parts.append(self.reply_to)
        if content_language:  # a translation (SPEC §11): RFC 3282
            parts.append(_simple_header("Content-Language", content_language))
        if unsubscribe_url:
            parts.append(_simple_header("List-Unsubscribe", f"<{unsubscribe_url}>"))
            parts.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
        if html and text:
            parts += (
                self.alternative_head,
                encode_body(text),
                self.alternative_middle,
                encode_body(html),
                self.alternative_end,
            )
        else:
            # One part, as Django sends it: an empty text part is left out.
            body = encode_body(html) if html else encode_body(text)
            parts += (self.html_head if html else self.plain_head, body)
            if body and not body.endswith(_CRLF):
                # The message must end with a line break; a soft one adds nothing.
                parts.append(b"=\r\n")
        return b"".join(parts)


def _simple_header(name: str, value: str) -> bytes:
    """A header whose value is printable ASCII without spaces (ids, URLs)."""
    if _NEEDS_ENCODING.search(value) or " " in value:
        raise Unsupported(f"{name} must be printable ASCII: {value!r}")
    line = f"{name}: {value}"
    if len(line) > MAX_LINE:
        if len(value) > 996:
            raise Unsupported(f"{name} is too long")
        line = f"{name}:\r\n {value}"  # on its own line, still one token
    return line.encode("ascii") + _CRLF
