"""Template filters to show a rule in words."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext as _

from audiences.forms import ENGAGEMENT_LABELS, OPERATOR_LABELS

register = template.Library()


@register.filter
def op_label(op: str) -> str:
    return str(dict(OPERATOR_LABELS).get(op, op))


@register.filter
def rule_value(value: Any) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


@register.filter
def engagement_label(item: dict) -> str:
    """An engagement condition in words. A campaign is named by its id: its
    name is for those who may see it (the rule's readers may not)."""
    kind = str(dict(ENGAGEMENT_LABELS).get(item.get("engagement"), item.get("engagement")))
    campaign = item.get("campaignId")
    words = {
        "kind": kind,
        "campaign": _("campaign #%s") % campaign if campaign is not None else _("any unrestricted campaign"),
        "days": item.get("withinDays"),
    }
    text = _("%(kind)s %(campaign)s in the last %(days)s days") % words
    if item.get("includeMachine"):
        text += " " + _("(machine opens and clicks included)")
    return text


@register.filter
def event_label(item: dict) -> str:
    """An event condition in words: "performed purchase in the last 30 days"."""
    words = {"event": item.get("event"), "days": item.get("withinDays")}
    performed = item.get("performed", True)
    if item.get("withinDays") is None:
        if performed:
            return _("performed the event “%(event)s” at least once") % words
        return _("never performed the event “%(event)s”") % words
    if performed:
        return _("performed the event “%(event)s” in the last %(days)s days") % words
    return _("did not perform the event “%(event)s” in the last %(days)s days") % words
