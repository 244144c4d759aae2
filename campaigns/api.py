"""Campaigns and approval policies API (SPEC §7).

The same services and the same permission helper as the pages: a refused
transition is a 409 naming the status, a role that may not is a 403, a
restricted campaign not granted is a 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status
from pydantic import Field
from pydantic import ValidationError as PydanticValidationError

from accounts.permissions import can, can_see
from audiences.models import Audience
from campaigns import services
from campaigns.models import ApprovalPolicy, Campaign, CampaignVersion
from campaigns.review import review_campaign
from campaigns.selectors import CampaignFilters, campaign_list, check_action, get_campaign_for
from campaigns.validation import normalize_content, normalize_schedule
from channels.models import ChannelConfiguration
from config.problems import ApiProblem
from config.schemas import CamelOut, CamelSchema

campaigns_router = Router(tags=["campaigns"])
policies_router = Router(tags=["approval policies"])

CampaignTypeIn = Literal["scheduled", "api_triggered"]
CategoryIn = Literal["marketing", "transactional"]
ChannelIn = Literal["email", "sms", "push"]
NamespaceIn = Literal["email", "phone", "push_token"]
StatusIn = Literal[
    "draft",
    "in_review",
    "activating",
    "scheduled",
    "live",
    "stopped",
    "completed",
    "failed",
    "archived",
    "all",
]
ACTIONS = {
    "activate": services.campaign_activate,
    "request-approval": services.campaign_request_approval,
    "approve": services.campaign_approve,
    "request-changes": services.campaign_request_changes,
    "cancel-approval": services.campaign_cancel_approval,
    "stop": services.campaign_stop,
    "archive": services.campaign_archive,
    "duplicate": services.campaign_duplicate,
    "modify": services.campaign_modify,
}
ACCEPTED = {"activate", "approve"}  # the worker continues: 202
# Past this an OFFSET no longer fits PostgreSQL's bigint; no list is that long.
MAX_OFFSET = 1_000_000_000
# Service field names → API field names, for 400 errors.
API_FIELDS = {
    "channel_configuration": "channelConfigurationId",
    "audience": "audienceId",
    "identity_namespace": "identityNamespace",
    "start_at": "schedule.startAt",
    "end_at": "schedule.endAt",
    "timezone": "schedule.timezone",
    "recurrence": "schedule.recurrence",
    "throttle_per_second": "schedule.throttlePerSecond",
}


# --- schemas ----------------------------------------------------------------


class ScheduleIn(CamelSchema):
    start_at: datetime | None = None
    end_at: datetime | None = None
    timezone: str = "UTC"
    recurrence: dict[str, Any] | None = None
    throttle_per_second: int | None = None
    use_profile_timezone: bool = False


class TrackingIn(CamelSchema):
    opens: bool = True
    clicks: bool = True


class CampaignIn(CamelSchema):
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    tags: list[str] = []
    type: CampaignTypeIn
    category: CategoryIn
    channel_configuration_id: int
    audience_id: int | None = None
    identity_namespace: NamespaceIn | None = None
    content: dict[str, Any] = {}
    schedule: ScheduleIn | None = None
    tracking: TrackingIn | None = None
    allow_profile_creation: bool = False


class CampaignPatch(CamelSchema):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = None
    tags: list[str] | None = None
    type: CampaignTypeIn | None = None
    category: CategoryIn | None = None
    channel_configuration_id: int | None = None
    audience_id: int | None = None
    identity_namespace: NamespaceIn | None = None
    content: dict[str, Any] | None = None
    schedule: ScheduleIn | None = None
    tracking: TrackingIn | None = None
    allow_profile_creation: bool | None = None


class ActionIn(CamelSchema):
    comment: str = Field("", max_length=5000)


class ScheduleOut(CamelOut):
    start_at: datetime | None
    end_at: datetime | None
    timezone: str
    recurrence: dict[str, Any] | None
    throttle_per_second: int | None
    use_profile_timezone: bool


class TrackingOut(CamelOut):
    opens: bool
    clicks: bool


class _SettingsOut(CamelOut):
    """What a version holds; a campaign shows its current version's."""

    channel_configuration_id: int | None
    audience_id: int | None
    identity_namespace: str
    content: dict[str, Any]
    schedule: ScheduleOut
    tracking: TrackingOut
    allow_profile_creation: bool


class VersionOut(_SettingsOut):
    number: int


class CampaignOut(_SettingsOut):
    id: int
    name: str
    description: str
    tags: list[str]
    type: str
    category: str
    channel: str
    status: str
    has_draft_version: bool
    draft_version: VersionOut | None = None
    failure_reason: str
    activated_at: datetime | None
    created_at: datetime
    updated_at: datetime


class CampaignPage(CamelOut):
    items: list[CampaignOut]
    count: int


class IssueOut(CamelOut):
    code: str
    message: str


class ReviewOut(CamelOut):
    errors: list[IssueOut]
    warnings: list[IssueOut]


# --- output -----------------------------------------------------------------


def _hidden_ids(user) -> tuple[set[int], set[int]]:
    """Ids of the restricted audiences and channel configurations ``user`` may
    not see (two queries, cached on the request's user object)."""
    from accounts.permissions import visible

    cached = getattr(user, "_volley_hidden_ids", None)
    if cached is None:
        audiences = Audience.objects.filter(restricted=True)
        configs = ChannelConfiguration.objects.filter(restricted=True)
        cached = (
            set(
                audiences.exclude(pk__in=visible(user, audiences).values("pk")).values_list(
                    "pk", flat=True
                )
            ),
            set(
                configs.exclude(pk__in=visible(user, configs).values("pk")).values_list(
                    "pk", flat=True
                )
            ),
        )
        user._volley_hidden_ids = cached
    return cached


def _version_out(campaign: Campaign, version: CampaignVersion, user=None) -> dict:
    hidden_audiences, hidden_configs = _hidden_ids(user) if user is not None else (set(), set())
    config_id, audience_id = version.channel_configuration_id, version.audience_id
    return {
        "number": version.number,
        # A restricted audience or configuration the user may not see is not named (null).
        "channel_configuration_id": None if config_id in hidden_configs else config_id,
        "audience_id": None if audience_id in hidden_audiences else audience_id,
        "identity_namespace": version.identity_namespace,
        "content": normalize_content(campaign.channel, version.content or {}),
        "schedule": {
            "start_at": version.start_at,
            "end_at": version.end_at,
            "timezone": version.timezone,
            "recurrence": version.recurrence,
            "throttle_per_second": version.throttle_per_second,
            "use_profile_timezone": version.use_profile_timezone,
        },
        "tracking": {"opens": version.track_opens, "clicks": version.track_clicks},
        "allow_profile_creation": version.allow_profile_creation,
    }


def campaign_out(campaign: Campaign, user=None) -> dict:
    """The campaign as SPEC §7 reads it: the live version's settings once it has
    one (what sends), the draft's before; an open draft version under ``draftVersion``."""
    shown = campaign.live_version or campaign.draft_version
    has_draft = bool(campaign.live_version_id and campaign.draft_version_id)
    # A campaign always has a version when made by the services; an empty one
    # keeps the shape for rows made any other way (admin, fixtures).
    data = _version_out(campaign, shown or CampaignVersion(campaign=campaign), user)
    data.pop("number", None)
    return {
        **data,
        "id": campaign.pk,
        "name": campaign.name,
        "description": campaign.description,
        "tags": [t.name for t in campaign.tags.all()],
        "type": campaign.type,
        "category": campaign.category,
        "channel": campaign.channel,
        "status": campaign.status,
        "has_draft_version": has_draft,
        "draft_version": _version_out(campaign, campaign.draft_version, user)
        if has_draft
        else None,
        "failure_reason": campaign.failure_reason,
        "activated_at": campaign.activated_at,
        "created_at": campaign.created_at,
        "updated_at": campaign.updated_at,
    }


# --- input ------------------------------------------------------------------


def _bad(field: str, message: str) -> ApiProblem:
    return ApiProblem(
        400,
        _("The request has invalid fields."),
        title=_("Invalid request"),
        errors={field: [message]},
    )


def _resolve(user, data: dict, *, category: str | None) -> dict:
    """API fields → service keyword arguments (ids become visible objects)."""
    fields: dict[str, Any] = {}
    if data.get("channel_configuration_id") is not None:
        config = ChannelConfiguration.objects.filter(pk=data["channel_configuration_id"]).first()
        if config is None or not can_see(user, config):
            raise _bad("channelConfigurationId", _("Unknown channel configuration."))
        if not config.is_active:
            raise _bad("channelConfigurationId", _("This channel configuration is deactivated."))
        if category and config.purpose != category:
            raise _bad(
                "channelConfigurationId",
                _("Choose a %(category)s channel configuration.") % {"category": category},
            )
        fields["channel_configuration"] = config
    if "audience_id" in data:
        audience = None
        if data["audience_id"] is not None:
            audience = Audience.objects.filter(pk=data["audience_id"]).first()
            if audience is None or not can_see(user, audience):
                raise _bad("audienceId", _("Unknown audience."))
        fields["audience"] = audience
    for name in ("identity_namespace", "content", "allow_profile_creation"):
        if data.get(name) is not None:
            fields[name] = data[name]
    if data.get("tracking") is not None:
        fields["track_opens"] = data["tracking"].get("opens", True)
        fields["track_clicks"] = data["tracking"].get("clicks", True)
    return fields


def _schedule_fields(schedule: dict | None, current_tz: str = "UTC") -> dict:
    if schedule is None:
        return {}
    camel = {
        "startAt": "start_at",
        "endAt": "end_at",
        "timezone": "timezone",
        "recurrence": "recurrence",
        "throttlePerSecond": "throttle_per_second",
        "useProfileTimezone": "use_profile_timezone",
    }
    given = {api: schedule[py] for api, py in camel.items() if py in schedule}
    given.setdefault("timezone", current_tz)
    return normalize_schedule(given)


def _validation_problem(exc: ValidationError) -> ApiProblem:
    if hasattr(exc, "error_dict"):
        errors = {API_FIELDS.get(k, k): [str(m) for m in v] for k, v in exc.message_dict.items()}
    else:
        errors = {"body": [str(m) for m in exc.messages]}
    return ApiProblem(
        400, _("The request has invalid fields."), title=_("Invalid request"), errors=errors
    )


def _refused(exc: services.ActionRefused) -> ApiProblem:
    return ApiProblem(409, exc.message, title=_("Conflict"), errors=exc.errors)


def _reload(pk: int) -> Campaign:
    return (
        Campaign.objects.select_related("live_version", "draft_version")
        .prefetch_related("tags")
        .get(pk=pk)
    )


# --- campaigns --------------------------------------------------------------


@campaigns_router.post("", response={201: CampaignOut}, by_alias=True)
def create_campaign(request: HttpRequest, payload: CampaignIn):
    if not can(request.user, "campaign.create"):
        raise PermissionDenied
    data = payload.model_dump(exclude_unset=True)
    fields = _resolve(request.user, data, category=payload.category)
    try:
        schedule = _schedule_fields(data.get("schedule"))
        config = fields["channel_configuration"]
        campaign = services.campaign_create(
            actor=request.user,
            name=payload.name,
            description=payload.description,
            tags=payload.tags,
            type=payload.type,
            category=payload.category,
            channel=config.channel,
            **fields,
            **schedule,
        )
    except ValidationError as exc:
        raise _validation_problem(exc) from None
    return Status(201, campaign_out(_reload(campaign.pk), request.user))


@campaigns_router.get("", response=CampaignPage, by_alias=True)
def list_campaigns(
    request: HttpRequest,
    status: list[StatusIn] = Query(None),  # noqa: B008
    type: CampaignTypeIn | None = None,
    channel: ChannelIn | None = None,
    tag: str | None = None,
    search: str | None = None,
    sort: str | None = None,
    limit: int = Query(50, ge=1, le=200),  # noqa: B008
    offset: int = Query(0, ge=0, le=MAX_OFFSET),  # noqa: B008
):
    """Every status unless ``status`` is given (the page defaults to Draft,
    Scheduled and Live; an API client asks for what it wants)."""
    if not can(request.user, "campaign.view"):
        raise PermissionDenied
    filters = CampaignFilters.from_query(request.GET, default_statuses=False)
    qs = campaign_list(request.user, filters)
    items = [campaign_out(c, request.user) for c in qs[offset : offset + limit]]
    return {"items": items, "count": qs.count()}


@campaigns_router.get("/{int:campaign_id}", response=CampaignOut, by_alias=True)
def get_campaign(request: HttpRequest, campaign_id: int):
    campaign = get_campaign_for(request.user, campaign_id)
    return campaign_out(campaign, request.user)


@campaigns_router.patch("/{int:campaign_id}", response=CampaignOut, by_alias=True)
def patch_campaign(request: HttpRequest, campaign_id: int, payload: CampaignPatch):
    campaign = get_campaign_for(request.user, campaign_id)
    check_action(request.user, "edit", campaign)
    data = payload.model_dump(exclude_unset=True)
    version = services.editable_version(campaign)
    if version is None:
        raise _refused(services._refuse_status(campaign, "edit"))
    category = data.get("category") or campaign.category
    fields = _resolve(request.user, data, category=category)
    for name in ("name", "description", "type", "category"):
        if data.get(name) is not None:
            fields[name] = data[name]
    if "channel_configuration" in fields:
        fields["channel"] = fields["channel_configuration"].channel
    if "content" in fields and fields.get("channel", campaign.channel) == campaign.channel:
        # PATCH is partial down to content fields: {"content": {"subject": …}} keeps the body.
        try:
            given = normalize_content(campaign.channel, fields["content"])
        except ValidationError as exc:
            raise _validation_problem(exc) from None
        merged = dict(version.content or {})
        merged.update({k: v for k, v in given.items() if k in fields["content"]})
        fields["content"] = merged
    try:
        fields.update(_schedule_fields(data.get("schedule"), version.timezone))
        services.campaign_update(
            campaign=campaign, actor=request.user, tags=data.get("tags"), **fields
        )
    except ValidationError as exc:
        raise _validation_problem(exc) from None
    except services.ActionRefused as exc:
        raise _refused(exc) from None
    return campaign_out(_reload(campaign.pk), request.user)


@campaigns_router.delete("/{int:campaign_id}", response={204: None})
def delete_campaign(request: HttpRequest, campaign_id: int):
    campaign = get_campaign_for(request.user, campaign_id)
    check_action(request.user, "delete", campaign)
    try:
        services.campaign_delete(campaign=campaign, actor=request.user)
    except services.ActionRefused as exc:
        raise _refused(exc) from None
    return Status(204, None)


@campaigns_router.get("/{int:campaign_id}/review", response=ReviewOut, by_alias=True)
def get_review(request: HttpRequest, campaign_id: int):
    campaign = get_campaign_for(request.user, campaign_id)
    return review_campaign(campaign).as_dict()


def _comment(request: HttpRequest) -> str:
    """The optional ``{"comment"}`` body. Parsed here rather than by a schema so
    that a bare POST (no body, any content type) is accepted too."""
    raw = request.body.strip() if request.body else b""
    if not raw or not request.content_type.endswith("json"):
        return ""
    try:
        data = ActionIn.model_validate_json(raw)
    except PydanticValidationError as exc:
        from config.problems import validation_errors

        raise ApiProblem(
            400, _("The request has invalid fields."), errors=validation_errors(exc.errors())
        ) from None
    return data.comment


def _run_action(request: HttpRequest, campaign_id: int, action: str):
    campaign = get_campaign_for(request.user, campaign_id)
    check_action(request.user, action.replace("-", "_"), campaign)
    kwargs: dict[str, Any] = {"campaign": campaign, "actor": request.user}
    comment = _comment(request)
    if action not in ("duplicate", "modify"):
        kwargs["comment"] = comment
    try:
        result = ACTIONS[action](**kwargs)
    except services.ActionRefused as exc:
        raise _refused(exc) from None
    return Status(
        202 if action in ACCEPTED else 200, campaign_out(_reload(result.pk), request.user)
    )


_ACTION_BODY = {
    "requestBody": {
        "required": False,
        "content": {"application/json": {"schema": ActionIn.model_json_schema()}},
    }
}


def _register_action(action: str) -> None:
    # One explicit path per action (not "/{id}/{action}"), so that sibling
    # routes such as the engine's GET /{id}/report are never shadowed.
    def view(request: HttpRequest, campaign_id: int):
        return _run_action(request, campaign_id, action)

    view.__name__ = "campaign_" + action.replace("-", "_")
    campaigns_router.post(
        f"/{{int:campaign_id}}/{action}",
        response={200: CampaignOut, 202: CampaignOut},
        by_alias=True,
        summary=action.replace("-", " ").capitalize(),
        operation_id=view.__name__,
        openapi_extra=_ACTION_BODY,
    )(view)


for _action in ACTIONS:
    _register_action(_action)


# --- approval policies ------------------------------------------------------


class ConditionsIn(CamelSchema):
    types: list[CampaignTypeIn] = []
    categories: list[CategoryIn] = []
    channels: list[ChannelIn] = []
    tags: list[str] = []


class ApproversIn(CamelSchema):
    users: list[str] = []
    groups: list[str] = []


class PolicyIn(CamelSchema):
    name: str = Field(min_length=1, max_length=200)
    active: bool = True
    conditions: ConditionsIn = ConditionsIn()
    approvers: ApproversIn = ApproversIn()
    block_self_approval: bool = True


class ConditionsOut(CamelOut):
    types: list[str]
    categories: list[str]
    channels: list[str]
    tags: list[str]


class ApproversOut(CamelOut):
    users: list[str]
    groups: list[str]


class PolicyOut(CamelOut):
    id: int
    name: str
    active: bool
    conditions: ConditionsOut
    approvers: ApproversOut
    block_self_approval: bool


def policy_out(policy: ApprovalPolicy) -> dict:
    return {
        "id": policy.pk,
        "name": policy.name,
        "active": policy.active,
        "conditions": {
            "types": policy.types,
            "categories": policy.categories,
            "channels": policy.channels,
            "tags": policy.tags,
        },
        "approvers": {
            "users": [u.get_username() for u in policy.approver_users.all()],
            "groups": [g.name for g in policy.approver_groups.all()],
        },
        "block_self_approval": policy.block_self_approval,
    }


@policies_router.post("", response={201: PolicyOut}, by_alias=True)
def create_policy(request: HttpRequest, payload: PolicyIn):
    if not can(request.user, "policy.manage"):
        raise PermissionDenied
    User = get_user_model()
    users = list(User.objects.filter(username__in=payload.approvers.users))
    groups = list(Group.objects.filter(name__in=payload.approvers.groups))
    errors = {}
    missing_users = set(payload.approvers.users) - {u.get_username() for u in users}
    if missing_users:
        errors["approvers.users"] = [
            _("Unknown user: %(name)s") % {"name": n} for n in sorted(missing_users)
        ]
    missing_groups = set(payload.approvers.groups) - {g.name for g in groups}
    if missing_groups:
        errors["approvers.groups"] = [
            _("Unknown group: %(name)s") % {"name": n} for n in sorted(missing_groups)
        ]
    if errors:
        raise ApiProblem(400, _("The request has invalid fields."), errors=errors)
    try:
        policy = services.approval_policy_create(
            actor=request.user,
            name=payload.name,
            active=payload.active,
            conditions=payload.conditions.model_dump(),
            approver_users=users,
            approver_groups=groups,
            block_self_approval=payload.block_self_approval,
        )
    except ValidationError as exc:
        raise _validation_problem(exc) from None
    return Status(201, policy_out(policy))


@policies_router.get("", response=list[PolicyOut], by_alias=True)
def list_policies(request: HttpRequest):
    if not can(request.user, "policy.manage"):
        raise PermissionDenied
    policies = ApprovalPolicy.objects.prefetch_related("approver_users", "approver_groups")
    return [policy_out(p) for p in policies]
