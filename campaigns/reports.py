"""What a campaign's report shows (SPEC §7 `GET …/report`, SPEC §8 report page).

Every count comes from one grouped query over the campaign's deliveries (one
snapshot, so the numbers always add up: targeted = Σexcluded + sent + Σfailed
+ cancelled + pending, for the campaign and for each run); only the possible
duplicates come from the runs' counters. Top links come from the click log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.functions import TruncDay, TruncHour, TruncMinute, TruncSecond

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


# Messages opened or clicked by machines only (privacy proxies, security
# scanners: docs/ENGAGEMENT.md), shown beside the people's unique counts.
MACHINE = {
    "machineOpens": Q(machine_opened_at__isnull=False, opened_at__isnull=True),
    "machineClicks": Q(machine_clicked_at__isnull=False, clicked_at__isnull=True),
}


MACHINE_CLASSES = (
    DeliveryEvent.Classification.MACHINE_PRIVACY,
    DeliveryEvent.Classification.MACHINE_SCANNER,
)


# Exclusions decided by the business rules (SPEC §12) at send time.
RULE_REASONS = (Delivery.Reason.FREQUENCY_CAP, Delivery.Reason.QUIET_HOURS)


def exclusion_counts(campaign_ids) -> dict[int, tuple[int, dict[str, int]]]:
    """Campaign id → (excluded, {business-rule reason: n}) for a page of the
    list: one sum over the runs' counters, one count of the rule reasons."""
    ids = list(campaign_ids)
    totals = dict(
        Run.objects.filter(campaign_id__in=ids)
        .values("campaign_id")
        .annotate(n=Sum("excluded"))
        .order_by()
        .values_list("campaign_id", "n")
    )
    by_rules: dict[int, dict[str, int]] = {pk: {} for pk in ids}
    rows = (
        Delivery.objects.filter(
            run__campaign_id__in=ids, status=Delivery.Status.EXCLUDED, reason__in=RULE_REASONS
        )
        .values("run__campaign_id", "reason")
        .annotate(n=Count("id"))
        .order_by("run__campaign_id", "reason")
        .values_list("run__campaign_id", "reason", "n")
    )
    for pk, reason, n in rows:
        by_rules[pk][reason] = n
    return {pk: (totals.get(pk) or 0, by_rules[pk]) for pk in ids}


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
        **{name: 0 for name in MACHINE},
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
    for name in (*EVENTS, *MACHINE):
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
            **{name: Count("id", filter=condition) for name, condition in MACHINE.items()},
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
    # A run's trigger context (up to 200 KB each, one run per API trigger) is
    # never reported: it stays unread (1,000 runs of 100 KB made each view of the
    # report trace 200 MB: security review 11).
    runs = list(campaign.runs.defer("context").order_by("-created_at", "-id"))
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
        "machineOpens": totals["machineOpens"],
        "machineClicks": totals["machineClicks"],
        "unsubscribed": totals["unsubscribed"],
        "complained": totals["complained"],
        "duplicates": sum(run.duplicates for run in runs),
        "topLinks": top_links(campaign, limit=TOP_LINKS),
        "runs": [run_row(run, per_run.get(run.pk)) for run in runs],
    }
    report["languages"] = by_language(Delivery.objects.filter(run__campaign=campaign))
    report.update(experiment_report(campaign, totals))
    sent = report["sent"]
    report["rates"] = {
        "openRate": _ratio(report["opened"], sent),
        "clickRate": _ratio(report["clicked"], sent),
        "clickToOpenRate": _ratio(report["clicked"], report["opened"]),
    }
    return report


def experiment_report(campaign: Campaign, totals: dict) -> dict:
    """The report's experiment part (SPEC §13): ``holdout`` (also among the
    exclusions), ``variants`` side by side with the control, the ``winner``
    decision with its numbers, the ``experiment``'s state, and the conversion
    goal's results (``conversion``, campaigns/conversions.py; null without a goal)."""
    from campaigns.conversions import conversion_report
    from campaigns.experiments import HELD_UNTIL, variant_results
    from campaigns.models import ExperimentWinner

    version = campaign.live_version or campaign.draft_version
    experiment = version.experiment if version is not None else None
    conversion = conversion_report(campaign, experiment)
    answer = {
        "holdout": totals["excluded"].get(Delivery.Reason.HOLDOUT, 0),
        "variants": [],
        "winner": None,
        "experiment": None,
        "conversion": _without_variants(conversion),
    }
    if not experiment:
        return answer
    answer["variants"] = variant_results(campaign, experiment, conversion)
    winner = ExperimentWinner.objects.filter(campaign=campaign).select_related("decided_by").first()
    answer["winner"] = winner_row(winner) if winner else None
    ends = (
        campaign.runs.filter(test_ends_at__isnull=False)
        .order_by("-test_ends_at")
        .values_list("test_ends_at", flat=True)
        .first()
    )
    answer["experiment"] = {
        "winnerMetric": experiment["winnerMetric"],
        "holdoutPercent": experiment["holdoutPercent"],
        "testPercent": experiment["testPercent"],
        "testHours": experiment["testHours"],
        "autoWinner": experiment["autoWinner"],
        "testEndsAt": ends,
        "waiting": Delivery.objects.filter(
            run__campaign=campaign, status=Delivery.Status.PENDING, send_after=HELD_UNTIL
        ).count(),
    }
    return answer


def _without_variants(conversion: dict | None) -> dict | None:
    # Each variant's conversions are in its row of ``variants``.
    if conversion is None:
        return None
    return {k: v for k, v in conversion.items() if k != "variants"}


def winner_row(winner) -> dict:
    from campaigns.experiments import decision_sentence

    return {
        "variant": winner.variant,
        "automatic": winner.automatic,
        "decidedBy": winner.decided_by.get_username() if winner.decided_by else None,
        "metric": winner.metric,
        "decidedAt": winner.decided_at,
        "released": winner.released,
        "summary": decision_sentence(winner, winner.results),
        "results": winner.results,
    }


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


def top_links(campaign: Campaign, *, limit: int | None = TOP_LINKS) -> list[dict]:
    """The most clicked links: ``{"url", "uniqueClicks", "clicks"}``, most people first.

    Read from the click log (``DeliveryEvent``), people's clicks only (a
    scanner's, the hidden trap link's, are not a link's popularity):
    ``clicks`` counts every click, ``uniqueClicks`` the people who clicked (an erased person's delivery, which
    has no profile any more, counts as one person). A click the log no longer
    holds (past ``RETENTION_EVENTS_DAYS``, or an erased person's, whose URL may
    carry their data) leaves this list; the totals above never change.

    A link is named only when it is written as such in the campaign's content: a
    URL made with personal data (``?email={{ profile.email }}``, a reset link from
    the context) is one person's and would show their data to every reader of
    the report (outside review, issue 10), so such clicks are counted together
    as "personalized links".
    """
    from django.db.models import Case, CharField, Value, When
    from django.utils.translation import gettext

    authored = sorted(authored_links(campaign))
    shown = Case(
        When(detail__in=authored, then="detail"), default=Value(""), output_field=CharField()
    )
    rows = (
        DeliveryEvent.objects.filter(
            kind=DeliveryEvent.Kind.CLICK, delivery__run__campaign=campaign
        )
        .exclude(detail="")
        .exclude(classification__in=MACHINE_CLASSES)
        .annotate(shown=shown)
        .values("shown")
        .annotate(
            clicks=Count("id"),
            people=Count("delivery__profile", distinct=True)
            + Count("delivery", distinct=True, filter=Q(delivery__profile__isnull=True)),
        )
        .order_by("-people", "-clicks", "shown")
    )
    if limit is not None:
        rows = rows[:limit]
    return [
        {
            "url": row["shown"] or gettext("Personalized links"),
            "uniqueClicks": row["people"],
            "clicks": row["clicks"],
        }
        for row in rows
    ]


def authored_links(campaign: Campaign) -> set[str]:
    """Every link written literally (no template expression) in any version of
    the campaign's content, its translations included."""
    import html as html_module

    from channels.rendering import _HREF

    links: set[str] = set()

    def collect(content: dict) -> None:
        for key, value in (content or {}).items():
            if key == "translations" and isinstance(value, dict):
                for translated in value.values():
                    if isinstance(translated, dict):
                        collect(translated)
            elif isinstance(value, str):
                for match in _HREF.finditer(value):
                    url = html_module.unescape(match.group(3)).strip()
                    if "{{" not in url and "{%" not in url:
                        links.add(url)
                if key == "url" and "{{" not in value and "{%" not in value:
                    links.add(value.strip())  # a push message's link

    for content in campaign.versions.values_list("content", flat=True):
        if isinstance(content, dict):
            collect(content)
    return links


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
