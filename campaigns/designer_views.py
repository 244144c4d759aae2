"""The designer page of a campaign's email and of an email template (SPEC §11).

GET shows ``static/js/email-designer.js`` on the saved design; POST takes the
design JSON (or, in code mode, the HTML itself), compiles it with
``campaigns/designer.py`` and saves ``html`` and ``design`` through the same
services as the other editors. Without JavaScript the code mode's textarea
still works.
"""

from __future__ import annotations

import json
import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from audiences.locales import normalize_locale, translations_of
from audiences.models import Profile
from audiences.selectors import not_hidden_profiles
from campaigns import services
from campaigns import templates_services as template_services
from campaigns.designer import clean_design, render_design
from campaigns.languages import locale_label
from campaigns.selectors import check_action, get_campaign_for
from config import jsonparse

IDENTITIES = ["profile.email", "profile.phone", "profile.profileId", "profile.timezone"]


_CONTEXT = re.compile(r"\bcontext\.([A-Za-z_][A-Za-z0-9_]*)")


def attributes(content: dict | None = None, campaign=None, user=None) -> list[str]:
    """Personalization the picker offers: attribute names seen on recent
    profiles ``user`` is not hidden from (names only, never from a profile
    known only through restricted audiences the user may not see), the identities, the API payload's keys (``context.*``:
    those the content already uses and those of the campaign's recent triggers),
    the unsubscribe link."""
    seen: set[str] = set()
    profiles = not_hidden_profiles(user, Profile.objects.all())
    for attrs in profiles.order_by("-id").values_list("attributes", flat=True)[:200]:
        if isinstance(attrs, dict):
            seen.update(k for k in attrs if isinstance(k, str) and k.isidentifier())
    context = set(_CONTEXT.findall(json.dumps(content or {})))
    if campaign is not None and campaign.type == "api_triggered":
        from campaigns.models import Delivery

        recent = Delivery.objects.filter(run__campaign=campaign, context__isnull=False)
        for payload in recent.order_by("-id").values_list("context", flat=True)[:50]:
            if isinstance(payload, dict):
                context.update(k for k in payload if isinstance(k, str) and k.isidentifier())
    return [
        *(f"profile.{name}" for name in sorted(seen)[:50]),
        *IDENTITIES,
        *(f"context.{name}" for name in sorted(context)[:50]),
        "unsubscribe_url",
    ]


def labels() -> dict:
    return {
        "newHeading": _("Your heading"),
        "newText": _("Write your text here."),
        "newButton": _("Read more"),
        "newFooter": _("You receive this email because you subscribed.")
        + ' <a href="{{ unsubscribe_url }}">'
        + _("Unsubscribe")
        + "</a>",
        "chooseImage": _("Choose an image"),
        "addToColumn": _("Add"),
        "empty": _("Add a first block with the buttons above."),
        "selectHint": _("Select a block to change its settings."),
        "moveUp": _("Move up"),
        "moveDown": _("Move down"),
        "remove": _("Remove"),
        "linkPrompt": _("Link address"),
        "types": {
            "heading": _("Heading"),
            "text": _("Text"),
            "image": _("Image"),
            "button": _("Button"),
            "divider": _("Divider"),
            "spacer": _("Spacer"),
            "columns2": _("Two columns"),
            "columns3": _("Three columns"),
            "footer": _("Footer"),
        },
        "fields": {
            "level": _("Size"),
            "color": _("Text colour"),
            "background": _("Background colour"),
            "align": _("Alignment"),
            "padding": _("Padding (px)"),
            "src": _("Image address"),
            "alt": _("Alternative text"),
            "href": _("Link"),
            "width": _("Width (px)"),
            "height": _("Height (px)"),
        },
        "align": {"left": _("Left"), "center": _("Centre"), "right": _("Right")},
    }


def _save(request: HttpRequest, content: dict, subject: str) -> tuple[dict | None, str]:
    """The content to save from the POST (or None) and an error to show."""
    # The forms' NUL check does not run here (raw POST values); no column holds
    # a NUL and PostgreSQL refuses one in JSON: a 500 before (third review).
    if "\x00" in request.POST.get("html", "") or "\\u0000" in request.POST.get("design", ""):
        return None, _("The design could not be read.")
    if request.POST.get("mode") == "code":
        updated = dict(content)
        updated["html"] = request.POST.get("html", "")
        updated.pop("design", None)  # the HTML no longer comes from a design
        return updated, ""
    try:
        design = clean_design(jsonparse.loads(request.POST.get("design") or "{}"))
    except ValueError:
        return None, _("The design could not be read.")
    except ValidationError as exc:
        return None, " ".join(exc.messages)
    updated = dict(content)
    updated["design"] = design
    updated["html"] = render_design(design, title=subject)
    return updated, ""


def _page_design(design) -> dict | None:
    """The design as the page's script may put it into the page (innerHTML):
    checked, each text's HTML reduced to the subset the email keeps
    (``clean_design``; a design stored through the API is kept as given). None
    when it does not check: the designer starts empty, as for HTML written by hand."""
    if not design:
        return None
    try:
        return clean_design(design)
    except ValidationError:
        return None


def _page(request, *, title, back, content, error, status=200, campaign=None) -> HttpResponse:
    return render(
        request,
        "studio/designer.html",
        {
            "title": title,
            "back": back,
            "html": content.get("html", ""),
            "error": error,
            "data": {
                "design": _page_design(content.get("design")),
                "labels": labels(),
                "attributes": attributes(content, campaign, request.user),
                "pickerUrl": reverse("images:picker"),
            },
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def campaign_designer(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_campaign_for(request.user, pk)
    check_action(request.user, "edit", campaign)
    if campaign.channel != "email":
        raise Http404
    version = services.editable_version(campaign)
    if version is None:
        messages.error(request, _("This campaign is read-only in its status."))
        return redirect("campaigns:detail", pk=pk)
    full = dict(version.content or {})
    back = reverse("campaigns:detail", args=[pk])
    locale = request.GET.get("locale") or ""
    if locale and normalize_locale(locale) != locale:
        raise Http404
    if locale:
        # A translation's own layout: it starts from the default's design.
        content = dict(translations_of(full).get(locale, {}))
        content.setdefault("design", full.get("design"))
        back = reverse("campaigns:languages", args=[pk])
    else:
        content = full
    error = ""
    if request.method == "POST":
        updated, error = _save(request, content, content.get("subject", full.get("subject", "")))
        if updated is not None and locale:
            translations = dict(translations_of(full))
            translations[locale] = {k: v for k, v in updated.items() if v not in (None, "", {})}
            updated = {**full, "translations": translations}
        if updated is not None:
            try:
                services.campaign_update(campaign=campaign, actor=request.user, content=updated)
            except ValidationError as exc:
                error = " ".join(m for msgs in exc.message_dict.values() for m in msgs)
            except services.ActionRefused as exc:
                messages.error(request, exc.message)
                return redirect("campaigns:detail", pk=pk)
            else:
                messages.success(request, _("Design saved."))
                return redirect(request.get_full_path())
        if updated is not None and locale:
            content = {**content, **translations_of(updated).get(locale, {})}
        else:
            content = updated or content
    return _page(
        request,
        title=f"{campaign.name} · {locale_label(locale)}" if locale else campaign.name,
        campaign=campaign,
        back=back,
        content=content,
        error=error,
        status=400 if error else 200,
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def template_designer(request: HttpRequest, pk: int) -> HttpResponse:
    template = template_services.get_template_for(request.user, pk)
    if template.channel != "email":
        raise Http404
    from accounts.permissions import can

    if not can(request.user, "template.edit", template):
        raise PermissionDenied
    content = dict(template.content or {})
    error = ""
    if request.method == "POST":
        updated, error = _save(request, content, content.get("subject", ""))
        if updated is not None:
            change = {"html": updated["html"], "design": updated.get("design") or {}}
            try:
                template_services.template_update(
                    template=template, actor=request.user, content=change
                )
            except ValidationError as exc:
                error = " ".join(m for msgs in exc.message_dict.values() for m in msgs)
            else:
                messages.success(request, _("Design saved."))
                return redirect(reverse("templates:designer", args=[pk]))
        content = updated or content
    return _page(
        request,
        title=template.name,
        back=reverse("templates:edit", args=[pk]),
        content=content,
        error=error,
        status=400 if error else 200,
    )
