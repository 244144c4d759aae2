"""What a campaign's report shows (SPEC §7 `GET …/report`, SPEC §8 report page).

Every count comes from one grouped query over the campaign's deliveries (one
snapshot, so the numbers always add up: targeted = Σexcluded + sent + Σfailed
+ cancelled + pending, for the campaign and for each run); only the possible
duplicates come from the runs' counters. Top links come from the click log.
"""

from __future__ import annotations

from django.db.models import Count, Q
from django.db.models.functions import TruncMinute

from campaigns.models import Campaign, Delivery, Run
from channels.models import DeliveryEvent

EVENTS = {
    "delivered": "delivered_at",
    "bounced": "bounced_at",
    "opened": "opened_at",
    "clicked": "clicked_at",
    "unsubscribed": "unsubscribed_at",
    "complained": "complained_at",
}


# What the report counts as "pending": not finished yet, whether waiting for a
# sender or in a sender's hands right now.
UNFINISHED = (Delivery.Status.PENDING, Delivery.Status.SENDING)

# How many links the page and the API list; the CSV has every one.
TOP_LINKS = 10


def _empty_counts() -> dict:
    return {
        "targeted": 0,
        "excluded": {},
        "sent": 0,
        "failed": {},
        "cancelled": 0,
        "pending": 0,
        **{name: 0 for name in EVENTS},
    }


def _add(counts: dict, status: str, reason: str, row: dict) -> None:
    n = row["n"]
    counts["targeted"] += n
    if status == Delivery.Status.EXCLUDED:
        counts["excluded"][reason or "unknown"] = counts["excluded"].get(reason or "unknown", 0) + n
    elif status == Delivery.Status.FAILED:
        counts["failed"][reason or "unknown"] = counts["failed"].get(reason or "unknown", 0) + n
    elif status == Delivery.Status.SENT:
        counts["sent"] += n
    elif status == Delivery.Status.CANCELLED:
        counts["cancelled"] += n
    else:  # pending, or sending right now: not finished either way
        counts["pending"] += n
    for name in EVENTS:
        counts[name] += row[name]


def delivery_counts(campaign: Campaign) -> tuple[dict, dict[int, dict]]:
    """The campaign's totals and each run's, from ONE grouped query over its deliveries.

    One statement is one snapshot, even under PostgreSQL's READ COMMITTED, so
    targeted = Σexcluded + sent + Σfailed + cancelled + pending holds in what
    it returns at every moment, whatever the senders, a stop or a retry are
    doing meanwhile (run counters read beside it could be a commit apart).
    Every delivery is counted exactly once, in the bucket of its status.
    """
    rows = (
        Delivery.objects.filter(run__campaign=campaign)
        .values("run_id", "status", "reason")
        .annotate(
            n=Count("id"),
            **{
                name: Count("id", filter=Q(**{f"{field}__isnull": False}))
                for name, field in EVENTS.items()
            },
        )
        .order_by()
    )
    totals = _empty_counts()
    per_run: dict[int, dict] = {}
    for row in rows:
        _add(totals, row["status"], row["reason"], row)
        _add(per_run.setdefault(row["run_id"], _empty_counts()), row["status"], row["reason"], row)
    for counts in [totals, *per_run.values()]:
        for key in ("excluded", "failed"):
            counts[key] = dict(sorted(counts[key].items(), key=lambda kv: (-kv[1], kv[0])))
    return totals, per_run


def run_row(run: Run, counts: dict | None = None) -> dict:
    counts = counts or _empty_counts()
    return {
        "id": run.pk,
        "kind": run.kind,
        "status": run.status,
        "scheduledFor": run.scheduled_for.isoformat() if run.scheduled_for else None,
        "startedAt": run.started_at.isoformat() if run.started_at else None,
        "finishedAt": run.finished_at.isoformat() if run.finished_at else None,
        "targeted": counts["targeted"],
        "excluded": sum(counts["excluded"].values()),
        "sent": counts["sent"],
        "failed": sum(counts["failed"].values()),
        "cancelled": counts["cancelled"],
        "pending": counts["pending"],
        "duplicates": run.duplicates,
        "error": run.error,
    }


def campaign_report(campaign: Campaign) -> dict:
    runs = list(campaign.runs.order_by("-created_at", "-id"))
    totals, per_run = delivery_counts(campaign)
    report = {
        "targeted": totals["targeted"],
        "excluded": totals["excluded"],
        "sent": totals["sent"],
        "delivered": totals["delivered"],
        "failed": totals["failed"],
        "cancelled": totals["cancelled"],
        "pending": totals["pending"],
        "bounced": totals["bounced"],
        "opened": totals["opened"],
        "clicked": totals["clicked"],
        "unsubscribed": totals["unsubscribed"],
        "complained": totals["complained"],
        "duplicates": sum(run.duplicates for run in runs),
        "topLinks": top_links(campaign, limit=TOP_LINKS),
        "runs": [run_row(run, per_run.get(run.pk)) for run in runs],
    }
    sent = report["sent"]
    report["rates"] = {
        "openRate": _ratio(report["opened"], sent),
        "clickRate": _ratio(report["clicked"], sent),
        "clickToOpenRate": _ratio(report["clicked"], report["opened"]),
    }
    return report


def top_links(campaign: Campaign, *, limit: int | None = TOP_LINKS) -> list[dict]:
    """The most clicked links: ``{"url", "uniqueClicks", "clicks"}``, most people first.

    Read from the click log (``DeliveryEvent``): ``clicks`` counts every click,
    ``uniqueClicks`` the people who clicked (an erased person's delivery, which
    has no profile any more, counts as one person). A click the log no longer
    holds (past ``RETENTION_EVENTS_DAYS``, or an erased person's, whose URL may
    carry their data) leaves this list; the totals above never change.
    """
    rows = (
        DeliveryEvent.objects.filter(
            kind=DeliveryEvent.Kind.CLICK, delivery__run__campaign=campaign
        )
        .exclude(detail="")
        .values("detail")
        .annotate(
            clicks=Count("id"),
            people=Count("delivery__profile", distinct=True)
            + Count("delivery", distinct=True, filter=Q(delivery__profile__isnull=True)),
        )
        .order_by("-people", "-clicks", "detail")
    )
    if limit is not None:
        rows = rows[:limit]
    return [
        {"url": row["detail"], "uniqueClicks": row["people"], "clicks": row["clicks"]}
        for row in rows
    ]


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
