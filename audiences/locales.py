"""Languages of messages (SPEC §11), in one place: what a locale looks like, and
which of a message's translations a person gets.

A profile has a ``locale`` (BCP 47: ``fr``, ``fr-CA``); a campaign's content may
carry ``translations`` (``{"fr": {<the channel's fields>}}``). Every sender,
preview and proof chooses through ``pick_locale`` and builds the message from
``localized_content``, so what a preview shows in French is what a French
profile receives. It lives in ``audiences`` (the lowest app that knows
profiles) so that channels and campaigns share it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MAX_LOCALES = 50
# language[-script][-region][-variant…]: "fr", "fr-CA", "zh-Hant-TW", "es-419".
_BCP47 = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,4}$")


def normalize_locale(value: Any) -> str | None:
    """``value`` as a canonical BCP 47 tag (``fr_ca`` → ``fr-CA``), or None when
    it is not one."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > 35 or not _BCP47.match(value):
        return None
    parts = value.replace("_", "-").split("-")
    out = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 2 and part.isalpha():
            out.append(part.upper())  # region: CA
        elif len(part) == 4 and part.isalpha():
            out.append(part.title())  # script: Hant
        else:
            out.append(part.lower())
    return "-".join(out)


def language_of(locale: str) -> str:
    return locale.split("-", 1)[0]


def pick_locale(available: Iterable[str], wanted: str | None) -> str | None:
    """The translation a person with locale ``wanted`` gets: the exact locale,
    else its language (``fr-CA`` → ``fr``), else None (the default content)."""
    wanted = normalize_locale(wanted) if wanted else None
    if not wanted:
        return None
    available = set(available)
    if wanted in available:
        return wanted
    language = language_of(wanted)
    return language if language in available else None


def translations_of(content: dict | None) -> dict[str, dict]:
    value = (content or {}).get("translations")
    return value if isinstance(value, dict) else {}


def localized_content(content: dict, locale: str | None) -> dict:
    """The content ``locale`` readers get: the translation's fields over the
    default's (a field the translation leaves out or empty stays the default's),
    without ``translations`` or ``design``."""
    base = {k: v for k, v in (content or {}).items() if k not in ("translations", "design")}
    if locale:
        for key, value in translations_of(content).get(locale, {}).items():
            if key != "design" and value not in (None, "", {}):
                base[key] = value
    return base


def missing_fields(content: dict, fields: Iterable[str]) -> dict[str, list[str]]:
    """Per translation, the fields the default content has and it lacks."""
    filled = [f for f in fields if (content or {}).get(f) not in (None, "", {})]
    return {
        locale: missing
        for locale, translation in sorted(translations_of(content).items())
        if (missing := [f for f in filled if translation.get(f) in (None, "", {})])
    }
