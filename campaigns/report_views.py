"""The live report page (SPEC §8), its CSV export and the "retry failed" action."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import can, can_see
from campaigns import charts, services
from campaigns.models import Campaign, Delivery
from campaigns.reports import (
    RULE_REASONS,
    campaign_report,
    engagement_activity,
    is_sending,
    send_activity,
    top_links,
)
from config.ids import is_id

CSV_FIELDS = [
    "id",
    "run_id",
    "profile_id",
    "address",
    "status",
    "reason",
    "error",
    "attempts",
    "sent_at",
    "delivered_at",
    "bounced_at",
    "opened_at",
    "clicked_at",
    # Opened or clicked by a privacy proxy or a security scanner (docs/ENGAGEMENT.md).
    "machine_opened_at",
    "machine_clicked_at",
    "unsubscribed_at",
    "complained_at",
    # The experiment variant sent (SPEC §13); empty outside an experiment.
    "variant",
    # When a pending delivery will be sent: a retry's back-off, the profile's
    # time zone, or the end of quiet hours (SPEC §12).
    "send_after",
]


def _campaign(request: HttpRequest, pk: int, action: str) -> Campaign:
    if not is_id(pk):
        raise Http404
    campaign = get_object_or_404(Campaign, pk=pk)
    if not can_see(request.user, campaign):
        raise Http404
    if not can(request.user, action, campaign):
        raise PermissionDenied
    return campaign


def _delivered(delivered: int, sent: int, rate) -> dict:
    """Deliveries are known only from the provider's reports (an email service's
    webhooks, an SMS or push provider's feedback); a plain SMTP server sends
    none. Messages sent and not one reported is "not reported", not 0 % of sent:
    a marketer reading "0 delivered" believes the campaign failed."""
    if delivered == 0 and sent:
        return {
            "key": "delivered",
            "label": _("Delivered"),
            "value": "—",
            "rate": None,
            "note": _("not reported by the provider"),
        }
    return {
        "key": "delivered",
        "label": _("Delivered"),
        "value": delivered,
        "rate": rate(delivered, sent),
    }


def _metrics(data: dict) -> list[dict]:
    """The headline cards: a count and, where it means something, its share of the sent."""
    sent = data["sent"]

    def rate(part: int, whole: int) -> float | None:
        return part / whole * 100 if whole else None

    return [
        {
            "key": "targeted",
            "label": _("Targeted"),
            "value": data["targeted"],
            "note": _("%(n)s sent") % {"n": intcomma(sent)},
            "rate": None,
        },
        _delivered(data["delivered"], sent, rate),
        {
            "key": "opened",
            "label": _("Unique opens"),
            "value": data["opened"],
            "rate": rate(data["opened"], sent),
            "machines": data["machineOpens"],
        },
        {
            "key": "clicked",
            "label": _("Unique clicks"),
            "value": data["clicked"],
            "rate": rate(data["clicked"], sent),
            "machines": data["machineClicks"],
        },
        {
            "key": "unsubscribed",
            "label": _("Unsubscribes"),
            "value": data["unsubscribed"],
            "rate": rate(data["unsubscribed"], sent),
        },
    ]


def _reason_rows(counts: dict[str, int]) -> list[tuple[str, str, int]]:
    """(label, code, count): known exclusion and failure codes read in words;
    provider codes stay as-is."""
    labels = dict(Delivery.Reason.choices)
    return [(labels.get(code, code), code, n) for code, n in counts.items()]


@login_required
@require_GET
def report(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(request, pk, "campaign.view_report")
    data = campaign_report(campaign)
    sending_over_time = send_activity(campaign)
    engaged_over_time = engagement_activity(campaign)
    runs = list(campaign.runs.defer("context").order_by("-created_at", "-id")[:100])
    counts = {row["id"]: row for row in data["runs"]}
    for run in runs:  # each run's numbers from the same snapshot as the totals
        run.counts = counts.get(run.pk)
    context = {
        "campaign": campaign,
        "report": data,
        "runs": runs,
        "metrics": _metrics(data),
        "send_activity": sending_over_time,
        "send_step": charts.step_label(sending_over_time.step) if sending_over_time else "",
        "engagement_activity": engaged_over_time,
        "engagement_step": charts.step_label(engaged_over_time.step) if engaged_over_time else "",
        "sending": is_sending(campaign),
        "can_retry": can(request.user, "campaign.activate", campaign),
        "excluded_rows": _reason_rows(data["excluded"]),
        "rule_reasons": [str(code) for code in RULE_REASONS],
        "failed_rows": _reason_rows(data["failed"]),
        "failed_total": sum(data["failed"].values()),
        "excluded_total": sum(data["excluded"].values()),
        "experiment": _experiment_view(request, campaign, data),
        "conversion": _conversion_view(data),
    }
    return render(request, "campaigns/report.html", context)


def _pct(part: int | None, whole: int | None) -> float | None:
    """A rate in percent from its counts: the API's rates are rounded to four
    places already, and rounding those again for the page can round up a
    rate that is below the half (2 of 46: 4.348 %, not 4.4 %)."""
    if part is None or not whole:
        return None
    return part * 100 / whole


def _experiment_view(request: HttpRequest, campaign: Campaign, data: dict) -> dict | None:
    """The report's A/B test card: variants and holdout side by side, each
    variant against the control in words, and the winner decision."""
    from campaigns.experiments import row_sentence

    state = data.get("experiment")
    if not state:
        return None
    metric = state["winnerMetric"]
    winner = data["winner"]
    # Once the winner has been sent to the people who waited, the live numbers
    # mix the test with sends that have barely had time to be opened: the
    # table shows the test the decision was taken on (recorded with it), so it
    # never contradicts the verdict above it.
    test_numbers = bool(winner and winner["released"] and winner["results"])
    rows = []
    for index, row in enumerate(winner["results"] if test_numbers else data["variants"]):
        rows.append(
            {
                **row,
                "control": index == 0,
                "open_pct": _pct(row.get("uniqueOpens"), row.get("sent")),
                "click_pct": _pct(row.get("uniqueClicks"), row.get("sent")),
                "sentence": "" if index == 0 else row_sentence(row, metric),
            }
        )
    leaders = [r for r in rows[1:] if r["significant"] and (r["difference"] or 0) > 0]
    leader = max(leaders, key=lambda r: r["difference"], default=None)
    if data["winner"]:
        verdict = data["winner"]["summary"]
    elif leader:
        verdict = _("So far, variant %(name)s leads: %(result)s") % {
            "name": leader["name"],
            "result": leader["sentence"],
        }
    else:
        verdict = _("So far, no variant differs significantly from the control.")
    return {
        "state": state,
        "rows": rows,
        "verdict": verdict,
        "metric_label": {
            "opens": _("open rate"),
            "clicks": _("click rate"),
            "conversions": _("conversion rate"),
        }.get(metric, _("click rate")),
        "has_conversion": bool(data.get("conversion")),
        "holdout": data["holdout"],
        "winner": data["winner"],
        "test_numbers": test_numbers,
        "can_pick": (
            data["winner"] is None
            and campaign.status == "live"
            and can(request.user, "campaign.edit", campaign)
        ),
    }


def _conversion_view(data: dict) -> dict | None:
    """The report's conversions card: each variant, everyone reached and the
    holdout, with the lift against the holdout in words."""
    from campaigns.conversions import lift_sentence

    conversion = data.get("conversion")
    if not conversion:
        return None

    def row(name: str, values: dict, *, kind: str) -> dict:
        lift = values.get("lift")
        people = values["profiles"] if "profiles" in values else values.get("reached")
        return {
            "name": name,
            "kind": kind,
            "profiles": people,
            "conversions": values["conversions"],
            "pct": _pct(values["conversions"], people),
            "revenue": values["revenue"],
            "lift": lift,
            "sentence": lift_sentence(lift) if lift else "",
        }

    rows = [row(v["name"], v, kind="variant") for v in data.get("variants") or []]
    rows.append(row(_("Everyone reached"), conversion, kind="all"))
    holdout = conversion["holdout"]
    if holdout:
        rows.append(row(_("Holdout"), {**holdout, "lift": None}, kind="holdout"))
    return {
        **conversion,
        "pct": _pct(conversion["conversions"], conversion["profiles"]),
        "rows": rows,
        "lift_sentence": lift_sentence(conversion["lift"]) if conversion["lift"] else "",
        "has_revenue": any(r["revenue"] for r in rows),
    }


@login_required
@require_POST
def pick_winner(request: HttpRequest, pk: int) -> HttpResponse:
    """The marketer picks the experiment's winner (API twin:
    ``POST /api/v1/campaigns/{id}/experiment/winner``)."""
    from campaigns.experiments import ExperimentRefused, decide_winner

    campaign = _campaign(request, pk, "campaign.edit")
    try:
        winner = decide_winner(
            campaign=campaign, variant=request.POST.get("variant", ""), actor=request.user
        )
    except ExperimentRefused as exc:
        messages.error(request, exc.message)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            ngettext(
                "Variant %(name)s is the winner: %(n)d waiting delivery gets it.",
                "Variant %(name)s is the winner: %(n)d waiting deliveries get it.",
                winner.released,
            )
            % {"name": winner.variant, "n": winner.released},
        )
    return redirect("reports:report", pk=campaign.pk)


# A cell starting with one of these is a formula to Excel, LibreOffice and
# Google Sheets (OWASP "CSV injection"): such text is written with a leading
# apostrophe, which spreadsheets read as "this is text".
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> object:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


# pygal's SVG carries its own <style> (and a config <script>, which an image
# never runs): served as an image with a policy of its own, so the report page
# needs no inline style.
CHART_POLICY = "default-src 'none'; style-src 'unsafe-inline'"


def _svg(svg: str) -> HttpResponse:
    response = HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
    response["Content-Security-Policy"] = CHART_POLICY
    response["Cache-Control"] = "private, no-cache"
    return response


@login_required
@require_GET
def chart_svg(request: HttpRequest, pk: int) -> HttpResponse:
    """Messages sent over time (``?size=compact`` for a phone)."""
    campaign = _campaign(request, pk, "campaign.view_report")
    activity = send_activity(campaign)
    if activity is None:
        raise Http404
    return _svg(charts.send_chart(activity, request.GET.get("size", "wide")))


@login_required
@require_GET
def engagement_svg(request: HttpRequest, pk: int) -> HttpResponse:
    """Unique opens and clicks over time (``?size=compact`` for a phone)."""
    campaign = _campaign(request, pk, "campaign.view_report")
    activity = engagement_activity(campaign)
    if activity is None:
        raise Http404
    return _svg(charts.engagement_chart(activity, request.GET.get("size", "wide")))


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
@require_GET
def deliveries_csv(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """Every delivery of the campaign, streamed row by row (no full list in memory)."""
    campaign = _campaign(request, pk, "campaign.view_report")
    # An address is a profile's: shown only to roles that manage profiles, and
    # never for a profile known only through restricted audiences (issue 10 #3).
    deliveries = Delivery.objects.filter(run__campaign=campaign).order_by("id")
    if can(request.user, "profile.edit"):
        from django.db.models import Exists, OuterRef

        from audiences.models import Profile
        from audiences.selectors import not_hidden_profiles

        seen = not_hidden_profiles(request.user, Profile.objects.filter(pk=OuterRef("profile_id")))
        deliveries = deliveries.annotate(shown=Exists(seen))
    else:
        from django.db.models import Value

        deliveries = deliveries.annotate(shown=Value(False))
    rows = deliveries.values_list(*CSV_FIELDS, "shown").iterator(chunk_size=2000)
    writer = csv.writer(_Echo())
    address = CSV_FIELDS.index("address")
    error = CSV_FIELDS.index("error")

    def stream():
        yield writer.writerow(CSV_FIELDS)
        for *row, shown in rows:
            if not shown:
                # A provider's refusal often repeats the recipient ("550 <jane@…>:
                # …"): the reason code stays, the text goes with the address.
                row[address] = row[error] = ""
            yield writer.writerow([csv_cell(value) for value in row])

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="campaign-{campaign.pk}-deliveries.csv"'
    )
    return response


LINK_FIELDS = ["url", "unique_clicks", "clicks"]


@login_required
@require_GET
def links_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """Every clicked link of the campaign, most people first (the page shows the top ones)."""
    campaign = _campaign(request, pk, "campaign.view_report")
    writer = csv.writer(_Echo())
    lines = [writer.writerow(LINK_FIELDS)]
    for link in top_links(campaign, limit=None):
        lines.append(writer.writerow([csv_cell(link["url"]), link["uniqueClicks"], link["clicks"]]))
    response = HttpResponse("".join(lines), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-links.csv"'
    return response


@login_required
@require_POST
def retry_failed(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(request, pk, "campaign.activate")
    try:
        count = services.retry_failed(campaign=campaign, actor=request.user)
    except services.ActionRefused as exc:
        messages.error(request, exc.message)
        return redirect("reports:report", pk=campaign.pk)
    if count:
        messages.success(
            request,
            ngettext(
                "%(n)d failed delivery will be tried again.",
                "%(n)d failed deliveries will be tried again.",
                count,
            )
            % {"n": count},
        )
    else:
        messages.info(request, _("There are no failed deliveries to retry."))
    return redirect("reports:report", pk=campaign.pk)
