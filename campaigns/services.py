"""Campaign lifecycle and authoring services (SPEC §3).

Every write to a campaign goes through a function here; pages, the API, the
admin and ``seed_demo`` call the same functions. Status changes go through
``campaigns.transitions.transition`` (a compare-and-set that writes the event
row); worker work is enqueued with ``transaction.on_commit`` so a rolled-back
request never starts a task.

Services take ``actor`` for the audit trail and for the two rules that are
about *who* (the approver of a policy, self-approval); the role and
object-permission checks happen at the boundary (``campaigns.selectors.check_action``).

Draft versions of running campaigns ("modify", SPEC §3): the campaign keeps
its status (live/scheduled) while ``draft_version`` is edited. Activating the
draft swaps it in as ``live_version`` in one transaction and asks the worker
to reschedule. When an approval policy applies, the draft version goes
through an ``ApprovalRequest`` on that version instead: the campaign stays
live, the request is pending, the draft version is read-only until the
request is approved (swap), changes are requested or it is cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import MaxLengthValidator
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts import quotas
from accounts.mailer import send_later
from accounts.services import access_keep
from audiences.channel_facts import CONTENT_EXTRAS, CONTENT_FIELDS, IDENTITY_FIELD
from campaigns import engine
from campaigns.conversions import normalize_conversion
from campaigns.engine import clock
from campaigns.experiments import experiment_template_errors, normalize_experiment
from campaigns.models import (
    MAX_DESCRIPTION,
    ApprovalPolicy,
    ApprovalRequest,
    Campaign,
    CampaignEvent,
    CampaignStatus,
    CampaignType,
    CampaignVersion,
    Tag,
)
from campaigns.review import review_campaign
from campaigns.templates_services import writers_besides
from campaigns.transitions import status_allows, transition
from campaigns.validation import normalize_content, template_errors
from config.problems import DomainError

S = CampaignStatus
logger = logging.getLogger(__name__)
RUNNING = {S.LIVE, S.SCHEDULED}
CAMPAIGN_FIELDS = {"name", "description", "type", "category", "channel", "restricted"}
VERSION_FIELDS = {
    "channel_configuration",
    "audience",
    "identity_namespace",
    "content",
    "start_at",
    "end_at",
    "timezone",
    "recurrence",
    "throttle_per_second",
    "use_profile_timezone",
    "track_opens",
    "track_clicks",
    "allow_profile_creation",
    "experiment",
    "conversion",
}


class ActionRefused(DomainError):
    """The campaign's status or a lifecycle rule does not allow the action (API 409)."""

    status = 409


def _refuse_status(campaign: Campaign, action: str) -> ActionRefused:
    current = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first()
    status = current or campaign.status
    return ActionRefused(
        _("The campaign's status is “%(status)s”: “%(action)s” is not allowed.")
        % {"status": status, "action": action.replace("_", "-")}
    )


def _event(campaign: Campaign, action: str, actor=None, comment: str = "") -> None:
    CampaignEvent.objects.create(
        campaign=campaign,
        actor=actor,
        action=action,
        from_status=campaign.status,
        to_status=campaign.status,
        comment=comment,
    )


# --- approval policies ----------------------------------------------------


def applicable_policy(campaign: Campaign, tag_names: Iterable[str] | None = None):
    """The first active policy whose every non-empty condition list matches."""
    tags = set(tag_names if tag_names is not None else campaign.tags.values_list("name", flat=True))
    for policy in ApprovalPolicy.objects.filter(active=True).order_by("name", "pk"):
        if policy.types and campaign.type not in policy.types:
            continue
        if policy.categories and campaign.category not in policy.categories:
            continue
        if policy.channels and campaign.channel not in policy.channels:
            continue
        if policy.tags and not tags & set(policy.tags):
            continue
        return policy
    return None


def may_decide(user, request: ApprovalRequest) -> bool:
    """Policy approvers (users or groups) when the policy names any, else anyone
    holding ``campaign.approve`` on the campaign."""
    from accounts.permissions import can, can_see

    if not can_see(user, request.campaign):
        return False
    if user.is_superuser:
        return True
    policy = request.policy
    if policy is not None:
        users = set(policy.approver_users.values_list("pk", flat=True))
        groups = set(policy.approver_groups.values_list("pk", flat=True))
        if users or groups:
            return user.pk in users or user.groups.filter(pk__in=groups).exists()
    return can(user, "campaign.approve", request.campaign)


def may_cancel(user, request: ApprovalRequest) -> bool:
    """The requester (while their role may request approval), the request's
    approvers and administrators may withdraw a pending request; no one else."""
    from accounts.permissions import can, can_see

    campaign = request.campaign
    if not can_see(user, campaign):
        return False
    if request.requested_by_id == user.pk and can(user, "campaign.cancel_approval", campaign):
        return True
    return may_decide(user, request) or can(user, "campaign.manage_access", campaign)


def policy_tags(campaign: Campaign) -> set[str]:
    """The campaign's tags that an active approval policy matches on."""
    matched = set()
    for tags in ApprovalPolicy.objects.filter(active=True).values_list("tags", flat=True):
        matched.update(tags or [])
    return matched & set(campaign.tags.values_list("name", flat=True))


def pending_request(campaign: Campaign) -> ApprovalRequest | None:
    return (
        ApprovalRequest.objects.select_related("policy", "requested_by", "version")
        .filter(campaign=campaign, status=ApprovalRequest.Status.PENDING)
        .first()
    )


# --- authoring -------------------------------------------------------------


# At most this many tags on one campaign. Each new tag is a row every reader's
# tag filter lists and a few statements to write: 10,000 tags in one request
# held a web worker for 8 s and made every viewer's campaign list take 3.6 s
# (security review 11).
MAX_TAGS = 50


def check_tag_count(names: Iterable[str]) -> None:
    """Refuse more than ``MAX_TAGS`` distinct tags, before anything is written."""
    if len({n.strip()[:50] for n in names if n and n.strip()}) > MAX_TAGS:
        raise ValidationError({"tags": [tag_count_message()]})


def tag_count_message() -> str:
    return _("A campaign has at most %(n)d tags.") % {"n": MAX_TAGS}


def check_description(description: str | None) -> None:
    """Refuse a description longer than ``MAX_DESCRIPTION``, before anything is written."""
    if description is None:
        return
    try:
        MaxLengthValidator(MAX_DESCRIPTION)(description)
    except ValidationError as exc:
        raise ValidationError({"description": exc.messages}) from None


def _set_tags(campaign: Campaign, names: Iterable[str]) -> None:
    clean = sorted({n.strip()[:50] for n in names if n and n.strip()})
    existing = {t.name: t for t in Tag.objects.filter(name__in=clean)}
    for name in clean:
        if name not in existing:
            existing[name], _created = Tag.objects.get_or_create(name=name)
    campaign.tags.set(existing.values())


def _apply_version(campaign: Campaign, version: CampaignVersion, fields: dict) -> None:
    """Set version fields, normalizing content for the campaign's channel and
    refusing template syntax errors at save time (SPEC §4)."""
    from channels.rendering import render_deadline

    for name, value in fields.items():
        setattr(version, name, value)
    version.content = normalize_content(campaign.channel, _keep_known(campaign, version.content))
    # One wall-time budget for the content and every experiment variant's
    # (each used to get its own: six budgets for one save, issue 10 review 4).
    with render_deadline():
        errors = {
            f"content.{key}": msgs
            for key, msgs in template_errors(campaign.channel, version.content).items()
        }
        try:
            version.conversion = normalize_conversion(version.conversion)
        except ValidationError as exc:
            errors.update(exc.message_dict)
        # The experiment (SPEC §13): strict when given, kept (minus another
        # channel's fields) when only other settings changed.
        try:
            version.experiment = normalize_experiment(
                campaign.channel,
                version.experiment,
                campaign_type=campaign.type,
                lenient="experiment" not in fields,
                has_conversion=bool(version.conversion),
            )
        except ValidationError as exc:
            errors.update(exc.message_dict)
        else:
            errors.update(experiment_template_errors(campaign.channel, version.experiment))
    config = version.channel_configuration
    if config is not None and (config.channel, config.purpose) != (
        campaign.channel,
        campaign.category,
    ):
        errors["channel_configuration"] = [
            _("Choose a %(category)s %(channel)s configuration.")
            % {"category": campaign.category, "channel": campaign.channel}
        ]
    if errors:
        raise ValidationError(errors)
    version.full_clean(exclude=["campaign"])
    version.save()


def _keep_known(campaign: Campaign, content: Any) -> Any:
    # After a channel change the old channel's keys are dropped, not refused.
    if not isinstance(content, dict):
        return content
    known = (*CONTENT_FIELDS[campaign.channel], *CONTENT_EXTRAS)
    return {k: v for k, v in content.items() if k in known}


def campaign_create(
    *,
    actor,
    name: str,
    type: str = CampaignType.SCHEDULED,
    category: str = "marketing",
    channel: str = "email",
    description: str = "",
    tags: Iterable[str] = (),
    restricted: bool = False,
    editors: Iterable[int] = (),
    **version_fields: Any,
) -> Campaign:
    """Create a draft campaign and its first version. ``editors``: who else
    wrote the words it starts with (a template's author and editors,
    ``Campaign.editors``)."""
    unknown = set(version_fields) - VERSION_FIELDS
    if unknown:
        raise TypeError(f"unknown version fields: {sorted(unknown)}")
    version_fields.setdefault("identity_namespace", IDENTITY_FIELD.get(channel, "email"))
    tags = list(tags)
    check_tag_count(tags)
    check_description(description)
    strict = "content" in version_fields
    with transaction.atomic():
        campaign = Campaign(
            name=(name or "").strip(),
            description=description or "",
            type=type,
            category=category,
            channel=channel,
            restricted=restricted,
            created_by=actor,
            editors=writers_besides(actor, editors),
        )
        campaign.full_clean(exclude=["live_version", "draft_version"])
        campaign.save()
        version = CampaignVersion(campaign=campaign, number=1, created_by=actor)
        if strict:
            # Content given by the caller is checked strictly (unknown keys refused).
            version_fields["content"] = normalize_content(channel, version_fields["content"])
        _apply_version(campaign, version, version_fields)
        campaign.draft_version = version
        campaign.save(update_fields=["draft_version"])
        _set_tags(campaign, tags)
        access_keep(obj=campaign, actor=actor)  # restricting never locks out the author
        _event(campaign, "create", actor)
    return campaign


def editable_version(campaign: Campaign) -> CampaignVersion | None:
    """The version an edit would change, or None when the campaign is read-only:
    a draft's version, or the open draft version of a live/scheduled campaign
    that is not waiting for approval."""
    if campaign.draft_version_id is None:
        return None
    if campaign.status == S.DRAFT:
        return campaign.draft_version
    if (
        campaign.status in RUNNING
        and not ApprovalRequest.objects.filter(
            campaign=campaign, version_id=campaign.draft_version_id, status="pending"
        ).exists()
    ):
        return campaign.draft_version
    return None


def campaign_update(*, campaign: Campaign, actor, tags: Iterable[str] | None = None, **fields):
    """Edit a draft, or the draft version of a live/scheduled campaign.

    Type, category and channel only change while the campaign has never been
    activated, and a tag an approval policy matches on stays once it has been
    (issue 10: what an approval policy matches on cannot be edited away between
    versions); a campaign in review is read-only.
    """
    unknown = set(fields) - CAMPAIGN_FIELDS - VERSION_FIELDS
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    if tags is not None:
        tags = list(tags)
        check_tag_count(tags)
    check_description(fields.get("description"))
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        version = editable_version(locked)
        if version is None:
            raise _refuse_status(locked, "edit")
        campaign_fields = {k: v for k, v in fields.items() if k in CAMPAIGN_FIELDS}
        frozen = {"type", "category", "channel"} & {
            k for k, v in campaign_fields.items() if v != getattr(locked, k)
        }
        if frozen and locked.live_version_id is not None:
            raise ValidationError(
                {k: [_("Cannot change once the campaign has been activated.")] for k in frozen}
            )
        if tags is not None and locked.live_version_id is not None:
            # Tags are the campaign's, not the draft version's: removing the tag
            # a policy matches on would let the next version skip approval.
            kept = policy_tags(locked) - {n.strip() for n in tags}
            if kept:
                raise ValidationError(
                    {
                        "tags": [
                            _(
                                "An approval policy applies through the tag “%(tag)s”: "
                                "it stays once the campaign has been activated."
                            )
                            % {"tag": sorted(kept)[0]}
                        ]
                    }
                )
        for name, value in campaign_fields.items():
            setattr(locked, name, value)
        _add_editor(locked, actor, version)
        locked.full_clean(exclude=["live_version", "draft_version"])
        locked.save()
        version_fields = {k: v for k, v in fields.items() if k in VERSION_FIELDS}
        if "content" in version_fields:
            version_fields["content"] = normalize_content(locked.channel, version_fields["content"])
        config = version_fields.get("channel_configuration", version.channel_configuration)
        if (
            frozen
            and config is not None
            and (config.channel, config.purpose)
            != (
                locked.channel,
                locked.category,
            )
        ):
            # The configuration no longer fits the new channel or category: clear
            # it (the review says so) rather than refuse the whole edit.
            version_fields["channel_configuration"] = None
        _apply_version(locked, version, version_fields)
        if tags is not None:
            _set_tags(locked, tags)
        access_keep(obj=locked, actor=actor)
        _event(locked, "edit", actor)
    campaign.refresh_from_db()
    return campaign


def _add_editor(campaign: Campaign, actor, version: CampaignVersion) -> None:
    """Remember ``actor`` among the writers unless they own the campaign: its
    runs then send only to whom they may see too. The edit of a live
    campaign's open draft version counts for that version (``editors``) and
    joins the campaign's when it replaces the live one: a manager's edit of a
    draft version (never approved nor activated) took the people hidden from
    them out of the live version's runs (seventeenth review)."""
    if actor is None or actor.pk is None or actor.pk == campaign.created_by_id:
        return
    if actor.pk in (campaign.editors or []):
        return
    if campaign.live_version_id is not None and version.pk != campaign.live_version_id:
        if actor.pk not in (version.editors or []):
            version.editors = [*(version.editors or []), actor.pk]
            version.save(update_fields=["editors"])
        return
    campaign.editors = [*(campaign.editors or []), actor.pk]


def writers_of_version(campaign: Campaign, version: CampaignVersion | None) -> list[int]:
    """The ids of ``campaign``'s editors and of ``version``'s own (an open
    draft version's writers not yet the campaign's): who wrote what the
    version renders."""
    ids = list(campaign.editors or [])
    if version is not None:
        ids += [pk for pk in (version.editors or []) if pk not in ids]
    return ids


def campaign_delete(*, campaign: Campaign, actor) -> None:
    """Delete a draft (only drafts: anything activated keeps its history)."""
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
        if locked is None or not status_allows("delete", locked.status):
            raise _refuse_status(campaign, "delete")
        locked.delete()


def _copy_version(source: CampaignVersion, campaign: Campaign, number: int, actor):
    copy = CampaignVersion.objects.get(pk=source.pk)
    copy.pk = None
    copy.id = None
    copy.campaign = campaign
    copy.number = number
    copy.created_by = actor
    copy.editors = []  # whoever wrote the source counts as the campaign's (callers)
    copy.save()
    return copy


def _copy_object_permissions(source: Campaign, target: Campaign) -> None:
    # A restricted copy must stay reachable by whoever could reach the original.
    from guardian.shortcuts import assign_perm, get_groups_with_perms, get_users_with_perms

    for user, perms in get_users_with_perms(source, attach_perms=True).items():
        for perm in perms:
            assign_perm(perm, user, target)
    for group, perms in get_groups_with_perms(source, attach_perms=True).items():
        for perm in perms:
            assign_perm(perm, group, target)


def campaign_duplicate(*, campaign: Campaign, actor) -> Campaign:
    """A new draft with the same content and settings (not runs or reports)."""
    source = campaign.draft_version or campaign.live_version
    with transaction.atomic():
        copy = Campaign.objects.create(
            name=(_("Copy of %(name)s") % {"name": campaign.name})[:200],
            description=campaign.description,
            type=campaign.type,
            category=campaign.category,
            channel=campaign.channel,
            restricted=campaign.restricted,
            created_by=actor,
            # The copied words are the source's owner's and editors' too.
            editors=writers_besides(
                actor, [campaign.created_by_id, *writers_of_version(campaign, source)]
            ),
        )
        if source is not None:
            copy.draft_version = _copy_version(source, copy, 1, actor)
            # A restricted audience or configuration the actor may not see is
            # not handed over with the copy: they choose their own.
            from accounts.permissions import can_see

            version, cleared = copy.draft_version, []
            for field in ("audience", "channel_configuration"):
                target = getattr(version, field)
                if actor is not None and target is not None and not can_see(actor, target):
                    setattr(version, field, None)
                    cleared.append(field)
            if cleared:
                version.save(update_fields=cleared)
        else:
            copy.draft_version = CampaignVersion.objects.create(campaign=copy, created_by=actor)
        copy.save(update_fields=["draft_version"])
        copy.tags.set(campaign.tags.all())
        if campaign.restricted:
            _copy_object_permissions(campaign, copy)
        _event(copy, "duplicate", actor, _("Copied from campaign %(id)s.") % {"id": campaign.pk})
    return copy


def is_one_shot(campaign: Campaign) -> bool:
    version = campaign.live_version or campaign.draft_version
    return campaign.type == CampaignType.SCHEDULED and not (version and version.recurrence)


def campaign_modify(*, campaign: Campaign, actor) -> Campaign:
    """Open a draft version beside the live one (recurring or API-triggered
    campaigns); a one-shot campaign is duplicated instead. Returns the campaign
    to edit (the same one, or the copy). Idempotent: an open draft version is
    returned as is."""
    if campaign.status not in RUNNING:
        raise _refuse_status(campaign, "modify")
    if is_one_shot(campaign):
        return campaign_duplicate(campaign=campaign, actor=actor)
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status not in RUNNING:
            raise _refuse_status(locked, "modify")
        if locked.draft_version_id is None:
            number = (locked.versions.aggregate(n=Max("number"))["n"] or 0) + 1
            locked.draft_version = _copy_version(locked.live_version, locked, number, actor)
            locked.save(update_fields=["draft_version", "updated_at"])
            _event(locked, "modify", actor)
    campaign.refresh_from_db()
    return campaign


# --- lifecycle -------------------------------------------------------------


def _require_clean_review(campaign: Campaign, version: CampaignVersion | None = None) -> None:
    review = review_campaign(campaign, version)
    if review.errors:
        raise ActionRefused(
            _("The review found errors; fix them first."),
            code="review_failed",
            errors={i.code: [i.message] for i in review.errors},
        )


def _require_active_configuration(version: CampaignVersion | None) -> None:
    """Inside the transaction that makes ``version`` send: lock its channel
    configuration and refuse if it was deactivated since the review read it.
    A deactivation takes the same lock and refuses while a campaign sends
    through it (channels.services), so the two cannot cross and a live
    campaign never has a deactivated configuration."""
    from channels.services import configuration_lock_active

    config_id = version.channel_configuration_id if version is not None else None
    if config_id is not None and not configuration_lock_active(config_id):
        raise ActionRefused(
            _("The channel configuration was deactivated meanwhile; choose an active one."),
            code="channel_configuration_deactivated",
        )


def _approval_required() -> ActionRefused:
    return ActionRefused(
        _("Approval required: an approval policy applies; request approval instead."),
        code="approval_required",
    )


def _swap_in_draft_version(campaign: Campaign, actor, comment: str, action: str) -> None:
    """Inside a transaction: the draft version becomes the live one."""
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if locked.status not in RUNNING or locked.draft_version_id is None:
        raise _refuse_status(locked, "activate")
    _require_active_configuration(locked.draft_version)
    # Whoever wrote the draft version writes what sends from now on.
    locked.editors = writers_of_version(locked, locked.draft_version)
    locked.live_version_id, locked.draft_version_id = locked.draft_version_id, None
    locked.save(update_fields=["live_version", "draft_version", "editors", "updated_at"])
    _event(locked, action, actor, comment)
    campaign_id = locked.pk
    engine.enqueue_reschedule(campaign_id)


def campaign_activate(*, campaign: Campaign, actor, comment: str = "") -> Campaign:
    """Activate a draft (→ activating; the worker moves it on to scheduled or
    live), or make the open draft version of a live/scheduled campaign live."""
    if campaign.status == S.DRAFT:
        _require_clean_review(campaign)
        if applicable_policy(campaign) is not None:
            raise _approval_required()
        with transaction.atomic():
            _require_active_configuration(campaign.draft_version)
            extra = {"live_version": campaign.draft_version, "draft_version": None}
            if not transition(campaign, "activate", actor=actor, comment=comment, extra=extra):
                raise _refuse_status(campaign, "activate")
            campaign_id = campaign.pk
            engine.enqueue_activation(campaign_id)
    elif campaign.status in RUNNING and campaign.draft_version_id:
        _require_clean_review(campaign, campaign.draft_version)
        if applicable_policy(campaign) is not None:
            raise _approval_required()
        with transaction.atomic():
            _swap_in_draft_version(campaign, actor, comment, "version_activated")
    else:
        raise _refuse_status(campaign, "activate")
    campaign.refresh_from_db()
    return campaign


def campaign_request_approval(*, campaign: Campaign, actor, comment: str = "") -> Campaign:
    """Ask for approval of a draft (→ in_review, read-only) or of the draft
    version of a running campaign (the campaign stays live)."""
    for_version = campaign.status in RUNNING and campaign.draft_version_id is not None
    if campaign.status != S.DRAFT and not for_version:
        raise _refuse_status(campaign, "request_approval")
    _require_clean_review(campaign)
    policy = applicable_policy(campaign)
    try:
        with transaction.atomic():
            request = ApprovalRequest.objects.create(
                campaign=campaign,
                version_id=campaign.draft_version_id,
                policy=policy,
                requested_by=actor,
                message=comment,
            )
            if for_version:
                _event(campaign, "version_approval_requested", actor, comment)
            elif not transition(campaign, "request_approval", actor=actor, comment=comment):
                raise _refuse_status(campaign, "request_approval")
            # Each request emails every approver: at most APPROVAL_REQUESTS_PER_HOUR
            # a person (a refusal here rolls the request back).
            quotas.approval_requests(actor)
    except IntegrityError:
        # The partial unique index: another request is already pending.
        raise ActionRefused(_("An approval request is already pending.")) from None
    _notify_approvers(request)
    campaign.refresh_from_db()
    return campaign


def _decide(campaign: Campaign, actor, new_status: str, comment: str, action: str):
    request = pending_request(campaign)
    if request is None:
        raise _refuse_status(campaign, action)
    changed = ApprovalRequest.objects.filter(pk=request.pk, status="pending").update(
        status=new_status, decided_by=actor, decided_at=clock.now(), comment=comment
    )
    if changed != 1:
        raise _refuse_status(campaign, action)
    return request


def campaign_approve(*, campaign: Campaign, actor, comment: str = "") -> Campaign:
    """Approve the pending request: a draft goes to activating (the worker takes
    over), a draft version replaces the live version."""
    request = pending_request(campaign)
    if request is None:
        raise _refuse_status(campaign, "approve")
    if not may_decide(actor, request):
        raise PermissionDenied(_("You are not an approver for this campaign."))
    policy = request.policy
    if policy and policy.block_self_approval and request.requested_by_id == actor.pk:
        raise PermissionDenied(_("You requested this approval; another approver must decide."))
    _require_clean_review(campaign, request.version)
    with transaction.atomic():
        _decide(campaign, actor, ApprovalRequest.Status.APPROVED, comment, "approve")
        if campaign.status == S.IN_REVIEW:
            _require_active_configuration(request.version)
            extra = {"live_version": request.version, "draft_version": None}
            if not transition(campaign, "approve", actor=actor, comment=comment, extra=extra):
                raise _refuse_status(campaign, "approve")
            campaign_id = campaign.pk
            engine.enqueue_activation(campaign_id)
        else:
            _swap_in_draft_version(campaign, actor, comment, "version_approved")
    _notify_requester(request, actor, "approved", comment)
    campaign.refresh_from_db()
    return campaign


def _close_request(*, campaign, actor, comment, status, action) -> Campaign:
    with transaction.atomic():
        request = _decide(campaign, actor, status, comment, action)
        if campaign.status == S.IN_REVIEW:
            if not transition(campaign, action, actor=actor, comment=comment):
                raise _refuse_status(campaign, action)
        else:
            _event(campaign, f"version_{action}", actor, comment)
    return request


def campaign_request_changes(*, campaign: Campaign, actor, comment: str = "") -> Campaign:
    """Send the campaign (or draft version) back to its author; notifies them."""
    request = pending_request(campaign)
    if request is None:
        raise _refuse_status(campaign, "request_changes")
    if not may_decide(actor, request):
        raise PermissionDenied(_("You are not an approver for this campaign."))
    status = ApprovalRequest.Status.CHANGES_REQUESTED
    _close_request(
        campaign=campaign, actor=actor, comment=comment, status=status, action="request_changes"
    )
    _notify_requester(request, actor, "changes_requested", comment)
    campaign.refresh_from_db()
    return campaign


def campaign_cancel_approval(*, campaign: Campaign, actor, comment: str = "") -> Campaign:
    """Withdraw the pending request; back to draft (or the editable draft
    version). Only the requester, its approvers and administrators may."""
    pending = pending_request(campaign)
    if pending is None:
        raise _refuse_status(campaign, "cancel_approval")
    if not may_cancel(actor, pending):
        raise PermissionDenied(_("Only the requester or an approver may cancel this request."))
    status = ApprovalRequest.Status.CANCELLED
    request = _close_request(
        campaign=campaign, actor=actor, comment=comment, status=status, action="cancel_approval"
    )
    if request.requested_by_id != getattr(actor, "pk", None):
        _notify_requester(request, actor, "approval_cancelled", comment)
    campaign.refresh_from_db()
    return campaign


def _cancel_pending_requests(campaign: Campaign, actor, comment: str) -> None:
    ApprovalRequest.objects.filter(campaign=campaign, status="pending").update(
        status=ApprovalRequest.Status.CANCELLED,
        decided_by=actor,
        decided_at=clock.now(),
        comment=comment,
    )


def campaign_stop(*, campaign: Campaign, actor, comment: str = "") -> Campaign:
    """Stop for good: future occurrences never run and pending deliveries are
    cancelled in the same transaction, so nothing is sent after this returns."""
    with transaction.atomic():
        if not transition(campaign, "stop", actor=actor, comment=comment):
            raise _refuse_status(campaign, "stop")
        engine.cancel_campaign_work(campaign)
        _cancel_pending_requests(campaign, actor, comment)
    return campaign


def campaign_archive(*, campaign: Campaign, actor, comment: str = "") -> Campaign:
    """Archive anything but a draft; a running campaign's work is cancelled too."""
    was = campaign.status
    with transaction.atomic():
        if not transition(campaign, "archive", actor=actor, comment=comment):
            raise _refuse_status(campaign, "archive")
        if was in RUNNING or was == S.ACTIVATING:
            engine.cancel_campaign_work(campaign)
        _cancel_pending_requests(campaign, actor, comment)
    return campaign


# --- notifications ---------------------------------------------------------


def _campaign_url(campaign: Campaign) -> str:
    return reverse("campaigns:detail", args=[campaign.pk])


def _notify_requester(request: ApprovalRequest, actor, kind: str, comment: str) -> None:
    """In-app notice and email (after commit) to whoever asked for approval.
    ``kind``: approved, changes_requested or approval_cancelled."""
    from accounts.notices import render_notice
    from accounts.services import notify

    user = request.requested_by
    if user is None:
        return
    campaign = request.campaign
    who = actor.get_username() if actor else "—"
    params = {"name": campaign.name, "who": who, "comment": comment or "", "campaign": campaign.pk}
    url = _campaign_url(campaign)
    notify(user=user, kind=kind, params=params, url=url)  # worded for its reader when shown
    from accounts.permissions import can_see

    # An email cannot be worded again later: none about a campaign the
    # requester may no longer see (restricted since, say), which would tell
    # them its name, the decision and the comment (seventeenth review).
    if user.email and can_see(user, campaign):
        message = render_notice(kind, params)
        body = f"{message}\n\n{settings.SITE_URL}{url}\n"
        subject = _("Volley: %(name)s") % {"name": campaign.name}
        send_later(subject=subject, body=body, to=[user.email])


def approvers_to_notify(request: ApprovalRequest) -> list:
    """Everyone who may decide ``request`` except its requester: the policy's
    users and the members of its groups, or (no policy, or one naming nobody)
    every user whose role may approve. ``may_decide`` has the last word, so a
    restricted campaign only reaches approvers granted it."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.db.models import Q

    users = get_user_model().objects.filter(is_active=True)
    policy = request.policy
    named = policy is not None and (
        policy.approver_users.exists() or policy.approver_groups.exists()
    )
    if named:
        users = users.filter(
            Q(pk__in=policy.approver_users.values("pk"))
            | Q(groups__in=policy.approver_groups.values("pk"))
        )
    else:
        perm = Permission.objects.filter(
            content_type__app_label="campaigns", codename="approve_campaign"
        )
        users = users.filter(
            Q(is_superuser=True) | Q(groups__permissions__in=perm) | Q(user_permissions__in=perm)
        )
    candidates = users.exclude(pk=request.requested_by_id).distinct().order_by("pk")
    return [user for user in candidates if may_decide(user, request)]


def _notify_approvers(request: ApprovalRequest) -> None:
    """In-app notice and email to every eligible approver (email after commit)."""
    from accounts.notices import render_notice
    from accounts.services import notify

    campaign = request.campaign
    params = {"name": campaign.name, "comment": request.message or "", "campaign": campaign.pk}
    message = render_notice("approval_requested", params)
    url = reverse("approvals:queue")
    subject = _("Volley: %(name)s waits for your approval") % {"name": campaign.name}
    body = f"{message}\n\n{settings.SITE_URL}{url}\n"
    emails = []
    for user in approvers_to_notify(request):
        notify(user=user, kind="approval_requested", params=params, url=url)
        if user.email:
            emails.append(user.email)
    send_later(subject=subject, body=body, to=emails)


# --- approval policies -----------------------------------------------------


def approval_policy_create(
    *,
    actor,
    name: str,
    active: bool = True,
    conditions: dict | None = None,
    approver_users: Iterable = (),
    approver_groups: Iterable = (),
    block_self_approval: bool = True,
) -> ApprovalPolicy:
    """Create an approval policy (administrators; SPEC §7 shape)."""
    conditions = conditions or {}
    policy = ApprovalPolicy(
        name=(name or "").strip(),
        active=active,
        types=list(conditions.get("types") or []),
        categories=list(conditions.get("categories") or []),
        channels=list(conditions.get("channels") or []),
        tags=list(conditions.get("tags") or []),
        block_self_approval=block_self_approval,
    )
    with transaction.atomic():
        policy.full_clean()
        policy.save()
        policy.approver_users.set(approver_users)
        policy.approver_groups.set(approver_groups)
    return policy


# --- the report's retry, proofs (pages and API alike) ----------------------


def retry_failed(*, campaign: Campaign, actor) -> int:
    """Put the campaign's failed deliveries back in the queue (the report's
    "Retry failed deliveries"; ``POST …/retry-failed``). Who may: the boundary
    asks ``campaign.activate``. A stopped or archived campaign is final: 409.
    Returns how many deliveries will be tried again."""
    from campaigns.engine.runs import retry_failed as retry

    if campaign.status in (CampaignStatus.STOPPED, CampaignStatus.ARCHIVED):
        raise _refuse_status(campaign, "retry_failed")
    return retry(campaign=campaign)


def send_proof(
    *,
    campaign: Campaign,
    actor,
    recipients: list[str],
    profile=None,
    locale: str | None = None,
) -> list[str]:
    """Proofs of the campaign's version being edited (the draft, else the live
    one) to 1–10 addresses, rendered for ``profile`` (or sample data), queued for
    the cluster with a status each (``campaigns.proofs``). The API's checks: no
    configuration or a deactivated one: 409 (``ActionRefused``); bad addresses,
    template errors, an unknown locale: ``ValidationError``. ``locale``: one of
    the content's translations (a proof per language, SPEC §11) or a language of
    the interface; the "[Proof]" prefix follows it when the interface speaks it.
    Who may: the boundary asks ``edit``. Returns the queued ``Proof`` rows."""
    from audiences.locales import normalize_locale, translations_of
    from campaigns import proofs

    version = campaign.draft_version or campaign.live_version
    config = version.channel_configuration if version is not None else None
    if config is None:
        raise ActionRefused(_("Choose a channel configuration before sending proofs."))
    if not config.is_active:
        raise ActionRefused(
            _("The channel configuration “%(name)s” is deactivated: proofs cannot be sent.")
            % {"name": config.name}
        )
    ui_languages = dict(settings.LANGUAGES)
    wanted = normalize_locale(locale) if locale is not None else None
    if locale is not None and wanted not in {*translations_of(version.content), *ui_languages}:
        raise ValidationError(
            {
                "locale": [
                    _("Use a language of the content or one of: %s.") % ", ".join(ui_languages)
                ]
            }
        )
    try:
        queued = proofs.send_proof(
            campaign,
            actor,
            recipients,
            locale=wanted if wanted in ui_languages else None,
            profile=profile,
            content_locale=wanted,
        )
    except proofs.ProofRefused as exc:
        raise ValidationError(exc.errors or {"recipients": [str(exc)]}) from exc
    return queued
