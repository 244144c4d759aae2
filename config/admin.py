"""The admin site: open to Campaign Administrators without fiddling with is_staff."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from accounts.permissions import can_use_admin


class VolleyAdminSite(admin.AdminSite):
    site_header = _("Volley administration")
    site_title = _("Volley admin")
    index_title = _("Users, roles, access and policies")

    def has_permission(self, request) -> bool:
        return can_use_admin(request.user)

    def login(self, request, extra_context=None):
        # One sign-in page for everyone; the admin's own form insists on is_staff.
        from django.contrib.auth.views import redirect_to_login
        from django.urls import reverse

        return redirect_to_login(
            request.GET.get("next", request.get_full_path()), reverse("accounts:login")
        )
