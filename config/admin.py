"""The admin site: open to Campaign Administrators without fiddling with is_staff."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models.base import ModelBase
from django.utils.translation import gettext_lazy as _

from accounts.permissions import can_use_admin


class SuperuserOnlyAdminMixin:
    """For admin pages whose power goes beyond the product: only superusers see,
    add, change or delete here, whatever model permissions a user holds."""

    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request, *args) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser


MAX_SEARCH = 200


class BoundedSearchMixin:
    """Every changelist's search term is cut to ``MAX_SEARCH`` characters (and
    loses NULs, which no column holds): SQLite refuses a LIKE pattern over
    50,000 bytes, a 500 on the admin's search (third review)."""

    def get_search_results(self, request, queryset, search_term):
        term = (search_term or "").replace("\x00", "")[:MAX_SEARCH]
        return super().get_search_results(request, queryset, term)

    def changelist_view(self, request, extra_context=None):
        # A list filter's value goes to the query as given, and PostgreSQL
        # refuses a NUL in a comparison (a 500: security review 11). Answered
        # as Django answers any lookup it cannot use: the list, unfiltered,
        # flagged ``?e=1``.
        from django.contrib.admin.views.main import SEARCH_VAR

        if any(
            "\x00" in value
            for name, values in request.GET.lists()
            if name != SEARCH_VAR  # the search term loses its NULs (above)
            for value in values
        ):
            from django.http import HttpResponseRedirect

            return HttpResponseRedirect(request.path + "?e=1")
        return super().changelist_view(request, extra_context)


# A django-q schedule or task names any importable function to run on the worker
# (``subprocess.getoutput``): whoever edits them runs code on the machine.
SUPERUSER_ONLY_APPS = {"django_q"}


class VolleyAdminSite(admin.AdminSite):
    site_header = _("Volley administration")
    site_title = _("Volley admin")
    index_title = _("Users, roles, access and policies")

    def has_permission(self, request) -> bool:
        return can_use_admin(request.user)

    def register(self, model_or_iterable, admin_class=None, **options) -> None:
        models = (
            [model_or_iterable] if isinstance(model_or_iterable, ModelBase) else model_or_iterable
        )
        for model in models:
            cls = admin_class or admin.ModelAdmin
            cls = type(cls.__name__, (BoundedSearchMixin, cls), {})
            if model._meta.app_label in SUPERUSER_ONLY_APPS:
                cls = type(cls.__name__, (SuperuserOnlyAdminMixin, cls), {})
            super().register(model, cls, **options)

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
