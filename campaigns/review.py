"""Review checks before activation (SPEC §3).

Errors block activation and approval; warnings are shown but do not block.
Codes are stable snake_case strings: the API returns them and tests match on
them, so rename a message freely but never a code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from campaigns.engine import clock
from campaigns.models import Campaign, CampaignType, CampaignVersion
from campaigns.validation import template_errors

MAX_BODY_BYTES = 100 * 1024
# Reviews that forecast the business rules: before activation and while scheduled.
FORECAST_STATUSES = {"draft", "in_review", "scheduled"}
_UNSUBSCRIBE = re.compile(r"\{\{\s*unsubscribe_url\b")
# One way to match only (two adjacent \s* backtracked quadratically on an
# unclosed quote followed by spaces: third review).
_EMPTY_LINK = re.compile(r"""href\s*=\s*(?:"\s*(?:#\s*)?"|'\s*(?:#\s*)?')""", re.IGNORECASE)


@dataclass(frozen=True)
class Issue:
    code: str
    message: str
    field: str = ""

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


@dataclass
class Review:
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def codes(self) -> set[str]:
        return {i.code for i in self.errors} | {i.code for i in self.warnings}

    def as_dict(self) -> dict:
        return {
            "errors": [i.as_dict() for i in self.errors],
            "warnings": [i.as_dict() for i in self.warnings],
        }


def review_campaign(
    campaign: Campaign,
    version: CampaignVersion | None = None,
    *,
    now: datetime | None = None,
    user=None,
) -> Review:
    """Check ``version`` (default: the one being edited, else the live one).
    ``user``: the reader, whose view the forecast counts (None: every profile,
    for the lifecycle's own checks, which read only the errors)."""
    version = version or campaign.draft_version or campaign.live_version
    result = Review()
    if version is None:
        result.errors.append(Issue("missing_content", _("The campaign has no version to send.")))
        return result
    now = now or clock.now()
    _check_channel_configuration(campaign, version, result)
    _check_audience(campaign, version, result)
    _check_content(campaign, version, result)
    _check_schedule(campaign, version, result, now)
    _check_rules(campaign, version, result, now, user)
    _check_experiment(version, result)
    _check_conversion(version, result)
    return result


def _check_conversion(version, result: Review) -> None:
    """A goal on an event nobody has posted yet is most often a typo (or the
    integration is not live yet): said, never blocking."""
    from audiences.models import ConversionEvent

    goal = version.conversion
    if goal and not ConversionEvent.objects.filter(name=goal["event"]).exists():
        result.warnings.append(
            Issue(
                "conversion_event_unseen",
                _(
                    "No “%(event)s” event has been received yet: check the conversion "
                    "goal's name against what your systems post to /api/v1/events."
                )
                % {"event": goal["event"]},
                "conversion_event",
            )
        )


def _check_experiment(version, result: Review) -> None:
    """An A/B test needs the tracking its winner is measured by (SPEC §13); a
    marketing email variant's own body needs an unsubscribe link like the
    content's (what a variant sends is reviewed too: issue 10, fourth review)."""
    experiment = version.experiment
    if not experiment:
        return
    campaign = version.campaign
    if campaign.channel == "email" and campaign.category == "marketing":
        for variant in experiment.get("variants") or []:
            html = str((variant.get("content") or {}).get("html") or "")
            if html and not _UNSUBSCRIBE.search(html):
                result.warnings.append(
                    Issue(
                        "variant_no_unsubscribe",
                        _("Variant %(name)s has no unsubscribe link: add {{ unsubscribe_url }}.")
                        % {"name": variant.get("name", "")},
                        "experiment",
                    )
                )
    metric = experiment.get("winnerMetric") or "clicks"
    if metric == "opens" and not version.track_opens:
        result.errors.append(
            Issue(
                "experiment_untracked",
                _("The A/B test picks its winner on opens: turn open tracking on."),
                "track_opens",
            )
        )
    elif metric == "clicks" and not version.track_clicks:
        result.errors.append(
            Issue(
                "experiment_untracked",
                _("The A/B test picks its winner on clicks: turn click tracking on."),
                "track_clicks",
            )
        )


def _check_rules(campaign, version, result: Review, now: datetime, user=None) -> None:
    """Say so when an administrator exempted the campaign from the business
    rules (SPEC §12): its messages ignore frequency caps and quiet hours; else
    forecast how many profiles the rules will hold back (campaigns/forecast.py)."""
    if not campaign.exempt_from_rules and campaign.status in FORECAST_STATUSES:
        from campaigns.forecast import forecast

        held = forecast(campaign, version, at=now, **({"user": user} if user else {}))
        if held.get("frequency_cap"):
            result.warnings.append(
                Issue(
                    "forecast_frequency_cap",
                    ngettext(
                        "A frequency cap will hold back %(n)s profile of this campaign "
                        "(already messaged, or scheduled, in the cap's window).",
                        "A frequency cap will hold back %(n)s profiles of this campaign "
                        "(already messaged, or scheduled, in the cap's window).",
                        held["frequency_cap"],
                    )
                    % {"n": number_format(held["frequency_cap"], force_grouping=True)},
                )
            )
        if held.get("quiet_hours"):
            result.warnings.append(
                Issue(
                    "forecast_quiet_hours",
                    ngettext(
                        "Quiet hours will hold back %(n)s profile of this campaign at its start.",
                        "Quiet hours will hold back %(n)s profiles of this campaign at its start.",
                        held["quiet_hours"],
                    )
                    % {"n": number_format(held["quiet_hours"], force_grouping=True)},
                )
            )
    if campaign.exempt_from_rules:
        result.warnings.append(
            Issue(
                "exempt_from_rules",
                _(
                    "This campaign is exempt from the business rules: frequency caps and "
                    "quiet hours do not hold back its messages."
                ),
            )
        )


def _check_channel_configuration(campaign, version, result: Review) -> None:
    config = version.channel_configuration
    if config is None:
        result.errors.append(
            Issue(
                "missing_channel_configuration",
                _("Choose a channel configuration."),
                "channel_configuration",
            )
        )
    elif not config.is_active:
        result.errors.append(
            Issue(
                "channel_configuration_deactivated",
                _("The channel configuration “%(name)s” is deactivated.") % {"name": config.name},
                "channel_configuration",
            )
        )
    elif config.channel != campaign.channel or config.purpose != campaign.category:
        result.errors.append(
            Issue(
                "channel_configuration_mismatch",
                _("The channel configuration must be a %(category)s %(channel)s configuration.")
                % {"category": campaign.category, "channel": campaign.channel},
                "channel_configuration",
            )
        )


def _check_audience(campaign, version, result: Review) -> None:
    needs_audience = campaign.type == CampaignType.SCHEDULED or campaign.category == "marketing"
    if needs_audience and version.audience_id is None:
        result.errors.append(Issue("missing_audience", _("Choose an audience."), "audience"))


def _check_content(campaign, version, result: Review) -> None:
    content = version.content or {}
    channel = campaign.channel

    def blank(key: str) -> bool:
        return not str(content.get(key) or "").strip()

    if channel == "email":
        if blank("subject"):
            result.errors.append(Issue("missing_subject", _("Write a subject."), "subject"))
        if blank("html"):
            result.errors.append(Issue("missing_body", _("Write the email body."), "html"))
    elif channel == "sms":
        if blank("text"):
            result.errors.append(Issue("sms_empty", _("Write the SMS text."), "text"))
    elif channel == "push":
        if blank("title"):
            result.errors.append(Issue("push_missing_title", _("Write a title."), "title"))
        if blank("body"):
            result.errors.append(Issue("push_missing_body", _("Write the message."), "body"))
    for key, messages in template_errors(channel, content).items():
        for message in messages:
            result.errors.append(
                Issue(
                    "template_syntax", _("%(field)s: %(msg)s") % {"field": key, "msg": message}, key
                )
            )
    if channel == "email":
        _email_warnings(campaign, content, result)
    _translation_warnings(campaign, content, result)


def _translation_warnings(campaign, content: dict, result: Review) -> None:
    """A translation that lacks a field the default has sends the default's
    field to that language's readers (SPEC §11): said, not blocked."""
    from audiences.channel_facts import CONTENT_FIELDS
    from audiences.locales import missing_fields, translations_of
    from campaigns.languages import locale_label

    for locale, fields in missing_fields(content, CONTENT_FIELDS[campaign.channel]).items():
        result.warnings.append(
            Issue(
                "translation_incomplete",
                _(
                    "The %(language)s translation has no %(fields)s: "
                    "its readers get the default content's."
                )
                % {"language": locale_label(locale), "fields": ", ".join(fields)},
                f"translations.{locale}",
            )
        )
    if campaign.channel == "email" and campaign.category == "marketing":
        for locale, translation in sorted(translations_of(content).items()):
            html = str(translation.get("html") or "")
            if html and not _UNSUBSCRIBE.search(html):
                result.warnings.append(
                    Issue(
                        "translation_no_unsubscribe",
                        _("The %(language)s translation has no unsubscribe link.")
                        % {"language": locale_label(locale)},
                        f"translations.{locale}.html",
                    )
                )


def _email_warnings(campaign, content: dict, result: Review) -> None:
    html = str(content.get("html") or "")
    if campaign.category == "marketing" and html and not _UNSUBSCRIBE.search(html):
        result.warnings.append(
            Issue(
                "no_unsubscribe_link",
                _("Marketing email without an unsubscribe link: add {{ unsubscribe_url }}."),
                "html",
            )
        )
    if html and not str(content.get("text") or "").strip():
        result.warnings.append(
            Issue(
                "no_text_version",
                _("No plain-text version: one will be generated from the HTML."),
                "text",
            )
        )
    if len(html.encode()) > MAX_BODY_BYTES:
        result.warnings.append(
            Issue("body_too_large", _("The body is over 100 KB; some clients clip it."), "html")
        )
    if _EMPTY_LINK.search(html):
        result.warnings.append(Issue("empty_link", _("A link has an empty target."), "html"))


def _check_schedule(campaign, version, result: Review, now: datetime) -> None:
    # A draft version replacing a running campaign keeps its original start.
    replacing_live = campaign.live_version_id is not None
    if version.start_at and version.start_at < now and not replacing_live:
        result.errors.append(
            Issue("start_in_past", _("The start date is in the past."), "start_at")
        )
    start = version.start_at or now
    if version.end_at and version.end_at <= start:
        result.errors.append(
            Issue("end_before_start", _("The end date is before the start."), "end_at")
        )
