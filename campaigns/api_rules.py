"""Business rules API (SPEC §12): `/api/v1/business-rules`.

Administrators create, change and delete rules; anyone who may see campaigns
may read them (a marketer needs to know why messages are held back). Bad input
is a 400 naming the field as this resource names it.
"""

from __future__ import annotations

from datetime import time
from typing import Literal

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from ninja import Router, Status
from pydantic import Field

from accounts.permissions import can
from campaigns.models import BusinessRule
from campaigns.rules import business_rule_create, business_rule_delete, business_rule_update
from config import problems
from config.ids import is_id
from config.schemas import CamelOut, CamelSchema

rules_router = Router(tags=["business rules"])

problems.rename_fields(
    "/api/v1/business-rules",
    {
        "cap_max_messages": "frequencyCap.maxMessages",
        "cap_window_hours": "frequencyCap.windowHours",
        "quiet_start": "quietHours.start",
        "quiet_end": "quietHours.end",
        "quiet_action": "quietHours.action",
    },
)

HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class FrequencyCapIn(CamelSchema):
    max_messages: int = Field(ge=1, le=1000)
    window_hours: int = Field(ge=1, le=24 * 366)


class QuietHoursIn(CamelSchema):
    start: str = Field(pattern=HHMM, description="HH:MM, the profile's local time")
    end: str = Field(pattern=HHMM, description="HH:MM; before start: the window crosses midnight")
    action: Literal["delay", "skip"] = "delay"


class RuleIn(CamelSchema):
    name: str = Field(min_length=1, max_length=200)
    active: bool = True
    channel: Literal["email", "sms", "push"]
    categories: list[Literal["marketing", "transactional"]] = Field(
        default_factory=lambda: ["marketing"], min_length=1
    )
    frequency_cap: FrequencyCapIn | None = None
    quiet_hours: QuietHoursIn | None = None


class RulePatch(CamelSchema):
    name: str | None = Field(None, min_length=1, max_length=200)
    active: bool | None = None
    channel: Literal["email", "sms", "push"] | None = None
    categories: list[Literal["marketing", "transactional"]] | None = Field(None, min_length=1)
    frequency_cap: FrequencyCapIn | None = None
    quiet_hours: QuietHoursIn | None = None


class FrequencyCapOut(CamelOut):
    max_messages: int
    window_hours: int


class QuietHoursOut(CamelOut):
    start: str
    end: str
    action: str


class RuleOut(CamelOut):
    id: int
    name: str
    active: bool
    channel: str
    categories: list[str]
    frequency_cap: FrequencyCapOut | None
    quiet_hours: QuietHoursOut | None

    @staticmethod
    def resolve_frequency_cap(rule: BusinessRule) -> dict | None:
        if not rule.has_cap:
            return None
        return {"max_messages": rule.cap_max_messages, "window_hours": rule.cap_window_hours}

    @staticmethod
    def resolve_quiet_hours(rule: BusinessRule) -> dict | None:
        if not rule.has_quiet_hours:
            return None
        return {
            "start": rule.quiet_start.strftime("%H:%M"),
            "end": rule.quiet_end.strftime("%H:%M"),
            "action": rule.quiet_action,
        }


def _hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _fields(data: dict) -> dict:
    """API body → the rule's fields (a null cap or quiet hours removes them)."""
    fields = {k: data[k] for k in ("name", "active", "channel", "categories") if k in data}
    if "categories" in fields:
        fields["categories"] = list(dict.fromkeys(fields["categories"]))
    if "frequency_cap" in data:
        cap = data["frequency_cap"] or {}
        fields["cap_max_messages"] = cap.get("max_messages")
        fields["cap_window_hours"] = cap.get("window_hours")
    if "quiet_hours" in data:
        quiet = data["quiet_hours"]
        fields["quiet_start"] = _hhmm(quiet["start"]) if quiet else None
        fields["quiet_end"] = _hhmm(quiet["end"]) if quiet else None
        fields["quiet_action"] = quiet["action"] if quiet else BusinessRule.QuietAction.DELAY
    return fields


def _may_manage(request: HttpRequest) -> None:
    if not can(request.user, "rule.manage"):
        raise PermissionDenied


def _may_read(request: HttpRequest) -> None:
    if not (can(request.user, "rule.manage") or can(request.user, "campaign.view")):
        raise PermissionDenied


def _get(rule_id: int) -> BusinessRule:
    rule = BusinessRule.objects.filter(pk=rule_id).first() if is_id(rule_id) else None
    if rule is None:
        raise Http404
    return rule


@rules_router.post("", response={201: RuleOut}, by_alias=True, summary="Create a rule")
def create_rule(request: HttpRequest, payload: RuleIn):
    """A frequency cap and/or quiet hours for one channel (administrators)."""
    _may_manage(request)
    rule = business_rule_create(actor=request.user, **_fields(payload.model_dump()))
    return Status(201, rule)


@rules_router.get("", response=list[RuleOut], by_alias=True, summary="List the rules")
def list_rules(request: HttpRequest):
    _may_read(request)
    return BusinessRule.objects.order_by("name", "id")


@rules_router.get("/{int:rule_id}", response=RuleOut, by_alias=True, summary="A rule")
def get_rule(request: HttpRequest, rule_id: int):
    _may_read(request)
    return _get(rule_id)


@rules_router.patch("/{int:rule_id}", response=RuleOut, by_alias=True, summary="Change a rule")
def patch_rule(request: HttpRequest, rule_id: int, payload: RulePatch):
    _may_manage(request)
    rule = _get(rule_id)
    data = payload.model_dump(exclude_unset=True)
    for name in ("name", "active", "channel", "categories"):
        if name in data and data[name] is None:
            data.pop(name)  # null for a required field: left as it is
    return business_rule_update(rule=rule, actor=request.user, **_fields(data))


@rules_router.delete("/{int:rule_id}", response={204: None}, summary="Delete a rule")
def delete_rule(request: HttpRequest, rule_id: int):
    _may_manage(request)
    business_rule_delete(rule=_get(rule_id), actor=request.user)
    return Status(204, None)
