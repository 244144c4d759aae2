from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import can, visible
from campaigns.models import Campaign, CampaignStatus


@login_required
def list_page(request: HttpRequest) -> HttpResponse:
    if not can(request.user, "campaign.view"):
        raise PermissionDenied
    campaigns = visible(request.user, Campaign.objects.all())
    return render(request, "campaigns/list.html", {"campaigns": campaigns})


@login_required
def approvals_queue(request: HttpRequest) -> HttpResponse:
    if not can(request.user, "campaign.approve"):
        raise PermissionDenied
    campaigns = visible(request.user, Campaign.objects.filter(status=CampaignStatus.IN_REVIEW))
    return render(request, "campaigns/approvals.html", {"campaigns": campaigns})


@login_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:  # replaced below
    raise PermissionDenied
