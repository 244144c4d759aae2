"""Template filters to show a rule in words."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext as _

from audiences.forms import OPERATOR_LABELS

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
