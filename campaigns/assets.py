"""The image library (SPEC §11): upload, list, and serve images publicly.

What a file is comes from its bytes, never from its name or the type the
browser claims: an SVG (which can carry script) or an HTML page renamed
``logo.png`` is refused. The four accepted formats are recognised by their
signature and their header must give the picture's size, so a file that
merely starts like a PNG is refused too.

Files live in Django's default storage: the local ``MEDIA_ROOT`` on one host,
an S3-compatible bucket (``MEDIA_S3_BUCKET``, django-storages) when several
web hosts serve the same library. Either way the public URL is
``SITE_URL/assets/<key>.<ext>``, answered by ``serve`` from the storage, so an
image's URL never changes with the storage behind it.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from campaigns.models import Asset
from config.problems import DomainError

TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}
_HEAD = 64 * 1024  # enough for any of the four headers (JPEG: after its EXIF block)


class AssetRefused(DomainError):
    """Not one of the accepted image formats (API 400)."""

    status = 400


class AssetTooLarge(DomainError):
    """Over ``ASSET_MAX_BYTES`` (API 413)."""

    status = 413


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    width: int
    height: int


def sniff(head: bytes) -> ImageInfo | None:
    """The image type and size read from the file's first bytes, or None."""
    try:
        if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
            width, height = struct.unpack(">II", head[16:24])
            return _info("image/png", width, height)
        if head[:6] in (b"GIF87a", b"GIF89a"):
            width, height = struct.unpack("<HH", head[6:10])
            return _info("image/gif", width, height)
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            return _webp(head)
        if head[:3] == b"\xff\xd8\xff":
            return _jpeg(head)
    except struct.error:
        return None
    return None


MAX_SIDE = 2**31 - 1  # the database column's range (and PNG's own limit)


def _info(content_type: str, width: int, height: int) -> ImageInfo | None:
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        return None
    return ImageInfo(content_type, width, height)


def _webp(head: bytes) -> ImageInfo | None:
    chunk = head[12:16]
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", head[26:30])
        return _info("image/webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and head[20:21] == b"\x2f":
        bits = int.from_bytes(head[21:25], "little")
        return _info("image/webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return _info("image/webp", width, height)
    return None


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(head: bytes) -> ImageInfo | None:
    """Walk the JPEG segments to the frame header that holds the size."""
    index = 2
    while index + 9 < len(head):
        if head[index] != 0xFF:
            return None
        marker = head[index + 1]
        if marker == 0xFF:  # fill byte
            index += 1
            continue
        length = struct.unpack(">H", head[index + 2 : index + 4])[0]
        if marker in _SOF:
            height, width = struct.unpack(">HH", head[index + 5 : index + 9])
            return _info("image/jpeg", width, height)
        index += 2 + length
    return None


def max_bytes() -> int:
    return settings.ASSET_MAX_BYTES


def asset_create(*, actor, upload) -> Asset:
    """Store an uploaded image. ``AssetRefused`` for anything but PNG, JPEG,
    GIF or WebP (checked on its bytes), ``AssetTooLarge`` over the limit."""
    size = upload.size or 0
    if size > max_bytes():
        message = _("Images are at most %(limit)s.") % {"limit": filesizeformat(max_bytes())}
        raise AssetTooLarge(message, errors={"file": [message]})
    upload.seek(0)
    head = upload.read(_HEAD)
    upload.seek(0)
    info = sniff(head) if size else None
    if info is None:
        message = _("Upload a PNG, JPEG, GIF or WebP image (SVG and other files are refused).")
        raise AssetRefused(message, errors={"file": [message]})
    key = uuid.uuid4()
    asset = Asset(
        key=key,
        name=(upload.name or "")[-255:],
        content_type=info.content_type,
        size=size,
        width=info.width,
        height=info.height,
        created_by=actor,
    )
    # The stored name is ours, never the uploaded one (no path tricks, no
    # misleading extension).
    asset.file.save(f"{key.hex}.{TYPES[info.content_type]}", upload, save=False)
    try:
        with transaction.atomic():
            asset.save()
    except Exception:
        default_storage.delete(asset.file.name)  # no orphan file for a row never written
        raise
    return asset


def public_url(asset: Asset) -> str:
    """The absolute, stable, public URL of ``asset`` (under ``SITE_URL``)."""
    path = reverse("asset", args=[asset.key.hex, TYPES.get(asset.content_type, "bin")])
    return settings.SITE_URL + path


@require_safe
def serve(request: HttpRequest, key: str, ext: str):
    """``GET /assets/<key>.<ext>``: the image, to anyone (email clients fetch
    it anonymously). Cached for a year: an image at a URL never changes."""
    try:
        parsed = uuid.UUID(hex=key)
    except ValueError:
        raise Http404 from None
    asset = Asset.objects.filter(key=parsed).first()
    if asset is None or TYPES.get(asset.content_type) != ext:
        raise Http404
    try:
        handle = asset.file.open("rb")
    except (FileNotFoundError, OSError):
        raise Http404 from None
    response = FileResponse(handle, content_type=asset.content_type)
    response["Content-Length"] = str(asset.size)
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response
