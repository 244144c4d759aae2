"""Account pages: sign-in (Django's views), invitations, personal API keys."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.admin.forms import AdminPasswordChangeForm
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm, PasswordResetForm, SetPasswordForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from accounts.middleware import remember_time_zone, viewer_time_zone
from accounts.models import ApiKey, UserPreference
from accounts.services import (
    api_key_create,
    api_key_revoke,
    notification_mark_read,
    notifications_mark_all_read,
    user_from_invitation,
    user_password_reset,
    user_time_zone_set,
)
from config.timezones import TimeZoneField

_NEW_KEY_SESSION = "accounts.new_api_key"


class TimeZoneForm(forms.Form):
    time_zone = TimeZoneField(
        label=gettext_lazy("Your time zone"),
        required=False,
        help_text=gettext_lazy(
            "Times are shown in this zone (campaign times also in the campaign's own zone). "
            "Empty: your browser's zone."
        ),
    )


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=100,
        help_text=gettext_lazy("What the key is for, e.g. “deploy pipeline”."),
    )


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest) -> HttpResponse:
    """The signed-in user's own API keys: create (shown once) and revoke."""
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        _key, plain = api_key_create(user=request.user, name=form.cleaned_data["name"])
        # Kept in the session for exactly one page view so a reload cannot
        # create a second key, and the secret never sits in a URL.
        request.session[_NEW_KEY_SESSION] = plain
        return redirect("accounts:settings")
    return _settings_response(request, form)


def _settings_response(request, form=None, tz_form=None) -> HttpResponse:
    chosen = UserPreference.objects.filter(user=request.user).values_list("time_zone", flat=True)
    zone, source = viewer_time_zone(request)
    context = {
        "form": form or ApiKeyForm(),
        "tz_form": tz_form or TimeZoneForm(initial={"time_zone": chosen.first() or ""}),
        "viewer_zone": zone or "UTC",
        "viewer_zone_source": source,
        "api_keys": request.user.api_keys.all(),
        "new_key": request.session.pop(_NEW_KEY_SESSION, None),
    }
    refused = (form is not None and form.errors) or (tz_form is not None and tz_form.errors)
    return render(request, "accounts/settings.html", context, status=400 if refused else 200)


@login_required
@require_POST
def time_zone(request: HttpRequest) -> HttpResponse:
    """Save the zone the user reads times in (empty: the browser's)."""
    form = TimeZoneForm(request.POST)
    if not form.is_valid():
        return _settings_response(request, tz_form=form)
    user_time_zone_set(user=request.user, time_zone=form.cleaned_data["time_zone"])
    remember_time_zone(request, request.user)
    messages.success(request, _("Your time zone is saved."))
    return redirect("accounts:settings")


@login_required
@require_POST
def revoke_key(request: HttpRequest, pk: int) -> HttpResponse:
    # Someone else's key answers 404: its existence is none of our business.
    key = get_object_or_404(ApiKey, pk=pk, user=request.user)
    api_key_revoke(key=key)
    messages.success(request, _("The key “%(name)s” is revoked.") % {"name": key.name})
    return redirect("accounts:settings")


class PasswordResetRequestForm(PasswordResetForm):
    """Django's form; the email is queued for the cluster, at most one a person
    in each window (``accounts.services.user_password_reset``), not sent by
    the request (security review 13, #2)."""

    def save(self, *args, **kwargs) -> None:
        for user in self.get_users(self.cleaned_data["email"]):
            user_password_reset(user=user)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset-by-email, in our layout. The link is built on SITE_URL, not
    on the request's Host header, so a forged Host cannot point it elsewhere
    (``accounts.services.deliver_password_reset``)."""

    form_class = PasswordResetRequestForm
    template_name = "accounts/password_reset_form.html"
    success_url = reverse_lazy("accounts:password_reset_done")


class _CountedCurrentPassword:
    """The current password is checked by ``authenticate()``, as at sign-in, so
    django-axes counts a wrong one as a failed sign-in and refuses every guess
    once the account is locked out. ``check_password`` alone let a signed-in
    session (a borrowed laptop, a stolen cookie) guess it without limit, then
    set a new one and keep the account (security review 13, #3)."""

    request: HttpRequest | None = None

    def clean_old_password(self) -> str:
        from django.contrib.auth import authenticate

        old_password = self.cleaned_data["old_password"]
        username = self.user.get_username()
        if authenticate(self.request, username=username, password=old_password) is None:
            raise forms.ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        return old_password


class CountedPasswordChangeForm(_CountedCurrentPassword, PasswordChangeForm):
    pass


class CountedAdminPasswordChangeForm(_CountedCurrentPassword, AdminPasswordChangeForm):
    pass


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change (the product's page and the admin's), the
    current password counted like a sign-in (``_CountedCurrentPassword``)."""

    form_class = CountedPasswordChangeForm

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        form.request = self.request
        return form


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form):
        from axes.utils import reset

        response = super().form_valid(form)
        # Whoever proved they own the mailbox may sign in again right away.
        reset(username=form.user.get_username())
        return response


class SignInView(auth_views.LoginView):
    """Django's sign-in page, refusing an address's attempts past
    ``LOGIN_RATE_PER_MINUTE`` before any password is checked (429)."""

    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        from accounts.ratelimit import signin_wait

        wait = signin_wait(request)
        if wait is not None:
            response = render(request, "registration/signin_throttled.html", status=429)
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)


def locked_out(request: HttpRequest, response=None, credentials=None) -> HttpResponse:
    """django-axes' answer to a sign-in while locked out (429), in our layout."""
    from django.conf import settings

    context = {
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
    }
    return render(request, "registration/locked_out.html", context, status=429)


@never_cache
@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
def accept_invitation(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """The invitation link: choose a password, then you are signed in."""
    user = user_from_invitation(uidb64, token)
    if user is None:
        return render(request, "accounts/invitation_invalid.html", status=400)
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Welcome to Volley, %(name)s.") % {"name": user.username})
        return redirect("campaigns:list")
    return render(
        request,
        "accounts/invitation_accept.html",
        {"form": form, "invited": user},
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET"])
def notifications_page(request: HttpRequest) -> HttpResponse:
    """The signed-in user's notices, newest first (at most the last 200)."""
    from accounts.notices import for_reader

    notices = for_reader(
        list(request.user.notifications.order_by("-created_at", "-pk")[:200]), request.user
    )
    return render(request, "accounts/notifications.html", {"notices": notices})


@login_required
@require_POST
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    notification_mark_read(notification=get_object_or_404(request.user.notifications, pk=pk))
    return redirect("accounts:notifications")


@login_required
@require_POST
def notifications_read_all(request: HttpRequest) -> HttpResponse:
    notifications_mark_all_read(user=request.user)
    return redirect("accounts:notifications")
