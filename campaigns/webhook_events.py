"""What campaigns tells outbound webhooks (SPEC §13), written into the outbox in
the transaction of the change (webhooks/outbox.py).

The send path writes delivery events by reference, a batch per INSERT; their
data is built here when the cluster first claims them (``delivery_data``), from
the delivery as the API would show it: ids, channel, the address it went to and
the person's identifiers — never a push token, attributes or context.
Nothing about a restricted campaign is told (``outbox.WITHHELD``), nor a
delivery to a person known only through restricted audiences: endpoints are
the administrators', and restricted means restricted from them too.
"""

from __future__ import annotations

from datetime import datetime

from webhooks import outbox


def deliveries(event_type: str, ids: list[int], moment: datetime) -> int:
    """``event_type`` for each delivery of ``ids`` (nothing when nobody subscribes)."""
    if not ids:
        return 0
    return outbox.emit_refs(event_type, ids, created_at=moment)


def executions_completed(runs: list, moment: datetime) -> int:
    """``execution.completed`` for the API runs among ``runs`` (ids or Run rows)."""
    from campaigns.models import Run

    if not outbox.subscribed("execution.completed") or not runs:
        return 0
    ids = [getattr(r, "pk", r) for r in runs]
    api = list(
        Run.objects.filter(
            pk__in=ids, kind__in=[Run.Kind.API_UNITARY, Run.Kind.API_AUDIENCE]
        ).values_list("pk", flat=True)
    )
    return outbox.emit_refs("execution.completed", api, created_at=moment) if api else 0


def campaign_status_changed(campaign, *, from_status: str, to_status: str, action: str, actor):
    if campaign.restricted:  # never told to endpoints (``outbox.WITHHELD``)
        return
    outbox.emit(
        "campaign.status_changed",
        {
            "campaignId": campaign.pk,
            "name": campaign.name,
            "from": from_status,
            "to": to_status,
            "action": action,
            "by": getattr(actor, "username", None) or None,
        },
    )


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def delivery_data(ids: list[int]) -> dict[int, dict]:
    """The ``data`` of delivery events, per delivery id."""
    from audiences.selectors import hidden_profiles
    from campaigns.models import Delivery

    rows = list(Delivery.objects.filter(pk__in=ids).select_related("run__campaign", "profile"))
    # Nor a delivery to a person known only through restricted audiences, an
    # open campaign's included (review 6): the restricted list, member by member.
    hidden = hidden_profiles(None)
    hidden_ids = (
        set(
            hidden.filter(pk__in={d.profile_id for d in rows if d.profile_id}).values_list(
                "pk", flat=True
            )
        )
        if hidden is not None
        else set()
    )
    data = {}
    for d in rows:
        campaign = d.run.campaign
        if campaign.restricted or d.profile_id in hidden_ids:
            data[d.pk] = outbox.WITHHELD
            continue
        data[d.pk] = {
            "deliveryId": d.pk,
            "campaignId": campaign.pk,
            "runId": d.run_id,
            "executionId": d.run_id if d.run.kind.startswith("api_") else None,
            "channel": campaign.channel,
            "category": campaign.category,
            "status": d.status,
            "reason": d.reason or None,
            "address": d.address or None,
            "locale": d.locale or None,
            "sentAt": _iso(d.sent_at),
            "profile": outbox.person(d.profile),
        }
    return data


def execution_data(ids: list[int]) -> dict[int, dict]:
    """The ``data`` of ``execution.completed``: the execution as the API reads it."""
    from campaigns.engine.executions import execution_status
    from campaigns.models import Run

    data = {}
    for run in Run.objects.filter(pk__in=ids).select_related("campaign"):
        if run.campaign.restricted:
            data[run.pk] = outbox.WITHHELD
            continue
        data[run.pk] = {**execution_status(run), "requestId": run.request_id}
    return data


def register() -> None:
    outbox.register_builder("delivery", delivery_data)
    outbox.register_builder("execution", execution_data)
