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

``Pipeline`` sends a batch over one session: with PIPELINING, a message's
content and its final dot go out in one write with the next message's MAIL
FROM, RCPT TO and DATA (RFC 2920 §3.1: content may open a group, DATA closes
one), so each message costs one round trip, n + 1 for a batch of n. A batch's
time is mostly waiting for the server's answers, and on a busy host each wait
is also a wait to be scheduled again: fewer waits is what makes a batch fast.
"""

from __future__ import annotations

import re
import smtplib
from collections.abc import Callable, Hashable

__all__ = ["Pipeline", "offers_pipelining", "send_raw"]

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


# -------------------------------------------------------------- a batch, pipelined

Outcome = dict | Exception  # the refusals (success) or what failed the message


def offers_pipelining(smtp: smtplib.SMTP) -> bool:
    smtp.ehlo_or_helo_if_needed()
    return bool(smtp.does_esmtp and smtp.has_extn("pipelining"))


class _Message:
    __slots__ = ("data", "key", "recipients", "refused", "sender")

    def __init__(self, key: Hashable, sender: str, recipients: list[str], data: bytes) -> None:
        self.key, self.sender, self.recipients, self.data = key, sender, recipients, data
        self.refused: dict = {}


class _Group:
    """What one write asked of the server, whose answers are still to read."""

    __slots__ = ("content", "envelope", "reset")

    def __init__(self, content: _Message | None, reset: bool, envelope: _Message) -> None:
        self.content, self.reset, self.envelope = content, reset, envelope


class Pipeline:
    """Send messages one after another over a session: ``submit`` each, then
    ``flush``; both return ``[(key, outcome)]`` for the messages whose outcome
    became known, an outcome being the refusals (``{}`` when every recipient
    took it) or the smtplib exception (``OSError`` for a broken connection)
    that ``send_raw`` would have raised. Every submitted message gets exactly
    one outcome, and an outcome is final: a broken session fails the messages
    in flight (unconfirmed, as ``send_raw`` would report them) and the next
    message opens a new session.

    With PIPELINING a ``submit`` writes one group — the previous message's
    content and final dot, a RSET after a failed transaction, this message's
    MAIL FROM, RCPT TO and DATA — and reads its answers at the next call, so
    whatever the caller does between two messages (building the next one's
    bytes) overlaps the server's work. At most one group is unanswered, as RFC
    2920 requires: content goes out only after its DATA was answered 354.

    ``session()`` returns the open session, opening a new one when the last
    was closed (its ``sock`` is None). Without PIPELINING each message goes
    out alone through ``send_raw``.
    """

    def __init__(self, session: Callable[[], smtplib.SMTP]) -> None:
        self._session = session
        self._smtp: smtplib.SMTP | None = None  # the session of the unanswered group
        self._group: _Group | None = None  # written, answers not read yet
        self._waiting: _Message | None = None  # its DATA was answered 354
        self._reset = False  # the last transaction failed: RSET opens the next group
        self._sent: tuple[smtplib.SMTP, _Message] | None = None  # flush_send's, unanswered

    def submit(self, key: Hashable, sender: str, recipients: list[str], data: bytes):
        # An address smtplib could not send fails here, before anything changed
        # (UnicodeEncodeError, a ValueError, as from send_raw).
        (sender + "".join(recipients)).encode("ascii")
        message = _Message(key, sender, recipients, data)
        done = self._collect()
        waiting, self._waiting = self._waiting, None
        smtp = None
        try:
            smtp = self._session()
            if waiting is None and not offers_pipelining(smtp):
                return [*done, (key, _outcome(send_raw, smtp, sender, recipients, data))]
            group = _envelope(smtp, message)
            if waiting is not None:
                # RFC 2920 §3.1: the content opens the group, DATA closes it.
                group = _dot_stuffed(waiting.data) + group
            elif self._reset:
                group = b"RSET\r\n" + group
            smtp.send(group)
            self._smtp, self._group = smtp, _Group(waiting, self._reset and not waiting, message)
            self._reset = False
        except (smtplib.SMTPException, OSError) as exc:
            # The session broke: what was in flight is unconfirmed.
            if smtp is not None:
                smtp.close()
            self._reset = False
            done += [(m.key, exc) for m in (waiting, message) if m is not None]
        return done

    def flush(self):
        """Read what is unanswered, send the last waiting content; leave the
        session clean for whoever uses it next."""
        return self.flush_send() + self.flush_read()

    def flush_send(self):
        """``flush``'s first half: the outcomes known once the unanswered
        answers are read, and the last waiting content written. Its answer is
        read by ``flush_read``, so a caller with several sessions waits for
        their last answers together."""
        done = self._collect()
        waiting, self._waiting = self._waiting, None
        if waiting is None and not self._reset:
            return done
        smtp = None
        try:
            smtp = self._session()
            if waiting is not None:
                smtp.send(_dot_stuffed(waiting.data))
                self._sent = (smtp, waiting)
            else:
                self._reset = False
                smtp._rset()  # noqa: SLF001 — as sendmail leaves a failed transaction
        except (smtplib.SMTPException, OSError) as exc:
            if smtp is not None:
                smtp.close()
            if waiting is not None:
                done.append((waiting.key, exc))
        return done

    def flush_read(self):
        """``flush``'s second half: the last content's outcome."""
        sent, self._sent = self._sent, None
        if sent is None:
            return []
        smtp, message = sent
        try:
            return [(message.key, self._final(smtp, message))]
        except (smtplib.SMTPException, OSError) as exc:
            smtp.close()
            return [(message.key, exc)]

    def _collect(self) -> list:
        """Read the answers to the unanswered group: the outcome of the
        message whose content it carried, and whether its envelope's message
        now waits for its content or failed."""
        group, self._group = self._group, None
        if group is None:
            return []
        smtp, done = self._smtp, []
        message = group.envelope
        try:
            if group.content is not None:
                done.append((group.content.key, self._final(smtp, group.content)))
                if smtp.sock is None:  # 421 after the content: the server left
                    smtp = self._session()
                    if not offers_pipelining(smtp):
                        args = (message.sender, message.recipients, message.data)
                        return [*done, (message.key, _outcome(send_raw, smtp, *args))]
                    smtp.send(_envelope(smtp, message))
            elif group.reset and smtp.getreply()[0] == 421:
                smtp.close()
                raise smtplib.SMTPServerDisconnected("421 in answer to RSET")
            outcome = self._envelope_answers(smtp, message)
            if outcome is not None:
                done.append((message.key, outcome))
        except (smtplib.SMTPException, OSError) as exc:
            smtp.close()
            self._reset, self._waiting = False, None
            answered = {k for k, _o in done}
            for m in (group.content, message):
                if m is not None and m.key not in answered:
                    done.append((m.key, exc))
        return done

    @staticmethod
    def _final(smtp: smtplib.SMTP, message: _Message) -> Outcome:
        code, text = smtp.getreply()
        if code == 250:
            return message.refused
        if code == 421:
            smtp.close()
        # Otherwise the transaction is over (RFC 5321 §4.1.1.4): nothing to reset.
        return smtplib.SMTPDataError(code, text)

    def _envelope_answers(self, smtp, message: _Message) -> Outcome | None:
        """Read MAIL's, each RCPT's and DATA's answers: the message waits for
        its content (None: no outcome yet), or its failure."""
        recipients = message.recipients
        mail = smtp.getreply()
        rcpts = [smtp.getreply() for _ in recipients]
        data_reply = smtp.getreply()
        refused = {
            address: reply
            for address, reply in zip(recipients, rcpts, strict=True)
            if reply[0] not in (250, 251)
        }
        if mail[0] == 250 and len(refused) < len(recipients) and data_reply[0] == 354:
            if any(code == 421 for code, _text in rcpts):
                smtp.close()  # the server is leaving: it will not read the content
                return smtplib.SMTPRecipientsRefused(refused)
            message.refused = refused
            self._waiting = message
            return None
        codes = [mail[0], *(code for code, _text in rcpts), data_reply[0]]
        if data_reply[0] == 354 or 421 in codes:
            # A server that wants content we cannot send (a refused envelope)
            # can only be left by closing the session (see _abort).
            smtp.close()
        else:
            self._reset = True
        if mail[0] != 250:
            return smtplib.SMTPSenderRefused(*mail, message.sender)
        if len(refused) == len(recipients) or any(code == 421 for code, _t in rcpts):
            return smtplib.SMTPRecipientsRefused(refused)
        return smtplib.SMTPDataError(*data_reply)


def _envelope(smtp: smtplib.SMTP, message: _Message) -> bytes:
    extra = f" SIZE={len(message.data)}" if smtp.has_extn("size") else ""
    rcpts = "".join(f"RCPT TO:<{address}>\r\n" for address in message.recipients)
    return f"MAIL FROM:<{message.sender}>{extra}\r\n{rcpts}DATA\r\n".encode("ascii")


def _outcome(function, *args) -> Outcome:
    try:
        return function(*args)
    except (smtplib.SMTPException, OSError) as exc:
        return exc
