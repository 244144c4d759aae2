"""What a campaign's report shows (SPEC §7 `GET …/report`, SPEC §8 report page).

Progress comes from the runs' counters; outcome events and reasons come from
one aggregate query each over the campaign's deliveries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.functions import TruncDay, TruncHour, TruncMinute, TruncSecond

from campaigns.models import Campaign, Delivery, Run

EVENTS = {
    "delivered": "delivered_at",
    "bounced": "bounced_at",
    "opened": "opened_at",
    "clicked": "clicked_at",
    "unsubscribed": "unsubscribed_at",
    "complained": "complained_at",
}


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
    report["languages"] = by_language(deliveries)
    sent = report["sent"]
    report["rates"] = {
        "openRate": _ratio(report["opened"], sent),
        "clickRate": _ratio(report["clicked"], sent),
        "clickToOpenRate": _ratio(report["clicked"], report["opened"]),
    }
    return report


def by_language(deliveries) -> list[dict]:
    """Sent, opened and clicked per language sent (SPEC §11): ``locale`` is the
    translation ("fr"), or "" for the default content. Default first."""
    rows = (
        deliveries.filter(sent_at__isnull=False)
        .values("locale")
        .annotate(
            sent=Count("id"),
            opened=Count("id", filter=Q(opened_at__isnull=False)),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
        )
        .order_by("locale")
    )
    return [
        {"locale": r["locale"], "sent": r["sent"], "opened": r["opened"], "clicked": r["clicked"]}
        for r in rows
    ]


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def is_sending(campaign: Campaign) -> bool:
    return campaign.runs.filter(
        status__in=[Run.Status.QUEUED, Run.Status.MATERIALIZING, Run.Status.SENDING]
    ).exists()


# --- Activity over time (the report's charts) -------------------------------
# The bucket is chosen from the length of what is shown: a 12-second run gets
# one bar per second, a three-hour run one per five minutes, so a short run is
# never a single full-width bar and a long one never thousands of slivers.
BUCKET_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600)
BUCKET_STEPS += (43200, 86400, 7 * 86400)
MAX_BUCKETS = 48
MIN_BUCKETS = 12


@dataclass(frozen=True)
class Activity:
    """Counts per time bucket: ``series[name][i]`` happened in
    [start + i·step, start + (i+1)·step)."""

    start: datetime
    step: int
    series: dict[str, list[int]]

    @property
    def times(self) -> list[datetime]:
        size = len(next(iter(self.series.values()), []))
        return [self.start + timedelta(seconds=self.step * i) for i in range(size)]


def bucket_step(span_seconds: float) -> int:
    """The smallest step of ``BUCKET_STEPS`` that shows ``span`` in at most MAX_BUCKETS bars."""
    for step in BUCKET_STEPS:
        if span_seconds / step < MAX_BUCKETS:
            return step
    return BUCKET_STEPS[-1]


def _truncation(step: int):
    """The coarsest database truncation that still splits ``step`` exactly, so
    the query returns a few hundred rows at most whatever the campaign's size."""
    for unit, trunc in ((86400, TruncDay), (3600, TruncHour), (60, TruncMinute)):
        if step % unit == 0:
            return trunc
    return TruncSecond


def _counts(deliveries, field: str, step: int, start: datetime, size: int) -> list[int]:
    trunc = _truncation(step)
    rows = (
        deliveries.filter(**{f"{field}__isnull": False})
        .annotate(t=trunc(field, tzinfo=UTC))
        .values("t")
        .annotate(n=Count("id"))
        .values_list("t", "n")
    )
    counts = [0] * size
    for moment, n in rows:
        index = int((moment - start).total_seconds() // step)
        counts[min(max(index, 0), size - 1)] += n
    return counts


def _window(first: datetime, last: datetime) -> tuple[datetime, int, int]:
    """(start, step, number of buckets) for events between ``first`` and ``last``."""
    step = bucket_step((last - first).total_seconds())
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    offset = (first - epoch).total_seconds()
    start = epoch + timedelta(seconds=offset - offset % step)
    size = int((last - start).total_seconds() // step) + 1
    return start, step, max(size, MIN_BUCKETS)


def send_activity(campaign: Campaign) -> Activity | None:
    """Messages sent per bucket over the campaign's sending time, or None before any send."""
    deliveries = Delivery.objects.filter(run__campaign=campaign)
    span = deliveries.aggregate(first=Min("sent_at"), last=Max("sent_at"))
    if span["first"] is None:
        return None
    start, step, size = _window(span["first"], span["last"])
    return Activity(start, step, {"sent": _counts(deliveries, "sent_at", step, start, size)})


def engagement_activity(campaign: Campaign) -> Activity | None:
    """Unique opens and clicks per bucket from the first send to the last event,
    or None before anyone opened or clicked."""
    deliveries = Delivery.objects.filter(run__campaign=campaign)
    span = deliveries.aggregate(
        first=Min("sent_at"), opened=Max("opened_at"), clicked=Max("clicked_at")
    )
    last = max((t for t in (span["opened"], span["clicked"]) if t is not None), default=None)
    if last is None:
        return None
    first = min(span["first"] or last, last)
    start, step, size = _window(first, last)
    return Activity(
        start,
        step,
        {
            "opened": _counts(deliveries, "opened_at", step, start, size),
            "clicked": _counts(deliveries, "clicked_at", step, start, size),
        },
    )
