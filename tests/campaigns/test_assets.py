"""The image library (SPEC §11, issue 15 point 3): upload through the API and
the page, formats read from the bytes (SVG refused whatever its name), the size
limit, public stable URLs under SITE_URL, and who may do what."""

from __future__ import annotations

import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from campaigns.assets import sniff
from campaigns.models import Asset


def png(width: int = 3, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


GIF = b"GIF89a\x05\x00\x04\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
JPEG = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    b"\xff\xdb\x00\x04\x00\x00"
    b"\xff\xc0\x00\x11\x08\x00\x20\x00\x40\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    b"\xff\xd9"
)
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00\x63\x00\x00\x31\x00\x00"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>'


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def post_asset(api, data: dict):
    """A multipart POST to /api/v1/assets with the client's key."""
    return api.client.post("/api/v1/assets", data, **api.headers)


def upload(name: str, data: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def test_sniff_reads_type_and_size_from_the_bytes():
    assert sniff(png(3, 2)).content_type == "image/png"
    assert (sniff(png(3, 2)).width, sniff(png(3, 2)).height) == (3, 2)
    assert (sniff(GIF).content_type, sniff(GIF).width, sniff(GIF).height) == ("image/gif", 5, 4)
    assert (sniff(JPEG).content_type, sniff(JPEG).width, sniff(JPEG).height) == (
        "image/jpeg",
        64,
        32,
    )
    assert (sniff(WEBP).content_type, sniff(WEBP).width, sniff(WEBP).height) == (
        "image/webp",
        100,
        50,
    )
    for refused in (
        SVG,
        b"<html>",
        b"\x89PNG\r\n\x1a\n",
        b"",
        b"GIF89a",
        b"RIFF\x00\x00\x00\x00WEBP",
    ):
        assert sniff(refused) is None


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("logo.png", png(), "image/png"),
        ("a.gif", GIF, "image/gif"),
        ("b.jpeg", JPEG, "image/jpeg"),
        ("c.webp", WEBP, "image/webp"),
    ],
)
def test_uploaded_image_is_served_publicly_at_a_stable_url(
    manager, api_for, name, data, content_type
):
    answer = post_asset(api_for(manager), {"file": upload(name, data, "application/octet-stream")})
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert {"id", "url", "contentType", "size"} <= set(body)
    assert body["contentType"] == content_type and body["size"] == len(data)
    assert body["url"].startswith("http://testserver/assets/")
    served = Client().get(body["url"].removeprefix("http://testserver"))  # no login
    assert served.status_code == 200
    assert served["Content-Type"] == content_type
    assert b"".join(served.streaming_content) == data
    assert "immutable" in served["Cache-Control"]
    assert served["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("name", "data", "content_type"),
    [
        ("logo.svg", SVG, "image/svg+xml"),
        ("logo.png", SVG, "image/png"),  # renamed: the bytes decide
        ("page.png", b"<html><script>alert(1)</script></html>", "image/png"),
        ("empty.png", b"", "image/png"),
        ("half.png", png()[:20], "image/png"),
    ],
)
def test_svg_and_non_images_are_refused(manager, api_for, name, data, content_type, media):
    answer = post_asset(api_for(manager), {"file": upload(name, data, content_type)})
    assert answer.status_code == 400, answer.content
    assert answer["Content-Type"] == "application/problem+json"
    assert "file" in answer.json()["errors"]
    assert not Asset.objects.exists()
    assert not any(media.rglob("*.*"))


def test_image_over_the_size_limit_is_a_413(manager, api_for, settings, media):
    settings.ASSET_MAX_BYTES = 100
    answer = post_asset(api_for(manager), {"file": upload("big.png", png(40, 40))})
    assert len(png(40, 40)) > 100
    assert answer.status_code == 413
    assert not Asset.objects.exists() and not any(media.rglob("*.*"))


def test_missing_file_is_a_400(manager, api_for):
    answer = post_asset(api_for(manager), {})
    assert answer.status_code == 400


def test_viewer_cannot_upload_and_anonymous_is_401(viewer, manager, api_for, anonymous_api):
    assert post_asset(api_for(viewer), {"file": upload("a.png", png())}).status_code == 403
    assert post_asset(anonymous_api, {"file": upload("a.png", png())}).status_code == 401
    assert api_for(viewer).get("/assets").status_code == 200
    assert not Asset.objects.exists()


def test_api_lists_the_library(manager, api_for):
    api = api_for(manager)
    post_asset(api, {"file": upload("one.png", png())})
    listed = api.get("/assets").json()
    assert listed["count"] == 1
    assert listed["items"][0]["name"] == "one.png"
    assert listed["items"][0]["width"] == 3


def test_unknown_or_mismatched_asset_url_is_404(manager, api_for):
    url = post_asset(api_for(manager), {"file": upload("one.png", png())}).json()["url"]
    path = url.removeprefix("http://testserver")
    client = Client()
    assert client.get(path.replace(".png", ".gif")).status_code == 404
    assert client.get("/assets/" + "0" * 32 + ".png").status_code == 404
    assert client.post(path).status_code == 405


def test_serving_works_from_any_storage_backend(manager, api_for, settings):
    """Multi-host installs keep images in a bucket (django-storages): the URL and
    the serving view only speak to Django's storage API."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    url = post_asset(api_for(manager), {"file": upload("mem.gif", GIF, "image/gif")}).json()["url"]
    served = Client().get(url.removeprefix("http://testserver"))
    assert b"".join(served.streaming_content) == GIF


# --- pages -------------------------------------------------------------------


def test_library_page_uploads_and_lists_images(manager, login):
    client = login(manager)
    empty = client.get("/images/").content.decode()
    assert "No images yet." in empty
    answer = client.post("/images/", {"file": upload("hero.png", png())})
    assert answer.status_code == 302
    asset = Asset.objects.get()
    page = client.get("/images/").content.decode()
    assert "hero.png" in page
    assert f"http://testserver/assets/{asset.key.hex}.png" in page
    picker = client.get("/images/picker/").content.decode()
    assert f'data-url="http://testserver/assets/{asset.key.hex}.png"' in picker


def test_library_page_refuses_svg_with_a_form_error(manager, login):
    answer = login(manager).post("/images/", {"file": upload("x.png", SVG)})
    assert answer.status_code == 400
    assert "SVG" in answer.content.decode()
    assert not Asset.objects.exists()


def test_library_page_roles(viewer, outsider, login):
    client = login(viewer)
    page = client.get("/images/")
    assert page.status_code == 200 and 'id="upload-image"' not in page.content.decode()
    assert client.post("/images/", {"file": upload("x.png", png())}).status_code == 403
    assert login(outsider).get("/images/").status_code == 403
    assert login(outsider).get("/images/picker/").status_code == 403
    assert not Asset.objects.exists()


def test_email_editors_offer_the_image_picker(manager, login):
    from tests.campaigns.lifecycle_helpers import ready_email

    campaign = ready_email(manager)
    client = login(manager)
    assert 'id="image-picker"' in client.get(f"/campaigns/{campaign.pk}/edit/").content.decode()
    assert 'id="image-picker"' in client.get("/templates/new/?channel=email").content.decode()
    assert 'id="image-picker"' not in client.get("/templates/new/?channel=sms").content.decode()


def test_served_image_cannot_run_anything(manager, api_for):
    url = post_asset(api_for(manager), {"file": upload("one.png", png())}).json()["url"]
    served = Client().get(url.removeprefix("http://testserver"))
    assert served["Content-Security-Policy"] == "default-src 'none'; sandbox"


@pytest.mark.django_db
@pytest.mark.parametrize("width", [0xFFFFFFFF, 2**31])
def test_huge_declared_width_is_refused_not_a_500(manager, login, api_for, width):
    """Review (issue 10): a PNG header declaring a width past the column's range
    (PostgreSQL integer) was a 500 on /images/ and the API; it is refused like
    any file that is not a usable image."""
    client = login(manager)
    response = client.post(
        "/images/",
        {"file": upload("big.png", png(1, 1)[:16] + struct.pack(">II", width, 1) + png(1, 1)[24:])},
    )
    assert response.status_code == 400
    assert (
        post_asset(
            api_for(manager),
            {
                "file": upload(
                    "big.png", png(1, 1)[:16] + struct.pack(">II", width, 1) + png(1, 1)[24:]
                )
            },
        ).status_code
        == 400
    )
    assert not Asset.objects.exists()


def test_page_upload_over_the_body_limit_is_refused_before_it_is_read(manager, login, settings):
    """Review (issue 10): the API refuses a multipart body over MAX_UPLOAD_MB from
    its Content-Length, but the pages (/images/, CSV audiences) streamed any size
    to disk before answering; they now get the same 413."""
    settings.MAX_UPLOAD_BYTES = 2000
    answer = login(manager).post(
        "/images/", {"file": upload("big.png", png(40, 40) + b"\0" * 4000)}
    )
    assert answer.status_code == 413
    assert not Asset.objects.exists()
