"""`/api/v1/me`: who the key belongs to, and the caller's own API keys."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Status

from accounts.models import ApiKey
from accounts.roles import ROLES
from accounts.services import api_key_create, api_key_revoke
from config.schemas import CamelOut, CamelSchema

router = Router(tags=["me"])


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
