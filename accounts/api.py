"""`/api/v1/me`: who the key belongs to, and the caller's own API keys;
`/api/v1/notifications`: the caller's notices (SPEC §7)."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Status

from accounts.models import ApiKey, Notification
from accounts.roles import ROLES
from accounts.services import api_key_create, api_key_revoke, notification_mark_read
from config.schemas import CamelOut, CamelSchema

router = Router(tags=["me"])
notifications_router = Router(tags=["notifications"])


class MeOut(CamelOut):
    username: str
    email: str
    roles: list[str]
    is_superuser: bool


class ApiKeyIn(CamelSchema):
    name: str


class ApiKeyOut(CamelOut):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewApiKeyOut(ApiKeyOut):
    key: str


@router.get("", response=MeOut, by_alias=True)
def me(request: HttpRequest):
    user = request.user
    return {
        "username": user.username,
        "email": user.email,
        "roles": [g for g in user.groups.values_list("name", flat=True) if g in ROLES],
        "is_superuser": user.is_superuser,
    }


@router.get("/api-keys", response=list[ApiKeyOut], by_alias=True)
def list_keys(request: HttpRequest):
    return list(request.user.api_keys.all())


@router.post("/api-keys", response={201: NewApiKeyOut}, by_alias=True)
def create_key(request: HttpRequest, payload: ApiKeyIn):
    """A new key for the caller; the plain key is in this answer and nowhere else."""
    key, plain = api_key_create(user=request.user, name=payload.name)
    return Status(201, {**ApiKeyOut.from_orm(key).model_dump(), "key": plain})


@router.delete("/api-keys/{key_id}", response={204: None})
def revoke_key(request: HttpRequest, key_id: int):
    api_key_revoke(key=get_object_or_404(ApiKey, pk=key_id, user=request.user))
    return Status(204, None)


class NotificationOut(CamelOut):
    id: int
    kind: str
    message: str
    url: str
    created_at: datetime
    read_at: datetime | None

    @staticmethod
    def resolve_message(notice: Notification) -> str:
        return notice.text  # in the caller's language (Accept-Language)


class NotificationListOut(CamelOut):
    items: list[NotificationOut]
    count: int
    unread: int


@notifications_router.get("", response=NotificationListOut, by_alias=True)
def list_notifications(
    request: HttpRequest,
    limit: int = Query(50, ge=1, le=200),  # noqa: B008
    offset: int = Query(0, ge=0, le=1_000_000_000),  # noqa: B008 - SQL's integer range
):
    """The caller's notifications, newest first, with the number still unread."""
    qs = Notification.objects.filter(user=request.user).order_by("-created_at", "-pk")
    return {
        "items": list(qs[offset : offset + limit]),
        "count": qs.count(),
        "unread": qs.filter(read_at__isnull=True).count(),
    }


@notifications_router.post("/{notification_id}/read", response=NotificationOut, by_alias=True)
def read_notification(request: HttpRequest, notification_id: int):
    """Mark one of the caller's notifications read (another user's: 404)."""
    notice = get_object_or_404(Notification, pk=notification_id, user=request.user)
    return notification_mark_read(notification=notice)
