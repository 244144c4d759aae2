"""Template pages (SPEC §11): the gallery of starter designs and saved
templates at ``/templates/``, creating and editing a template, saving a
campaign's content as one. Starting a campaign from either is the campaign
creation page with ``?template=`` or ``?starter=`` (``campaigns.views.new``).

Checks go through ``accounts.permissions`` (404 for an unseen template, 403
for a role that may not); writes through ``campaigns.templates_services``.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import can, can_manage_access
from audiences.models import Channel
from campaigns import templates_services as services
from campaigns.selectors import get_campaign_for
from campaigns.starters import STARTERS, starters_for
from campaigns.templates_forms import NewTemplateForm, SaveAsTemplateForm, TemplateForm

PAGE_SIZE = 24


def _channel(value: str | None) -> str:
    return value if value in Channel.values else ""


@login_required
@require_GET
def gallery(request: HttpRequest) -> HttpResponse:
    """Saved templates and the starter designs, filtered by channel."""
    if not can(request.user, "template.view"):
        raise PermissionDenied
    channel = _channel(request.GET.get("channel"))
    search = (request.GET.get("search") or "").strip()[:200]
    # A card shows no content: it stays in the database (up to megabytes a
    # template; security review 11).
    rows = services.template_list(request.user, channel=channel, search=search).defer("content")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    labels = dict(Channel.choices)
    for template in page.object_list:
        template.channel_label = labels.get(template.channel, template.channel)
    starters = [
        {
            "starter": s,
            "channel_label": labels[s.channel],
            "description": _describe(s),
            "thumbnail": _thumbnail(s),
        }
        for s in starters_for(channel)
    ]
    return render(
        request,
        "studio/templates_list.html",
        {
            "page": page,
            "channel": channel,
            "search": search,
            "channels": Channel.choices,
            "starters": starters,
            "can_create_campaign": can(request.user, "campaign.create"),
            "can_create": can(request.user, "template.create"),
        },
    )


def _thumbnail(starter) -> str:
    """An email starter rendered with sample data, for its tile."""
    if starter.channel != Channel.EMAIL:
        return ""
    from channels.preview import PreviewError, render_preview

    try:
        return render_preview(
            channel=starter.channel, content=starter.content(), category=starter.category
        ).html
    except PreviewError:
        return ""


def _hint() -> str:
    return _(
        "Personalize with %(profile)s or %(context)s: the same syntax as a campaign's content."
    ) % {"profile": "{{ profile.firstName }}", "context": "{{ context.orderId }}"}


def _describe(starter) -> str:
    content = starter.content()
    return content.get("subject") or content.get("title") or content.get("text", "")


@login_required
@require_http_methods(["GET", "POST"])
def new(request: HttpRequest) -> HttpResponse:
    """A new template for a channel, blank or from a starter design."""
    if not can(request.user, "template.create"):
        raise PermissionDenied
    starter = STARTERS.get(request.GET.get("starter") or "")
    channel = (
        starter.channel
        if starter
        else _channel(request.POST.get("channel") or request.GET.get("channel")) or Channel.EMAIL
    )
    initial = {"channel": channel}
    if starter is not None:
        initial.update(TemplateForm.initial_for(starter.name, starter.content()))
    form = NewTemplateForm(request.POST or None, channel=channel, initial=initial)
    if request.method == "POST" and form.is_valid():
        content = form.cleaned_data["content"]
        if starter is not None:
            # The starter's design stays with its HTML, unless the HTML was changed.
            original = starter.content()
            if original.get("design") and content.get("html") == original.get("html"):
                content["design"] = original["design"]
        try:
            template = services.template_create(
                actor=request.user,
                name=form.cleaned_data["name"],
                channel=channel,
                content=content,
            )
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, _("Template saved."))
            return redirect("templates:edit", pk=template.pk)
    return render(
        request,
        "studio/template_form.html",
        {
            "form": form,
            "template": None,
            "channel": channel,
            "channel_label": dict(Channel.choices)[channel],
            "hint": _hint(),
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    template = services.get_template_for(request.user, pk)
    may_edit = can(request.user, "template.edit", template)
    if request.method == "POST" and not may_edit:
        raise PermissionDenied
    form = TemplateForm(
        request.POST or None,
        channel=template.channel,
        initial=TemplateForm.initial_for(template.name, template.content),
    )
    if not may_edit:
        for field in form.fields.values():
            field.disabled = True
    if request.method == "POST" and form.is_valid():
        try:
            services.template_update(
                template=template,
                actor=request.user,
                name=form.cleaned_data["name"],
                content=form.cleaned_data["content"],
            )
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, _("Template saved."))
            return redirect("templates:edit", pk=template.pk)
    return render(
        request,
        "studio/template_form.html",
        {
            "form": form,
            "template": template,
            "channel": template.channel,
            "channel_label": dict(Channel.choices)[template.channel],
            "may_edit": may_edit,
            "hint": _hint(),
            "may_delete": can(request.user, "template.delete", template),
            "may_manage_access": can_manage_access(request.user, template),
            "use_url": reverse("campaigns:new") + "?" + urlencode({"template": template.pk})
            if can(request.user, "campaign.create")
            else "",
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    template = services.get_template_for(request.user, pk, "template.delete")
    services.template_delete(template=template, actor=request.user)
    messages.success(request, _("Template deleted."))
    return redirect("templates:list")


@login_required
@require_POST
def save_from_campaign(request: HttpRequest, pk: int) -> HttpResponse:
    """The campaign page's "Save as template"."""
    campaign = get_campaign_for(request.user, pk)
    if not can(request.user, "template.create"):
        raise PermissionDenied
    form = SaveAsTemplateForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give the template a name."))
        return redirect("campaigns:detail", pk=pk)
    try:
        template = services.template_from_campaign(
            campaign=campaign, actor=request.user, name=form.cleaned_data["name"]
        )
    except ValidationError as exc:
        for msgs in exc.message_dict.values():
            for message in msgs:
                messages.error(request, message)
        return redirect("campaigns:detail", pk=pk)
    messages.success(request, _("Saved as the template “%(name)s”.") % {"name": template.name})
    return redirect("templates:edit", pk=template.pk)


def _errors_to_form(form, exc: ValidationError) -> None:
    for field, msgs in exc.message_dict.items():
        name = field.replace("content.", "content_")
        form.add_error(name if name in form.fields else None, msgs)


def new_campaign_source(request: HttpRequest) -> dict | None:
    """What ``/campaigns/new/?template=…`` or ``?starter=…`` starts from:
    ``{"channel", "content", "name", "writers", "restricted", "field", "value", "category",
    "type"}``,
    or None for a blank campaign. An unknown or unseen template is a 404."""
    data = request.POST if request.method == "POST" else request.GET
    template_id, starter = data.get("template"), data.get("starter")
    if not template_id and not starter:
        return None
    try:
        channel, content, name, writers, restricted = services.source_content(
            request.user, template_id=template_id, starter=starter or ""
        )
    except ValidationError:
        raise Http404 from None
    source = {
        "channel": channel,
        "content": content,
        "name": name,
        "writers": writers,
        "restricted": restricted,
    }
    if template_id:
        source.update(field="template", value=template_id)
    else:
        found = STARTERS[starter]
        source.update(field="starter", value=starter, category=found.category, type=found.type)
    return source
