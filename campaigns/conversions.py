"""Conversion goals (docs/CONVERSIONS.md): did the people a campaign reached —
and the people its experiment held out — perform an event afterwards?

* **Goal** — a version's ``conversion``: ``{"event": "purchase",
  "windowHours": 1–720}``, checked by ``normalize_conversion`` for the forms,
  the API and the services alike (errors keyed by the API path).
* **Touches** — a campaign touches a person when a delivery of it is *sent*
  to them (at ``sent_at``) or when its experiment *holds them out* (at
  ``held_out_at``: the moment they would have been sent). The holdout
  receives nothing, so opens and clicks cannot compare it with the variants;
  an event the customer's systems post for everyone can.
* **Attribution** — an event of the goal's name converts for the campaign
  when it happened in ``[touch, touch + windowHours)`` of one of the person's
  touches by that campaign; it is attributed to the latest such touch (its
  variant, or the holdout), so a recurring campaign never counts one purchase
  twice. Campaigns attribute independently: a purchase after two campaigns
  counts for both (each report answers "did the people this campaign reached
  convert", and the holdout of each answers "would they have anyway").
* **Counting** — ``conversions`` are unique people with at least one
  attributed event; ``revenue`` sums the attributed events' ``value``; the
  rate's denominator is the people reached (or held out). All of it is one
  grouped SQL statement over the events with a correlated subquery for the
  touch, on PostgreSQL and SQLite alike.
* **Lift** — a variant's (and the whole campaign's) conversion rate minus the
  holdout's, with the Newcombe 95% interval of ``campaigns.experiments``;
  significant when the interval leaves out zero.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import (
    Case,
    CharField,
    Count,
    DateTimeField,
    ExpressionWrapper,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Concat
from django.utils.translation import gettext as _

from audiences.events import event_name_message, valid_event_name

WINDOW_MIN, WINDOW_MAX = 1, 720
DEFAULT_WINDOW_HOURS = 72
KEYS = ("event", "windowHours")
HOLDOUT = "holdout"


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value)


def normalize_conversion(value: Any) -> dict | None:
    """The goal with both keys, or None for no goal."""
    if value in (None, {}):
        return None
    if not isinstance(value, dict):
        raise ValidationError({"conversion": [_("The conversion goal must be an object.")]})
    errors: dict[str, list[str]] = {}
    for key in sorted(set(value) - set(KEYS)):
        errors[f"conversion.{key}"] = [_("Unknown field.")]
    event = value.get("event")
    event = event.strip() if isinstance(event, str) else event
    if not valid_event_name(event):
        errors["conversion.event"] = [event_name_message()]
    hours = value.get("windowHours")
    hours = DEFAULT_WINDOW_HOURS if hours is None else _int(hours)
    if hours is None or not WINDOW_MIN <= hours <= WINDOW_MAX:
        errors["conversion.windowHours"] = [
            _("The conversion window lasts from %(min)d to %(max)d hours.")
            % {"min": WINDOW_MIN, "max": WINDOW_MAX}
        ]
    if errors:
        raise ValidationError(errors)
    return {"event": event, "windowHours": hours}


def goal_of(campaign) -> dict | None:
    """The goal the report measures: the sending version's, else the draft's."""
    version = campaign.live_version or campaign.draft_version
    return (version.conversion or None) if version is not None else None


# --- attribution ---------------------------------------------------------------


def _arm():
    """``"holdout:"`` for a held-out person's row, ``":<variant>"`` for a sent one."""
    from campaigns.models import Delivery

    return Case(
        When(status=Delivery.Status.EXCLUDED, then=Value(HOLDOUT + ":")),
        default=Concat(Value(":"), "variant"),
        output_field=CharField(),
    )


def _touches(campaign):
    from campaigns.models import Delivery

    return Delivery.objects.filter(run__campaign=campaign).filter(
        Q(status=Delivery.Status.SENT, sent_at__isnull=False)
        | Q(
            status=Delivery.Status.EXCLUDED,
            reason=Delivery.Reason.HOLDOUT,
            held_out_at__isnull=False,
        )
    )


def _attributed_events(campaign, goal: dict):
    """The goal's events of people the campaign touched, each annotated with
    ``arm``: ``"holdout:"`` or ``":<variant>"`` of the latest touch whose window holds
    it (``":"`` outside an experiment), or None when no window holds it."""
    from audiences.models import ConversionEvent

    window = timedelta(hours=goal["windowHours"])
    touches = _touches(campaign)
    latest = (
        touches.filter(profile_id=OuterRef("profile_id"))
        .annotate(t=Coalesce("sent_at", "held_out_at"))
        .filter(
            t__lte=OuterRef("occurred_at"),
            t__gt=ExpressionWrapper(
                OuterRef("occurred_at") - Value(window), output_field=DateTimeField()
            ),
        )
        .annotate(arm=_arm())
        .order_by("-t", "-id")
        .values("arm")[:1]
    )
    return ConversionEvent.objects.filter(
        name=goal["event"], profile_id__in=touches.values("profile_id")
    ).annotate(arm=Subquery(latest))


def _arm_name(arm: str) -> str:
    reason, _sep, variant = arm.partition(":")
    return HOLDOUT if reason == HOLDOUT else variant


def conversion_counts(campaign, goal: dict) -> tuple[dict[str, dict], dict]:
    """({arm: {"conversions", "revenue"}}, overall) where arm is a variant's
    name, ``""`` outside an experiment, or ``"holdout"``; overall counts the
    people reached (every arm but the holdout), each once."""
    rows = (
        _attributed_events(campaign, goal)
        .values("arm")
        .annotate(people=Count("profile_id", distinct=True), revenue=Sum("value"))
        .order_by()
    )
    by_arm: dict[str, dict] = {}
    for row in rows:
        if row["arm"] is None:
            continue
        counts = by_arm.setdefault(_arm_name(row["arm"]), {"conversions": 0, "revenue": Decimal(0)})
        counts["conversions"] += row["people"]
        counts["revenue"] += row["revenue"] or Decimal(0)
    reached = (
        _attributed_events(campaign, goal)
        .filter(arm__isnull=False)
        .exclude(arm__startswith=HOLDOUT + ":")
        .aggregate(people=Count("profile_id", distinct=True), revenue=Sum("value"))
    )
    overall = {"conversions": reached["people"] or 0, "revenue": reached["revenue"] or Decimal(0)}
    return by_arm, overall


def reached_counts(campaign) -> tuple[dict[str, int], int]:
    """({arm: people}, people reached overall): distinct people per variant
    (``""`` outside an experiment) and held out — the rates' denominators."""
    from campaigns.models import Delivery

    touches = _touches(campaign).exclude(profile__isnull=True)
    rows = (
        touches.annotate(arm=_arm())
        .values("arm")
        .annotate(n=Count("profile_id", distinct=True))
        .order_by()
    )
    by_arm: dict[str, int] = {}
    for row in rows:
        name = _arm_name(row["arm"])
        by_arm[name] = by_arm.get(name, 0) + row["n"]
    overall = touches.filter(status=Delivery.Status.SENT).aggregate(
        n=Count("profile_id", distinct=True)
    )["n"]
    return by_arm, overall or 0


def _money(value: Decimal) -> float:
    return float(round(value, 2))


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def lift(conversions: int, people: int, holdout: dict | None) -> dict | None:
    """``{"difference", "ci95", "significant"}`` of a conversion rate against the
    holdout's, or None without a holdout (or nobody on either side)."""
    from campaigns.experiments import difference_interval

    if not holdout:
        return None
    result = difference_interval(conversions, people, holdout["conversions"], holdout["profiles"])
    if result is None:
        return None
    difference, low, high = result
    return {
        "difference": round(difference, 6),
        "ci95": [round(low, 6), round(high, 6)],
        "significant": low > 0 or high < 0,
    }


def conversion_report(campaign, experiment: dict | None = None) -> dict | None:
    """The report's ``conversion`` part, or None when the campaign has no goal:
    ``{"event", "windowHours", "profiles", "conversions", "conversionRate",
    "revenue", "holdout": {"profiles", "conversions", "conversionRate",
    "revenue"} | null, "lift": {"difference", "ci95", "significant"} | null,
    "variants": {name: {"profiles", "conversions", "conversionRate", "revenue",
    "lift"}}}``."""
    goal = goal_of(campaign)
    if not goal:
        return None
    by_arm, overall = conversion_counts(campaign, goal)
    people, reached = reached_counts(campaign)
    holdout = None
    if experiment and experiment.get("holdoutPercent"):
        counts = by_arm.get(HOLDOUT, {"conversions": 0, "revenue": Decimal(0)})
        n = people.get(HOLDOUT, 0)
        holdout = {
            "profiles": n,
            "conversions": counts["conversions"],
            "conversionRate": _rate(counts["conversions"], n),
            "revenue": _money(counts["revenue"]),
        }
    variants = {}
    for variant in (experiment or {}).get("variants") or []:
        name = variant["name"]
        counts = by_arm.get(name, {"conversions": 0, "revenue": Decimal(0)})
        n = people.get(name, 0)
        variants[name] = {
            "profiles": n,
            "conversions": counts["conversions"],
            "conversionRate": _rate(counts["conversions"], n),
            "revenue": _money(counts["revenue"]),
            "lift": lift(counts["conversions"], n, holdout),
        }
    return {
        "event": goal["event"],
        "windowHours": goal["windowHours"],
        "profiles": reached,
        "conversions": overall["conversions"],
        "conversionRate": _rate(overall["conversions"], reached),
        "revenue": _money(overall["revenue"]),
        "holdout": holdout,
        "lift": lift(overall["conversions"], reached, holdout),
        "variants": variants,
    }


def lift_sentence(lift: dict) -> str:
    """ "+3.2 points conversion rate against the holdout (95% CI +1.1 to +5.3),
    significant" — in the reader's language and number format."""
    from campaigns.experiments import points

    low, high = lift["ci95"]
    values = {"diff": points(lift["difference"]), "low": points(low), "high": points(high)}
    if lift["significant"]:
        return (
            _("%(diff)s points against the holdout (95%% CI %(low)s to %(high)s), significant")
            % values
        )
    return (
        _("%(diff)s points against the holdout (95%% CI %(low)s to %(high)s), not significant")
        % values
    )
