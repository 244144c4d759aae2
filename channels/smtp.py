"""One SMTP mail transaction for bytes that ``channels.mime`` built.

``smtplib.SMTP.sendmail`` with two differences that matter at campaign rates:

* the envelope addresses are already plain addr-specs (``channels.mime``
  checked them), so they are not parsed again with ``email.utils.parseaddr``;
* when the server advertises PIPELINING (RFC 2920; Postfix and the big email
  providers do) MAIL FROM, every RCPT TO and DATA go out in one write and their
  replies are read together: two round trips per message instead of three plus
  one per recipient. Over a WAN link to a provider that is most of the time a
  message takes.

Errors are smtplib's own exceptions with its semantics, so callers classify
them as before: ``SMTPSenderRefused``, ``SMTPRecipientsRefused`` (every
recipient refused; a partial refusal is returned as ``{address: (code, text)}``),
``SMTPDataError``, ``SMTPServerDisconnected``; a 421 answer closes the session.
"""

from __future__ import annotations

import re
import smtplib

__all__ = ["send_raw"]

_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


def _dot_stuffed(data: bytes) -> bytes:
    if b"\n." in data or data.startswith(b"."):
        data = _LEADING_DOT.sub(b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _give_up(smtp: smtplib.SMTP, code: int) -> None:
    """After a refusal: 421 means the server is closing; otherwise reset the transaction."""
    if code == 421:
        smtp.close()
    else:
        smtp._rset()  # noqa: SLF001 — smtplib's own quiet RSET, as sendmail uses it


def send_raw(
    smtp: smtplib.SMTP, sender: str, recipients: list[str], data: bytes
) -> dict[str, tuple[int, bytes]]:
    """Send ``data`` (CRLF lines, 7-bit) from ``sender`` to ``recipients``."""
    smtp.ehlo_or_helo_if_needed()
    esmtp = smtp.does_esmtp
    size = f" SIZE={len(data)}" if esmtp and smtp.has_extn("size") else ""
    mail = f"MAIL FROM:<{sender}>{size}\r\n"
    rcpts = [f"RCPT TO:<{address}>\r\n" for address in recipients]
    if esmtp and smtp.has_extn("pipelining"):
        smtp.send(mail + "".join(rcpts) + "DATA\r\n")
        mail_reply = smtp.getreply()
        rcpt_replies = [smtp.getreply() for _ in rcpts]
        data_reply = smtp.getreply()
    else:
        smtp.send(mail)
        mail_reply = smtp.getreply()
        if mail_reply[0] != 250:
            _give_up(smtp, mail_reply[0])
            raise smtplib.SMTPSenderRefused(*mail_reply, sender)
        rcpt_replies = []
        for command in rcpts:
            smtp.send(command)
            rcpt_replies.append(smtp.getreply())
            if rcpt_replies[-1][0] == 421:
                break
        data_reply = None

    if mail_reply[0] != 250:
        _abort(smtp, [mail_reply, *rcpt_replies], data_reply)
        raise smtplib.SMTPSenderRefused(*mail_reply, sender)
    refused = {
        address: reply
        for address, reply in zip(recipients, rcpt_replies, strict=False)
        if reply[0] not in (250, 251)
    }
    if any(code == 421 for code, _text in rcpt_replies):
        smtp.close()
        raise smtplib.SMTPRecipientsRefused(refused)
    if len(refused) == len(recipients):
        _abort(smtp, rcpt_replies, data_reply)
        raise smtplib.SMTPRecipientsRefused(refused)

    if data_reply is None:
        smtp.send("DATA\r\n")
        data_reply = smtp.getreply()
    if data_reply[0] != 354:
        _give_up(smtp, data_reply[0])
        raise smtplib.SMTPDataError(*data_reply)
    smtp.send(_dot_stuffed(data))
    final = smtp.getreply()
    if final[0] != 250:
        _give_up(smtp, final[0])
        raise smtplib.SMTPDataError(*final)
    return refused


def _abort(smtp: smtplib.SMTP, replies: list, data_reply: tuple[int, bytes] | None) -> None:
    """Leave a failed transaction cleanly (in a pipeline, the DATA answer came too)."""
    if data_reply is not None and data_reply[0] == 354:
        # The server wants the message although we cannot send it: there is no
        # way to abandon DATA but to drop the session (sending "." would mail an
        # empty message). The next message reconnects.
        smtp.close()
        return
    codes = [code for code, _text in replies] + ([data_reply[0]] if data_reply else [])
    _give_up(smtp, 421 if 421 in codes else 0)
