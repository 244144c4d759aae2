"""API-triggered executions and campaign reports (SPEC §7).

The per-key rate limit (429 with Retry-After) is the API root's, shared by every
endpoint (config/api.py).
"""

from __future__ import annotations

from typing import Literal

from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, Router
from ninja.responses import Status
from pydantic import field_validator

from accounts.permissions import can, can_see
from campaigns.engine import executions
from campaigns.engine.report import campaign_report
from campaigns.models import Campaign, Run
from config.problems import ApiProblem
from config.schemas import ApiDateTime, CamelSchema

# Ids are 64-bit in the database: a bigger number is "not found", not a driver error.
MAX_ID = 2**63 - 1

executions_router = Router(tags=["executions"])
# Mounted at /campaigns beside campaigns.api.campaigns_router: /campaigns/{id}/report.
reports_router = Router(tags=["reports"])


class RecipientIn(CamelSchema):
    user_id: str = Field(..., min_length=1, max_length=512)
    namespace: Literal["email", "phone", "profile_id", "push_token"]
    context: dict = Field(default_factory=dict)


class UnitaryIn(CamelSchema):
    request_id: str = Field(..., min_length=1, max_length=255)
    campaign_id: int = Field(..., ge=1, le=MAX_ID)
    recipients: list[RecipientIn] = Field(..., min_length=1, max_length=20)

    @field_validator("recipients")
    @classmethod
    def unique_user_ids(cls, value: list[RecipientIn]) -> list[RecipientIn]:
        ids = [r.user_id for r in value]
        if len(ids) != len(set(ids)):
            raise ValueError("userId must be unique among the recipients")
        return value


class ExecuteAt(CamelSchema):
    execute_at: ApiDateTime


class AudienceIn(CamelSchema):
    request_id: str = Field(..., min_length=1, max_length=255)
    campaign_id: int = Field(..., ge=1, le=MAX_ID)
    context: dict = Field(default_factory=dict)
    schedule: ExecuteAt | None = None


def _campaign_for_trigger(request: HttpRequest, campaign_id: int) -> Campaign:
    campaign = Campaign.objects.select_related("live_version").filter(pk=campaign_id).first()
    if campaign is None or not can_see(request.user, campaign):
        raise Http404
    if not can(request.user, "campaign.edit", campaign):
        raise ApiProblem(403, _("You may not trigger this campaign."))
    return campaign


def _refused(exc: executions.ExecutionRefused) -> ApiProblem:
    return ApiProblem(exc.status, exc.detail)


@executions_router.post("/unitary", response={202: dict}, summary="Trigger to named recipients")
def post_unitary(request: HttpRequest, payload: UnitaryIn):
    campaign = _campaign_for_trigger(request, payload.campaign_id)
    for recipient in payload.recipients:
        if executions.context_too_large(recipient.context):
            raise ApiProblem(413, _("A recipient's context is larger than 200 KB."))
    recipients = [
        executions.Recipient(r.user_id, r.namespace, r.context) for r in payload.recipients
    ]
    try:
        answer = executions.execution_unitary(
            campaign=campaign, request_id=payload.request_id, recipients=recipients
        )
    except executions.ExecutionRefused as exc:
        raise _refused(exc) from None
    return Status(202, answer)


@executions_router.post("/audience", response={202: dict}, summary="Trigger to the audience")
def post_audience(request: HttpRequest, payload: AudienceIn):
    campaign = _campaign_for_trigger(request, payload.campaign_id)
    if executions.context_too_large(payload.context):
        raise ApiProblem(413, _("The context is larger than 200 KB."))
    try:
        answer = executions.execution_audience(
            campaign=campaign,
            request_id=payload.request_id,
            context=payload.context,
            execute_at=payload.schedule.execute_at if payload.schedule else None,
        )
    except executions.ExecutionRefused as exc:
        raise _refused(exc) from None
    return Status(202, answer)


@executions_router.get("/{execution_id}", response=dict, summary="An execution's progress")
def get_execution(request: HttpRequest, execution_id: int):
    if not 0 < execution_id <= MAX_ID:
        raise Http404
    run = (
        Run.objects.select_related("campaign")
        .filter(pk=execution_id, kind__in=[Run.Kind.API_UNITARY, Run.Kind.API_AUDIENCE])
        .first()
    )
    if run is None or not can_see(request.user, run.campaign):
        raise Http404
    return executions.execution_status(run)


@reports_router.get("/{campaign_id}/report", response=dict, summary="A campaign's report")
def get_report(request: HttpRequest, campaign_id: int):
    if not 0 < campaign_id <= MAX_ID:
        raise Http404
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    if not can_see(request.user, campaign):
        raise Http404
    if not can(request.user, "campaign.view_report", campaign):
        raise ApiProblem(403, _("You may not see this campaign's report."))
    return campaign_report(campaign)
