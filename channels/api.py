"""Channel configurations and provider feedback API (SPEC §7)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Router, Status
from pydantic import Field
from pydantic import ValidationError as PydanticError

from accounts.api import AccessIn, AccessOut, access_read, access_target, access_write
from accounts.permissions import can, can_see, visible
from channels import deliveries, services
from channels.models import ChannelConfiguration
from channels.preview import MAX_PROOFS, PreviewError, lookup_profile, render_preview
from channels.rendering import FIELDS
from config import jsonparse, problems
from config.problems import ApiProblem, validation_errors
from config.schemas import CamelOut, CamelSchema

channels_router = Router(tags=["channel configurations"])
# Provider feedback is HMAC-signed, not bearer-authenticated.
feedback_router = Router(tags=["feedback"], auth=None)


# --- channel configurations ----------------------------------------------------


class EmailIn(CamelSchema):
    from_name: str = Field("", max_length=200)
    from_address: str = Field(max_length=254)
    reply_to: str = Field("", max_length=254)
    bcc: str = Field("", max_length=254)
    provider: Literal[
        "smtp", "amazon_ses", "sendgrid", "mailgun", "postmark", "brevo", "sparkpost", "mailjet"
    ] = Field("smtp", description="`smtp` (EMAIL_URL) or an email service provider's API.")


class SmsIn(CamelSchema):
    sender_number: str = Field(max_length=20)
    provider: Literal["webhook", "console", "twilio"] = "webhook"


class PushIn(CamelSchema):
    platform: Literal["ios", "android", "web"]
    app_id: str = Field(max_length=200)
    provider: Literal["webhook", "console", "fcm", "apns"] = "webhook"


class ConfigurationIn(CamelSchema):
    name: str = Field(min_length=1, max_length=200)
    channel: Literal["email", "sms", "push"]
    purpose: Literal["marketing", "transactional"]
    email: EmailIn | None = None
    sms: SmsIn | None = None
    push: PushIn | None = None
    rate_limit_per_second: int | None = Field(None, ge=1, le=10_000)
    restricted: bool = False
    provider_url: str = Field(
        "", max_length=500, description="Optional: another API base URL for the provider."
    )
    credentials: dict[str, str] | None = Field(
        None,
        description='Write-only provider credentials, e.g. `{"api_key": "..."}` or '
        '`{"api_key": "env:SENDGRID_API_KEY"}`; stored encrypted, never returned '
        "(`credentialNames` says which are set). Omit to keep the stored ones.",
    )


class EmailOut(CamelOut):
    from_name: str
    from_address: str
    reply_to: str
    bcc: str


class SmsOut(CamelOut):
    sender_number: str
    provider: str


class PushOut(CamelOut):
    platform: str
    app_id: str
    provider: str


class ConfigurationOut(CamelOut):
    id: int
    name: str
    channel: Literal["email", "sms", "push"]
    purpose: Literal["marketing", "transactional"]
    status: Literal["active", "deactivated"]
    provider: str
    email: EmailOut | None
    sms: SmsOut | None
    push: PushOut | None
    rate_limit_per_second: int | None
    restricted: bool
    provider_url: str
    credential_names: list[str]
    created_at: datetime
    updated_at: datetime

    # Each channel's own settings, read from the configuration; null for the others.
    @staticmethod
    def resolve_email(config: ChannelConfiguration) -> ChannelConfiguration | None:
        return config if config.channel == "email" else None

    @staticmethod
    def resolve_sms(config: ChannelConfiguration) -> ChannelConfiguration | None:
        return config if config.channel == "sms" else None

    @staticmethod
    def resolve_push(config: ChannelConfiguration) -> ChannelConfiguration | None:
        return config if config.channel == "push" else None


class ConfigurationList(CamelOut):
    items: list[ConfigurationOut]
    count: int


_API_FIELDS = {
    "from_name": "email.fromName",
    "from_address": "email.fromAddress",
    "reply_to": "email.replyTo",
    "bcc": "email.bcc",
    "sender_number": "sms.senderNumber",
    "platform": "push.platform",
    "app_id": "push.appId",
    "rate_limit_per_second": "rateLimitPerSecond",
    "provider_url": "providerUrl",
}
problems.rename_fields("/api/v1/channel-configurations", _API_FIELDS)


def _apply(config: ChannelConfiguration, payload: ConfigurationIn, user) -> None:
    section = getattr(payload, payload.channel)
    if section is None:
        raise ApiProblem(
            400,
            _("The request has invalid fields."),
            errors={
                payload.channel: [
                    _("Required for a %(channel)s configuration.") % {"channel": payload.channel}
                ]
            },
        )
    config.name = payload.name
    config.channel = payload.channel
    config.purpose = payload.purpose
    config.rate_limit_per_second = payload.rate_limit_per_second
    config.restricted = payload.restricted
    previous = (config.provider, config.provider_url)
    config.provider = getattr(section, "provider", "smtp")
    config.provider_url = payload.provider_url
    from channels.netguard import url_problem

    problem = url_problem(payload.provider_url)
    if problem:
        raise ApiProblem(
            400, _("The request has invalid fields."), errors={"providerUrl": [problem]}
        )
    for field, value in section.model_dump().items():
        if field != "provider":
            setattr(config, field, value)
    _apply_credentials(config, payload, previous, user)


def _apply_credentials(config: ChannelConfiguration, payload, previous: tuple, user) -> None:
    from channels.credentials import CredentialsError, check_author

    if payload.credentials is None:
        if config.pk and previous != (config.provider, config.provider_url):
            # Another provider's credentials never carry over, nor are stored
            # credentials sent to a new URL: they are given again.
            config.credentials = ""
        return
    try:
        check_author(payload.credentials, user)
        config.set_credentials(payload.credentials)
    except CredentialsError as exc:
        raise ApiProblem(
            400, _("The request has invalid fields."), errors={"credentials": [str(exc)]}
        ) from exc


def _get(request: HttpRequest, config_id: int) -> ChannelConfiguration:
    config = get_object_or_404(ChannelConfiguration, pk=config_id)
    if not can_see(request.user, config):
        raise Http404
    return config


@channels_router.get("", response=ConfigurationList, by_alias=True)
def list_configurations(
    request: HttpRequest,
    channel: Literal["email", "sms", "push"] | None = None,
    status: Literal["active", "deactivated"] | None = None,
):
    """Configurations the key's user may see (any role may read them)."""
    qs = visible(request.user, ChannelConfiguration.objects.all())
    if channel:
        qs = qs.filter(channel=channel)
    if status:
        qs = qs.filter(status=status)
    items = list(qs)
    return {"items": items, "count": len(items)}


@channels_router.post("", response={201: ConfigurationOut}, by_alias=True)
def create_configuration(request: HttpRequest, payload: ConfigurationIn):
    """Administrators only. Give the section matching `channel` (`email`, `sms` or `push`)."""
    if not can(request.user, "channel.create"):
        raise PermissionDenied
    config = ChannelConfiguration()
    _apply(config, payload, request.user)
    services.channel_configuration_save(config=config, actor=request.user)
    return Status(201, config)


@channels_router.get("/{int:config_id}", response=ConfigurationOut, by_alias=True)
def get_configuration(request: HttpRequest, config_id: int):
    return _get(request, config_id)


@channels_router.put("/{int:config_id}", response=ConfigurationOut, by_alias=True)
def update_configuration(request: HttpRequest, config_id: int, payload: ConfigurationIn):
    """Replace a configuration's settings (administrators)."""
    config = _get(request, config_id)
    if not can(request.user, "channel.edit", config):
        raise PermissionDenied
    if payload.channel != config.channel:
        raise ApiProblem(
            400,
            _("The request has invalid fields."),
            errors={"channel": [_("The channel of a configuration cannot change.")]},
        )
    _apply(config, payload, request.user)
    services.channel_configuration_save(config=config, actor=request.user)
    return config


# Declared before "/{config_id}/{action}", which would otherwise take these paths.


@channels_router.get(
    "/{int:config_id}/access", response=AccessOut, by_alias=True, exclude_none=True, tags=["access"]
)
def get_access(request: HttpRequest, config_id: int):
    """Whether the configuration is restricted, and who holds per-object access."""
    return access_read(access_target(request.user, ChannelConfiguration, config_id))


@channels_router.put(
    "/{int:config_id}/access", response=AccessOut, by_alias=True, exclude_none=True, tags=["access"]
)
def put_access(request: HttpRequest, config_id: int, payload: AccessIn):
    """Restrict the configuration (or open it) and set exactly these grants (administrators)."""
    target = access_target(request.user, ChannelConfiguration, config_id)
    return access_write(request.user, target, payload)


class TestMessageIn(CamelSchema):
    content: dict[str, Any]
    category: Literal["marketing", "transactional"] | None = Field(
        None, description="Defaults to the configuration's purpose."
    )
    profile: str | None = Field(
        None, max_length=512, description="Render for this profile: email, phone or external id."
    )
    context: dict[str, Any] | None = Field(None, description="`{{ context.* }}` sample values.")
    recipients: list[str] = Field(
        default_factory=list,
        max_length=MAX_PROOFS,
        description="Send the message to these addresses; none: preview only.",
    )


class RenderedOut(CamelOut):
    subject: str = ""
    preheader: str = ""
    html: str = ""
    text: str = ""
    title: str = ""
    body: str = ""
    url: str = ""
    data: dict[str, Any] | None = None


class TestResultOut(CamelOut):
    address: str
    status: Literal["queued", "sent", "failed"] = Field(
        description="`queued` until the cluster has sent the message."
    )
    sent: bool = Field(description="The provider accepted the message.")
    reason: str = Field(description="Why it was not sent (the provider's answer).")


class TestMessageRead(CamelOut):
    """A test message as the cluster left it: poll it until `status` is final."""

    id: int
    configuration_id: int
    status: Literal["queued", "sending", "sent", "failed"] = Field(
        description="`sent`: every recipient accepted; `failed`: at least one was "
        "not (each result says why)."
    )
    category: str
    requested_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str = Field(description="Why the message (or some of its recipients) failed.")
    attempts: int
    possible_duplicates: int = Field(
        description="Messages sent again after a worker died mid-send: they may have arrived twice."
    )
    results: list[TestResultOut]


class TestMessageOut(CamelOut):
    """The preview, and — when recipients were given (202) — the queued test
    message: read its outcome at `GET …/test-messages/{id}`."""

    preview: RenderedOut
    results: list[TestResultOut] | None
    id: int | None = None
    status: Literal["queued"] | None = None
    created_at: datetime | None = None


class TestMessageList(CamelOut):
    items: list[TestMessageRead]
    count: int


def _results(message) -> list[dict]:
    return [
        {
            "address": r.address,
            "status": r.status,
            "sent": r.status == "sent",
            "reason": r.error,
        }
        for r in message.recipients.all()
    ]


def _read(message) -> dict:
    return {
        "id": message.pk,
        "configuration_id": message.configuration_id,
        "status": message.status,
        "category": message.category,
        "requested_by": message.requested_by.get_username() if message.requested_by else None,
        "created_at": message.created_at,
        "started_at": message.started_at,
        "finished_at": message.finished_at,
        "error": message.error,
        "attempts": message.attempts,
        "possible_duplicates": message.duplicates,
        "results": _results(message),
    }


def _editable(request: HttpRequest, config_id: int) -> ChannelConfiguration:
    config = _get(request, config_id)
    if not can(request.user, "channel.edit", config):
        raise PermissionDenied
    return config


def _test_message(config: ChannelConfiguration, message_id: int):
    from channels.models import TestMessage

    return get_object_or_404(
        TestMessage.objects.select_related("requested_by").prefetch_related("recipients"),
        pk=message_id,
        configuration=config,
    )


def _test_content(channel: str, content: dict) -> dict:
    """The content fields of ``channel``: text, and an object for push ``data``."""
    errors: dict[str, list[str]] = {}
    for key, value in content.items():
        if key not in FIELDS[channel]:
            errors[f"content.{key}"] = [
                _("Unknown field; expected one of: %(fields)s.")
                % {"fields": ", ".join(FIELDS[channel])}
            ]
        elif key == "data" and not isinstance(value, dict):
            errors[f"content.{key}"] = [_("Custom data must be an object.")]
        elif key != "data" and not isinstance(value, str):
            errors[f"content.{key}"] = [_("Must be text.")]
    if errors:
        raise ApiProblem(400, _("The request has invalid fields."), errors=errors)
    return {key: value for key, value in content.items() if value}


@channels_router.post(
    "/{int:config_id}/test-message",
    response={200: TestMessageOut, 202: TestMessageOut},
    by_alias=True,
    summary="Preview and send a test message",
)
def test_message(
    request: HttpRequest, response: HttpResponse, config_id: int, payload: TestMessageIn
):
    """The configuration's Test page: render ``content`` for a profile (200,
    ``results`` null) and, with ``recipients`` (at most 10), queue it for them
    through this configuration (administrators): 202 with the test message's
    ``id`` and each recipient ``queued``; the cluster sends it and
    ``GET …/test-messages/{id}`` (the ``Location`` header) tells each outcome.
    A deactivated configuration sends nothing (409)."""
    config = _editable(request, config_id)
    content = _test_content(config.channel, payload.content)
    profile = lookup_profile(request.user, payload.profile or "")
    if payload.profile and profile is None:
        raise ApiProblem(
            400,
            _("The request has invalid fields."),
            errors={"profile": [_("No profile with this email, phone or id.")]},
        )
    category = payload.category or config.purpose
    try:
        rendered = render_preview(
            channel=config.channel,
            content=content,
            category=category,
            profile=profile,
            context=payload.context,
        )
        message = None
        if payload.recipients:
            message = services.test_message_queue(
                config=config,
                content=content,
                category=category,
                recipients=payload.recipients,
                actor=request.user,
                profile=profile,
                context=payload.context,
            )
    except PreviewError as exc:
        errors = {
            (key if key in ("recipients", "content") else f"content.{key}"): messages
            for key, messages in exc.errors.items()
        }
        raise ApiProblem(
            400, str(exc), title=_("Invalid request"), errors=errors or {"content": [str(exc)]}
        ) from None
    if message is None:
        return {"preview": vars(rendered), "results": None}
    response["Location"] = f"{request.path.rsplit('/', 1)[0]}/test-messages/{message.pk}"
    return Status(
        202,
        {
            "preview": vars(rendered),
            "results": _results(message),
            "id": message.pk,
            "status": message.status,
            "created_at": message.created_at,
        },
    )


@channels_router.get(
    "/{int:config_id}/test-messages",
    response=TestMessageList,
    by_alias=True,
    summary="Recent test messages",
)
def list_test_messages(request: HttpRequest, config_id: int, limit: int = 10):
    """The configuration's latest test messages, newest first (administrators;
    ``limit`` 1–50), as its Test page lists them."""
    config = _editable(request, config_id)
    limit = max(1, min(limit, 50))
    items = [_read(m) for m in services.recent_test_messages(config, limit)]
    return {"items": items, "count": config.test_messages.count()}


@channels_router.get(
    "/{int:config_id}/test-messages/{int:message_id}",
    response=TestMessageRead,
    by_alias=True,
    summary="A test message's outcome",
)
def get_test_message(request: HttpRequest, config_id: int, message_id: int):
    """Whether the cluster has sent the test message, and what each recipient's
    provider answered (administrators)."""
    return _read(_test_message(_editable(request, config_id), message_id))


@channels_router.post(
    "/{int:config_id}/test-messages/{int:message_id}/retry",
    response={202: TestMessageRead},
    by_alias=True,
    summary="Send a failed test message again",
)
def retry_test_message(request: HttpRequest, config_id: int, message_id: int):
    """Queue a failed test message again for the recipients it did not reach
    (administrators); 409 unless it failed, or when the configuration is deactivated."""
    message = _test_message(_editable(request, config_id), message_id)
    services.test_message_retry(test_message=message, actor=request.user)
    return Status(202, _read(_test_message(message.configuration, message.pk)))


@channels_router.post(
    "/{int:config_id}/{action}",
    response=ConfigurationOut,
    by_alias=True,
    summary="Activate or deactivate",
)
def set_status(request: HttpRequest, config_id: int, action: Literal["activate", "deactivate"]):
    """`activate` or `deactivate`. Deactivating is refused (409, the detail names
    the campaigns) while campaigns send through the configuration — being
    activated, scheduled or live with it, or with a run still sending: stop them
    or give them another configuration first. Campaigns using a deactivated
    configuration fail review."""
    config = _get(request, config_id)
    if not can(request.user, "channel.edit", config):
        raise PermissionDenied
    status = (
        ChannelConfiguration.Status.ACTIVE
        if action == "activate"
        else ChannelConfiguration.Status.DEACTIVATED
    )
    services.channel_configuration_set_status(config=config, status=status, actor=request.user)
    config.refresh_from_db()
    return config


# --- provider feedback -----------------------------------------------------------


class FeedbackIn(CamelSchema):
    event: Literal["delivered", "bounce", "complaint", "sms_stop"] = Field(
        description="What happened to the message."
    )
    message_id: str | None = Field(
        None,
        max_length=512,
        description="The `Message-ID` header of the email we sent, or the "
        "`Idempotency-Key` header of the webhook request (`delivery-<id>`). "
        "Optional for `sms_stop`, which may name only the `recipient`.",
    )
    bounce_type: Literal["hard", "soft"] | None = Field(
        None, description="For `bounce`: `hard` suppresses at once, `soft` after 3."
    )
    recipient: str | None = Field(None, max_length=512, description="The address concerned.")
    reason: str = Field("", max_length=2000, description="The provider's words, kept for reports.")
    event_id: str = Field(
        min_length=1,
        max_length=255,
        description="The provider's id for this event: an id already received is "
        "answered `ignored` and changes nothing.",
    )
    timestamp: int = Field(
        description="When the provider sent the event, in Unix seconds. Events older "
        "than 10 minutes or more than 5 minutes in the future are refused (400).",
    )


# The accepted window for an event's timestamp (seconds before / after now).
FEEDBACK_MAX_AGE = 600
FEEDBACK_MAX_AHEAD = 300


class FeedbackOut(CamelOut):
    status: Literal["accepted", "ignored"]


_FEEDBACK_DOC = """Provider events, signed: header `X-Volley-Signature: sha256=<hex>` is the
HMAC-SHA256 of the raw request body with `WEBHOOK_SIGNING_SECRET` (the same scheme
Volley uses for its outgoing webhooks). A bad or missing signature is 401.

`delivered` records the delivery; `bounce` with `bounceType` `hard` and `complaint`
put the address on the suppression list at once, `soft` after repeated soft bounces;
`sms_stop` withdraws the profile's SMS consent and suppresses the number.

Every event carries `eventId` (the provider's id) and `timestamp` (Unix seconds).
An `eventId` already received counts once; an event older than 10 minutes or more
than 5 minutes in the future is refused with a 400 problem naming `timestamp`, so
a captured request cannot be replayed later.

Answers `202 {"status": "accepted"}`, or `202 {"status": "ignored"}` for a message
Volley does not know or an `eventId` already received (never 404, so the endpoint
tells nothing about which messages exist). Each delivery keeps the first time of
each event."""


def _check_signature(request: HttpRequest) -> None:
    from channels.transports import SIGNATURE_HEADER, signature_valid

    if not signature_valid(request.body, request.headers.get(SIGNATURE_HEADER, "")):
        raise ApiProblem(
            401,
            _("Sign the raw body with WEBHOOK_SIGNING_SECRET in X-Volley-Signature: sha256=<hex>."),
            title=_("Bad signature"),
        )


def _find_delivery(message_id: str | None):
    from channels.transports import parse_message_id

    if not message_id:
        return None
    value = message_id.strip()
    return deliveries.from_key(parse_message_id(value) if "@" in value else value)


@feedback_router.post(
    "",
    response={202: FeedbackOut},
    by_alias=True,
    summary="Provider feedback",
    description=_FEEDBACK_DOC,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": FeedbackIn.model_json_schema(by_alias=True)}
            },
        },
        "parameters": [
            {
                "name": "X-Volley-Signature",
                "in": "header",
                "required": True,
                "description": "`sha256=` and the hex HMAC-SHA256 of the raw request body "
                "with `WEBHOOK_SIGNING_SECRET`; a bad or missing signature is 401.",
                "schema": {"type": "string", "example": "sha256=<hex>"},
            }
        ],
    },
)
def feedback(request: HttpRequest):
    # The signature is checked on the raw bytes before anything is parsed.
    _check_signature(request)
    # The API's one reader (strict UTF-8, depth limit, no NaN): a lone surrogate
    # sent as raw bytes or a body nested thousands deep is the same 400 as on
    # every other route, never text no database stores or a RecursionError
    # (ninth review, "not covered").
    try:
        data = jsonparse.loads(request.body or b"null")
    except ValueError as exc:
        raise problems.unreadable_body(exc) from exc
    try:
        event = FeedbackIn.model_validate(data)
    except PydanticError as exc:
        errors = validation_errors(exc.errors())
        raise ApiProblem(400, _("The request has invalid fields."), errors=errors) from exc
    now = int(time.time())
    if not now - FEEDBACK_MAX_AGE <= event.timestamp <= now + FEEDBACK_MAX_AHEAD:
        raise ApiProblem(
            400,
            _("The request has invalid fields."),
            errors={
                "timestamp": [
                    _(
                        "The event must be at most 10 minutes old and at most 5 minutes "
                        "in the future (Unix seconds)."
                    )
                ]
            },
        )
    if event.event == "bounce" and event.bounce_type is None:
        raise ApiProblem(
            400,
            _("The request has invalid fields."),
            errors={"bounceType": [_("Give hard or soft for a bounce.")]},
        )
    return Status(202, {"status": _apply_feedback(event)})


def _apply_feedback(event: FeedbackIn) -> str:
    from audiences.services import normalize_phone

    delivery = _find_delivery(event.message_id)
    if delivery is None and event.event != "sms_stop":
        return "ignored"
    if delivery is not None:
        channel = deliveries.channel(delivery)
        address = delivery.address or (event.recipient or "")
    else:
        channel = "sms"
        try:
            address = normalize_phone(event.recipient or "")
        except ValueError:
            return "ignored"
    if event.event == "sms_stop" and channel != "sms":
        return "ignored"
    applied = services.feedback_record(
        event=event.event,
        delivery=delivery,
        channel=channel,
        address=address,
        bounce_type=event.bounce_type or "",
        reason=event.reason,
        event_id=event.event_id,
    )
    return "accepted" if applied else "ignored"
