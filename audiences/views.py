from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import can, visible
from audiences.models import Audience


@login_required
def list_page(request: HttpRequest) -> HttpResponse:
    if not can(request.user, "audience.view"):
        raise PermissionDenied
    audiences = visible(request.user, Audience.objects.all())
    return render(request, "audiences/list.html", {"audiences": audiences})
