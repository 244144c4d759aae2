"""The live report page (SPEC §8), its CSV export and the "retry failed" action."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import can, can_see
from campaigns import services
from campaigns.models import Campaign, Delivery
from campaigns.reports import campaign_report, is_sending, send_rate
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
    "unsubscribed_at",
    "complained_at",
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


def _chart(points: list) -> str:
    """Messages sent per minute as an SVG (pygal, rendered on the server)."""
    import pygal
    from django.utils.formats import date_format
    from django.utils.timezone import localtime

    chart = pygal.Bar(
        height=260,
        show_legend=False,
        x_label_rotation=30,
        show_minor_x_labels=False,
        disable_xml_declaration=True,
        style=pygal.style.CleanStyle,
        # No tooltip script from the internet: the page must not call out to a CDN.
        js=[],
    )
    chart.title = _("Messages sent per minute")
    chart.x_labels = [
        date_format(localtime(minute), "SHORT_DATETIME_FORMAT") for minute, _n in points
    ]
    chart.x_labels_major_every = max(1, len(points) // 8)
    chart.add(_("Sent"), [n for _minute, n in points])
    return chart.render(is_unicode=True)


def _reason_rows(counts: dict[str, int]) -> list[tuple[str, str, int]]:
    """(label, code, count): known exclusion codes read in words; provider codes stay as-is."""
    labels = dict(Delivery.Reason.choices)
    return [(labels.get(code, code), code, n) for code, n in counts.items()]


@login_required
@require_GET
def report(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(request, pk, "campaign.view_report")
    data = campaign_report(campaign)
    context = {
        "campaign": campaign,
        "report": data,
        "runs": campaign.runs.order_by("-created_at", "-id")[:100],
        "has_chart": bool(send_rate(campaign)),
        "sending": is_sending(campaign),
        "can_retry": can(request.user, "campaign.activate", campaign),
        "excluded_rows": _reason_rows(data["excluded"]),
        "failed_rows": _reason_rows(data["failed"]),
        "failed_total": sum(data["failed"].values()),
        "excluded_total": sum(data["excluded"].values()),
    }
    return render(request, "campaigns/report.html", context)


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


@login_required
@require_GET
def chart_svg(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(request, pk, "campaign.view_report")
    points = send_rate(campaign)
    if not points:
        raise Http404
    response = HttpResponse(_chart(points), content_type="image/svg+xml; charset=utf-8")
    response["Content-Security-Policy"] = CHART_POLICY
    response["Cache-Control"] = "private, no-cache"
    return response


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

    def stream():
        yield writer.writerow(CSV_FIELDS)
        for *row, shown in rows:
            if not shown:
                row[address] = ""
            yield writer.writerow([csv_cell(value) for value in row])

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="campaign-{campaign.pk}-deliveries.csv"'
    )
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
