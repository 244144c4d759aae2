"""Business rules (SPEC §12): validation, the writes, and the quiet-hours clock.

The rules are enforced where deliveries are claimed (campaigns/engine/rules.py);
this module holds what the admin, the API and the engine share: what a valid
rule is, which rules apply to a campaign, and when a quiet window ends in a
given time zone (across midnight and DST changes, with zoneinfo).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from audiences.models import Channel
from channels.models import Purpose

# A cap counts at most this many messages, in a window of at most a year.
MAX_CAP_MESSAGES = 1000
MAX_WINDOW_HOURS = 24 * 366
# Rules in all (active or not: any can be switched on). Each capping rule is
# worked out on every viewer's calendar (about 60 ms a rule for 30 recurring
# campaigns over 92 days: 500 rules held the page 30 s) and counted for every
# claimed batch of every campaign it applies to (a counter row per rule and
# person: security review 18).
MAX_RULES = 50
# In the order the admin form shows them.
RULE_FIELDS = (
    "name",
    "active",
    "channel",
    "categories",
    "cap_max_messages",
    "cap_window_hours",
    "quiet_start",
    "quiet_end",
    "quiet_action",
)


def validate_rule(rule) -> None:
    """Raise a ``ValidationError`` naming each bad field (model field names)."""
    errors: dict[str, list[str]] = {}
    if not (rule.name or "").strip():
        errors["name"] = [_("Give the rule a name.")]
    if rule.channel not in Channel.values:
        errors["channel"] = [_("Choose email, sms or push.")]
    categories = rule.categories
    if (
        not isinstance(categories, list)
        or not categories
        or any(c not in Purpose.values for c in categories)
        or len(set(categories)) != len(categories)
    ):
        errors["categories"] = [_("Choose one or more of: marketing, transactional.")]
    cap = (rule.cap_max_messages, rule.cap_window_hours)
    if (cap[0] is None) != (cap[1] is None):
        errors["cap_max_messages" if cap[0] is None else "cap_window_hours"] = [
            _("A frequency cap needs both a number of messages and a window.")
        ]
    elif cap[0] is not None:
        if not 1 <= cap[0] <= MAX_CAP_MESSAGES:
            errors["cap_max_messages"] = [
                _("Between 1 and %(n)s messages.") % {"n": MAX_CAP_MESSAGES}
            ]
        if not 1 <= cap[1] <= MAX_WINDOW_HOURS:
            errors["cap_window_hours"] = [_("Between 1 and %(n)s hours.") % {"n": MAX_WINDOW_HOURS}]
    quiet = (rule.quiet_start, rule.quiet_end)
    if (quiet[0] is None) != (quiet[1] is None):
        errors["quiet_start" if quiet[0] is None else "quiet_end"] = [
            _("Quiet hours need both a start and an end.")
        ]
    elif quiet[0] is not None and quiet[0] == quiet[1]:
        errors["quiet_end"] = [_("Quiet hours must end at another time than they start.")]
    if rule.quiet_action not in ("delay", "skip"):
        errors["quiet_action"] = [_("Choose delay or skip.")]
    if cap[0] is None and cap[1] is None and quiet[0] is None and quiet[1] is None:
        errors.setdefault("cap_max_messages", []).append(
            _("A rule needs a frequency cap, quiet hours, or both.")
        )
    if errors:
        raise ValidationError(errors)


def check_rule_room() -> None:
    """``ValidationError`` when there are already ``MAX_RULES`` rules (checked
    before a new one is written; two writers at once may pass it together)."""
    from campaigns.models import BusinessRule

    if BusinessRule.objects.count() >= MAX_RULES:
        raise ValidationError(
            _("There are already %(n)d business rules, the most allowed: change or delete one.")
            % {"n": MAX_RULES}
        )


def business_rule_create(*, actor, **fields):
    """A new rule, validated, in one transaction."""
    from campaigns.models import BusinessRule

    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    rule = BusinessRule(**fields)
    with transaction.atomic():
        check_rule_room()
        rule.full_clean()
        rule.save()
    return rule


def business_rule_update(*, rule, actor, **fields):
    """Change some fields of a rule; validated as a whole, nothing written on error."""
    from campaigns.models import BusinessRule

    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    with transaction.atomic():
        locked = BusinessRule.objects.select_for_update().get(pk=rule.pk)
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.full_clean()
        locked.save()
    return locked


def business_rule_delete(*, rule, actor) -> None:
    rule.delete()


def campaign_set_exempt(*, campaign, exempt: bool, actor) -> None:
    """Exempt a campaign from the business rules, or not (administrators only:
    the caller checks ``rule.manage``). Written with an event row."""
    from campaigns.models import Campaign, CampaignEvent

    with transaction.atomic():
        changed = (
            Campaign.objects.filter(pk=campaign.pk)
            .exclude(exempt_from_rules=exempt)
            .update(exempt_from_rules=exempt)
        )
        if changed:
            CampaignEvent.objects.create(
                campaign_id=campaign.pk,
                actor=actor if getattr(actor, "pk", None) else None,
                action="exempt_from_rules" if exempt else "subject_to_rules",
            )
    campaign.exempt_from_rules = exempt


def applies(rule, *, channel: str, category: str, exempt: bool) -> bool:
    return rule.active and not exempt and rule.channel == channel and category in rule.categories


def rules_for(campaign) -> list:
    """The active rules that hold back this campaign's messages."""
    from campaigns.models import BusinessRule

    if campaign.exempt_from_rules:
        return []
    return [
        r
        for r in BusinessRule.objects.filter(active=True, channel=campaign.channel)
        if campaign.category in r.categories
    ]


# ----------------------------------------------------------------- quiet hours


def zone(name: str | None, fallback: str | None = "UTC") -> ZoneInfo:
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (KeyError, ValueError):
                continue
    return ZoneInfo("UTC")


def quiet_until(moment: datetime, start: time, end: time, tz: ZoneInfo) -> datetime | None:
    """When the quiet window that ``moment`` falls in ends (an aware datetime),
    or None when ``moment`` is outside the window. The window is a daily
    wall-clock range in ``tz``; it crosses midnight when ``start > end``.

    The end is a wall-clock time: on a DST change day it is resolved by
    zoneinfo (a time in the spring-forward gap lands just after the gap)."""
    local = moment.astimezone(tz)
    wall = local.time().replace(tzinfo=None)
    if start < end:
        if not start <= wall < end:
            return None
        day = local.date()
    elif wall >= start:  # the evening part of a window that crosses midnight
        day = local.date() + timedelta(days=1)
    elif wall < end:  # its morning part
        day = local.date()
    else:
        return None
    return _wall(day, end, tz)


def _wall(day: date, at: time, tz: ZoneInfo) -> datetime:
    # Through UTC and back: a wall time that does not exist (the spring-forward
    # gap) becomes the instant just after it, one that exists twice the first.
    return datetime.combine(day, at, tzinfo=tz).astimezone(ZoneInfo("UTC"))
