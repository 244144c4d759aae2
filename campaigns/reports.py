"""What a campaign's report shows (SPEC §7 `GET …/report`, SPEC §8 report page).

Progress comes from the runs' counters; outcome events and reasons come from
one aggregate query each over the campaign's deliveries.
"""

from __future__ import annotations

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMinute

from campaigns.models import Campaign, Delivery, Run

EVENTS = {
    "delivered": "delivered_at",
    "bounced": "bounced_at",
    "opened": "opened_at",
    "clicked": "clicked_at",
    "unsubscribed": "unsubscribed_at",
    "complained": "complained_at",
}


# Exclusions decided by the business rules (SPEC §12) at send time.
RULE_REASONS = (Delivery.Reason.FREQUENCY_CAP, Delivery.Reason.QUIET_HOURS)


def exclusion_counts(campaign_ids) -> dict[int, tuple[int, int]]:
    """Campaign id → (excluded, of which by a business rule), for a page of
    the list: one sum over the runs' counters, one count of the rule reasons."""
    ids = list(campaign_ids)
    totals = dict(
        Run.objects.filter(campaign_id__in=ids)
        .values("campaign_id")
        .annotate(n=Sum("excluded"))
        .order_by()
        .values_list("campaign_id", "n")
    )
    by_rules = dict(
        Delivery.objects.filter(
            run__campaign_id__in=ids, status=Delivery.Status.EXCLUDED, reason__in=RULE_REASONS
        )
        .values("run__campaign_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("run__campaign_id", "n")
    )
    return {pk: (totals.get(pk) or 0, by_rules.get(pk, 0)) for pk in ids}


def _by_reason(deliveries, status: str) -> dict[str, int]:
    rows = (
        deliveries.filter(status=status)
        .values("reason")
        .annotate(n=Count("id"))
        .order_by("-n", "reason")
    )
    return {row["reason"] or "unknown": row["n"] for row in rows}


def run_row(run: Run) -> dict:
    return {
        "id": run.pk,
        "kind": run.kind,
        "status": run.status,
        "scheduledFor": run.scheduled_for.isoformat() if run.scheduled_for else None,
        "startedAt": run.started_at.isoformat() if run.started_at else None,
        "finishedAt": run.finished_at.isoformat() if run.finished_at else None,
        "targeted": run.targeted,
        "excluded": run.excluded,
        "sent": run.sent,
        "failed": run.failed,
        "duplicates": run.duplicates,
        "error": run.error,
    }


def campaign_report(campaign: Campaign) -> dict:
    runs = list(campaign.runs.order_by("-created_at", "-id"))
    totals = campaign.runs.aggregate(
        targeted=Sum("targeted"), sent=Sum("sent"), duplicates=Sum("duplicates")
    )
    deliveries = Delivery.objects.filter(run__campaign=campaign)
    events = deliveries.aggregate(
        **{
            name: Count("id", filter=Q(**{f"{field}__isnull": False}))
            for name, field in EVENTS.items()
        }
    )
    report = {
        "targeted": totals["targeted"] or 0,
        "excluded": _by_reason(deliveries, Delivery.Status.EXCLUDED),
        "sent": totals["sent"] or 0,
        "delivered": events["delivered"],
        "failed": _by_reason(deliveries, Delivery.Status.FAILED),
        "bounced": events["bounced"],
        "opened": events["opened"],
        "clicked": events["clicked"],
        "unsubscribed": events["unsubscribed"],
        "complained": events["complained"],
        "duplicates": totals["duplicates"] or 0,
        "runs": [run_row(run) for run in runs],
    }
    sent = report["sent"]
    report["rates"] = {
        "openRate": _ratio(report["opened"], sent),
        "clickRate": _ratio(report["clicked"], sent),
        "clickToOpenRate": _ratio(report["clicked"], report["opened"]),
    }
    return report


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def is_sending(campaign: Campaign) -> bool:
    return campaign.runs.filter(
        status__in=[Run.Status.QUEUED, Run.Status.MATERIALIZING, Run.Status.SENDING]
    ).exists()


def send_rate(campaign: Campaign, limit: int = 120) -> list[tuple]:
    """Messages sent per minute, the latest ``limit`` minutes with sends."""
    rows = (
        Delivery.objects.filter(run__campaign=campaign, sent_at__isnull=False)
        .annotate(minute=TruncMinute("sent_at"))
        .values("minute")
        .annotate(n=Count("id"))
        .order_by("-minute")[:limit]
    )
    return [(row["minute"], row["n"]) for row in reversed(list(rows))]
