"""API-triggered runs (SPEC §7): one per requestId, answered once, replayed after."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from audiences.models import Profile
from audiences.selectors import annotate_eligibility
from campaigns.engine.clock import now
from campaigns.engine.runs import enqueue_start
from campaigns.models import Campaign, CampaignStatus, CampaignType, Delivery, Run

MAX_CONTEXT_BYTES = 200 * 1024
NAMESPACE_FIELDS = {
    "email": "email",
    "phone": "phone",
    "profile_id": "profile_id",
    "push_token": "push_token",
}


class ExecutionRefused(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class Recipient:
    user_id: str
    namespace: str
    context: dict


def context_too_large(context) -> bool:
    return len(json.dumps(context or {}, separators=(",", ":")).encode()) > MAX_CONTEXT_BYTES


def check_triggerable(campaign: Campaign, *, audience: bool = False) -> None:
    """409 with the reason unless the campaign may be triggered now."""
    if campaign.type != CampaignType.API_TRIGGERED:
        raise ExecutionRefused(409, _("The campaign is not API-triggered."))
    if campaign.status != CampaignStatus.LIVE:
        raise ExecutionRefused(
            409, _("The campaign is %(status)s, not live.") % {"status": campaign.status}
        )
    version = campaign.live_version
    moment = now()
    if version.start_at and moment < version.start_at:
        raise ExecutionRefused(409, _("The campaign's start date has not been reached."))
    if version.end_at and moment >= version.end_at:
        raise ExecutionRefused(409, _("The campaign's end date has passed."))
    if audience and version.audience_id is None:
        raise ExecutionRefused(409, _("The campaign has no audience."))


def _existing(campaign: Campaign, request_id: str) -> Run | None:
    return Run.objects.filter(campaign=campaign, request_id=request_id).first()


_SENTINEL = "\x00volley-recipient\x00"


@functools.lru_cache(maxsize=64)
def _lookup_sql(channel: str, category: str, field: str) -> tuple[str, tuple, int]:
    """The SQL finding one profile by ``field`` with its eligibility, compiled
    once per process: compiling the annotated query cost more than running it."""
    qs = annotate_eligibility(Profile.objects.all(), channel=channel, category=category)
    sql, params = qs.filter(**{field: _SENTINEL}).order_by("pk")[:1].query.sql_with_params()
    return sql, tuple(params), params.index(_SENTINEL)


def _find_eligible(campaign: Campaign, field: str, value) -> Profile | None:
    sql, params, index = _lookup_sql(campaign.channel, campaign.category, field)
    params = (*params[:index], value, *params[index + 1 :])
    return next(iter(Profile.objects.raw(sql, params)), None)


def _resolve(campaign: Campaign, recipients: list[Recipient]):
    """Profiles for the recipients (created when the campaign allows), each
    annotated with its address and exclusion reason; the rejected."""
    allow = campaign.live_version.allow_profile_creation
    found: dict[str, Profile] = {}
    rejected = []
    for recipient in recipients:
        field = NAMESPACE_FIELDS[recipient.namespace]
        value = recipient.user_id.strip()
        if field == "email":
            value = value.lower()
        # One query finds the profile and decides its eligibility.
        profile = _find_eligible(campaign, field, value)
        if profile is None and allow:
            created, _created = Profile.objects.get_or_create(**{field: value})
            profile = annotate_eligibility(
                Profile.objects.filter(pk=created.pk),
                channel=campaign.channel,
                category=campaign.category,
            ).get()
        if profile is None:
            rejected.append({"userId": recipient.user_id, "reason": "unknown_recipient"})
        elif profile.pk in {p.pk for p in found.values()}:
            rejected.append({"userId": recipient.user_id, "reason": "duplicate"})
        else:
            found[recipient.user_id] = profile
    return found, rejected


def execution_unitary(*, campaign: Campaign, request_id: str, recipients: list[Recipient]) -> dict:
    """Create the run for an API trigger to named recipients; the answer to give.

    The same ``request_id`` again returns the first answer and sends nothing.
    A new request costs no look-up for an earlier one: the run's unique
    (campaign, request_id) constraint detects the replay, which then reads the
    first answer.
    """
    try:
        check_triggerable(campaign)
    except ExecutionRefused:
        run = _existing(campaign, request_id)  # a replay is answered even when refused now
        if run is not None:
            return run.response
        raise
    try:
        with transaction.atomic():
            found, rejected = _resolve(campaign, recipients)
            deliveries = _plan_deliveries(found, recipients)
            run = Run.objects.create(
                campaign=campaign,
                version=campaign.live_version,
                kind=Run.Kind.API_UNITARY,
                request_id=request_id,
                targeted=len(deliveries),
                excluded=sum(1 for d in deliveries if d.status == Delivery.Status.EXCLUDED),
            )
            for delivery in deliveries:
                delivery.run = run
            Delivery.objects.bulk_create(deliveries)
            run.response = _answer(run, request_id, rejected)
            run.save(update_fields=["response"])
            enqueue_start(run)
    except IntegrityError:  # this requestId was seen before (or raced us): replay its answer
        run = _existing(campaign, request_id)
        if run is None:
            raise
        return run.response
    return run.response


def _plan_deliveries(found: dict, recipients) -> list[Delivery]:
    contexts = {r.user_id: r.context for r in recipients}
    deliveries = []
    for user_id, profile in found.items():
        reason = profile.exclusion_reason or ""
        deliveries.append(
            Delivery(
                profile=profile,
                status=Delivery.Status.EXCLUDED if reason else Delivery.Status.PENDING,
                reason=reason,
                address=profile.address or "",
                context=contexts.get(user_id) or {},
            )
        )
    return deliveries


def _answer(run: Run, request_id: str, rejected: list) -> dict:
    return {
        "executionId": run.pk,
        "requestId": request_id,
        "createdAt": run.created_at.isoformat(),
        "rejected": rejected,
    }


def execution_audience(
    *, campaign: Campaign, request_id: str, context: dict, execute_at=None
) -> dict:
    """Create the run for an API trigger to the campaign's audience."""
    run = _existing(campaign, request_id)
    if run is not None:
        return run.response
    check_triggerable(campaign, audience=True)
    try:
        with transaction.atomic():
            run = Run.objects.create(
                campaign=campaign,
                version=campaign.live_version,
                kind=Run.Kind.API_AUDIENCE,
                request_id=request_id,
                context=context or {},
                scheduled_for=execute_at,
            )
            run.response = _answer(run, request_id, [])
            run.save(update_fields=["response"])
            if execute_at is None or execute_at <= now():
                enqueue_start(run)
    except IntegrityError:
        return _existing(campaign, request_id).response
    return run.response


def execution_status(run: Run) -> dict:
    if run.status in (Run.Status.QUEUED, Run.Status.MATERIALIZING):
        status = "queued"
    elif run.status == Run.Status.SENDING:
        status = "in_progress"
    elif run.status == Run.Status.COMPLETED and not (run.failed and run.sent == 0):
        status = "succeeded"
    else:
        status = "failed"
    return {
        "executionId": run.pk,
        "campaignId": run.campaign_id,
        "status": status,
        "targeted": run.targeted,
        "sent": run.sent,
        "failed": run.failed,
        "excluded": run.excluded,
    }
