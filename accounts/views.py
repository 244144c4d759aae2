"""Account pages: sign-in (Django's views), invitations, personal API keys."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def settings_page(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/settings.html", {"api_keys": request.user.api_keys.all()})
