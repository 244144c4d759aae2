"""Conversion events API (docs/CONVERSIONS.md): ``POST /api/v1/events`` and
``POST /api/v1/events/batch``.

Posting an event writes data about a person, so it takes what writing a
profile takes (``PUT /profiles/…``): the ``profile.edit`` permission
(Campaign Managers, Approvers, Administrators; not Viewers).
"""

from __future__ import annotations

from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Status
from pydantic import Field

from accounts.permissions import can
from audiences import events
from config.schemas import ApiDateTime, CamelOut, CamelSchema

events_router = Router(tags=["conversion events"])


class EventProfileIn(CamelSchema):
    namespace: Literal["email", "phone", "push_token", "profile_id"]
    value: str = Field(min_length=1, max_length=512)


class EventIn(CamelSchema):
    profile: EventProfileIn
    name: str = Field(
        min_length=1,
        max_length=100,
        description="The event (a campaign's conversion goal names it): letters, digits, "
        "`.`, `_`, `-`, `:`.",
    )
    event_id: str | None = Field(
        None,
        max_length=255,
        description="Your idempotency key: the same eventId is stored once.",
    )
    occurred_at: ApiDateTime | None = Field(
        None, description="When it happened (with a time zone); default now; not in the future."
    )
    value: float | None = Field(
        None,
        strict=True,
        description="A number such as the revenue (finite, below 10^14 in absolute value).",
    )
    properties: dict[str, Any] = Field(default_factory=dict, description="Free JSON, ≤ 16 KB.")


class EventBatchIn(CamelSchema):
    events: list[EventIn] = Field(min_length=1, max_length=events.BATCH_MAX)


class EventOut(CamelOut):
    id: int
    duplicate: bool = Field(description="The eventId was already stored: nothing new was written.")


class BatchItemOut(CamelOut):
    index: int
    id: int
    duplicate: bool


class BatchRejectedOut(CamelOut):
    index: int
    reason: str = Field(description="`unknown_profile`: no such person (or not one you may see).")


class BatchOut(CamelOut):
    accepted: int
    duplicates: int
    items: list[BatchItemOut]
    rejected: list[BatchRejectedOut]


def _may_post(request: HttpRequest) -> None:
    if not can(request.user, "profile.edit"):
        raise PermissionDenied(_("Your role may not record events about people."))


@events_router.post("", response={200: EventOut, 201: EventOut}, by_alias=True)
def post_event(request: HttpRequest, payload: EventIn):
    """Record one conversion event: 201 with its id, 200 when its ``eventId``
    was stored before (nothing new written), 404 for an unknown person."""
    _may_post(request)
    checked = events.events_check([payload.model_dump()], batch=False)
    outcome = events.events_record(events=checked, actor=request.user)[0]
    if outcome.rejected:
        raise Http404(_("No profile has this identity."))
    return Status(
        200 if outcome.duplicate else 201, {"id": outcome.id, "duplicate": outcome.duplicate}
    )


@events_router.post("/batch", response=BatchOut, by_alias=True)
def post_events(request: HttpRequest, payload: EventBatchIn):
    """Record up to 1,000 events at once. A malformed event refuses the whole
    batch (400, errors keyed ``events.<index>.<field>``, nothing written);
    events of unknown people are listed under ``rejected`` and the others stored."""
    _may_post(request)
    checked = events.events_check([e.model_dump() for e in payload.events], batch=True)
    outcomes = events.events_record(events=checked, actor=request.user)
    items = [o for o in outcomes if not o.rejected]
    return {
        "accepted": sum(1 for o in items if not o.duplicate),
        "duplicates": sum(1 for o in items if o.duplicate),
        "items": [{"index": o.index, "id": o.id, "duplicate": o.duplicate} for o in items],
        "rejected": [{"index": o.index, "reason": o.rejected} for o in outcomes if o.rejected],
    }
