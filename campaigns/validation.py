"""Shape checks for a version's content and schedule, shared by forms, the API
and the services (SPEC §4, §7). They raise ``ValidationError`` keyed by the API
field path (``content.subject``, ``schedule.timezone`` …) so both boundaries
can show the message next to the right field."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from audiences.channel_facts import CONTENT_EXTRAS, CONTENT_FIELDS
from audiences.locales import MAX_LOCALES, normalize_locale

FREQUENCIES = ("daily", "weekly", "monthly")
THROTTLE_MIN, THROTTLE_MAX = 1, 10_000
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def normalize_content(channel: str, content: Any) -> dict:
    """The content with every field of ``channel`` present (empty when not given).

    Unknown keys are refused rather than dropped: a typo such as ``"subjet"``
    would otherwise silently send an email without a subject.
    """
    if content is None:
        content = {}
    if not isinstance(content, dict):
        raise ValidationError({"content": [_("Content must be an object.")]})
    errors: dict[str, list[str]] = {}
    result = _fields(channel, content, "content", errors, extras=CONTENT_EXTRAS)
    translations = content.get("translations")
    if translations not in (None, {}):
        result["translations"] = _translations(channel, translations, errors, "content")
    design = content.get("design")
    if design not in (None, {}):
        if not isinstance(design, dict):
            errors["content.design"] = [_("The design must be an object.")]
        result["design"] = design
    if errors:
        raise ValidationError(errors)
    return result


def _fields(
    channel: str, content: dict, path: str, errors: dict, *, extras: tuple[str, ...]
) -> dict:
    """Every field of ``channel`` (empty when not given); unknown keys are errors."""
    fields = CONTENT_FIELDS[channel]
    allowed = (*fields, *extras)
    for key in content:
        if key not in allowed:
            errors[f"{path}.{key}"] = [
                _("Unknown field for a %(channel)s campaign; expected one of: %(fields)s.")
                % {"channel": channel, "fields": ", ".join(fields)}
            ]
    result: dict[str, Any] = {}
    for key in fields:
        value = content.get(key)
        if key == "data":
            if value is None:
                value = {}
            if not isinstance(value, dict):
                errors[f"{path}.data"] = [_("Custom data must be an object.")]
        elif value is None:
            value = ""
        elif not isinstance(value, str):
            errors[f"{path}.{key}"] = [_("Must be text.")]
        result[key] = value
    return result


def _translations(channel: str, value: Any, errors: dict, base: str) -> dict:
    """``{locale: {fields}}`` with canonical locale tags (SPEC §11)."""
    if not isinstance(value, dict):
        errors[f"{base}.translations"] = [_("Translations must be an object keyed by language.")]
        return {}
    if len(value) > MAX_LOCALES:
        errors[f"{base}.translations"] = [
            _("At most %(max)d languages per message.") % {"max": MAX_LOCALES}
        ]
        return {}
    result: dict[str, dict] = {}
    for raw, fields in value.items():
        locale = normalize_locale(raw)
        path = f"{base}.translations.{raw}"
        if locale is None:
            errors[path] = [_("Use a language tag such as fr or fr-CA.")]
            continue
        if locale in result:
            errors[path] = [_("This language is given twice.")]
            continue
        if not isinstance(fields, dict):
            errors[path] = [_("A translation must be an object of content fields.")]
            continue
        translated = _fields(channel, fields, path, errors, extras=("design",))
        # Only what the translation gives: the rest falls back to the default.
        result[locale] = {k: v for k, v in translated.items() if k in fields}
        if isinstance(fields.get("design"), dict) and fields["design"]:
            result[locale]["design"] = fields["design"]  # its own layout in the designer
        elif fields.get("design") not in (None, {}):
            errors[f"{path}.design"] = [_("The design must be an object.")]
    return result


def normalize_partial_content(channel: str, content: Any, path: str) -> dict:
    """Content that only overrides some fields (an experiment variant, SPEC §13):
    the fields given, typed and known (unknown keys refused, as in
    ``normalize_content``), and ``translations``; the rest falls back."""
    if content is None:
        content = {}
    if not isinstance(content, dict):
        raise ValidationError({path: [_("Content must be an object.")]})
    errors: dict[str, list[str]] = {}
    given = {k: v for k, v in content.items() if k != "translations"}
    typed = _fields(channel, given, path, errors, extras=())
    result = {k: v for k, v in typed.items() if k in given}
    translations = content.get("translations")
    if translations not in (None, {}):
        result["translations"] = _translations(channel, translations, errors, path)
    if errors:
        raise ValidationError(errors)
    return result


def template_errors(channel: str, content: dict) -> dict[str, list[str]]:
    """Template syntax errors per field, each message naming its line.

    Uses the channels app's renderer (the one that sends), so what passes here
    renders at send time.
    """
    from audiences.locales import translations_of
    from channels.rendering import render_deadline, validate_content

    with render_deadline():  # one wall-time budget for the default and every translation
        errors = {
            key: [str(m) for m in msgs] for key, msgs in validate_content(channel, content).items()
        }
        for locale, translation in translations_of(content).items():
            if isinstance(translation, dict):
                for key, msgs in validate_content(channel, translation).items():
                    errors[f"translations.{locale}.{key}"] = [str(m) for m in msgs]
    return errors


def validate_timezone(name: str) -> str:
    """An IANA name of the one list (config/timezones.py), or ``ValidationError``."""
    from config.timezones import is_time_zone

    if not name or not is_time_zone(name):
        raise ValidationError(
            _("Unknown time zone “%(name)s”; use an IANA name such as Europe/Paris.")
            % {"name": name}
        )
    return name


def normalize_recurrence(value: Any) -> dict | None:
    """``{"frequency", "time", "daysOfWeek", "dayOfMonth"}`` exactly (SPEC §7), or None."""
    if value in (None, {}):
        return None
    if not isinstance(value, dict):
        raise ValidationError({"schedule.recurrence": [_("Recurrence must be an object.")]})
    errors: dict[str, list[str]] = {}
    unknown = set(value) - {"frequency", "time", "daysOfWeek", "dayOfMonth"}
    for key in sorted(unknown):
        errors[f"schedule.recurrence.{key}"] = [_("Unknown field.")]
    frequency = value.get("frequency")
    if frequency not in FREQUENCIES:
        errors["schedule.recurrence.frequency"] = [_("Choose daily, weekly or monthly.")]
    time = value.get("time") or "09:00"
    if not isinstance(time, str) or not _TIME.match(time):
        errors["schedule.recurrence.time"] = [_("Use a time of day as HH:MM (24 hours).")]
    days = value.get("daysOfWeek") or []
    if not isinstance(days, list) or any(
        not isinstance(d, int) or isinstance(d, bool) or not 0 <= d <= 6 for d in days
    ):
        errors["schedule.recurrence.daysOfWeek"] = [
            _("Days of week are numbers from 0 (Monday) to 6 (Sunday).")
        ]
    elif frequency == "weekly" and not days:
        errors["schedule.recurrence.daysOfWeek"] = [_("Choose at least one day of the week.")]
    day = value.get("dayOfMonth")
    if day is not None and (
        not isinstance(day, int) or isinstance(day, bool) or not 1 <= day <= 31
    ):
        errors["schedule.recurrence.dayOfMonth"] = [_("Day of month is a number from 1 to 31.")]
    elif frequency == "monthly" and day is None:
        errors["schedule.recurrence.dayOfMonth"] = [_("Choose the day of the month.")]
    if errors:
        raise ValidationError(errors)
    return {
        "frequency": frequency,
        "time": time,
        "daysOfWeek": sorted(set(days)) if frequency == "weekly" else [],
        "dayOfMonth": day if frequency == "monthly" else None,
    }


def aware(value: datetime | None, tz_name: str) -> datetime | None:
    """A naive date-time is read in the schedule's time zone; stored as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz_name))
    return value.astimezone(UTC)


def normalize_schedule(schedule: dict) -> dict:
    """API/form schedule → the version's model fields (only the keys given).

    ``schedule`` uses the API names: startAt, endAt, timezone, recurrence,
    throttlePerSecond, useProfileTimezone.
    """
    errors: dict[str, list[str]] = {}
    fields: dict[str, Any] = {}
    tz_name = schedule.get("timezone") or "UTC"
    try:
        fields["timezone"] = validate_timezone(tz_name)
    except ValidationError as exc:
        errors["schedule.timezone"] = exc.messages
        tz_name = "UTC"
    for api_name, field in (("startAt", "start_at"), ("endAt", "end_at")):
        if api_name in schedule:
            try:
                fields[field] = aware(schedule[api_name], tz_name)
            except OverflowError:  # year 1 or 9999 read in a far-off time zone
                errors[f"schedule.{api_name}"] = [_("This date is out of range.")]
    if "recurrence" in schedule:
        try:
            fields["recurrence"] = normalize_recurrence(schedule["recurrence"])
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if "throttlePerSecond" in schedule:
        throttle = schedule["throttlePerSecond"]
        if throttle is not None and not THROTTLE_MIN <= throttle <= THROTTLE_MAX:
            errors["schedule.throttlePerSecond"] = [
                _("Throttle is between 1 and 10,000 messages per second.")
            ]
        fields["throttle_per_second"] = throttle
    if "useProfileTimezone" in schedule:
        fields["use_profile_timezone"] = bool(schedule["useProfileTimezone"])
    if errors:
        raise ValidationError(errors)
    return fields
