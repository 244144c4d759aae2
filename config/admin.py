"""The admin site: open to Campaign Administrators without fiddling with is_staff."""

from django.contrib import admin
from django.contrib.admin.utils import NestedObjects, quote
from django.core.exceptions import PermissionDenied
from django.db import router
from django.db.models.base import ModelBase
from django.db.models.deletion import Collector
from django.forms import ModelChoiceField, ModelMultipleChoiceField
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.permissions import RESTRICTABLE, can_see, can_use_admin


class SuperuserOnlyAdminMixin:
    """For admin pages whose power goes beyond the product: only superusers see,
    add, change or delete here, whatever model permissions a user holds. It only
    narrows: what the admin class itself refuses (django-q's task results cannot
    be added: their add page answered 500) stays refused."""

    def has_module_permission(self, request) -> bool:
        return _superuser(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return _superuser(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args) -> bool:
        return _superuser(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None) -> bool:
        return _superuser(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return _superuser(request) and super().has_delete_permission(request, obj)


def _superuser(request) -> bool:
    return request.user.is_active and request.user.is_superuser


MAX_SEARCH = 200


class _BoundedChoiceMixin:
    """A model choice whose value cannot be a row id (past a 64-bit integer) is
    an invalid choice: SQLite's driver raised OverflowError from Django's
    look-up, a 500 on the admin's user and group forms (review 19)."""

    def _refuse_beyond_ids(self, values) -> None:
        from django.core.exceptions import ValidationError

        from config.ids import MAX_ID

        for value in values:
            text = str(value).strip()
            # As Django's look-up reads it: int() also takes "+1", "1_000" and
            # other scripts' digits ("１２"), which passed a check for ASCII
            # digits and still overflowed (security review 22).
            try:
                number = int(text)
            except (TypeError, ValueError):
                continue  # not a number: Django's own invalid choice
            if abs(number) > MAX_ID:
                raise ValidationError(
                    self.error_messages["invalid_choice"],
                    code="invalid_choice",
                    params={"value": text},
                )


class _BoundedModelChoiceField(_BoundedChoiceMixin, ModelChoiceField):
    def to_python(self, value):
        if value not in self.empty_values:
            self._refuse_beyond_ids([value])
        return super().to_python(value)


class _BoundedModelMultipleChoiceField(_BoundedChoiceMixin, ModelMultipleChoiceField):
    def _check_values(self, value):
        if isinstance(value, (list, tuple)):
            self._refuse_beyond_ids(value)
        return super()._check_values(value)


class BoundedChoicesMixin:
    """Every model choice of the admin's forms is one of the fields above."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        for plain, bounded in (
            (ModelMultipleChoiceField, _BoundedModelMultipleChoiceField),
            (ModelChoiceField, _BoundedModelChoiceField),
        ):
            if type(field) is plain:
                field.__class__ = bounded
                break
        return field


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


def hidden_in_admin(user, obj, memo: dict | None = None) -> bool:
    """Is ``obj`` one ``user`` may not know of: a restricted object not granted
    to them, or an object of one (a restricted campaign's version, through its
    foreign keys)? Superusers see everything. ``memo`` keeps the answers for
    related objects (each asks guardian)."""
    if user.is_superuser:
        return False
    memo = {} if memo is None else memo

    def unseen(target) -> bool:
        key = (target._meta.label_lower, target.pk)
        if key not in memo:
            memo[key] = not can_see(user, target)
        return memo[key]

    if obj._meta.label_lower in RESTRICTABLE:
        return unseen(obj)
    for field in obj._meta.concrete_fields:
        if field.many_to_one and field.related_model._meta.label_lower in RESTRICTABLE:
            related = getattr(obj, field.name, None)
            if related is not None and unseen(related):
                return True
    return False


class _Collector(NestedObjects):
    """Django's admin collector loads every object a deletion reaches, to name
    each on the page. Rows of models the admin does not show and that nothing
    cascades from (an upload audience's members: millions) are counted
    instead, as the deletion itself deletes them (one statement)."""

    def __init__(self, *args, admin_site, **kwargs):
        super().__init__(*args, **kwargs)
        self.admin_site = admin_site

    def can_fast_delete(self, objs, from_field=None):
        model = objs._meta.model if hasattr(objs, "_meta") else getattr(objs, "model", None)
        if model is None or self.admin_site.is_registered(model):
            return False
        return Collector.can_fast_delete(self, objs, from_field)


def deleted_objects(objs, request, admin_site):
    """Django's ``get_deleted_objects`` (what deleting ``objs`` deletes, and
    what protects them from it), with every object the user may not know of
    counted but not named — the confirmation page of an open audience or
    configuration named the restricted campaigns whose versions use it, to
    administrators not granted them — and rows no admin page shows counted,
    not loaded (``_Collector``) (tenth review)."""
    try:
        first = objs[0]
    except IndexError:
        return [], {}, set(), []
    collector = _Collector(
        using=router.db_for_write(first._meta.model), origin=objs, admin_site=admin_site
    )
    collector.collect(objs)
    perms_needed = set()
    user, memo = request.user, {}

    def format_callback(obj):
        opts = obj._meta
        if admin_site.is_registered(type(obj)):
            if not admin_site.get_model_admin(type(obj)).has_delete_permission(request, obj):
                perms_needed.add(opts.verbose_name)
        if hidden_in_admin(user, obj, memo):
            unseen = gettext("one you may not see")
            return f"{capfirst(opts.verbose_name)}: {unseen}"
        if admin_site.is_registered(type(obj)):
            try:
                url = reverse(
                    f"{admin_site.name}:{opts.app_label}_{opts.model_name}_change",
                    None,
                    (quote(obj.pk),),
                )
            except NoReverseMatch:
                pass
            else:
                return format_html('{}: <a href="{}">{}</a>', capfirst(opts.verbose_name), url, obj)
        return f"{capfirst(opts.verbose_name)}: {obj}"

    to_delete = collector.nested(format_callback)
    protected = [format_callback(obj) for obj in collector.protected]
    model_count = {
        model._meta.verbose_name_plural: len(found) for model, found in collector.model_objs.items()
    }
    for rows in collector.fast_deletes:
        name = rows.model._meta.verbose_name_plural
        model_count[name] = model_count.get(name, 0) + rows.count()
    return to_delete, model_count, perms_needed, protected


class HiddenRelatedMixin:
    """Delete confirmations (the delete page and the "delete selected" action)
    through ``deleted_objects``."""

    def get_deleted_objects(self, objs, request):
        return deleted_objects(objs, request, self.admin_site)


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
            mixins = [BoundedSearchMixin, BoundedChoicesMixin]
            if cls.get_deleted_objects is admin.ModelAdmin.get_deleted_objects:
                mixins.append(HiddenRelatedMixin)  # a class of its own keeps its own
            cls = type(cls.__name__, (*mixins, cls), {})
            if model._meta.app_label in SUPERUSER_ONLY_APPS:
                cls = type(cls.__name__, (SuperuserOnlyAdminMixin, cls), {})
            super().register(model, cls, **options)

    def password_change(self, request, extra_context=None):
        """Django's own page, the current password counted like a sign-in
        (django-axes; security review 13, #3)."""
        from accounts.views import CountedAdminPasswordChangeForm, PasswordChangeView

        defaults = {
            "form_class": CountedAdminPasswordChangeForm,
            "success_url": reverse("admin:password_change_done", current_app=self.name),
            "extra_context": {**self.each_context(request), **(extra_context or {})},
        }
        if self.password_change_template is not None:
            defaults["template_name"] = self.password_change_template
        request.current_app = self.name
        return PasswordChangeView.as_view(**defaults)(request)

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
