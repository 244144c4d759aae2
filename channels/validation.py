"""Address checks shared by configurations, proofs and feedback."""

from __future__ import annotations

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


def normalize_phone(value: str) -> str:
    """E.164 (``+31612345678``) or ``ValidationError``; a leading + is required."""
    value = (value or "").strip()
    if not value.startswith("+"):
        raise ValidationError(_("Use the international format, e.g. +31612345678."))
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValidationError(_("%(value)s is not a phone number.") % {"value": value}) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(_("%(value)s is not a valid phone number.") % {"value": value})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
