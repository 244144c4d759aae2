"""Campaign pages (SPEC §8): the list, authoring, the campaign page with its
review and allowed actions, preview and proofs, and the approvals queue.

Every view checks through ``campaigns.selectors.check_action`` (404 for an
unseen campaign, 403 for a role that may not) and writes through the services.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import can, can_see
from accounts.quotas import QuotaExceeded
from campaigns import services
from campaigns.actions import USER_ACTIONS
from campaigns.display import describe_event
from campaigns.forms import CampaignCreateForm, CampaignEditForm, ProofForm, recurrence_summary
from campaigns.models import (
    Campaign,
    CampaignStatus,
    CampaignType,
    Delivery,
    Tag,
    light_versions,
)
from campaigns.proofs import recent_proofs
from campaigns.reports import exclusion_counts
from campaigns.review import review_campaign
from campaigns.rules import campaign_set_exempt
from campaigns.selectors import (
    CampaignFilters,
    allowed_actions,
    approval_queue,
    campaign_list,
    check_action,
    first_sends,
    get_campaign_for,
)
from campaigns.trigger_example import trigger_example
from config.timezones import zoned_text

PAGE_SIZE = 25
LIST_DEFERRED = ("description", *light_versions("live_version", "draft_version"))


@login_required
@require_GET
def list_page(request: HttpRequest) -> HttpResponse:
    if not can(request.user, "campaign.view"):
        raise PermissionDenied
    filters = CampaignFilters.from_query(request.GET)
    # A row shows no content: the versions' content and experiment (megabytes
    # each) and the description stay in the database (security review 11: 25
    # rows of 4 MB drafts made each view load ~200 MB).
    rows = campaign_list(request.user, filters).defer(*LIST_DEFERRED)
    paginator = Paginator(rows, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    _label_rows(page.object_list)
    counts = exclusion_counts(c.pk for c in page.object_list)
    reasons = dict(Delivery.Reason.choices)
    for campaign in page.object_list:
        campaign.excluded_total, by_rule = counts[campaign.pk]
        campaign.excluded_by_rules = sum(by_rule.values())
        # Each rule's reason beside the total (issue 16 #5): "Frequency cap 3, Quiet hours 1".
        campaign.rule_reasons = ", ".join(
            f"{reasons.get(code, code)} {number_format(n, force_grouping=True)}"
            for code, n in by_rule.items()
        )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "campaigns/list.html",
        {
            "page": page,
            "filters": filters,
            "query": query.urlencode(),
            "statuses": CampaignStatus.choices,
            "types": CampaignType.choices,
            "channels": Campaign._meta.get_field("channel").choices,
            "tags": _visible_tags(request.user),
            "sorts": [
                ("-updated", _("Recently updated")),
                ("name", _("Name A–Z")),
                ("-name", _("Name Z–A")),
                ("-created", _("Newest")),
                ("status", _("Status")),
            ],
            "can_create": can(request.user, "campaign.create"),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def new(request: HttpRequest) -> HttpResponse:
    if not can(request.user, "campaign.create"):
        raise PermissionDenied
    from campaigns.templates_views import new_campaign_source

    source = new_campaign_source(request)  # ?template= / ?starter= (SPEC §11)
    initial = {}
    if source:
        initial = {k: source[k] for k in ("channel", "category", "type") if k in source}
    form = CampaignCreateForm(request.POST or None, initial=initial)
    if source:
        form.fields["channel"].disabled = True  # the template's channel
    if request.method == "POST" and form.is_valid():
        try:
            fields = dict(form.cleaned_data)
            if source:
                fields["content"] = source["content"]
                fields["editors"] = source["writers"]  # the template's words are theirs
                fields["restricted"] = source["restricted"]  # and stay as restricted
            campaign = services.campaign_create(actor=request.user, **fields)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Campaign created. Now set up its content."))
            return redirect("campaigns:edit", pk=campaign.pk)
    return render(request, "campaigns/new.html", {"form": form, "source": source})


def _label_rows(campaigns) -> None:
    """Each row's type, channel and status labels, looked up in one dict per
    field: ``get_FOO_display`` rebuilds its choices dict on every call, which
    was a tenth of the page's time."""
    labels = {
        name: dict(Campaign._meta.get_field(name).flatchoices)
        for name in ("type", "channel", "status")
    }
    firsts = first_sends(campaigns)
    for campaign in campaigns:
        campaign.type_label = labels["type"].get(campaign.type, campaign.type)
        campaign.channel_label = labels["channel"].get(campaign.channel, campaign.channel)
        campaign.status_label = labels["status"].get(campaign.status, campaign.status)
        if campaign.pk in firsts:
            version = campaign.live_version
            campaign.status_label = _("Scheduled — first sends at %(when)s") % {
                "when": zoned_text(
                    firsts[campaign.pk], version.timezone if version else "UTC", beside=False
                )
            }


@login_required
@require_GET
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_campaign_for(request.user, pk)
    return _detail_response(request, campaign, request.GET.get("version"))


def _shown_version(campaign, show=None):
    """The version the page shows: ``?version=live|draft`` when asked; otherwise
    the version under review (a pending approval request's), else the live
    version, else the draft (issue 12 #9: a reviewer lands on what they review)."""
    if show == "live" and campaign.live_version:
        return campaign.live_version
    if show == "draft" and campaign.draft_version:
        return campaign.draft_version
    pending = services.pending_request(campaign)
    if pending is not None and pending.version_id == campaign.draft_version_id:
        return campaign.draft_version
    return campaign.live_version or campaign.draft_version


def _detail_response(request, campaign, show=None, proof_form=None, status=200) -> HttpResponse:
    """The campaign page; a refused proof form is shown again with its input and errors."""
    version = _shown_version(campaign, show)
    for_version = bool(campaign.live_version_id and campaign.draft_version_id)
    pending = services.pending_request(campaign)
    context = {
        "campaign": campaign,
        "version": version,
        "showing_draft": version is not None and version.pk == campaign.draft_version_id,
        "has_draft_version": bool(campaign.live_version_id and campaign.draft_version_id),
        "under_review": pending is not None
        and version is not None
        and pending.version_id == version.pk,
        "review": review_campaign(campaign, version, user=request.user),
        "actions": [
            (a.name, (for_version and a.label_for_version) or a.label)
            for a in allowed_actions(request.user, campaign)
        ],
        "can_edit": services.editable_version(campaign) is not None
        and can(request.user, "campaign.edit", campaign),
        "pending": pending,
        "events": [
            (event, describe_event(event)) for event in campaign.events.select_related("actor")[:30]
        ],
        "audience_size": _audience_size(version, request.user),
        "recurrence": recurrence_summary(version.recurrence if version else None),
        "proof_form": proof_form or ProofForm(),
        **_proofs_context(campaign),
        "trigger_example": trigger_example(campaign, version),
        "can_save_template": version is not None and can(request.user, "template.create"),
        "sample": _sample(request, campaign, version),
        "first_send": first_sends([campaign]).get(campaign.pk),
        "variant_lines": _variant_lines(campaign, version),
    }
    return render(request, "campaigns/detail.html", context, status=status)


# Long fields a variant may change: named as changed, not quoted.
LONG_FIELDS = {"html", "data"}


def _variant_lines(campaign, version) -> list[dict]:
    """What each A/B test variant changes, in the editor's words, so the
    approver and the marketer see the variants they send, not only the control
    the preview shows: ``[{"name", "changes": [(label, text or "")]}]``."""
    experiment = version.experiment if version is not None else None
    if not experiment:
        return []
    labels = {
        name: label
        for name, _f, label, _w in CampaignEditForm.CONTENT_FIELDS.get(campaign.channel, [])
    }
    lines = []
    for variant in experiment.get("variants") or []:
        content = variant.get("content") or {}
        changes = []
        for field, label in labels.items():
            value = content.get(field)
            if value in (None, "", {}):
                continue
            text = "" if field in LONG_FIELDS else " ".join(str(value).split())
            changes.append((label, text[:120] + ("…" if len(text) > 120 else "")))
        lines.append({"name": variant["name"], "changes": changes})
    return lines


SAMPLE_PROFILES = 10


def _sample(request, campaign, version) -> dict:
    """The shown version rendered for a sample profile of its audience (the first
    the user may see, or the one picked from the list), or with sample data."""
    if version is None:
        return {}
    profiles = _sample_profiles(request.user, campaign, version)
    profile = profiles[0] if profiles else None
    picked = request.GET.get("profile", "")
    if picked.isascii() and picked.isdigit():  # "²" is a digit int() refuses
        profile = next((p for p in profiles if p.pk == int(picked)), None) or _pick_profile(
            request.user, picked, campaign
        )
    result, error = None, ""
    try:
        from channels.preview import render_preview

        result = render_preview(
            channel=campaign.channel,
            content=dict(version.content or {}),
            category=campaign.category,
            profile=profile,
        )
    except ValueError as exc:  # PreviewError: the author's template, shown as such
        details = [m for msgs in getattr(exc, "errors", {}).values() for m in msgs]
        error = " ".join([str(exc), *details])
    return {"result": _as_dict(result), "error": error, "profile": profile, "profiles": profiles}


def _sample_profiles(user, campaign, version) -> list:
    """Up to ten profiles of the version's audience that the user may be shown and
    that the channel can reach and the campaign's writers may see (as its runs:
    ``renderable_for``); none for roles that are not shown profiles."""
    from audiences.channel_facts import IDENTITY_FIELD
    from audiences.selectors import audience_profiles, visible_profiles
    from campaigns.selectors import renderable_for

    if version.audience is None or not can_see(user, version.audience):
        return []
    field = IDENTITY_FIELD.get(campaign.channel)
    try:
        profiles = visible_profiles(
            user, renderable_for(campaign, audience_profiles(version.audience), version)
        )
        if field:
            profiles = profiles.filter(**{f"{field}__isnull": False})
        return list(profiles.order_by("pk")[:SAMPLE_PROFILES])
    except Exception:  # a rule the audiences app cannot compile: sample data
        return []


def _visible_tags(user):
    """Tag names for the filter: those a campaign the user may see carries —
    never one that only restricted campaigns hidden from them carry (issue 10
    #13), nor one no campaign carries any more. Tags taken off a campaign stay
    in the table: a manager replacing a campaign's 50 tags in a loop left
    thousands that every reader's list and calendar offered (security review
    18: 20,000 made each page 1 MB)."""
    from django.db.models import Exists, OuterRef

    from accounts.permissions import visible

    seen = Campaign.tags.through.objects.filter(
        tag=OuterRef("pk"), campaign__in=visible(user, Campaign.objects.all()).values("pk")
    )
    return Tag.objects.filter(Exists(seen)).order_by("name").values_list("name", flat=True)


def _audience_size(version, user=None) -> int | None:
    if version is None or version.audience is None:
        return None
    if user is not None and not can_see(user, version.audience):
        return None  # a restricted audience is shown as such, nothing more
    from audiences.selectors import audience_profiles, not_hidden_profiles, sendable_profiles

    try:
        if version.audience.kind != "rule":
            return audience_profiles(version.audience).count()
        # What a run would target (never profiles the owner could not see),
        # counted among those the reader may see.
        from campaigns.engine.materialize import editors_of

        campaign = version.campaign
        profiles = sendable_profiles(version.audience, campaign.created_by, editors_of(campaign))
        return (profiles if user is None else not_hidden_profiles(user, profiles)).count()
    except Exception:  # a rule the audiences app cannot compile is shown as unknown
        return None


@login_required
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_campaign_for(request.user, pk)
    check_action(request.user, "edit", campaign)
    version = services.editable_version(campaign)
    if version is None:
        messages.error(
            request,
            _("This campaign is read-only in status “%(status)s”.")
            % {"status": campaign.get_status_display()},
        )
        return redirect("campaigns:detail", pk=pk)
    form = CampaignEditForm(
        request.POST or None, campaign=campaign, version=version, user=request.user
    )
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                services.campaign_update(
                    campaign=campaign,
                    actor=request.user,
                    tags=form.cleaned_data["tags"],
                    **form.service_fields(),
                )
                if "exempt_from_rules" in form.fields:
                    campaign_set_exempt(
                        campaign=campaign,
                        exempt=form.cleaned_data["exempt_from_rules"],
                        actor=request.user,
                    )
        except ValidationError as exc:
            for field, msgs in exc.message_dict.items():
                name = field.replace("content.", "content_")
                form.add_error(name if name in form.fields else None, msgs)
        except services.ActionRefused as exc:
            messages.error(request, exc.message)
            return redirect("campaigns:detail", pk=pk)
        else:
            messages.success(request, _("Saved."))
            return redirect(reverse("campaigns:detail", args=[pk]) + "?version=draft")
    context = {
        "campaign": campaign,
        "version": version,
        "form": form,
        "no_configurations": not form.fields["channel_configuration"].queryset.exists(),
        "no_audiences": "audience" in form.fields and not form.fields["audience"].queryset.exists(),
        # Only roles that may create one get the link (a manager's would be a 403).
        "channels_url": (
            reverse("channels:create", args=[campaign.channel])
            if can(request.user, "channel.create")
            else ""
        ),
        "audiences_url": reverse("audiences:new"),
        "audience_size": _audience_size(version, request.user),
    }
    return render(request, "campaigns/edit.html", context)


@login_required
@require_POST
def action(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    """Any action of ``campaigns.actions`` posted from the campaign page."""
    campaign = get_campaign_for(request.user, pk)
    action = USER_ACTIONS.get(name)
    if action is None:
        return redirect("campaigns:detail", pk=pk)
    check_action(request.user, action.name, campaign)
    # Activating or approving a draft version swaps it in at once: nothing to prepare.
    for_version = bool(campaign.live_version_id and campaign.draft_version_id)
    try:
        result = action.run(
            campaign=campaign, actor=request.user, comment=request.POST.get("comment", "")[:5000]
        )
    except (services.ActionRefused, QuotaExceeded) as exc:
        messages.error(request, exc.message)
        for issue in (exc.errors or {}).values():
            for message in issue:
                messages.error(request, message)
        return redirect("campaigns:detail", pk=pk)
    except PermissionDenied as exc:
        # Self-approval or not one of the policy's approvers: the role allowed
        # the page, the policy refuses the decision.
        messages.error(request, str(exc) or _("You may not do this."))
        return redirect("campaigns:detail", pk=pk)
    if action.then == "list":
        messages.success(request, action.done)
        return redirect("campaigns:list")
    if result is not None and result.pk != campaign.pk:  # "modify" on a one-shot copies it
        messages.success(request, USER_ACTIONS["duplicate"].done)
        return redirect("campaigns:edit", pk=result.pk)
    messages.success(request, (for_version and action.done_for_version) or action.done)
    if action.then == "edit":
        return redirect("campaigns:edit", pk=pk)
    return redirect("campaigns:detail", pk=pk)


@login_required
@require_http_methods(["GET", "POST"])
def preview(request: HttpRequest, pk: int) -> HttpResponse:
    """The rendered message for a chosen profile: GET shows the saved version,
    POST renders the posted (unsaved) edit form — the live preview."""
    campaign = get_campaign_for(request.user, pk)
    if request.method == "POST":
        version = campaign.draft_version or campaign.live_version
    else:
        version = _shown_version(campaign, request.GET.get("version"))
    content = dict(version.content or {}) if version else {}
    if request.method == "POST":
        check_action(request.user, "edit", campaign)
        for key in list(request.POST):
            if key.startswith("content_"):
                content[key[len("content_") :]] = request.POST[key]
        content.pop("data", None)
    profile = _pick_profile(
        request.user, request.GET.get("profile") or request.POST.get("preview_profile"), campaign
    )
    result, error = None, ""
    try:
        from channels.preview import render_preview

        result = render_preview(
            channel=campaign.channel,
            content=content,
            category=campaign.category,
            profile=profile,
            locale=request.GET.get("locale") or request.POST.get("preview_locale") or None,
        )
    except ValueError as exc:  # PreviewError: the author's template, shown to the author
        details = [m for msgs in getattr(exc, "errors", {}).values() for m in msgs]
        error = " ".join([str(exc), *details])
    fragment = request.method == "POST" or "fragment" in request.GET
    context = {"campaign": campaign, "result": _as_dict(result), "error": error, "profile": profile}
    if fragment:
        return render(request, "campaigns/_preview.html", context)
    from campaigns.previews import preview_page_context

    context.update(preview_page_context(request, campaign, result))
    return render(request, "studio/preview_page.html", context)


def _as_dict(result) -> dict:
    if result is None:
        return {}
    data = result if isinstance(result, dict) else vars(result)
    return {k: v for k, v in data.items() if v and not k.startswith("_") and k != "extra"}


def _pick_profile(user, value: str | None, campaign):
    from campaigns.selectors import preview_profile

    return preview_profile(user, value, campaign)


def _proofs_context(campaign) -> dict:
    proofs = recent_proofs(campaign)
    return {
        "proofs": proofs,
        "proofs_pending": any(p.status in ("queued", "sending") for p in proofs),
    }


@login_required
@require_GET
def proofs_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The campaign page's proofs table alone (its script polls it while one is pending)."""
    campaign = get_campaign_for(request.user, pk)
    context = {
        "campaign": campaign,
        "can_edit": services.editable_version(campaign) is not None
        and can(request.user, "campaign.edit", campaign),
        **_proofs_context(campaign),
    }
    return render(request, "campaigns/_proofs.html", context)


@login_required
@require_POST
def proof_retry(request: HttpRequest, pk: int, proof_id: int) -> HttpResponse:
    """Send a failed proof again (who may send proofs may)."""
    from campaigns.models import Proof
    from campaigns.proofs import ProofNotRetryable, retry_proof

    campaign = get_campaign_for(request.user, pk)
    check_action(request.user, "edit", campaign)
    proof = get_object_or_404(Proof, pk=proof_id, campaign=campaign)
    try:
        retry_proof(proof, request.user)
    except (ProofNotRetryable, QuotaExceeded) as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Proof queued again: its status is shown under Proofs."))
    return redirect(f"{reverse('campaigns:detail', args=[pk])}#proofs")


@login_required
@require_POST
def proofs(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue proofs; the cluster sends them and the page shows each one's status."""
    from campaigns.proofs import ProofRefused, send_proof

    campaign = get_campaign_for(request.user, pk)
    check_action(request.user, "edit", campaign)
    form = ProofForm(request.POST)
    show = request.POST.get("version") or None
    if not form.is_valid():
        return _detail_response(request, campaign, show, proof_form=form, status=400)
    try:
        queued = send_proof(
            campaign,
            request.user,
            form.cleaned_data["recipients"],
            version=show,
            locale=request.LANGUAGE_CODE,
            profile=_pick_profile(request.user, request.POST.get("preview_profile"), campaign),
            content_locale=request.POST.get("locale") or None,  # per language (SPEC §11)
        )
    except ProofRefused as exc:  # bad addresses, no configuration, a template error
        details = [m for msgs in (exc.errors or {}).values() for m in msgs]
        form.add_error(
            "recipients",
            _("Proofs not sent: %(error)s")
            % {"error": " ".join(dict.fromkeys([exc.message, *details]))},
        )
        return _detail_response(request, campaign, show, proof_form=form, status=400)
    except QuotaExceeded as exc:
        form.add_error("recipients", _("Proofs not sent: %(error)s") % {"error": exc.message})
        return _detail_response(request, campaign, show, proof_form=form, status=429)
    count = len(queued)
    messages.success(
        request,
        ngettext(
            "Proof queued for %(count)s recipient: its status is shown under Proofs.",
            "Proofs queued for %(count)s recipients: their status is shown under Proofs.",
            count,
        )
        % {"count": count},
    )
    url = reverse("campaigns:detail", args=[pk])
    return redirect(f"{url}?version={show}#proofs" if show else f"{url}#proofs")


@login_required
@require_GET
def approvals_queue(request: HttpRequest) -> HttpResponse:
    if not can(request.user, "campaign.approve"):
        raise PermissionDenied
    requests = list(approval_queue(request.user))
    rows = [(r, services.may_decide(request.user, r)) for r in requests]
    return render(request, "campaigns/approvals.html", {"rows": rows})
