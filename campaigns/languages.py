"""A campaign's content in several languages (SPEC §11): the names shown for a
locale, the languages offered on the languages page, and the writes that add,
change and remove one translation of a draft."""

from __future__ import annotations

from django.utils import translation
from django.utils.translation import gettext as _

from audiences.locales import language_of, normalize_locale

# Offered first on the languages page (any BCP 47 tag can be typed instead).
COMMON = [
    "fr", "nl", "sv", "de", "es", "it", "pt", "da", "nb", "fi", "pl", "cs",
    "en", "fr-CA", "fr-BE", "nl-BE", "en-GB", "en-US", "pt-BR", "es-MX", "ja", "zh-Hans",
]  # fmt: skip


def locale_label(code: str) -> str:
    """A locale's name in the active language: "French", "French (CA)"."""
    if not code:
        return _("Default content")
    for candidate in (code.lower(), language_of(code).lower()):
        try:
            info = translation.get_language_info(candidate)
        except KeyError:
            continue
        return f"{info['name_translated']} ({code})"
    return code


def choices() -> list[tuple[str, str]]:
    return [(code, locale_label(code)) for code in COMMON]


def clean_locale(value: str) -> str | None:
    return normalize_locale(value)


def translation_save(*, campaign, actor, locale: str, fields: dict):
    """Add or replace the ``locale`` translation of the campaign's editable
    version (empty fields fall back to the default content)."""
    from campaigns import services

    version = services.editable_version(campaign)
    if version is None:
        raise services._refuse_status(campaign, "edit")
    content = dict(version.content or {})
    translations = dict(content.get("translations") or {})
    kept = (
        {"design": translations[locale]["design"]}
        if (translations.get(locale) or {}).get("design")
        else {}
    )  # the designer's layout of this language stays
    translations[locale] = {
        **kept,
        **{k: v for k, v in fields.items() if v not in (None, "", {})},
    }
    content["translations"] = translations
    return services.campaign_update(campaign=campaign, actor=actor, content=content)


def translation_remove(*, campaign, actor, locale: str):
    from campaigns import services

    version = services.editable_version(campaign)
    if version is None:
        raise services._refuse_status(campaign, "edit")
    content = dict(version.content or {})
    translations = dict(content.get("translations") or {})
    translations.pop(locale, None)
    content["translations"] = translations
    if not translations:
        content.pop("translations")
    return services.campaign_update(campaign=campaign, actor=actor, content=content)
