"""No personal data in the logs (SPEC §14): email addresses and phone numbers
in log messages and their arguments are masked before any handler writes them.

Installed on every handler in ``settings.LOGGING``. The record is masked in
place, so handlers attached later (a test's capture, an error mailer) see the
masked text too.
"""

from __future__ import annotations

import logging
import re

# Local part and domain of an address; the domain stays readable (useful when
# a provider refuses a whole domain), the person does not.
_LOCAL = "A-Za-z0-9._%+'!#$&*=?^`{|}~-"
_EMAIL = re.compile(rf"([{_LOCAL}])[{_LOCAL}]*@([A-Za-z0-9.-]+\.[A-Za-z]{{2,}})")
# The same, starting only where a run of local-part characters starts: searched
# from every position inside a long run, the expression read the run again to
# its end (a million letters with no "@" after them: minutes per log record).
_EMAIL_AT_RUN = re.compile(rf"(?<![{_LOCAL}]){_EMAIL.pattern}")


def _mask_emails(text: str) -> str:
    """``_EMAIL.sub`` in linear time: the leftmost match is at a run's start,
    or right where the previous match ended (a domain is made of local-part
    characters too: ``a@x.org-@y.org`` holds two)."""
    parts, position = [], 0
    while True:
        found = _EMAIL.match(text, position) if position else None
        found = found or _EMAIL_AT_RUN.search(text, position)
        if found is None:
            return "".join([*parts, text[position:]])
        parts += [text[position : found.start()], found.expand(r"\1***@\2")]
        position = found.end()


# E.164 numbers (+ and 8 to 15 digits), also written with spaces or dashes.
_PHONE = re.compile(r"(?<![\w+])\+(\d{2})[\d \-]{5,16}(\d{2})(?!\d)")


def mask(text: str) -> str:
    """``ann@example.com`` → ``a***@example.com``; ``+31612345678`` → ``+31•••78``."""
    text = _mask_emails(text)
    return _PHONE.sub(r"+\1•••\2", text)


class MaskPersonalData(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is logging's problem, not ours
            return True
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            # Exceptions carry addresses too (an SMTP refusal names the recipient).
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask(record.exc_text)
        return True
