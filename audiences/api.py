"""Audiences and profiles API (SPEC §7): `/api/v1/audiences`, `/api/v1/profiles`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import File, Form, Query, Router, UploadedFile
from ninja.responses import Status
from pydantic import Field

from accounts.api import AccessIn, AccessOut, access_read, access_target, access_write
from accounts.permissions import can, can_manage_access, can_see, visible
from accounts.services import access_set_restricted
from audiences import privacy, services
from audiences.importer import profile_import_create
from audiences.models import Audience, PrivacyLogEntry, Profile, ProfileImport, Suppression
from audiences.selectors import (
    audience_profiles,
    count_for,
    not_hidden_profiles,
    visible_profiles,
    without_hidden_addresses,
)
from config.ids import is_id
from config.problems import ApiProblem
from config.schemas import CamelOut, CamelSchema

audiences_router = Router(tags=["audiences"])
profiles_router = Router(tags=["profiles"])
privacy_router = Router(tags=["privacy"])

NAMESPACES = ("email", "phone", "push_token", "profile_id")


# ---------------------------------------------------------------- profiles


class ConsentIn(CamelSchema):
    email: bool | None = None
    sms: bool | None = None
    push: bool | None = None


class ProfileIn(CamelSchema):
    attributes: dict[str, Any] = Field(default_factory=dict)
    email: str | None = None
    phone: str | None = None
    push_token: str | None = None
    profile_id: str | None = None
    timezone: str | None = None
    locale: str | None = Field(None, max_length=35, description="BCP 47: fr, fr-CA (SPEC §11)")
    consent: ConsentIn | None = None


class ConsentOut(CamelOut):
    """Read from the profile's ``consent_<channel>`` fields."""

    email: bool
    sms: bool
    push: bool

    @staticmethod
    def resolve_email(profile: Profile) -> bool:
        return profile.consent_email

    @staticmethod
    def resolve_sms(profile: Profile) -> bool:
        return profile.consent_sms

    @staticmethod
    def resolve_push(profile: Profile) -> bool:
        return profile.consent_push


class ProfileOut(CamelOut):
    id: int
    email: str | None
    phone: str | None
    push_token: str | None
    profile_id: str | None
    attributes: dict[str, Any]
    timezone: str
    locale: str
    consent: ConsentOut
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_consent(profile: Profile) -> Profile:
        return profile


def _namespace(namespace: str) -> str:
    if namespace not in NAMESPACES:
        raise ApiProblem(
            400,
            _("Unknown identity namespace."),
            errors={"namespace": [_("Use one of: %s.") % ", ".join(NAMESPACES)]},
        )
    return namespace


class ExportConsentChange(CamelOut):
    channel: str
    granted: bool
    source: str
    time: datetime


class ExportAudience(CamelOut):
    id: int
    name: str
    kind: str


class ExportDelivery(CamelOut):
    campaign: str
    channel: str
    status: str
    sent_at: datetime | None
    events: dict[str, datetime] = Field(
        description="delivered, bounced, opened, clicked, unsubscribed, complained: first time"
    )


class ExportSuppression(CamelOut):
    channel: str
    address: str
    reason: str
    created_at: datetime


class ExportConversionEvent(CamelOut):
    name: str
    event_id: str | None
    occurred_at: datetime
    value: float | None
    properties: dict[str, Any]
    received_at: datetime


class ProfileExportOut(CamelOut):
    profile: dict[str, Any]
    consent_changes: list[ExportConsentChange]
    audiences: list[ExportAudience]
    deliveries: list[ExportDelivery]
    conversion_events: list[ExportConversionEvent] = Field(
        description="Events posted about the person (POST /api/v1/events)."
    )
    suppressions: list[ExportSuppression]


# Declared before any route on "/{namespace}/{path:value}", which would otherwise
# swallow "/export" into the value.
@profiles_router.get("/{namespace}/{path:value}/export", response=ProfileExportOut, by_alias=True)
def profile_export(request: HttpRequest, namespace: str, value: str):
    """Everything held about a person (SPEC §14 access request), streamed; logged."""
    if not can(request.user, "profile.export"):
        raise PermissionDenied
    namespace = _namespace(namespace)
    profile = _seen_profile(request, namespace, value)
    if profile is None:
        raise Http404
    privacy.profile_export_log(namespace=namespace, actor=request.user, via="api")
    response = StreamingHttpResponse(
        privacy.profile_export(profile, reader=request.user), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="profile-{profile.pk}.json"'
    return response


@profiles_router.put(
    "/{namespace}/{path:value}", response={200: ProfileOut, 201: ProfileOut}, by_alias=True
)
def profile_put(request: HttpRequest, namespace: str, value: str, payload: ProfileIn):
    """Create or update the profile identified by ``namespace``/``value``."""
    if not can(request.user, "profile.edit"):
        raise PermissionDenied
    namespace = _namespace(namespace)
    errors: dict[str, list[str]] = {}
    try:
        value = services.normalize_identity(namespace, value)
    except ValueError as exc:
        errors["value"] = [str(exc)]
    identities = {}
    for field, alias in [
        ("email", "email"),
        ("phone", "phone"),
        ("push_token", "pushToken"),
        ("profile_id", "profileId"),
    ]:
        given = getattr(payload, field)
        if given is None:
            continue
        try:
            identities[field] = services.normalize_identity(field, given)
        except ValueError as exc:
            errors[alias] = [str(exc)]
    if payload.timezone is not None:
        try:
            services.normalize_timezone(payload.timezone)
        except ValueError as exc:
            errors["timezone"] = [str(exc)]
    if namespace in identities and identities[namespace] != value:
        errors.setdefault(namespace, []).append(
            _("Differs from the identity in the URL; change it through another identity.")
        )
    if errors:
        raise ApiProblem(400, _("The request has invalid fields."), errors=errors)
    existing = services.profile_get(namespace, value)
    if existing is not None and _seen_profile(request, namespace, value) is None:
        raise Http404  # neither shown nor changed: known only through restricted audiences
    consent = payload.consent.model_dump(exclude_none=True) if payload.consent else {}
    profile, created = services.profile_upsert(
        namespace=namespace,
        value=value,
        identities=identities,
        attributes=payload.attributes,
        timezone=payload.timezone,
        consent=consent,
        source="api",
        locale=payload.locale,
    )
    return Status(201 if created else 200, profile)


@profiles_router.delete("/{namespace}/{path:value}", response={204: None})
def profile_erase(request: HttpRequest, namespace: str, value: str):
    """Erase a person (SPEC §14): reports keep their numbers; a second call answers 404."""
    if not can(request.user, "profile.erase"):
        raise PermissionDenied
    namespace = _namespace(namespace)
    profile = _seen_profile(request, namespace, value)
    if profile is None or not privacy.profile_erase(
        profile=profile, namespace=namespace, actor=request.user, via="api"
    ):
        raise Http404
    return Status(204, None)


@profiles_router.get("/{namespace}/{path:value}", response=ProfileOut, by_alias=True)
def profile_get(request: HttpRequest, namespace: str, value: str):
    if not can(request.user, "profile.view"):
        raise PermissionDenied
    profile = _seen_profile(request, _namespace(namespace), value)
    if profile is None:
        raise Http404  # unknown, or known only through restricted audiences (issue 10 #3)
    return profile


def _seen_profile(request: HttpRequest, namespace: str, value: str) -> Profile | None:
    """The profile, unless unknown or known only through restricted audiences
    the user may not see (then None: the caller answers 404)."""
    profile = services.profile_get(namespace, value)
    if profile is None:
        return None
    if not not_hidden_profiles(request.user, Profile.objects.filter(pk=profile.pk)).exists():
        return None
    return profile


# ---------------------------------------------------------------- audiences


RULE_DESCRIPTION = (
    'A group {"all"|"any": [...]} of conditions {"field", "op", "value"}, nested groups, '
    'and engagement conditions {"engagement": "received"|"opened"|"clicked"|"not_opened"|'
    '"not_clicked", "campaignId"?: id, "withinDays": 1-3650, "includeMachine"?: bool} '
    "(people's opens and clicks unless includeMachine; a campaign the caller may not see "
    "is refused like an unknown one), and event conditions "
    '{"event": "purchase", "withinDays"?: 1-3650, "performed"?: bool} (performed a '
    "conversion event posted to /events in the last withinDays days, or ever; "
    '"performed": false for the profiles who did not).'
)


class AudienceIn(CamelSchema):
    name: str = Field(min_length=1, max_length=200)
    rule: dict[str, Any] = Field(description=RULE_DESCRIPTION)
    restricted: bool = False


class AudiencePatch(CamelSchema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    rule: dict[str, Any] | None = Field(default=None, description=RULE_DESCRIPTION)
    restricted: bool | None = Field(
        None,
        description="Restrict or open the audience (who may manage its access: see "
        "`PUT /audiences/{id}/access`); the caller keeps change access.",
    )


class RejectedRow(CamelOut):
    line: int
    reason: str


def _upload(audience: Audience) -> ProfileImport | None:
    """An upload audience's newest import, set as ``last_import`` by the endpoint."""
    if audience.kind != Audience.Kind.UPLOAD:
        return None
    return getattr(audience, "last_import", None)


class AudienceOut(CamelOut):
    id: int
    name: str
    kind: Literal["rule", "upload"]
    status: str
    size: int
    rule: dict[str, Any] | None
    restricted: bool
    import_id: str | None = None
    import_status: str | None = None
    progress: int | None = None
    rows_imported: int | None = None
    rows_rejected: int | None = None
    rejected_rows: list[RejectedRow] | None = None
    error: str | None = None
    created_at: datetime
    updated_at: datetime

    # The upload fields come from the newest import (None for rule audiences).
    @staticmethod
    def resolve_import_id(audience: Audience) -> str | None:
        last = _upload(audience)
        return str(last.pk) if last else None

    @staticmethod
    def resolve_import_status(audience: Audience) -> str | None:
        return getattr(_upload(audience), "status", None)

    @staticmethod
    def resolve_progress(audience: Audience) -> int | None:
        return getattr(_upload(audience), "percent", None)

    @staticmethod
    def resolve_rows_imported(audience: Audience) -> int | None:
        return getattr(_upload(audience), "rows_imported", None)

    @staticmethod
    def resolve_rows_rejected(audience: Audience) -> int | None:
        return getattr(_upload(audience), "rows_rejected", None)

    @staticmethod
    def resolve_rejected_rows(audience: Audience) -> list | None:
        return getattr(_upload(audience), "rejected", None)

    @staticmethod
    def resolve_error(audience: Audience) -> str | None:
        return getattr(_upload(audience), "error", None)


class AudienceList(CamelOut):
    items: list[AudienceOut]
    count: int


class UploadOut(CamelOut):
    id: int
    import_id: str


def _with_last_import(audience: Audience) -> Audience:
    audience.last_import = audience.imports.order_by("-created_at").first()
    return audience


def _audience_for(request: HttpRequest, pk: int, action: str | None = None) -> Audience:
    audience = Audience.objects.filter(pk=pk).first()
    if audience is None or not can_see(request.user, audience):
        raise Http404
    if action and not can(request.user, action, audience):
        raise PermissionDenied
    return audience


@audiences_router.get("", response=AudienceList, by_alias=True)
def audience_list(request: HttpRequest, limit: int = 50, offset: int = 0):
    if not can(request.user, "audience.view"):
        raise PermissionDenied
    limit, offset = max(1, min(limit, 500)), max(0, min(offset, 10**9))
    qs = visible(request.user, Audience.objects.all()).order_by("name", "pk")
    page = list(qs[offset : offset + limit])
    last: dict[int, ProfileImport] = {}
    for item in ProfileImport.objects.filter(audience__in=page).order_by("created_at"):
        last[item.audience_id] = item  # the newest wins
    for audience in page:
        audience.last_import = last.get(audience.pk)
    return {"items": page, "count": qs.count()}


@audiences_router.post("", response={201: AudienceOut}, by_alias=True)
def audience_create(request: HttpRequest, payload: AudienceIn):
    if not can(request.user, "audience.create"):
        raise PermissionDenied
    audience = services.audience_create_rule(
        name=payload.name, rule=payload.rule, actor=request.user, restricted=payload.restricted
    )
    audience.size = count_for(request.user, audience_profiles(audience))  # for its reader
    return Status(201, audience)


@audiences_router.post("/upload", response={202: UploadOut}, by_alias=True)
def audience_upload(
    request: HttpRequest,
    name: Form[str] = "",
    audience_id: int | None = Form(None, alias="audienceId"),  # noqa: B008 - camelCase on the wire
    restricted: Form[bool] = False,
    file: File[UploadedFile] = None,
):
    """Upload a CSV into a new upload audience (``name``) or, with ``audienceId``,
    re-import into an existing one. The import runs in the worker cluster."""
    if not can(request.user, "audience.create"):
        raise PermissionDenied
    errors: dict[str, list[str]] = {}
    if file is None:
        errors["file"] = [_("Choose a CSV file.")]
    if audience_id is not None:
        audience = _audience_for(request, audience_id, "audience.edit")
        if audience.kind != Audience.Kind.UPLOAD:
            errors["audienceId"] = [_("Only upload audiences take a file.")]
        else:  # who receives committed campaigns: their activators' decision (409)
            services.check_rule_change_allowed(
                audience=audience, actor=request.user, reimport=True
            )
    elif not name.strip() or len(name.strip()) > 200:
        errors["name"] = [_("Give the audience a name (at most 200 characters).")]
    if errors:
        raise ApiProblem(400, _("The request has invalid fields."), errors=errors)
    with transaction.atomic():
        if audience_id is None:
            audience = services.audience_create_upload(
                name=name, actor=request.user, restricted=restricted
            )
        created = profile_import_create(
            audience=audience, upload=file, file_name=file.name or "upload.csv", actor=request.user
        )
    return Status(202, {"id": audience.pk, "import_id": str(created.pk)})


@audiences_router.get("/{int:audience_id}", response=AudienceOut, by_alias=True)
def audience_get(request: HttpRequest, audience_id: int):
    audience = _audience_for(request, audience_id, "audience.view")
    if audience.kind == Audience.Kind.RULE:
        from audiences.rules import RuleError

        # Rules are live: counted now, among the profiles this user may see.
        try:
            audience.size = count_for(request.user, audience_profiles(audience))
        except RuleError:
            # Stored before today's rules checked it (or written around them):
            # nobody matches it; PATCH a valid rule to use it. Never a 500.
            audience.size = 0
    return _with_last_import(audience)


@audiences_router.patch("/{int:audience_id}", response=AudienceOut, by_alias=True)
def audience_patch(request: HttpRequest, audience_id: int, payload: AudiencePatch):
    """Rename, change the rule, restrict or open; all of it or nothing."""
    audience = _audience_for(request, audience_id, "audience.edit")
    if payload.rule is not None and audience.kind != Audience.Kind.RULE:
        raise ApiProblem(400, errors={"rule": [_("Only rule audiences have a rule.")]})
    restrict = payload.restricted is not None and payload.restricted != audience.restricted
    if restrict and not can_manage_access(request.user, audience):
        raise PermissionDenied  # as the Access page: before anything is written
    with transaction.atomic():
        if audience.kind == Audience.Kind.RULE:
            services.audience_update_rule(
                audience=audience,
                name=payload.name or audience.name,
                rule=payload.rule if payload.rule is not None else audience.rule,
                actor=request.user,
            )
        elif payload.name:
            audience.name = payload.name.strip()
            audience.save(update_fields=["name", "updated_at"])
        if restrict:
            access_set_restricted(obj=audience, restricted=payload.restricted, actor=request.user)
    audience.refresh_from_db()
    if audience.kind == Audience.Kind.RULE:  # the size this caller may see
        audience.size = count_for(request.user, audience_profiles(audience))
    return _with_last_import(audience)


@audiences_router.get(
    "/{int:audience_id}/access",
    response=AccessOut,
    by_alias=True,
    exclude_none=True,
    tags=["access"],
)
def audience_access_get(request: HttpRequest, audience_id: int):
    """Whether the audience is restricted, and who holds per-object access."""
    return access_read(access_target(request.user, Audience, audience_id))


@audiences_router.put(
    "/{int:audience_id}/access",
    response=AccessOut,
    by_alias=True,
    exclude_none=True,
    tags=["access"],
)
def audience_access_put(request: HttpRequest, audience_id: int, payload: AccessIn):
    """Restrict the audience (or open it) and set exactly these grants
    (administrators, and the audience's creator)."""
    return access_write(request.user, access_target(request.user, Audience, audience_id), payload)


class RulePreviewIn(CamelSchema):
    rule: dict[str, Any] = Field(description=RULE_DESCRIPTION)


class RulePreviewOut(CamelOut):
    size: int


@audiences_router.post("/preview", response=RulePreviewOut, by_alias=True)
def audience_preview(request: HttpRequest, payload: RulePreviewIn):
    """How many profiles (that the caller may see) a rule matches now, without
    saving it: the rule builder's live estimate."""
    from audiences.rules import RuleError, compile_rule, engagement_errors

    if not can(request.user, "audience.create") and not can(request.user, "audience.edit"):
        raise PermissionDenied
    try:
        condition = compile_rule(payload.rule)
    except RuleError as exc:
        raise ApiProblem(400, _("The request has invalid fields."), errors=exc.errors) from None
    if errors := engagement_errors(payload.rule, request.user):
        # A count of who clicked a hidden campaign is its report's business.
        raise ApiProblem(400, _("The request has invalid fields."), errors=errors)
    return {"size": visible_profiles(request.user, Profile.objects.filter(condition)).count()}


@audiences_router.delete("/{int:audience_id}", response={204: None})
def audience_delete(request: HttpRequest, audience_id: int):
    audience = _audience_for(request, audience_id, "audience.delete")
    services.audience_delete(audience=audience)
    return Status(204, None)


# ---------------------------------------------------------------- privacy log


class PrivacyLogItem(CamelOut):
    action: Literal["erase", "export"]
    namespace: str
    by: str
    at: datetime


class PrivacyLogList(CamelOut):
    items: list[PrivacyLogItem]
    count: int


@privacy_router.get("", response=PrivacyLogList, by_alias=True)
def privacy_log(request: HttpRequest, limit: int = 50, offset: int = 0):
    """Access and erasure requests answered, newest first (never the identity)."""
    if not can(request.user, "privacy.view_log"):
        raise PermissionDenied
    limit, offset = max(1, min(limit, 500)), max(0, min(offset, 10**9))
    qs = PrivacyLogEntry.objects.order_by("-created_at", "-id")
    items = [
        {"action": e.action, "namespace": e.namespace, "by": e.by, "at": e.created_at}
        for e in qs[offset : offset + limit]
    ]
    return {"items": items, "count": qs.count()}


# ---------------------------------------------------------------- suppressions

suppressions_router = Router(tags=["suppressions"])


class SuppressionIn(CamelSchema):
    channel: Literal["email", "sms", "push"]
    address: str = Field(min_length=1, max_length=512)
    reason: Literal["hard_bounce", "complaint", "unsubscribe", "manual", "soft_bounce"] = "manual"


class SuppressionOut(CamelOut):
    id: int
    channel: str
    address: str | None = Field(description="null once the person was erased (SPEC §14)")
    reason: str
    created_at: datetime


class SuppressionList(CamelOut):
    items: list[SuppressionOut]
    count: int


def _may_manage_suppressions(request: HttpRequest) -> None:
    if not can(request.user, "suppression.manage"):
        raise PermissionDenied


@suppressions_router.get("", response=SuppressionList, by_alias=True)
def suppression_list(
    request: HttpRequest,
    channel: Literal["email", "sms", "push"] | None = None,
    search: str | None = Query(None, max_length=512),  # noqa: B008
    limit: int = Query(50, ge=1, le=500),  # noqa: B008
    offset: int = Query(0, ge=0, le=10**9),  # noqa: B008
):
    """The suppression list, newest first (administrators): nobody on it gets
    marketing; hard bounces and complaints stop transactional sends too."""
    _may_manage_suppressions(request)
    # Never the address of a person hidden from the caller (review 6).
    qs = without_hidden_addresses(request.user, Suppression.objects.order_by("-created_at", "-pk"))
    if channel:
        qs = qs.filter(channel=channel)
    if search:
        qs = qs.filter(address__icontains=search.strip())
    return {"items": list(qs[offset : offset + limit]), "count": qs.count()}


@suppressions_router.post("", response={200: SuppressionOut, 201: SuppressionOut}, by_alias=True)
def suppression_create(request: HttpRequest, payload: SuppressionIn):
    """Put an address on the list (201; 200 when it already was: a hard bounce
    or complaint replaces a weaker reason). The address is normalized like a
    profile's (lower-case email, E.164 phone)."""
    _may_manage_suppressions(request)
    before = Suppression.objects.count()
    entry = services.suppression_add(
        channel=payload.channel, address=payload.address, reason=payload.reason
    )
    if Suppression.objects.count() > before:
        return Status(201, entry)
    seen = without_hidden_addresses(request.user, Suppression.objects.filter(pk=entry.pk))
    if not seen.exists():
        # Already there for a person hidden from the caller: answered like a
        # new entry, with what the caller gave (review 6); the address is
        # suppressed either way and a stronger stored reason is kept.
        return Status(
            201,
            {
                "id": entry.pk,
                "channel": entry.channel,
                "address": entry.address,
                "reason": payload.reason,
                "created_at": timezone.now(),
            },
        )
    return Status(200, entry)


@suppressions_router.delete("/{int:suppression_id}", response={204: None})
def suppression_delete(request: HttpRequest, suppression_id: int):
    """Take an entry off the list: the address may get marketing again (if it consents)."""
    _may_manage_suppressions(request)
    entry = (
        without_hidden_addresses(request.user, Suppression.objects.filter(pk=suppression_id)).first()
        if is_id(suppression_id)
        else None
    )
    if entry is None:
        raise Http404
    services.suppression_delete(suppression=entry)
    return Status(204, None)
