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
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Query, Router, Status
from pydantic import Field
from pydantic import ValidationError as PydanticValidationError

from accounts.api import AccessIn, AccessOut, access_read, access_target, access_write
from accounts.permissions import can, can_manage_access, can_see
from accounts.services import access_set_restricted
from audiences.channel_facts import CONTENT_EXTRAS
from audiences.models import Audience
from campaigns import services
from campaigns.actions import USER_ACTIONS, CampaignAction
from campaigns.models import MAX_DESCRIPTION, ApprovalPolicy, Campaign, CampaignVersion
from campaigns.reports import campaign_report
from campaigns.review import review_campaign
from campaigns.rules import campaign_set_exempt
from campaigns.selectors import CampaignFilters, campaign_list, check_action, get_campaign_for
from campaigns.trigger_example import trigger_example
from campaigns.validation import normalize_content, normalize_schedule
from channels.api import RenderedOut
from channels.models import ChannelConfiguration
from config import problems
from config.ids import is_id
from config.problems import ApiProblem
from config.schemas import ApiDateTime, CamelOut, CamelSchema

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
# Past this an OFFSET no longer fits PostgreSQL's bigint; no list is that long.
MAX_OFFSET = 1_000_000_000
# Service field names → API field names, for 400 errors (config/problems.py).
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
problems.rename_fields("/api/v1/campaigns", API_FIELDS)


# --- schemas ----------------------------------------------------------------

EXPERIMENT_DOC = (
    'A content experiment (SPEC §13): `{"variants": [{"name", "weight", '
    "\"content\"}] (2–5; a variant's content overrides fields of the campaign's content; "
    'the first is the control), "holdoutPercent": 0–50, "testPercent"?: 1–100, '
    '"winnerMetric"?: "opens"|"clicks"|"conversions" (conversions need a conversion goal), '
    '"testHours"?, "autoWinner"?}`.'
)
CONVERSION_DOC = (
    'The conversion goal (docs/CONVERSIONS.md): `{"event": "purchase", "windowHours": 1–720 '
    "(default 72)}`. A person converts when they perform the event (`POST /api/v1/events`) "
    "within windowHours after the campaign was sent to them, or after their experiment held "
    "them out; the report counts conversions per variant, for the holdout, and the lift."
)


class ScheduleIn(CamelSchema):
    start_at: ApiDateTime | None = None
    end_at: ApiDateTime | None = None
    timezone: str = "UTC"
    recurrence: dict[str, Any] | None = None
    throttle_per_second: int | None = None
    use_profile_timezone: bool = False


class TrackingIn(CamelSchema):
    opens: bool = True
    clicks: bool = True


DESCRIPTION_DOC = (
    f"For your team: what the campaign is for (recipients never see it); at most "
    f"{MAX_DESCRIPTION:,} characters."
)


class CampaignIn(CamelSchema):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=MAX_DESCRIPTION, description=DESCRIPTION_DOC)
    tags: list[str] = []
    type: CampaignTypeIn
    category: CategoryIn
    channel_configuration_id: int
    audience_id: int | None = None
    identity_namespace: NamespaceIn | None = None
    content: dict[str, Any] = {}
    # SPEC §11: the template's content is copied into the draft (fields given
    # in ``content`` win over the template's).
    template_id: int | None = None
    schedule: ScheduleIn | None = None
    tracking: TrackingIn | None = None
    allow_profile_creation: bool = False
    experiment: dict[str, Any] | None = Field(None, description=EXPERIMENT_DOC)
    conversion: dict[str, Any] | None = Field(None, description=CONVERSION_DOC)


class CampaignPatch(CamelSchema):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION, description=DESCRIPTION_DOC)
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
    experiment: dict[str, Any] | None = Field(
        None, description=EXPERIMENT_DOC + " `null` removes the experiment."
    )
    conversion: dict[str, Any] | None = Field(
        None, description=CONVERSION_DOC + " `null` removes the goal."
    )
    restricted: bool | None = Field(
        None,
        description="Restrict or open the campaign (administrators; see "
        "`PUT /campaigns/{id}/access`); the caller keeps change access.",
    )
    exempt_from_rules: bool | None = Field(
        None,
        description="Exempt the campaign from frequency caps and quiet hours (service "
        "messages; administrators only, in any status).",
    )


class ActionIn(CamelSchema):
    comment: str = Field("", max_length=5000)


class ScheduleOut(CamelOut):
    """Read from a version's own fields."""

    start_at: datetime | None
    end_at: datetime | None
    timezone: str
    recurrence: dict[str, Any] | None
    throttle_per_second: int | None
    use_profile_timezone: bool


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


def _shown_id(value: int | None, kind: int, context) -> int | None:
    """``value`` unless it names a restricted audience (kind 0) or channel
    configuration (kind 1) the requesting user may not see: then null."""
    request = (context or {}).get("request")
    user = getattr(request, "user", None)
    if value is None or user is None or user.is_superuser:
        return value
    return None if value in _hidden_ids(user)[kind] else value


class TrackingOut(CamelOut):
    opens: bool
    clicks: bool

    @staticmethod
    def resolve_opens(version: CampaignVersion) -> bool:
        return version.track_opens

    @staticmethod
    def resolve_clicks(version: CampaignVersion) -> bool:
        return version.track_clicks


class _SettingsOut(CamelOut):
    """What a version holds, read from a ``CampaignVersion`` whose ``campaign`` is loaded."""

    channel_configuration_id: int | None
    audience_id: int | None
    identity_namespace: str
    content: dict[str, Any]
    schedule: ScheduleOut
    tracking: TrackingOut
    allow_profile_creation: bool
    experiment: dict[str, Any] | None = None
    conversion: dict[str, Any] | None = None

    @staticmethod
    def resolve_channel_configuration_id(version: CampaignVersion, context) -> int | None:
        return _shown_id(version.channel_configuration_id, 1, context)

    @staticmethod
    def resolve_audience_id(version: CampaignVersion, context) -> int | None:
        return _shown_id(version.audience_id, 0, context)

    @staticmethod
    def resolve_content(version: CampaignVersion) -> dict:
        return normalize_content(version.campaign.channel, version.content or {})

    @staticmethod
    def resolve_schedule(version: CampaignVersion) -> CampaignVersion:
        return version

    @staticmethod
    def resolve_tracking(version: CampaignVersion) -> CampaignVersion:
        return version


class VersionOut(_SettingsOut):
    number: int


def _shown(campaign: Campaign) -> CampaignVersion:
    """The version whose settings a campaign shows (SPEC §7): the live one once
    it has one (what sends), the draft before. A campaign made any other way than
    through the services (fixtures) may have none: an empty one keeps the shape."""
    version = campaign.live_version or campaign.draft_version or CampaignVersion()
    version.campaign = campaign  # already loaded: no query per row
    return version


class TriggerExampleOut(CamelOut):
    """A ready-to-copy request that triggers an API-triggered campaign."""

    method: str
    url: str
    body: dict
    curl: str
    docs_url: str


class CampaignOut(_SettingsOut):
    """A campaign: its own fields, its shown version's settings, and an open
    draft version under ``draftVersion``."""

    id: int
    name: str
    description: str
    tags: list[str]
    type: str
    category: str
    channel: str
    status: str
    restricted: bool
    exempt_from_rules: bool
    has_draft_version: bool
    draft_version: VersionOut | None = None
    failure_reason: str
    activated_at: datetime | None
    created_at: datetime
    updated_at: datetime
    trigger_example: TriggerExampleOut | None = None

    @staticmethod
    def resolve_tags(campaign: Campaign) -> list[str]:
        return [t.name for t in campaign.tags.all()]

    @staticmethod
    def resolve_has_draft_version(campaign: Campaign) -> bool:
        return bool(campaign.live_version_id and campaign.draft_version_id)

    @staticmethod
    def resolve_draft_version(campaign: Campaign) -> CampaignVersion | None:
        if not (campaign.live_version_id and campaign.draft_version_id):
            return None
        version = campaign.draft_version
        version.campaign = campaign
        return version

    # The shown version's settings.
    @staticmethod
    def resolve_channel_configuration_id(campaign: Campaign, context) -> int | None:
        return _shown_id(_shown(campaign).channel_configuration_id, 1, context)

    @staticmethod
    def resolve_audience_id(campaign: Campaign, context) -> int | None:
        return _shown_id(_shown(campaign).audience_id, 0, context)

    @staticmethod
    def resolve_identity_namespace(campaign: Campaign) -> str:
        return _shown(campaign).identity_namespace

    @staticmethod
    def resolve_content(campaign: Campaign) -> dict:
        return _SettingsOut.resolve_content(_shown(campaign))

    @staticmethod
    def resolve_schedule(campaign: Campaign) -> CampaignVersion:
        return _shown(campaign)

    @staticmethod
    def resolve_tracking(campaign: Campaign) -> CampaignVersion:
        return _shown(campaign)

    @staticmethod
    def resolve_allow_profile_creation(campaign: Campaign) -> bool:
        return _shown(campaign).allow_profile_creation

    @staticmethod
    def resolve_experiment(campaign: Campaign) -> dict | None:
        return _shown(campaign).experiment

    @staticmethod
    def resolve_conversion(campaign: Campaign) -> dict | None:
        return _shown(campaign).conversion

    @staticmethod
    def resolve_trigger_example(campaign: Campaign) -> dict | None:
        return trigger_example(campaign, _shown(campaign))


class CampaignPage(CamelOut):
    items: list[CampaignOut]
    count: int


class IssueOut(CamelOut):
    code: str
    message: str


class ReviewOut(CamelOut):
    errors: list[IssueOut]
    warnings: list[IssueOut]


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
    if "experiment" in data:  # null removes it
        fields["experiment"] = data["experiment"]
    if "conversion" in data:  # null removes it
        fields["conversion"] = data["conversion"]
    if data.get("tracking") is not None:
        fields["track_opens"] = data["tracking"].get("opens", True)
        fields["track_clicks"] = data["tracking"].get("clicks", True)
    return fields


def _template_content(user, template_id: int, channel: str, data: dict) -> tuple[dict, list, bool]:
    """The template's content, with the request's own ``content`` fields on
    top, who wrote it (the new campaign's editors) and whether it is restricted
    (so is the new campaign)."""
    from campaigns.templates_services import source_content

    template_channel, content, _name, writers, restricted = source_content(
        user, template_id=template_id
    )
    if template_channel != channel:
        raise _bad(
            "templateId",
            _("This template is for %(channel)s messages.") % {"channel": template_channel},
        )
    content.update(data.get("content") or {})
    return content, writers, restricted


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
    if payload.template_id is not None:
        fields["content"], fields["editors"], fields["restricted"] = _template_content(
            request.user, payload.template_id, fields["channel_configuration"].channel, data
        )
    campaign = services.campaign_create(
        actor=request.user,
        name=payload.name,
        description=payload.description,
        tags=payload.tags,
        type=payload.type,
        category=payload.category,
        channel=fields["channel_configuration"].channel,
        **fields,
        **_schedule_fields(data.get("schedule")),
    )
    return Status(201, _reload(campaign.pk))


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
    return {"items": list(qs[offset : offset + limit]), "count": qs.count()}


@campaigns_router.get("/{int:campaign_id}", response=CampaignOut, by_alias=True)
def get_campaign(request: HttpRequest, campaign_id: int):
    return get_campaign_for(request.user, campaign_id)


@campaigns_router.patch("/{int:campaign_id}", response=CampaignOut, by_alias=True)
def patch_campaign(request: HttpRequest, campaign_id: int, payload: CampaignPatch):
    campaign = get_campaign_for(request.user, campaign_id)
    check_action(request.user, "edit", campaign)
    data = payload.model_dump(exclude_unset=True)
    restricted = data.pop("restricted", None)
    if restricted is not None and restricted != campaign.restricted:
        if not can_manage_access(request.user, campaign):
            raise PermissionDenied  # as the Access page: before anything is written
    else:
        restricted = None
    exempt = data.pop("exempt_from_rules", None)
    if exempt is not None and exempt != campaign.exempt_from_rules:
        if not can(request.user, "rule.manage"):
            raise PermissionDenied(_("Only administrators exempt a campaign from the rules."))
    else:
        exempt = None
    if set(data) == set():
        # Only the restriction or the exemption: allowed in any status.
        with transaction.atomic():
            if restricted is not None:
                access_set_restricted(obj=campaign, restricted=restricted, actor=request.user)
            if exempt is not None:
                campaign_set_exempt(campaign=campaign, exempt=exempt, actor=request.user)
        return _reload(campaign.pk)
    version = services.editable_version(campaign)
    if version is None:
        raise services._refuse_status(campaign, "edit")
    category = data.get("category") or campaign.category
    fields = _resolve(request.user, data, category=category)
    for name in ("name", "description", "type", "category"):
        if data.get(name) is not None:
            fields[name] = data[name]
    if "channel_configuration" in fields:
        fields["channel"] = fields["channel_configuration"].channel
    if "content" in fields and fields.get("channel", campaign.channel) == campaign.channel:
        # PATCH is partial down to content fields: {"content": {"subject": …}} keeps the body.
        given = normalize_content(campaign.channel, fields["content"])
        merged = dict(version.content or {})
        merged.update({k: v for k, v in given.items() if k in fields["content"]})
        for key in CONTENT_EXTRAS:  # {"translations": {}} removes them all
            if key in fields["content"] and key not in given:
                merged.pop(key, None)
        fields["content"] = merged
    fields.update(_schedule_fields(data.get("schedule"), version.timezone))
    with transaction.atomic():
        services.campaign_update(
            campaign=campaign, actor=request.user, tags=data.get("tags"), **fields
        )
        if restricted is not None:
            access_set_restricted(obj=campaign, restricted=restricted, actor=request.user)
        if exempt is not None:
            campaign_set_exempt(campaign=campaign, exempt=exempt, actor=request.user)
    return _reload(campaign.pk)


@campaigns_router.delete("/{int:campaign_id}", response={204: None})
def delete_campaign(request: HttpRequest, campaign_id: int):
    campaign = get_campaign_for(request.user, campaign_id)
    check_action(request.user, "delete", campaign)
    USER_ACTIONS["delete"].run(campaign=campaign, actor=request.user)
    return Status(204, None)


@campaigns_router.get("/{int:campaign_id}/review", response=ReviewOut, by_alias=True)
def get_review(request: HttpRequest, campaign_id: int):
    campaign = get_campaign_for(request.user, campaign_id)
    return review_campaign(campaign, user=request.user).as_dict()


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


def _run_action(request: HttpRequest, campaign_id: int, action: CampaignAction):
    campaign = get_campaign_for(request.user, campaign_id)
    check_action(request.user, action.name, campaign)
    result = action.run(campaign=campaign, actor=request.user, comment=_comment(request))
    return Status(action.http_status, _reload(result.pk))


_ACTION_BODY = {
    "requestBody": {
        "required": False,
        "content": {"application/json": {"schema": ActionIn.model_json_schema()}},
    }
}


def _register_action(action: CampaignAction) -> None:
    # One explicit path per action (not "/{id}/{action}"), so that sibling
    # routes such as the engine's GET /{id}/report are never shadowed.
    def view(request: HttpRequest, campaign_id: int):
        return _run_action(request, campaign_id, action)

    view.__name__ = f"campaign_{action.name}"
    campaigns_router.post(
        f"/{{int:campaign_id}}/{action.slug}",
        response={action.http_status: CampaignOut},
        by_alias=True,
        summary=action.slug.replace("-", " ").capitalize(),
        operation_id=view.__name__,
        openapi_extra=_ACTION_BODY,
    )(view)


for _action in USER_ACTIONS.values():
    if _action.http_method == "POST":
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
    """Read from the policy's own list fields."""

    types: list[str]
    categories: list[str]
    channels: list[str]
    tags: list[str]


class ApproversOut(CamelOut):
    users: list[str]
    groups: list[str]

    @staticmethod
    def resolve_users(policy: ApprovalPolicy) -> list[str]:
        return [u.get_username() for u in policy.approver_users.all()]

    @staticmethod
    def resolve_groups(policy: ApprovalPolicy) -> list[str]:
        return [g.name for g in policy.approver_groups.all()]


class PolicyOut(CamelOut):
    id: int
    name: str
    active: bool
    conditions: ConditionsOut
    approvers: ApproversOut
    block_self_approval: bool

    @staticmethod
    def resolve_conditions(policy: ApprovalPolicy) -> ApprovalPolicy:
        return policy

    @staticmethod
    def resolve_approvers(policy: ApprovalPolicy) -> ApprovalPolicy:
        return policy


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
    policy = services.approval_policy_create(
        actor=request.user,
        name=payload.name,
        active=payload.active,
        conditions=payload.conditions.model_dump(),
        approver_users=users,
        approver_groups=groups,
        block_self_approval=payload.block_self_approval,
    )
    return Status(201, policy)


@policies_router.get("", response=list[PolicyOut], by_alias=True)
def list_policies(request: HttpRequest):
    if not can(request.user, "policy.manage"):
        raise PermissionDenied
    return ApprovalPolicy.objects.prefetch_related("approver_users", "approver_groups")


class TopLinkOut(CamelOut):
    url: str
    unique_clicks: int = Field(description="People who clicked the link.")
    clicks: int = Field(description="Every click on the link.")


class RatesOut(CamelOut):
    open_rate: float | None
    click_rate: float | None
    click_to_open_rate: float | None


class RunReportOut(CamelOut):
    id: int
    kind: str
    status: str
    scheduled_for: str | None
    started_at: str | None
    finished_at: str | None
    targeted: int
    excluded: int
    sent: int
    failed: int
    cancelled: int
    pending: int
    duplicates: int
    error: str


class LanguageReportOut(CamelOut):
    locale: str
    sent: int
    opened: int
    clicked: int


class LiftOut(CamelOut):
    """A conversion rate against the holdout's."""

    difference: float = Field(
        description="Conversion rate minus the holdout's, as a proportion (0.032 = +3.2 points)."
    )
    ci95: list[float] = Field(
        description="95% confidence interval of the difference (Newcombe's hybrid score interval)."
    )
    significant: bool = Field(description="The interval leaves out zero.")


class HoldoutConversionOut(CamelOut):
    profiles: int = Field(description="People held out (sent nothing).")
    conversions: int = Field(description="Of them, people who performed the event in the window.")
    conversion_rate: float | None
    revenue: float = Field(description="Sum of the attributed events' values.")


class ConversionReportOut(CamelOut):
    """The conversion goal's results (docs/CONVERSIONS.md)."""

    event: str
    window_hours: int
    profiles: int = Field(description="People the campaign was sent to.")
    conversions: int = Field(
        description="People who performed the event within the window after a send (each once)."
    )
    conversion_rate: float | None
    revenue: float = Field(description="Sum of the attributed events' values.")
    holdout: HoldoutConversionOut | None = Field(
        description="The experiment's holdout, counted from when it would have been sent."
    )
    lift: LiftOut | None = Field(description="The whole campaign against the holdout.")


class VariantReportOut(CamelOut):
    name: str
    weight: int
    sent: int
    unique_opens: int
    unique_clicks: int
    open_rate: float | None
    click_rate: float | None
    difference: float | None = Field(
        description="This variant's rate minus the control's (the first variant) on the "
        "winner metric, as a proportion (0.032 = +3.2 points); null for the control."
    )
    ci95: list[float] | None = Field(
        description="95% confidence interval of the difference (Newcombe's hybrid score "
        "interval, built from Wilson intervals); null for the control."
    )
    significant: bool = Field(description="The interval leaves out zero.")
    reached: int | None = Field(
        None, description="People sent this variant (null without a conversion goal)."
    )
    conversions: int | None = Field(
        None, description="Of them, people who converted (null without a conversion goal)."
    )
    conversion_rate: float | None = None
    revenue: float | None = None
    lift: LiftOut | None = Field(
        None, description="This variant's conversion rate against the holdout's."
    )


class WinnerOut(CamelOut):
    variant: str
    automatic: bool
    decided_by: str | None
    metric: str
    decided_at: datetime
    released: int = Field(description="Deliveries that were waiting and got the winner.")
    summary: str
    results: list[VariantReportOut] = Field(description="The numbers the decision was made on.")


class ExperimentStateOut(CamelOut):
    winner_metric: str
    holdout_percent: int
    test_percent: int | None
    test_hours: int
    auto_winner: bool
    test_ends_at: datetime | None
    waiting: int = Field(description="Deliveries waiting for the winner.")


class ReportOut(CamelOut):
    """targeted = Σexcluded + sent + Σfailed + cancelled + pending, always (one snapshot)."""

    targeted: int
    excluded: dict[str, int] = Field(description="Excluded deliveries by reason code.")
    sent: int
    delivered: int
    failed: dict[str, int] = Field(description="Failed deliveries by reason code.")
    cancelled: int = Field(description="Deliveries that will not be sent (stop, erasure).")
    pending: int = Field(description="Deliveries not sent yet (waiting or being sent).")
    bounced: int
    opened: int = Field(description="Messages a person opened (unique human opens).")
    clicked: int = Field(description="Messages a person clicked (unique human clicks).")
    machine_opens: int = Field(
        description="Messages opened only by machines (privacy proxies, security scanners)."
    )
    machine_clicks: int = Field(description="Messages clicked only by machines (scanners).")
    unsubscribed: int
    complained: int
    duplicates: int
    top_links: list[TopLinkOut] = Field(description="The most clicked links, most people first.")
    languages: list[LanguageReportOut] = Field(
        description='Sent, opened and clicked per language sent; locale "" is the default content.'
    )
    runs: list[RunReportOut]
    rates: RatesOut
    holdout: int = Field(description="Profiles held out of the experiment (sent nothing).")
    variants: list[VariantReportOut] = Field(
        description="Each experiment variant; the first is the control."
    )
    winner: WinnerOut | None
    experiment: ExperimentStateOut | None
    conversion: ConversionReportOut | None = Field(
        None, description="The conversion goal's results; null when the campaign has none."
    )


@campaigns_router.get(
    "/{campaign_id}/report",
    response=ReportOut,
    by_alias=True,
    tags=["reports"],
    summary="A campaign's report",
)
def get_report(request: HttpRequest, campaign_id: int):
    if not is_id(campaign_id):
        raise Http404
    campaign = get_campaign_for(request.user, campaign_id)
    if not can(request.user, "campaign.view_report", campaign):
        raise ApiProblem(403, _("You may not see this campaign's report."))
    return campaign_report(campaign)


class WinnerIn(CamelSchema):
    variant: str = Field(min_length=1, max_length=40)


@campaigns_router.post(
    "/{int:campaign_id}/experiment/winner",
    response={202: WinnerOut},
    by_alias=True,
    tags=["reports"],
    summary="Pick the experiment's winner",
)
def pick_winner(request: HttpRequest, campaign_id: int, payload: WinnerIn):
    """Record ``variant`` as the experiment's winner and send its content to
    everyone waiting for it (the cluster sends). Who may edit the campaign may;
    a campaign that is not live, has no experiment or already has a winner: 409."""
    from campaigns.experiments import decide_winner
    from campaigns.reports import winner_row

    campaign = get_campaign_for(request.user, campaign_id)
    if not can(request.user, "campaign.edit", campaign):
        raise PermissionDenied
    winner = decide_winner(campaign=campaign, variant=payload.variant, actor=request.user)
    return Status(202, winner_row(winner))


# --- retry, preview, proofs, access (the campaign and report pages' actions) ---


class RetriedOut(CamelOut):
    retried: int


@campaigns_router.post(
    "/{int:campaign_id}/retry-failed",
    response={202: RetriedOut},
    by_alias=True,
    tags=["reports"],
    summary="Retry failed deliveries",
)
def retry_failed(request: HttpRequest, campaign_id: int):
    """Put the campaign's failed deliveries back in the queue; the cluster sends
    them again. Approvers and administrators; a stopped or archived campaign: 409."""
    campaign = get_campaign_for(request.user, campaign_id)
    if not can(request.user, "campaign.activate", campaign):
        raise PermissionDenied
    return Status(202, {"retried": services.retry_failed(campaign=campaign, actor=request.user)})


class PreviewProfileIn(CamelSchema):
    namespace: Literal["email", "phone", "push_token", "profile_id"]
    value: str = Field(min_length=1, max_length=512)


class PreviewIn(CamelSchema):
    profile: PreviewProfileIn | str | None = Field(
        None,
        description="The profile to render for: {namespace, value} (SPEC §11), or a "
        "profile's id, email or external id; none: sample data.",
    )
    locale: str | None = Field(
        None,
        max_length=35,
        description="A language tag (fr, fr-CA); none: the language the sender would "
        "choose for the profile.",
    )
    content: dict[str, Any] | None = Field(
        None, description="Unsaved content fields to render instead of the saved ones."
    )
    version: Literal["draft", "live"] | None = None


class PreviewOut(RenderedOut):
    """The channel's rendered fields, the language chosen and (SMS) the segments."""

    locale: str = ""
    segments: Any = None


@campaigns_router.post(
    "/{int:campaign_id}/preview", response=PreviewOut, by_alias=True, summary="Preview"
)
def preview(request: HttpRequest, campaign_id: int, payload: PreviewIn):
    """The message rendered for a profile (or sample data), as the campaign page
    previews it: the saved version (the draft first, or ``version``), or unsaved
    ``content`` (which needs edit rights, like the editor's live preview)."""
    from campaigns.selectors import preview_profile
    from channels.preview import PreviewError, render_preview

    campaign = get_campaign_for(request.user, campaign_id)
    version = campaign.draft_version or campaign.live_version
    if payload.version == "live" and campaign.live_version:
        version = campaign.live_version
    content = dict(version.content or {}) if version else {}
    if payload.content is not None:
        check_action(request.user, "edit", campaign)
        given = normalize_content(campaign.channel, payload.content)  # types, known fields
        for key in payload.content:
            if key in given:
                content[key] = given[key]
            else:  # an empty ``translations`` or ``design``: none
                content.pop(key, None)
    if isinstance(payload.profile, PreviewProfileIn):
        from audiences.selectors import visible_profiles

        field, value = payload.profile.namespace, payload.profile.value.strip()
        from campaigns.selectors import renderable_for

        profiles = renderable_for(campaign, visible_profiles(request.user))
        profile = profiles.filter(**{field: value}).first()
    else:
        profile = preview_profile(request.user, payload.profile, campaign)
    if payload.profile and profile is None:
        raise _bad("profile", _("Unknown profile, or one you may not see."))
    if payload.locale:
        from audiences.locales import normalize_locale

        if normalize_locale(payload.locale) is None:
            raise _bad("locale", _("Use a language tag such as fr or fr-CA."))
    try:
        result = render_preview(
            channel=campaign.channel,
            content=content,
            category=campaign.category,
            profile=profile,
            locale=payload.locale or None,
        )
    except PreviewError as exc:
        raise ApiProblem(
            400,
            str(exc),
            title=_("Invalid request"),
            errors={f"content.{k}" if k != "content" else k: v for k, v in exc.errors.items()}
            or {"content": [str(exc)]},
        ) from None
    answer = vars(result)
    if campaign.channel == "sms":
        from audiences.channel_facts import sms_segments

        answer["segments"] = sms_segments(result.text)
    return answer


class ProofsIn(CamelSchema):
    recipients: list[str] = Field(min_length=1, max_length=10)
    locale: str | None = Field(None, max_length=10)
    profile: str | None = Field(
        None, max_length=512, description="Render for this profile (id, email or external id)."
    )


class ProofOut(CamelOut):
    id: int
    address: str
    status: Literal["queued", "sending", "sent", "failed"]
    error: str = Field(description="Why it was not sent (the provider's answer).")
    version: int | None = Field(description="The number of the version it shows.")
    requested_by: str | None
    created_at: datetime
    sent_at: datetime | None
    attempts: int
    possible_duplicates: int = Field(
        description="1 when a worker died mid-send and the proof was sent again: "
        "it may have arrived twice."
    )


class ProofsOut(CamelOut):
    recipients: list[str]
    status: Literal["queued"]
    proofs: list[ProofOut] = Field(
        description="One per recipient: read their outcome at `GET …/proofs`."
    )


class ProofList(CamelOut):
    items: list[ProofOut]
    count: int


def _proof(proof) -> dict:
    return {
        "id": proof.pk,
        "address": proof.address,
        "status": proof.status,
        "error": proof.error,
        "version": proof.version.number if proof.version_id else None,
        "requested_by": proof.requested_by.get_username() if proof.requested_by_id else None,
        "created_at": proof.created_at,
        "sent_at": proof.sent_at,
        "attempts": proof.attempts,
        "possible_duplicates": proof.duplicates,
    }


@campaigns_router.post(
    "/{int:campaign_id}/proofs", response={202: ProofsOut}, by_alias=True, summary="Send proofs"
)
def proofs(request: HttpRequest, campaign_id: int, payload: ProofsIn):
    """Proofs of the version being edited to at most 10 addresses (or phone
    numbers, push tokens); the cluster sends them. Who may edit the campaign may."""
    from campaigns.selectors import preview_profile

    campaign = get_campaign_for(request.user, campaign_id)
    check_action(request.user, "edit", campaign)
    profile = preview_profile(request.user, payload.profile, campaign)
    if payload.profile and profile is None:
        raise _bad("profile", _("No profile you may see has this id, email or external id."))
    queued = services.send_proof(
        campaign=campaign,
        actor=request.user,
        recipients=payload.recipients,
        profile=profile,
        locale=payload.locale,
    )
    return Status(
        202,
        {
            "recipients": [proof.address for proof in queued],
            "status": "queued",
            "proofs": [_proof(proof) for proof in queued],
        },
    )


@campaigns_router.get(
    "/{int:campaign_id}/proofs", response=ProofList, by_alias=True, summary="Recent proofs"
)
def list_proofs(request: HttpRequest, campaign_id: int):
    """The campaign's latest proofs, newest first, with each one's status, as
    its page shows them (whoever may see the campaign)."""
    from campaigns.proofs import recent_proofs

    campaign = get_campaign_for(request.user, campaign_id)
    return {
        "items": [_proof(proof) for proof in recent_proofs(campaign)],
        "count": campaign.proofs.count(),
    }


@campaigns_router.post(
    "/{int:campaign_id}/proofs/{int:proof_id}/retry",
    response={202: ProofOut},
    by_alias=True,
    summary="Send a failed proof again",
)
def retry_proof(request: HttpRequest, campaign_id: int, proof_id: int):
    """Queue a failed proof again (who may send proofs may); 409 unless it
    failed, or when its channel configuration is gone or deactivated."""
    from campaigns.models import Proof
    from campaigns.proofs import retry_proof as retry

    campaign = get_campaign_for(request.user, campaign_id)
    check_action(request.user, "edit", campaign)
    proof = get_object_or_404(
        Proof.objects.select_related("version__channel_configuration", "requested_by"),
        pk=proof_id,
        campaign=campaign,
    )
    return Status(202, _proof(retry(proof, request.user)))


@campaigns_router.get(
    "/{int:campaign_id}/access",
    response=AccessOut,
    by_alias=True,
    exclude_none=True,
    tags=["access"],
)
def get_access(request: HttpRequest, campaign_id: int):
    """Whether the campaign is restricted, and who holds per-object access."""
    return access_read(access_target(request.user, Campaign, campaign_id))


@campaigns_router.put(
    "/{int:campaign_id}/access",
    response=AccessOut,
    by_alias=True,
    exclude_none=True,
    tags=["access"],
)
def put_access(request: HttpRequest, campaign_id: int, payload: AccessIn):
    """Restrict the campaign (or open it) and set exactly these grants (administrators)."""
    return access_write(request.user, access_target(request.user, Campaign, campaign_id), payload)
