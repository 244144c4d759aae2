"""Identity normalization: the fast email path agrees with the full validator."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email

from audiences.services import normalize_email, normalize_phone, normalize_timezone


def full_validator(value: str) -> str | None:
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


@pytest.mark.parametrize(
    "value",
    [
        "Ann@Example.com",
        "first.last+tag@mail.example.co.uk",
        "o'brien@example.ie",
        "a..b@example.com",
        ".a@example.com",
        "a.@example.com",
        "a@example",
        "a@-example.com",
        "a@example-.com",
        "a@example.c",
        "a@example.123",
        "a@localhost",
        "a@host.test",
        "a@xn--bcher-kva.example",
        "jöran@example.se",
        "user@bücher.example",
        '"quoted local"@example.com',
        "a" * 65 + "@example.com",
        "a@" + "b" * 64 + ".com",
        "no-at-sign",
        "two@@example.com",
    ],
)
def test_fast_email_path_agrees_with_the_validator(value):
    expected = full_validator(value)
    if expected is None:
        with pytest.raises(ValueError):
            normalize_email(value)
    else:
        assert normalize_email(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("+33 6 12 34 56 78", "+33612345678"), ("+1 (202) 555-0143", "+12025550143")],
)
def test_phones_become_e164(value, expected):
    assert normalize_phone(value) == expected


@pytest.mark.parametrize("value", ["0612345678", "+33 1", "call me", "+999123456789"])
def test_phones_without_country_code_or_impossible_are_refused(value):
    with pytest.raises(ValueError):
        normalize_phone(value)


def test_time_zones_are_iana_names():
    assert normalize_timezone(" Europe/Paris ") == "Europe/Paris"
    with pytest.raises(ValueError):
        normalize_timezone("CEST")


@pytest.mark.parametrize("value", ["ann@example.test", "bob@printer.local", "x@host.localhost"])
def test_special_use_domains_are_refused_with_the_real_reason(value):
    with pytest.raises(ValueError) as excinfo:
        normalize_email(value)
    message = str(excinfo.value)
    assert "reserved" in message and "special-use" in message
    assert "not a valid email address" not in message
