"""Image library API (SPEC §11): ``POST /api/v1/assets`` (multipart ``file``)
and the list the designer's picker reads."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import File, Query, Router, Status, UploadedFile

from accounts.permissions import can
from campaigns.assets import asset_create, public_url
from campaigns.models import Asset
from config.problems import ApiProblem
from config.schemas import CamelOut

assets_router = Router(tags=["images"])
MAX_OFFSET = 1_000_000_000


class AssetOut(CamelOut):
    id: int
    url: str
    content_type: str
    size: int
    name: str
    width: int | None
    height: int | None
    created_at: datetime

    @staticmethod
    def resolve_url(asset: Asset) -> str:
        return public_url(asset)


class AssetPage(CamelOut):
    items: list[AssetOut]
    count: int


@assets_router.post("", response={201: AssetOut}, by_alias=True)
def upload_asset(request: HttpRequest, file: File[UploadedFile] = None):
    """PNG, JPEG, GIF or WebP (read from the bytes); SVG and anything else → 400,
    over ``ASSET_MAX_KB`` → 413. The answer's ``url`` is public and stable."""
    if not can(request.user, "asset.create"):
        raise PermissionDenied
    if file is None:
        raise ApiProblem(
            400, _("The request has invalid fields."), errors={"file": [_("Choose an image.")]}
        )
    return Status(201, asset_create(actor=request.user, upload=file))


@assets_router.get("", response=AssetPage, by_alias=True)
def list_assets(
    request: HttpRequest,
    limit: int = Query(50, ge=1, le=200),  # noqa: B008
    offset: int = Query(0, ge=0, le=MAX_OFFSET),  # noqa: B008
):
    if not can(request.user, "asset.view"):
        raise PermissionDenied
    qs = Asset.objects.order_by("-created_at", "-id")
    return {"items": list(qs[offset : offset + limit]), "count": qs.count()}
