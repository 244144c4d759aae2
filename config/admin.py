"""The admin site: open to Campaign Administrators without fiddling with is_staff."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
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
        # A signed-in user without the role gets 403: sending them to sign in
        # again would loop (the sign-in page sends signed-in users onwards).
        from django.contrib.auth.views import redirect_to_login
        from django.urls import reverse

        if request.user.is_authenticated:
            raise PermissionDenied(_("The admin is for Campaign Administrators."))
        return redirect_to_login(
            request.GET.get("next", reverse("admin:index")), reverse("accounts:login")
        )


class ReadOnlyAdminMixin:
    """For logs and records written only by the product (events, imports, requests):
    administrators may look, never add, change or delete from the admin."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
