"""Content experiments (SPEC §13): A/B/n variants, a holdout, a test phase and
the winner.

* **Shape** — ``normalize_experiment`` checks a version's ``experiment`` for the
  forms, the API and the services alike (errors keyed by the API path,
  ``experiment.variants.1.weight``). A variant's ``content`` overrides fields of
  the campaign's content (and of its translations); what it leaves out is the
  campaign's. The first variant is the control.
* **Assignment** — deterministic per (campaign, profile): the SHA-256 of
  ``"<campaign id>:<profile id>"`` gives two numbers in [0, 1) (``unit_pair``).
  The first picks holdout or variant (holdout first, then the variants by
  weight), the second whether the profile is in the test share. The engine
  computes the same numbers in SQL while it materializes a run
  (campaigns/engine/materialize.py), so a retry, a re-run or the next
  occurrence never moves a person to another variant.
* **Test phase** — with ``testPercent``, the deliveries outside the test share
  wait (pending, ``send_after = HELD_UNTIL``) until a winner is decided: by the
  cluster's minute tick after ``testHours`` when ``autoWinner``, or by a
  marketer (page or API). The decision is recorded with its numbers
  (``ExperimentWinner``) and the waiting deliveries get the winner's content.
* **Statistics** — each variant's rate against the control's, with a 95%
  confidence interval for the difference of two proportions by Newcombe's
  hybrid score method (his method 10: Wilson score intervals of each rate,
  combined); significant when the interval leaves out zero.
"""

from __future__ import annotations

import hashlib
import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils.translation import gettext as _

from campaigns.validation import normalize_partial_content, template_errors
from config.problems import DomainError

logger = logging.getLogger(__name__)

MIN_VARIANTS, MAX_VARIANTS = 2, 5
HOLDOUT_MAX = 50
TEST_HOURS_MAX = 24 * 30
WEIGHT_MAX = 1000
NAME_MAX = 40
METRICS = ("opens", "clicks", "conversions")
DEFAULT_METRIC = "clicks"
DEFAULT_TEST_HOURS = 24
KEYS = ("variants", "holdoutPercent", "testPercent", "winnerMetric", "testHours", "autoWinner")
# Deliveries waiting for the winner are pending until this moment: the claim
# never takes them (campaigns/engine/claim.py), the decision releases them.
HELD_UNTIL = datetime(9999, 12, 31, tzinfo=UTC)
Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal distribution


# --- shape -------------------------------------------------------------------


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value)


def normalize_experiment(
    channel: str,
    value: Any,
    *,
    campaign_type: str = "scheduled",
    lenient: bool = False,
    has_conversion: bool = False,
) -> dict | None:
    """The experiment with every key present, or None for no experiment.

    ``lenient``: variant content keys another channel would have are dropped
    instead of refused (a draft whose channel changed keeps its experiment).
    ``has_conversion``: the version has a conversion goal, so the winner may
    be picked on conversions (campaigns/conversions.py).
    """
    if value in (None, {}):
        return None
    if not isinstance(value, dict):
        raise ValidationError({"experiment": [_("The experiment must be an object.")]})
    errors: dict[str, list[str]] = {}
    for key in sorted(set(value) - set(KEYS)):
        errors[f"experiment.{key}"] = [_("Unknown field.")]
    if campaign_type != "scheduled":
        errors["experiment"] = [_("Experiments are for scheduled campaigns.")]
    variants = _variants(channel, value.get("variants"), errors, lenient)
    holdout = _int(value.get("holdoutPercent", 0) or 0)
    if holdout is None or not 0 <= holdout <= HOLDOUT_MAX:
        errors["experiment.holdoutPercent"] = [
            _("The holdout is a whole percentage from 0 to %(max)d.") % {"max": HOLDOUT_MAX}
        ]
    test = value.get("testPercent")
    if test is not None:
        test = _int(test)
        if test is None or not 1 <= test <= 100:
            errors["experiment.testPercent"] = [
                _("The test share is a whole percentage from 1 to 100.")
            ]
    metric = value.get("winnerMetric") or DEFAULT_METRIC
    if metric not in METRICS:
        errors["experiment.winnerMetric"] = [_("Choose opens, clicks or conversions.")]
    elif metric == "opens" and channel != "email":
        errors["experiment.winnerMetric"] = [_("Only email tells opens: choose clicks.")]
    elif metric == "conversions" and not has_conversion:
        errors["experiment.winnerMetric"] = [
            _("Set a conversion goal first: conversions count the goal's event.")
        ]
    hours = value.get("testHours")
    hours = DEFAULT_TEST_HOURS if hours is None else _int(hours)
    if hours is None or not 1 <= hours <= TEST_HOURS_MAX:
        errors["experiment.testHours"] = [
            _("The test lasts from 1 to %(max)d hours.") % {"max": TEST_HOURS_MAX}
        ]
    auto = value.get("autoWinner", True)
    if not isinstance(auto, bool):
        errors["experiment.autoWinner"] = [_("Must be true or false.")]
    if errors:
        raise ValidationError(errors)
    return {
        "variants": variants,
        "holdoutPercent": holdout,
        "testPercent": test,
        "winnerMetric": metric,
        "testHours": hours,
        "autoWinner": auto,
    }


def _variants(channel: str, value: Any, errors: dict, lenient: bool) -> list[dict]:
    if not isinstance(value, list) or not MIN_VARIANTS <= len(value) <= MAX_VARIANTS:
        errors["experiment.variants"] = [
            _("An experiment has from %(min)d to %(max)d variants.")
            % {"min": MIN_VARIANTS, "max": MAX_VARIANTS}
        ]
        return []
    from audiences.channel_facts import CONTENT_FIELDS

    result, seen = [], set()
    for index, variant in enumerate(value):
        path = f"experiment.variants.{index}"
        if not isinstance(variant, dict):
            errors[path] = [_("A variant is an object with a name, a weight and content.")]
            continue
        for key in sorted(set(variant) - {"name", "weight", "content"}):
            errors[f"{path}.{key}"] = [_("Unknown field.")]
        name = variant.get("name")
        name = name.strip() if isinstance(name, str) else ""
        if not name or len(name) > NAME_MAX:
            errors[f"{path}.name"] = [
                _("Give the variant a name of at most %(max)d characters.") % {"max": NAME_MAX}
            ]
        elif name.casefold() in seen:
            errors[f"{path}.name"] = [_("Two variants have this name.")]
        seen.add(name.casefold())
        weight = _int(variant.get("weight", 1))
        if weight is None or not 1 <= weight <= WEIGHT_MAX:
            errors[f"{path}.weight"] = [
                _("The weight is a whole number from 1 to %(max)d.") % {"max": WEIGHT_MAX}
            ]
        content = variant.get("content") or {}
        if lenient and isinstance(content, dict):
            known = (*CONTENT_FIELDS[channel], "translations")
            content = {k: v for k, v in content.items() if k in known}
        try:
            content = normalize_partial_content(channel, content, f"{path}.content")
        except ValidationError as exc:
            errors.update(exc.message_dict)
            content = {}
        result.append({"name": name, "weight": weight, "content": content})
    return result


def variant_content(base: dict, own: dict | None) -> dict:
    """The content a variant sends: its own fields over the campaign's, and its
    translations' fields over the campaign's translations."""
    merged = dict(base or {})
    own = own or {}
    merged.update({k: v for k, v in own.items() if k != "translations"})
    if own.get("translations"):
        translations = {k: dict(v) for k, v in (base.get("translations") or {}).items()}
        for locale, fields in own["translations"].items():
            translations.setdefault(locale, {}).update(fields)
        merged["translations"] = translations
    return merged


def experiment_template_errors(channel: str, experiment: dict | None) -> dict[str, list[str]]:
    """Template syntax errors of each variant's own fields, keyed by API path."""
    from channels.rendering import render_deadline

    errors: dict[str, list[str]] = {}
    with render_deadline():  # one wall-time budget for every variant, not one each
        for index, variant in enumerate((experiment or {}).get("variants") or []):
            for key, messages in template_errors(channel, variant.get("content") or {}).items():
                errors[f"experiment.variants.{index}.content.{key}"] = messages
    return errors


def find_variant(experiment: dict | None, name: str) -> dict | None:
    for variant in (experiment or {}).get("variants") or []:
        if variant["name"] == name:
            return variant
    return None


# --- assignment --------------------------------------------------------------


def unit_pair(campaign_id: int, profile_id: int) -> tuple[float, float]:
    """Two numbers in [0, 1) from the SHA-256 of ``"<campaign>:<profile>"``:
    52 bits each (exact as floats, in Python and in SQL alike)."""
    digest = hashlib.sha256(f"{campaign_id}:{profile_id}".encode()).hexdigest()
    return int(digest[:13], 16) / 2**52, int(digest[13:26], 16) / 2**52


def thresholds(experiment: dict) -> tuple[float, list[tuple[str, float]], float]:
    """(holdout bound, [(variant, upper bound)], test share) on [0, 1): the
    first number below the holdout bound is held out; the others fall in the
    variant whose range holds them (ranges in proportion to the weights)."""
    holdout = experiment["holdoutPercent"] / 100
    total = sum(v["weight"] for v in experiment["variants"])
    bounds, cumulative = [], 0
    for variant in experiment["variants"]:
        cumulative += variant["weight"]
        bounds.append((variant["name"], holdout + (1 - holdout) * cumulative / total))
    test = (experiment.get("testPercent") or 100) / 100
    return holdout, bounds, test


def assign(experiment: dict, campaign_id: int, profile_id: int) -> tuple[str, bool]:
    """(``"holdout"`` or the variant's name, in the test share) — the reference
    for the SQL the engine runs (campaigns/engine/materialize.py)."""
    u1, u2 = unit_pair(campaign_id, profile_id)
    holdout, bounds, test = thresholds(experiment)
    if u1 < holdout:
        return "holdout", False
    name = next((n for n, upper in bounds if u1 < upper), bounds[-1][0])
    return name, u2 < test


def has_test_phase(experiment: dict | None) -> bool:
    return bool(experiment) and (experiment.get("testPercent") or 100) < 100


# --- counting and statistics --------------------------------------------------


def unique_engagement_by_variant(campaign) -> dict[str, dict[str, int]]:
    """Variant → ``{"opens", "clicks"}``: how many of its deliveries have at
    least one open (click) event. The one place the experiment counts people
    who engaged (the report, the winner), from people's events only: opens by
    privacy proxies and clicks by link scanners (channels/engagement.py) would
    pick winners on bots."""
    from channels.engagement import MACHINE_PRIVACY, MACHINE_SCANNER
    from channels.models import DeliveryEvent

    events = DeliveryEvent.objects.filter(
        delivery__run__campaign=campaign,
        kind__in=[DeliveryEvent.Kind.OPEN, DeliveryEvent.Kind.CLICK],
    ).exclude(classification__in=[MACHINE_PRIVACY, MACHINE_SCANNER])
    rows = (
        events.values("delivery__variant", "kind")
        .annotate(n=Count("delivery_id", distinct=True))
        .order_by()
    )
    result: dict[str, dict[str, int]] = {}
    for row in rows:
        counts = result.setdefault(row["delivery__variant"], {"opens": 0, "clicks": 0})
        counts["opens" if row["kind"] == DeliveryEvent.Kind.OPEN else "clicks"] = row["n"]
    return result


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (``(0, 1)`` with no trials)."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def difference_interval(
    successes: int, trials: int, control_successes: int, control_trials: int, z: float = Z95
) -> tuple[float, float, float] | None:
    """(difference, low, high) of ``successes/trials − control_successes/control_trials``
    with Newcombe's hybrid score interval (1998, method 10); None without trials."""
    if trials <= 0 or control_trials <= 0:
        return None
    p1, p0 = successes / trials, control_successes / control_trials
    l1, u1 = wilson_interval(successes, trials, z)
    l0, u0 = wilson_interval(control_successes, control_trials, z)
    difference = p1 - p0
    low = difference - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    high = difference + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    return difference, low, high


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def variant_results(campaign, experiment: dict, conversion: dict | None = None) -> list[dict]:
    """Each variant's sent, unique opens and clicks, rates, and — against the
    first variant (the control), on the winner metric — the difference, its
    95% interval and whether it is significant (the interval leaves out 0).

    With a conversion goal (``conversion``: the report's part from
    ``campaigns.conversions.conversion_report``), each row adds the people
    ``reached``, their ``conversions``, ``conversionRate``, ``revenue`` and the
    ``lift`` against the holdout; without one those keys are null."""
    from campaigns.models import Delivery

    sent = dict(
        Delivery.objects.filter(run__campaign=campaign, status=Delivery.Status.SENT)
        .exclude(variant="")
        .values("variant")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("variant", "n")
    )
    engaged = unique_engagement_by_variant(campaign)
    metric = experiment.get("winnerMetric") or DEFAULT_METRIC
    converted = (conversion or {}).get("variants") or {}
    rows = []
    for variant in experiment["variants"]:
        name = variant["name"]
        n = sent.get(name, 0)
        counts = engaged.get(name, {"opens": 0, "clicks": 0})
        goal = converted.get(name) if conversion else None
        rows.append(
            {
                "name": name,
                "weight": variant["weight"],
                "sent": n,
                "uniqueOpens": counts["opens"],
                "uniqueClicks": counts["clicks"],
                "openRate": _rate(counts["opens"], n),
                "clickRate": _rate(counts["clicks"], n),
                "reached": goal["profiles"] if goal else None,
                "conversions": goal["conversions"] if goal else None,
                "conversionRate": goal["conversionRate"] if goal else None,
                "revenue": goal["revenue"] if goal else None,
                "lift": goal["lift"] if goal else None,
                "difference": None,
                "ci95": None,
                "significant": False,
            }
        )
    control = rows[0]
    key, trials = METRIC_COUNTS[metric]
    for row in rows[1:]:
        if row[key] is None or control[key] is None:
            continue
        result = difference_interval(row[key], row[trials], control[key], control[trials])
        if result is None:
            continue
        difference, low, high = result
        row["difference"] = round(difference, 6)
        row["ci95"] = [round(low, 6), round(high, 6)]
        row["significant"] = low > 0 or high < 0
    return rows


# metric → (the row's count of people who did it, the row's count of people it is out of)
METRIC_COUNTS = {
    "opens": ("uniqueOpens", "sent"),
    "clicks": ("uniqueClicks", "sent"),
    "conversions": ("conversions", "reached"),
}
METRIC_RATES = {"opens": "openRate", "clicks": "clickRate", "conversions": "conversionRate"}


def best_variant(rows: list[dict], metric: str) -> str:
    """The variant with the highest rate on ``metric`` (the earlier one on a tie,
    so the control keeps its place when nothing beats it)."""
    key = METRIC_RATES.get(metric, "clickRate")
    best = rows[0]
    for row in rows[1:]:
        if (row[key] or 0) > (best[key] or 0):
            best = row
    return best["name"]


# --- the decision --------------------------------------------------------------


class ExperimentRefused(DomainError):
    """The winner cannot be decided now (API 409); ``message`` says why."""

    status = 409


def experiment_of(campaign) -> dict | None:
    version = campaign.live_version
    return version.experiment if version is not None else None


def decide_winner(*, campaign, variant: str | None = None, actor=None, automatic: bool = False):
    """Record the experiment's winner (with the numbers it was decided on) and
    send its content to everyone still waiting for it. ``variant`` None: the
    best on the winner metric. Once per campaign (a unique row): a decision
    taken twice — the tick on two clusters, two clicks — records one winner."""
    from campaigns.engine import clock
    from campaigns.engine.conf import knob
    from campaigns.engine.runs import enqueue_senders
    from campaigns.models import CampaignEvent, CampaignStatus, Delivery, ExperimentWinner

    experiment = experiment_of(campaign)
    if not experiment:
        raise ExperimentRefused(_("This campaign has no experiment."))
    if campaign.status != CampaignStatus.LIVE:
        raise ExperimentRefused(
            _("The winner is decided while the campaign is live; it is “%(status)s”.")
            % {"status": campaign.get_status_display()}
        )
    if ExperimentWinner.objects.filter(campaign=campaign).exists():
        raise ExperimentRefused(_("The winner of this experiment has already been decided."))
    from campaigns.conversions import conversion_report

    rows = variant_results(campaign, experiment, conversion_report(campaign, experiment))
    metric = experiment.get("winnerMetric") or DEFAULT_METRIC
    if variant is None:
        variant = best_variant(rows, metric)
    elif find_variant(experiment, variant) is None:
        raise ValidationError({"variant": [_("This experiment has no variant of that name.")]})
    try:
        with transaction.atomic():
            winner = ExperimentWinner.objects.create(
                campaign=campaign,
                variant=variant,
                automatic=automatic,
                decided_by=None if automatic else actor,
                metric=metric,
                results=rows,
                decided_at=clock.now(),
            )
            waiting = Delivery.objects.filter(
                run__campaign=campaign, status=Delivery.Status.PENDING, send_after=HELD_UNTIL
            )
            run_ids = list(waiting.values_list("run_id", flat=True).distinct())
            winner.released = waiting.update(variant=variant, send_after=None)
            winner.save(update_fields=["released"])
            CampaignEvent.objects.create(
                campaign=campaign,
                actor=None if automatic else actor,
                action="experiment_winner",
                comment=decision_sentence(winner, rows),
            )
            for run_id in run_ids:
                enqueue_senders(run_id, knob("ENGINE_SENDERS"))
            if automatic:
                _tell_owner(campaign, winner)
    except IntegrityError:  # decided meanwhile by someone else
        raise ExperimentRefused(
            _("The winner of this experiment has already been decided.")
        ) from None
    return winner


def _tell_owner(campaign, winner) -> None:
    """An automatic decision, told to whoever created the campaign (an in-app
    notice in their language, and an email) while they may still see it:
    nobody clicked anything, and the rest of the audience now gets the winner."""
    from django.conf import settings
    from django.urls import reverse

    from accounts.mailer import send_later
    from accounts.notices import render_notice
    from accounts.permissions import can_see
    from accounts.services import notify

    owner = campaign.created_by
    if owner is None or not owner.is_active or not can_see(owner, campaign):
        return
    params = {"name": campaign.name, "variant": winner.variant, "campaign": campaign.pk}
    url = reverse("reports:report", args=[campaign.pk])
    notify(user=owner, kind="experiment_winner", params=params, url=url)
    if owner.email:
        body = f"{render_notice('experiment_winner', params)}\n\n{settings.SITE_URL}{url}\n"
        subject = _("Volley: %(name)s") % {"name": campaign.name}
        send_later(subject=subject, body=body, to=[owner.email])


def decide_due_winners(moment: datetime) -> list[int]:
    """The minute tick: campaigns whose test phase ended and that decide
    automatically get their winner. Idempotent (one winner per campaign)."""
    from campaigns.models import Campaign, CampaignStatus, Run

    due = (
        Campaign.objects.filter(
            status=CampaignStatus.LIVE,
            experiment_winner__isnull=True,
            runs__status=Run.Status.SENDING,
            runs__test_ends_at__lte=moment,
        )
        .select_related("live_version")
        .distinct()
    )
    decided = []
    for campaign in due:
        experiment = experiment_of(campaign)
        if not experiment or not experiment.get("autoWinner", True):
            continue
        try:
            decide_winner(campaign=campaign, automatic=True)
        except ExperimentRefused:
            continue
        except Exception:  # one campaign's problem never stops the tick
            logger.exception("Could not decide the winner of campaign %s", campaign.pk)
            continue
        decided.append(campaign.pk)
    return decided


def test_ends_at(experiment: dict, started: datetime) -> datetime:
    return started + timedelta(hours=experiment.get("testHours") or DEFAULT_TEST_HOURS)


# --- words -----------------------------------------------------------------------


def points(value: float) -> str:
    """A difference of proportions in percentage points, signed: ``+3.2``."""
    from django.utils.formats import number_format

    text = number_format(abs(value) * 100, decimal_pos=1)
    return ("+" if value >= 0 else "−") + text


def row_sentence(row: dict, metric: str) -> str:
    """One variant against the control, in words a marketer reads."""
    rate = {
        "opens": _("open rate"),
        "clicks": _("click rate"),
        "conversions": _("conversion rate"),
    }.get(metric, _("click rate"))
    if row.get("ci95") is None:
        return _("Not enough sent to compare with the control yet.")
    low, high = row["ci95"]
    values = {
        "diff": points(row["difference"]),
        "rate": rate,
        "low": points(low),
        "high": points(high),
    }
    if row["significant"]:
        return _("%(diff)s points %(rate)s (95%% CI %(low)s to %(high)s), significant") % values
    return _("%(diff)s points %(rate)s (95%% CI %(low)s to %(high)s), not significant") % values


def decision_sentence(winner, rows: list[dict]) -> str:
    """ "Variant B won: +3.2 points click rate (95% CI +1.1 to +5.3), significant"."""
    row = next((r for r in rows if r["name"] == winner.variant), None)
    if row is not None and rows and row is rows[0]:
        return _("Variant %(name)s (the control) won: no other variant did better.") % {
            "name": winner.variant
        }
    if row is None or row.get("ci95") is None:
        return _("Variant %(name)s won.") % {"name": winner.variant}
    return _("Variant %(name)s won: %(result)s") % {
        "name": winner.variant,
        "result": row_sentence(row, winner.metric),
    }
