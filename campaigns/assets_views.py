"""The image library page (SPEC §11): upload, browse, copy an image's public
URL; and the picker fragment the content editors open to insert an image."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from accounts.permissions import can
from campaigns.assets import (
    TYPES,
    AssetRefused,
    AssetTooLarge,
    asset_create,
    max_bytes,
    public_url,
)
from campaigns.models import Asset

PAGE_SIZE = 48


class UploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Image"),
        widget=forms.ClearableFileInput(
            attrs={"accept": "image/png,image/jpeg,image/gif,image/webp"}
        ),
    )


def _rows(assets) -> list[dict]:
    return [
        {
            "asset": a,
            "path": reverse("asset", args=[a.key.hex, TYPES[a.content_type]]),
            "url": public_url(a),
        }
        for a in assets
    ]


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def library(request: HttpRequest) -> HttpResponse:
    if not can(request.user, "asset.view"):
        raise PermissionDenied
    may_upload = can(request.user, "asset.create")
    form = UploadForm()
    status = 200
    if request.method == "POST":
        if not may_upload:
            raise PermissionDenied
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                asset = asset_create(actor=request.user, upload=form.cleaned_data["file"])
            except (AssetRefused, AssetTooLarge) as exc:
                form.add_error("file", exc.message)
            else:
                messages.success(request, _("Image uploaded: %(name)s") % {"name": asset})
                return redirect("images:library")
        status = 400
    page = Paginator(Asset.objects.order_by("-created_at", "-id"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "studio/images.html",
        {
            "form": form,
            "may_upload": may_upload,
            "page": page,
            "rows": _rows(page.object_list),
            "max_bytes": max_bytes(),
        },
        status=status,
    )


@login_required
@require_GET
def picker(request: HttpRequest) -> HttpResponse:
    """The images as buttons for the editors' "Insert an image" dialog."""
    if not can(request.user, "asset.view"):
        raise PermissionDenied
    assets = Asset.objects.order_by("-created_at", "-id")[:PAGE_SIZE]
    return render(request, "studio/_image_picker_list.html", {"rows": _rows(assets)})
