"""Audience pages (SPEC §8): list, rule builder with a size preview, CSV upload, detail."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from accounts.permissions import can, can_see, visible
from audiences import services
from audiences.forms import (
    BLANK_ROWS,
    DEFAULT_WITHIN_DAYS,
    ConditionFormSet,
    EngagementFormSet,
    ReuploadForm,
    RuleAudienceForm,
    UploadForm,
    build_rule,
    campaign_choices,
    rule_to_initial,
)
from audiences.importer import profile_import_create
from audiences.models import Audience, Profile
from audiences.rules import RuleError, compile_rule
from audiences.selectors import audience_profiles, known_attributes, visible_profiles

SAMPLE_SIZE = 20


def _audience_for(request: HttpRequest, pk: int, action: str) -> Audience:
    audience = Audience.objects.filter(pk=pk).first()
    if audience is None or not can_see(request.user, audience):
        raise Http404
    if not can(request.user, action, audience):
        raise PermissionDenied
    return audience


@login_required
@require_http_methods(["GET", "HEAD"])
def list_page(request: HttpRequest) -> HttpResponse:
    if not can(request.user, "audience.view"):
        raise PermissionDenied
    # A row shows no rule: it stays in the database (a rule may hold megabytes
    # of values; 20 of 4.4 MB made each view trace 178 MB: security review 11).
    audiences = visible(request.user, Audience.objects.defer("rule")).order_by("name", "pk")
    page = Paginator(audiences, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "audiences/list.html",
        {"page": page, "can_create": can(request.user, "audience.create")},
    )


def _engagement_kwargs(request: HttpRequest, current: tuple = ()) -> dict:
    if request.method == "POST":
        current = tuple(
            int(v)
            for k, v in request.POST.items()
            if k.startswith("e-") and k.endswith("-campaign") and v.isdigit() and len(v) < 18
        )
    return {"campaigns": campaign_choices(request.user, current)}


def _engagement_data(data):
    """The POST with an empty engagement formset when the form had none
    (pages and scripts from before retargeting post only the ``c`` rows)."""
    if "e-TOTAL_FORMS" in data:
        return data
    data = data.copy()
    data["e-TOTAL_FORMS"], data["e-INITIAL_FORMS"] = "0", "0"
    return data


def _builder(request: HttpRequest, audience: Audience | None):
    """Bound (POST) or initial builder forms: the form, the attribute rows
    (prefix ``c``) and the engagement rows (prefix ``e``)."""
    known = {"known_attributes": known_attributes(request.user)}
    if request.method == "POST":
        form = RuleAudienceForm(request.POST)
        formset = ConditionFormSet(request.POST, prefix="c", form_kwargs=known)
        engagements = EngagementFormSet(
            _engagement_data(request.POST), prefix="e", form_kwargs=_engagement_kwargs(request)
        )
        return form, formset, engagements
    initial, rows, engaged = rule_to_initial(audience.rule if audience else None)
    if audience is not None:
        initial["name"] = audience.name
    form = RuleAudienceForm(initial=initial)
    rows += [{}] * max(1, BLANK_ROWS - len(rows))
    engaged_kwargs = _engagement_kwargs(request, tuple(row["campaign"] for row in engaged))
    engaged += [{"within_days": DEFAULT_WITHIN_DAYS}] * (0 if engaged else 1)
    return (
        form,
        ConditionFormSet(initial=rows, prefix="c", form_kwargs=known),
        EngagementFormSet(initial=engaged, prefix="e", form_kwargs=engaged_kwargs),
    )


def _with_extra_row(request: HttpRequest, form, formset, engagements):
    """A POST with ``add`` (an attribute row) or ``add_engagement``."""
    data = _engagement_data(request.POST).copy()
    grown = engagements if "add_engagement" in request.POST else formset
    if not grown.management_form.is_valid():
        return form, formset, engagements  # the formset shows its own error about the count
    total = grown.management_form.cleaned_data["TOTAL_FORMS"]
    data[f"{grown.prefix}-TOTAL_FORMS"] = str(min(total + 1, 100))
    return (
        RuleAudienceForm(data),
        ConditionFormSet(data, prefix="c", form_kwargs=formset.form_kwargs),
        EngagementFormSet(data, prefix="e", form_kwargs=engagements.form_kwargs),
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def rule_page(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Create (``pk`` None) or edit a rule audience. Buttons: add a row,
    preview the size, save. Everything works without JavaScript."""
    if pk is None:
        audience = None
        if not can(request.user, "audience.create"):
            raise PermissionDenied
    else:
        audience = _audience_for(request, pk, "audience.edit")
        if audience.kind != Audience.Kind.RULE:
            raise Http404
    form, formset, engagements = _builder(request, audience)
    preview = None
    status = 200
    if request.method == "POST" and ("add" in request.POST or "add_engagement" in request.POST):
        form, formset, engagements = _with_extra_row(request, form, formset, engagements)
    elif request.method == "POST":
        # The rule's author may only name campaigns they see; an unchanged
        # rule (a rename) is not theirs to re-judge.
        rule = build_rule(form, formset, engagements)
        if rule is not None and (audience is None or rule != audience.rule):
            rule = build_rule(form, formset, engagements, actor=request.user)
        if rule is not None and "preview" in request.POST:
            qs = visible_profiles(request.user, Profile.objects.filter(compile_rule(rule)))
            preview = {"size": qs.count(), "sample": list(qs.order_by("-pk")[:SAMPLE_SIZE])}
        elif rule is not None:
            try:
                if audience is None:
                    audience = services.audience_create_rule(
                        name=form.cleaned_data["name"],
                        rule=rule,
                        actor=request.user,
                        restricted=form.cleaned_data["restricted"],
                    )
                else:
                    services.audience_update_rule(
                        audience=audience,
                        name=form.cleaned_data["name"],
                        rule=rule,
                        actor=request.user,
                    )
            except ValidationError as exc:
                form.add_error(None, exc)
            except services.AudienceInUse as exc:
                form.add_error(None, str(exc))
                status = 409
            else:
                messages.success(request, _("Audience saved: %d profiles match.") % audience.size)
                return redirect("audiences:detail", pk=audience.pk)
    return render(
        request,
        "audiences/rule_form.html",
        {
            "audience": audience,
            "form": form,
            "formset": formset,
            "engagements": engagements,
            "preview": preview,
        },
        status=status,
    )


@login_required
@require_POST
def preview_api(request: HttpRequest) -> JsonResponse:
    """The builder's live size preview (JavaScript): the same form, answered in JSON."""
    if not can(request.user, "audience.create") and not can(request.user, "audience.edit"):
        raise PermissionDenied
    form = RuleAudienceForm(request.POST)
    formset = ConditionFormSet(request.POST, prefix="c")
    engagements = EngagementFormSet(
        _engagement_data(request.POST), prefix="e", form_kwargs=_engagement_kwargs(request)
    )
    form.fields["name"].required = False
    # A count of who clicked a campaign the user may not see is never shown.
    rule = build_rule(form, formset, engagements, actor=request.user)
    if rule is None:
        errors = _form_errors(form, formset, engagements)
        return JsonResponse({"size": None, "errors": errors, "label": " ".join(errors)})
    size = visible_profiles(request.user, Profile.objects.filter(compile_rule(rule))).count()
    label = ngettext("%(size)s profile matches.", "%(size)s profiles match.", size) % {
        "size": intcomma(size)
    }
    return JsonResponse({"size": size, "errors": [], "label": label})


def _form_errors(form, formset, engagements) -> list[str]:
    errors = [str(e) for e in form.non_field_errors()]
    errors += [
        f"{form.fields[f].label}: {e}"
        for f, es in form.errors.items()
        if f != "__all__"
        for e in es
    ]
    for index, row in enumerate(formset.forms, start=1):
        for es in row.errors.values():
            errors += [_("Condition %(n)d: %(error)s") % {"n": index, "error": e} for e in es]
    for index, row in enumerate(engagements.forms, start=1):
        for es in row.errors.values():
            errors += [
                _("Engagement condition %(n)d: %(error)s") % {"n": index, "error": e} for e in es
            ]
    return errors


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def upload_page(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Upload a CSV into a new audience, or (``pk``) re-import an upload audience."""
    audience = None
    if pk is None:
        if not can(request.user, "audience.create"):
            raise PermissionDenied
        form_class = UploadForm
    else:
        audience = _audience_for(request, pk, "audience.edit")
        if audience.kind != Audience.Kind.UPLOAD:
            raise Http404
        form_class = ReuploadForm
    form = form_class(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST" and form.is_valid() and audience is not None:
        # A new file decides who receives the committed campaigns using the
        # audience: their activators' decision, as a rule change is (review 6).
        try:
            services.check_rule_change_allowed(
                audience=audience, actor=request.user, reimport=True
            )
        except services.AudienceInUse as exc:
            form.add_error(None, str(exc))
            status = 409
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        with transaction.atomic():
            if audience is None:
                audience = services.audience_create_upload(
                    name=form.cleaned_data["name"],
                    actor=request.user,
                    restricted=form.cleaned_data["restricted"],
                )
            profile_import_create(
                audience=audience, upload=upload, file_name=upload.name, actor=request.user
            )
        messages.success(request, _("File received; the import is running."))
        return redirect("audiences:detail", pk=audience.pk)
    return render(
        request, "audiences/upload.html", {"form": form, "audience": audience}, status=status
    )


@login_required
@require_http_methods(["GET", "HEAD"])
def detail_page(request: HttpRequest, pk: int) -> HttpResponse:
    audience = _audience_for(request, pk, "audience.view")
    try:
        members = visible_profiles(request.user, audience_profiles(audience))
    except RuleError:
        # A rule stored before today's checks (or written around them) that no
        # longer compiles matches nobody, as in the API's read; never a 500.
        members = Profile.objects.none()
    if audience.kind == Audience.Kind.RULE:
        # Rules are live; counted (and sampled) among the profiles this user may see.
        audience.size = members.count()
    last_import = audience.imports.order_by("-created_at").first()
    importing = last_import is not None and last_import.status in ("queued", "running")
    context = {
        "audience": audience,
        "sample": list(members.order_by("-pk")[:SAMPLE_SIZE]),
        "last_import": last_import,
        "importing": importing,
        "can_edit": can(request.user, "audience.edit", audience),
        "can_delete": can(request.user, "audience.delete", audience),
    }
    return render(request, "audiences/detail.html", context)


@login_required
@require_POST
def delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    audience = _audience_for(request, pk, "audience.delete")
    try:
        services.audience_delete(audience=audience)
    except services.AudienceInUse as exc:
        messages.error(request, exc.message)
        return redirect("audiences:detail", pk=pk)
    messages.success(request, _("Audience deleted."))
    return redirect("audiences:list")
