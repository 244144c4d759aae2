"""What is true of each channel, in one place: the profile field that addresses
it, the consent field that allows it, the content fields of a message, and how
an SMS is cut into segments.

It lives in ``audiences`` beside the ``Channel`` choices because profiles need
it and audiences is the lowest app that knows channels (dependencies run
accounts ← audiences ← channels ← campaigns). The page script
``static/js/sms-counter.js`` counts segments the same way; both are checked
against ``tests/fixtures/sms_segments.json``.
"""

from __future__ import annotations

from dataclasses import dataclass

from audiences.models import Channel


@dataclass(frozen=True)
class ChannelFacts:
    channel: str
    identity: str  # the profile field holding the address ("phone" for SMS)
    consent: str  # the profile field saying the profile agreed to it
    content_fields: tuple[str, ...]  # a message's content, in the editor's order


CHANNELS: dict[str, ChannelFacts] = {
    Channel.EMAIL: ChannelFacts(
        Channel.EMAIL, "email", "consent_email", ("subject", "preheader", "html", "text")
    ),
    Channel.SMS: ChannelFacts(Channel.SMS, "phone", "consent_sms", ("text",)),
    Channel.PUSH: ChannelFacts(
        Channel.PUSH, "push_token", "consent_push", ("title", "body", "url", "data")
    ),
}

# Besides its channel's fields, a message's content may carry these (SPEC §11):
# ``translations`` ({locale: {<fields>}}) and the email designer's ``design``.
CONTENT_EXTRAS = ("translations", "design")

IDENTITY_FIELD = {name: facts.identity for name, facts in CHANNELS.items()}
CONSENT_FIELD = {name: facts.consent for name, facts in CHANNELS.items()}
CONTENT_FIELDS = {name: facts.content_fields for name, facts in CHANNELS.items()}


# --- SMS segments ------------------------------------------------------------

# GSM 03.38: the basic alphabet costs one septet, the extension table two (an
# escape and the character). Anything else makes the whole message UCS-2, where
# a character outside the Basic Multilingual Plane (an emoji) is a surrogate
# pair: two UTF-16 units.
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")
# (units in a single-part message, units per part of a concatenated one)
SMS_LIMITS = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


def sms_segments(text: str) -> dict:
    """Characters, encoding, length in units (septets or UTF-16 units) and the
    number of segments of an SMS: what the editor's counter shows."""
    if all(c in GSM_BASIC or c in GSM_EXTENSION for c in text):
        encoding = "GSM-7"
        units = sum(2 if c in GSM_EXTENSION else 1 for c in text)
    else:
        encoding = "UCS-2"
        units = sum(2 if ord(c) > 0xFFFF else 1 for c in text)
    single, multi = SMS_LIMITS[encoding]
    segments = 0 if units == 0 else (1 if units <= single else -(-units // multi))
    return {"characters": len(text), "units": units, "encoding": encoding, "segments": segments}
