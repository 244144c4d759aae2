"""`/api/v1/me`: who the key belongs to, and the caller's own API keys;
`/api/v1/notifications`: the caller's notices; the object-access routes every
restrictable resource mounts (SPEC §7)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Query, Router, Status
from pydantic import Field

from accounts.models import ApiKey, Notification
from accounts.notices import for_reader
from accounts.permissions import can_manage_access, can_see
from accounts.roles import ROLES
from accounts.services import (
    access_replace,
    api_key_create,
    api_key_revoke,
    notification_mark_read,
    notifications_mark_all_read,
)
from config.ids import is_id
from config.problems import ApiProblem
from config.schemas import CamelOut, CamelSchema

router = Router(tags=["me"])
notifications_router = Router(tags=["notifications"])


class MeOut(CamelOut):
    username: str
    email: str
    roles: list[str]
    is_superuser: bool
    time_zone: str = Field(
        "", description="The IANA zone the user reads times in; empty: the browser's."
    )


class MeIn(CamelSchema):
    time_zone: str = Field(
        ...,
        max_length=64,
        description="An IANA zone name (Europe/Amsterdam); empty: the browser's.",
    )


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
        "time_zone": _time_zone_of(user),
    }


def _time_zone_of(user) -> str:
    from accounts.models import UserPreference

    return (
        UserPreference.objects.filter(user=user).values_list("time_zone", flat=True).first() or ""
    )


@router.patch("", response=MeOut, by_alias=True)
def update_me(request: HttpRequest, payload: MeIn):
    """The user's own settings (the settings page's time zone)."""
    from accounts.services import user_time_zone_set

    user_time_zone_set(user=request.user, time_zone=payload.time_zone)
    return me(request)


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


class NotificationsReadOut(CamelOut):
    marked: int


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
        "items": for_reader(list(qs[offset : offset + limit]), request.user),
        "count": qs.count(),
        "unread": qs.filter(read_at__isnull=True).count(),
    }


@notifications_router.post("/{notification_id}/read", response=NotificationOut, by_alias=True)
def read_notification(request: HttpRequest, notification_id: int):
    """Mark one of the caller's notifications read (another user's: 404)."""
    notice = get_object_or_404(Notification, pk=notification_id, user=request.user)
    return for_reader([notification_mark_read(notification=notice)], request.user)[0]


@notifications_router.post("/read-all", response=NotificationsReadOut, by_alias=True)
def read_all_notifications(request: HttpRequest):
    """Mark every unread notification of the caller read (the page's "Mark all read")."""
    return {"marked": notifications_mark_all_read(user=request.user)}


# --- object access (SPEC §2, §7): GET/PUT …/{id}/access -----------------------
#
# Each app mounts the two routes on its own router (campaigns, audiences,
# channel configurations) and calls these: the same checks and services as the
# Access page (accounts/access.py).


class GrantIn(CamelSchema):
    user: str | None = Field(None, min_length=1, max_length=150)
    group: str | None = Field(None, min_length=1, max_length=150)
    permission: Literal["view", "change"]


class AccessIn(CamelSchema):
    restricted: bool
    grants: list[GrantIn] = Field(default_factory=list, max_length=1000)


class GrantOut(CamelOut):
    user: str | None = None
    group: str | None = None
    permission: Literal["view", "change"]


class AccessOut(CamelOut):
    restricted: bool
    grants: list[GrantOut]


def access_target(user, model: type[Model], pk: int) -> Model:
    """The object whose access ``user`` manages: 404 if unseen, 403 if not theirs to manage."""
    obj = model.objects.filter(pk=pk).first() if is_id(pk) else None
    if obj is None or not can_see(user, obj):
        raise Http404
    if not can_manage_access(user, obj):
        raise PermissionDenied
    return obj


def access_read(obj: Model) -> dict:
    from accounts.access import access_grants

    return {
        "restricted": obj.restricted,
        "grants": [
            {row["kind"]: row["name"], "permission": row["level"]} for row in access_grants(obj)
        ],
    }


def access_write(user, obj: Model, payload: AccessIn) -> dict:
    """Replace ``obj``'s restriction and grants with ``payload`` (unknown names: 400)."""
    users = {u.get_username(): u for u in _active_users(g.user for g in payload.grants)}
    groups = {g.name: g for g in Group.objects.filter(name__in=[g.group for g in payload.grants])}
    errors: dict[str, list[str]] = {}
    grants = []
    for index, grant in enumerate(payload.grants):
        where = f"grants.{index}"
        if (grant.user is None) == (grant.group is None):
            errors[where] = [_("Give either a username or a group.")]
        elif grant.user is not None and grant.user not in users:
            errors[f"{where}.user"] = [_("No active user has this username.")]
        elif grant.group is not None and grant.group not in groups:
            errors[f"{where}.group"] = [_("No group has this name.")]
        else:
            grantee = users[grant.user] if grant.user is not None else groups[grant.group]
            grants.append((grantee, grant.permission))
    if errors:
        raise ApiProblem(400, _("The request has invalid fields."), errors=errors)
    access_replace(obj=obj, restricted=payload.restricted, grants=grants, actor=user)
    obj.refresh_from_db(fields=["restricted"])
    return access_read(obj)


def _active_users(names):
    wanted = [n for n in names if n is not None]
    return get_user_model().objects.filter(username__in=wanted, is_active=True)
