from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import can, visible
from channels.models import ChannelConfiguration


@login_required
def list_page(request: HttpRequest) -> HttpResponse:
    if not can(request.user, "channel.create"):
        raise PermissionDenied
    configurations = visible(request.user, ChannelConfiguration.objects.all())
    return render(request, "channels/list.html", {"configurations": configurations})
