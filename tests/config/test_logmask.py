"""No personal data in the logs (SPEC §14): addresses and phone numbers masked."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings

from config.logmask import MaskPersonalData, mask


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("to ann.lee+news@example.com failed", "to a***@example.com failed"),
        (
            "Not Found: /api/v1/profiles/email/Bob@Mail.Example.ORG",
            "Not Found: /api/v1/profiles/email/B***@Mail.Example.ORG",
        ),
        ("sms +33612345678 refused", "sms +33•••78 refused"),
        ("call +33 6 12 34 56 78 now", "call +33•••78 now"),
        (
            "run 42 sent 1000 at 2026-11-30T02:00:00+00:00",
            "run 42 sent 1000 at 2026-11-30T02:00:00+00:00",
        ),
    ],
)
def test_mask_hides_the_person_and_keeps_the_rest(text, expected):
    assert mask(text) == expected


def test_every_configured_handler_masks():
    for name, handler in settings.LOGGING["handlers"].items():
        assert "mask_personal_data" in handler.get("filters", []), name
    assert settings.LOGGING["filters"]["mask_personal_data"]["()"] == (
        "config.logmask.MaskPersonalData"
    )


def test_arguments_and_exceptions_are_masked_too():
    try:
        raise ValueError("recipient ann@example.com refused")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "to %s", ("ann@example.com",), exc_info=True
        )
        import sys

        record.exc_info = sys.exc_info()
    assert MaskPersonalData().filter(record)
    assert record.getMessage() == "to a***@example.com"
    assert "ann@" not in record.exc_text
