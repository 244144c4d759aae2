"""Templates API (SPEC §11): ``/api/v1/templates``.

The same services and permission helpers as the template pages: a role that may
not is a 403, a restricted template not granted is a 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import Query, Router, Status
from pydantic import Field

from accounts.api import AccessIn, AccessOut, access_read, access_target, access_write
from accounts.permissions import can
from campaigns import templates_services as services
from campaigns.models import ContentTemplate
from campaigns.validation import normalize_content
from config.schemas import CamelOut, CamelSchema

templates_router = Router(tags=["templates"])

ChannelIn = Literal["email", "sms", "push"]
MAX_OFFSET = 1_000_000_000


class TemplateIn(CamelSchema):
    name: str = Field(min_length=1, max_length=200)
    channel: ChannelIn
    content: dict[str, Any] = {}


class TemplatePatch(CamelSchema):
    name: str | None = Field(None, min_length=1, max_length=200)
    channel: ChannelIn | None = None
    content: dict[str, Any] | None = None


class TemplateOut(CamelOut):
    id: int
    name: str
    channel: str
    content: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_content(template) -> dict:
        return normalize_content(template.channel, template.content or {})


class TemplatePage(CamelOut):
    items: list[TemplateOut]
    count: int


@templates_router.post("", response={201: TemplateOut}, by_alias=True)
def create_template(request: HttpRequest, payload: TemplateIn):
    if not can(request.user, "template.create"):
        raise PermissionDenied
    template = services.template_create(
        actor=request.user, name=payload.name, channel=payload.channel, content=payload.content
    )
    return Status(201, template)


@templates_router.get("", response=TemplatePage, by_alias=True)
def list_templates(
    request: HttpRequest,
    channel: ChannelIn | None = None,
    search: str | None = None,
    limit: int = Query(50, ge=1, le=200),  # noqa: B008
    offset: int = Query(0, ge=0, le=MAX_OFFSET),  # noqa: B008
):
    if not can(request.user, "template.view"):
        raise PermissionDenied
    qs = services.template_list(request.user, channel=channel or "", search=search or "")
    return {"items": list(qs[offset : offset + limit]), "count": qs.count()}


@templates_router.get("/{int:template_id}", response=TemplateOut, by_alias=True)
def get_template(request: HttpRequest, template_id: int):
    return services.get_template_for(request.user, template_id)


@templates_router.patch("/{int:template_id}", response=TemplateOut, by_alias=True)
def patch_template(request: HttpRequest, template_id: int, payload: TemplatePatch):
    template = services.get_template_for(request.user, template_id, "template.edit")
    return services.template_update(
        template=template, actor=request.user, **payload.model_dump(exclude_unset=True)
    )


@templates_router.delete("/{int:template_id}", response={204: None})
def delete_template(request: HttpRequest, template_id: int):
    template = services.get_template_for(request.user, template_id, "template.delete")
    services.template_delete(template=template, actor=request.user)
    return Status(204, None)


# --- object access (as the template's Access page) -----------------------------


@templates_router.get(
    "/{int:template_id}/access",
    response=AccessOut,
    by_alias=True,
    exclude_none=True,
    tags=["access"],
)
def get_template_access(request: HttpRequest, template_id: int):
    """Whether the template is restricted, and who holds per-object access."""
    return access_read(access_target(request.user, ContentTemplate, template_id))


@templates_router.put(
    "/{int:template_id}/access",
    response=AccessOut,
    by_alias=True,
    exclude_none=True,
    tags=["access"],
)
def put_template_access(request: HttpRequest, template_id: int, payload: AccessIn):
    """Restrict the template (or open it) and set exactly these grants (administrators)."""
    target = access_target(request.user, ContentTemplate, template_id)
    return access_write(request.user, target, payload)
