"""Preview a message for a chosen profile and send proofs (SPEC §4).

Proofs go through the configuration's real transport, so what arrives is what a
profile would get, except that links are not tracked and the unsubscribe link
points to an explanation page (a proof has no delivery to unsubscribe).
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from contextlib import suppress

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from audiences.models import Channel
from audiences.services import normalize_phone
from channels.models import ChannelConfiguration
from channels.rendering import RenderedMessage, RenderError, compile_content
from channels.transports import OutboundMessage, SendResult, get_transport

MAX_PROOFS = 10


class PreviewError(ValueError):
    """Content that cannot be rendered or proof recipients that are not valid."""

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


def render_preview(
    *,
    channel: str,
    content: dict,
    category: str,
    profile=None,
    context: dict | None = None,
    locale: str | None = None,
) -> RenderedMessage:
    """Render without sending, in the language the profile would get (or
    ``locale``'s, chosen the way the sender chooses). Raises ``PreviewError``
    (a ValueError) on template errors."""
    from channels.rendering import render_deadline

    # One wall-time budget for the checks, every language's compilation and the render.
    with render_deadline():
        try:
            compiled = _checked_and_compiled(channel, content, category)
            return compiled.render(profile=profile, context=context, locale=locale)
        except RenderError as exc:
            raise PreviewError(str(exc), {"content": [str(exc)]}) from exc


# Content that passed the checks and compiled, by what it is: a page showing a
# stored version (the campaign page, the preview page, the API's preview) checks
# and compiles it once per process, not at every view. Only what passed is kept
# (a check that ran out of time may pass another time); at most COMPILED_KEPT
# contents and COMPILED_CHARS characters of them (a compiled content takes many
# times its text's memory: 32 contents at the bounds held about 100 MB, review
# 20), the least recently shown dropped first; a larger content is not kept.
_COMPILED: OrderedDict[tuple, tuple[object, int]] = OrderedDict()
COMPILED_KEPT = 32
COMPILED_CHARS = 2_000_000


def _checked_and_compiled(channel: str, content: dict, category: str):
    from channels.rendering import content_key_and_size, validate_content

    key, size = content_key_and_size(channel, content, category)
    kept = _COMPILED.get(key) if key is not None else None
    if kept is not None:
        # With GUNICORN_THREADS, another thread may drop the key in between.
        with suppress(KeyError):
            _COMPILED.move_to_end(key)
        return kept[0]
    errors = validate_content(channel, content)
    if errors:
        raise PreviewError(_("The content has template errors."), errors)
    compiled = compile_content(channel, content, category=category)
    if key is not None and size <= COMPILED_CHARS:
        _COMPILED[key] = (compiled, size)
        with suppress(KeyError, StopIteration):  # another thread emptied it first
            while len(_COMPILED) > COMPILED_KEPT or (
                sum(weight for _compiled, weight in list(_COMPILED.values())) > COMPILED_CHARS
            ):
                _COMPILED.popitem(last=False)
    return compiled


def forget_compiled() -> None:
    _COMPILED.clear()


def clean_proof_recipients(channel: str, recipients: list[str]) -> list[str]:
    """1–10 unique, valid addresses for the channel, or ``PreviewError``."""
    cleaned: list[str] = []
    problems: list[str] = []
    for raw in recipients:
        value = (raw or "").strip()
        if not value:
            continue
        try:
            value = _clean_address(channel, value)
        except (ValidationError, ValueError):
            problems.append(_("%(value)s is not a valid address.") % {"value": value})
            continue
        if value not in cleaned:
            cleaned.append(value)
    if problems:
        raise PreviewError(" ".join(problems), {"recipients": problems})
    if not cleaned:
        message = _("Give at least one address.")
        raise PreviewError(message, {"recipients": [message]})
    if len(cleaned) > MAX_PROOFS:
        message = ngettext(
            "Send proofs to at most %(max)d address.",
            "Send proofs to at most %(max)d addresses.",
            MAX_PROOFS,
        ) % {"max": MAX_PROOFS}
        raise PreviewError(message, {"recipients": [message]})
    return cleaned


def _clean_address(channel: str, value: str) -> str:
    if channel == Channel.EMAIL:
        validate_email(value)
        return value
    if channel == Channel.SMS:
        return normalize_phone(value)
    if len(value) > 512 or any(c.isspace() for c in value):
        raise ValidationError("bad token")
    return value


def send_proofs(
    *,
    config: ChannelConfiguration,
    content: dict,
    category: str,
    recipients: list[str],
    profile=None,
    context: dict | None = None,
    locale: str | None = None,
) -> list[SendResult]:
    """Send the rendered message to 1–10 addresses now (a proof is one small batch),
    in ``locale``'s translation when given (SPEC §11: proofs per language)."""
    addresses = clean_proof_recipients(config.channel, recipients)
    rendered = render_preview(
        channel=config.channel,
        content=content,
        category=category,
        profile=profile,
        context=context,
        locale=locale,
    )
    if config.channel == Channel.EMAIL and rendered.subject:
        rendered.subject = _("[Proof] %(subject)s") % {"subject": rendered.subject}
    batch = [
        OutboundMessage(
            delivery_id=0,
            to=address,
            rendered=rendered,
            category=category,
            key=f"proof-{uuid.uuid4().hex}",
        )
        for address in addresses
    ]
    return get_transport(config).send_batch(batch)


def lookup_profile(user, lookup: str):
    """The profile a test message is rendered for: by email, E.164 phone or
    external id, among the profiles ``user`` may be shown (never one known only
    through restricted audiences, issue 10 #3). None when none matches."""
    from audiences.models import Profile
    from audiences.selectors import visible_profiles

    lookup = (lookup or "").strip()
    if not lookup:
        return None
    profiles = Profile.objects.all()
    if user is not None:
        profiles = visible_profiles(user, profiles)
    return (
        profiles.filter(email__iexact=lookup).first()
        # filter(phone=None) would mean "has no phone": only a number is looked up.
        or profiles.filter(phone=_phone_or_none(lookup) or "-").first()
        or profiles.filter(profile_id=lookup).first()
    )


def _phone_or_none(value: str) -> str | None:
    """The E.164 form of a typed phone number (the one rule of audiences), or None."""
    from audiences.services import normalize_phone

    try:
        return normalize_phone(value)
    except ValueError:
        return None
