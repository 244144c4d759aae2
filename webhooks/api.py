"""Outbound webhooks API (SPEC §13): `/api/v1/webhooks` — administrators only.

``POST`` answers the secret once; reads never show it. Each endpoint has its
delivery log (``/deliveries``) with the attempts of each message and a resend
action (the same event id and data, queued again).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from ninja import Query, Router, Status
from pydantic import Field

from accounts.permissions import can
from config.ids import is_id
from config.schemas import CamelOut, CamelSchema
from webhooks.models import Endpoint, Message
from webhooks.services import (
    endpoint_create,
    endpoint_delete,
    endpoint_rotate_secret,
    endpoint_update,
    message_resend,
)

webhooks_router = Router(tags=["webhooks"])


class EndpointIn(CamelSchema):
    url: str = Field(min_length=1, max_length=2000)
    events: list[str] = Field(min_length=1, max_length=20)
    active: bool = True
    description: str = Field("", max_length=200)


class EndpointPatch(CamelSchema):
    url: str | None = Field(None, min_length=1, max_length=2000)
    events: list[str] | None = Field(None, min_length=1, max_length=20)
    active: bool | None = None
    description: str | None = Field(None, max_length=200)


class EndpointOut(CamelOut):
    id: int
    url: str
    events: list[str]
    active: bool
    description: str
    created_at: datetime
    updated_at: datetime
    disabled_at: datetime | None
    disabled_reason: str


class EndpointCreated(EndpointOut):
    secret: str


class SecretOut(CamelOut):
    id: int
    secret: str


class EndpointList(CamelOut):
    items: list[EndpointOut]
    count: int


class AttemptOut(CamelOut):
    at: datetime
    ok: bool
    status_code: int | None
    duration_ms: int
    error: str
    response: str


class MessageOut(CamelOut):
    id: int
    event_id: str
    type: str
    created_at: datetime
    status: str
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str

    @staticmethod
    def resolve_type(message: Message) -> str:
        return message.event_type


class MessageDetail(MessageOut):
    data: dict | None
    attempt_log: list[AttemptOut]

    @staticmethod
    def resolve_attempt_log(message: Message) -> list:
        return list(message.attempt_log.all()[:100])


class MessageList(CamelOut):
    items: list[MessageOut]
    count: int


def _may_manage(request: HttpRequest) -> None:
    if not can(request.user, "webhook.manage"):
        raise PermissionDenied


def _get(endpoint_id: int) -> Endpoint:
    endpoint = Endpoint.objects.filter(pk=endpoint_id).first() if is_id(endpoint_id) else None
    if endpoint is None:
        raise Http404
    return endpoint


def _message(endpoint: Endpoint, message_id: int) -> Message:
    message = (
        Message.objects.filter(endpoint=endpoint, pk=message_id).select_related("endpoint").first()
        if is_id(message_id)
        else None
    )
    if message is None:
        raise Http404
    return message


@webhooks_router.post(
    "", response={201: EndpointCreated}, by_alias=True, summary="Create a webhook endpoint"
)
def create_endpoint(request: HttpRequest, payload: EndpointIn):
    """Subscribe a URL to events. The answer carries the signing ``secret``:
    it is shown this once."""
    _may_manage(request)
    endpoint, secret = endpoint_create(actor=request.user, **payload.model_dump())
    endpoint.secret = secret
    return Status(201, endpoint)


@webhooks_router.get("", response=EndpointList, by_alias=True, summary="List webhook endpoints")
def list_endpoints(
    request: HttpRequest,
    limit: int = Query(50, ge=1, le=500),  # noqa: B008
    offset: int = Query(0, ge=0, le=10**9),  # noqa: B008
):
    _may_manage(request)
    qs = Endpoint.objects.order_by("id")
    return {"items": list(qs[offset : offset + limit]), "count": qs.count()}


@webhooks_router.get(
    "/{int:endpoint_id}", response=EndpointOut, by_alias=True, summary="A webhook endpoint"
)
def get_endpoint(request: HttpRequest, endpoint_id: int):
    _may_manage(request)
    return _get(endpoint_id)


@webhooks_router.patch(
    "/{int:endpoint_id}", response=EndpointOut, by_alias=True, summary="Change a webhook endpoint"
)
def patch_endpoint(request: HttpRequest, endpoint_id: int, payload: EndpointPatch):
    """Change the URL, the events, or switch it on or off (switching a disabled
    endpoint on sends what waited for it)."""
    _may_manage(request)
    endpoint = _get(endpoint_id)
    data = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}
    return endpoint_update(endpoint=endpoint, actor=request.user, **data)


@webhooks_router.delete(
    "/{int:endpoint_id}", response={204: None}, summary="Delete a webhook endpoint"
)
def delete_endpoint(request: HttpRequest, endpoint_id: int):
    _may_manage(request)
    endpoint_delete(endpoint=_get(endpoint_id))
    return Status(204, None)


@webhooks_router.post(
    "/{int:endpoint_id}/rotate-secret",
    response=SecretOut,
    by_alias=True,
    summary="Replace the signing secret",
)
def rotate_secret(request: HttpRequest, endpoint_id: int):
    """A new secret, shown this once; the old one stops signing at once."""
    _may_manage(request)
    endpoint = _get(endpoint_id)
    return {"id": endpoint.pk, "secret": endpoint_rotate_secret(endpoint=endpoint)}


@webhooks_router.get(
    "/{int:endpoint_id}/deliveries",
    response=MessageList,
    by_alias=True,
    summary="The endpoint's delivery log",
)
def list_messages(
    request: HttpRequest,
    endpoint_id: int,
    status: Literal["pending", "delivered", "failed"] | None = None,
    limit: int = Query(50, ge=1, le=500),  # noqa: B008
    offset: int = Query(0, ge=0, le=10**9),  # noqa: B008
):
    """Events sent (or waiting) for this endpoint, newest first."""
    _may_manage(request)
    qs = Message.objects.filter(endpoint=_get(endpoint_id)).order_by("-id")
    if status:
        qs = qs.filter(status=status)
    return {"items": list(qs[offset : offset + limit]), "count": qs.count()}


@webhooks_router.get(
    "/{int:endpoint_id}/deliveries/{int:message_id}",
    response=MessageDetail,
    by_alias=True,
    summary="One event of the log, with its attempts",
)
def get_message(request: HttpRequest, endpoint_id: int, message_id: int):
    _may_manage(request)
    return _message(_get(endpoint_id), message_id)


@webhooks_router.post(
    "/{int:endpoint_id}/deliveries/{int:message_id}/resend",
    response={202: MessageOut},
    by_alias=True,
    summary="Send an event again",
)
def resend_message(request: HttpRequest, endpoint_id: int, message_id: int):
    """Queue the event again (same id, same data) with a fresh retry window;
    409 when the endpoint is switched off."""
    _may_manage(request)
    return Status(202, message_resend(message=_message(_get(endpoint_id), message_id)))
