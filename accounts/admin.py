"""Users, roles, API keys and notifications in the Django admin (SPEC §2).

Campaign Administrators use the admin without ``is_staff`` (see
``config.admin.VolleyAdminSite``); Django's model permissions, held through the
role group, decide what they may do here. Only superusers touch superuser
flags, raw permissions, or superuser accounts, and only superusers put people
in groups that carry more than the administrator's own powers (a grant on a
restricted object, a permission the administrator lacks) or set someone else's
password or sign-in address (either would open that person's account).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts.models import ApiKey, Notification
from accounts.services import api_key_create, api_key_revoke, user_invite

User = get_user_model()


class InviteUserForm(forms.ModelForm):
    """Add a user without a password: with an email address they get an invitation."""

    class Meta:
        model = User
        fields = ("username", "email", "first_name", "last_name", "groups")
        labels = {"groups": _("Roles")}
        help_texts = {
            "email": _("We email an invitation with a one-time link to choose a password."),
        }

    def save(self, commit: bool = True):
        user = super().save(commit=False)
        user.set_unusable_password()
        if commit:
            user.save()
            self.save_m2m()
        return user


def _send_invitation(request: HttpRequest, user) -> None:
    # Queued for the worker cluster, which retries while the mail server is down.
    user_invite(user=user)
    messages.success(
        request, gettext("An invitation is on its way to %(email)s.") % {"email": user.email}
    )


def groups_only_superusers_assign(user) -> set[int]:
    """Ids of the groups ``user`` may not add anyone to: those holding a
    per-object grant (restricted means restricted from administrators too,
    SPEC §2) and those holding a model permission ``user`` lacks."""
    from guardian.utils import get_group_obj_perms_model

    if user.is_superuser:
        return set()
    protected = set(
        get_group_obj_perms_model().objects.values_list("group_id", flat=True).distinct()
    )
    held = user.get_all_permissions()
    for group in Group.objects.prefetch_related("permissions__content_type"):
        perms = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        if perms - held:
            protected.add(group.pk)
    return protected


def users_only_superusers_key(user):
    """The users ``user`` may not create an API key for: a key is a credential
    for its owner's account, so only superusers mint one for a superuser, for
    someone holding a grant on a restricted object (directly or through a
    group), or for someone holding a permission ``user`` lacks."""
    from guardian.utils import get_user_obj_perms_model

    others = User.objects.exclude(pk=user.pk)
    if user.is_superuser:
        return others.none()
    held = user.get_all_permissions()
    lacking = [
        p.pk
        for p in Permission.objects.select_related("content_type")
        if f"{p.content_type.app_label}.{p.codename}" not in held
    ]
    granted = get_user_obj_perms_model().objects.values("user_id")
    return others.filter(
        Q(is_superuser=True)
        | Q(groups__in=groups_only_superusers_assign(user))
        | Q(pk__in=granted)
        | Q(user_permissions__in=lacking)
    ).distinct()


if admin.site.is_registered(User):
    admin.site.unregister(User)
if admin.site.is_registered(Group):
    admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(DjangoGroupAdmin):
    """Administrators see the roles; only superusers create groups or change
    their permissions (a permission on django-q's schedules runs code)."""

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    add_form = InviteUserForm
    add_fieldsets = (
        (None, {"fields": ("username", "email", "first_name", "last_name", "groups")}),
    )
    list_display = ("username", "email", "first_name", "last_name", "roles", "is_active")
    list_filter = ("groups", "is_active", "is_superuser")
    actions = ["send_invitation"]

    @admin.display(description=_("roles"))
    def roles(self, obj) -> str:
        return ", ".join(g.name for g in obj.groups.all())

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or request.user.is_superuser:
            return fieldsets
        # Administrators manage roles and activity, never superuser powers.
        hidden = {"is_superuser", "is_staff", "user_permissions"}
        return [
            (name, {**opts, "fields": tuple(f for f in opts["fields"] if f not in hidden)})
            for name, opts in fieldsets
        ]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        protected = groups_only_superusers_assign(request.user)
        if protected and "groups" in form.base_fields:
            field = form.base_fields["groups"]
            field.queryset = field.queryset.exclude(pk__in=protected)
        return form

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is not None and not self._may_take_over(request, obj):
            # The address is where password resets and invitations go.
            fields += ("email",)
        return fields

    def _may_take_over(self, request, obj) -> bool:
        """May ``request.user`` decide how ``obj`` signs in (password, address)?
        Themselves, superusers, and anyone for a user still waiting for an
        invitation (no password yet) who holds nothing beyond ``request.user``'s
        own powers: an invitation sent to an address the administrator chose
        signs them in as that person, so an invitee holding a grant on a
        restricted object, a protected group or a permission the administrator
        lacks is a superuser's to re-address or re-invite (review 6), like the
        API keys of such a person (``users_only_superusers_key``)."""
        if request.user.is_superuser or obj.pk == request.user.pk:
            return True
        return (
            not obj.has_usable_password()
            and not users_only_superusers_key(request.user).filter(pk=obj.pk).exists()
        )

    def user_change_password(self, request, id, form_url=""):
        obj = self.get_object(request, id)
        if obj is not None and not (request.user.is_superuser or obj.pk == request.user.pk):
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            # Memberships the form could not show are kept, not dropped.
            protected = groups_only_superusers_assign(request.user)
            obj._kept_groups = list(obj.groups.filter(pk__in=protected))
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        kept = getattr(form.instance, "_kept_groups", None)
        if kept:
            form.instance.groups.add(*kept)

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def response_add(self, request, obj, post_url_continue=None):
        # The roles (m2m) are saved by now; send once the row is committed.
        if obj.email:
            transaction.on_commit(lambda: _send_invitation(request, obj))
        return super().response_add(request, obj, post_url_continue)

    @admin.action(description=_("Send a new invitation email"), permissions=["change"])
    def send_invitation(self, request, queryset) -> None:
        for user in queryset.exclude(email=""):
            if not self._may_take_over(request, user):
                # An invitation sets a new password: for someone who has one,
                # that is a superuser's decision (or their own password reset).
                messages.warning(
                    request,
                    (
                        gettext("%(user)s already has a password: no invitation sent.")
                        if user.has_usable_password()
                        else gettext(
                            "%(user)s holds access beyond yours: only a superuser may "
                            "invite them again."
                        )
                    )
                    % {"user": user.get_username()},
                )
                continue
            _send_invitation(request, user)


class ApiKeyAddForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ("user", "name")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "user",
        "prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "user__username")
    list_select_related = ("user", "created_by")
    readonly_fields = ("user", "prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    fields = ("user", "name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None and not request.user.is_superuser:
            field = form.base_fields["user"]
            field.queryset = field.queryset.exclude(
                pk__in=users_only_superusers_key(request.user).values("pk")
            )
        return form

    def get_fields(self, request, obj=None):
        return ("user", "name") if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def _may_manage(self, request) -> bool:
        return request.user.has_perm("accounts.manage_all_apikeys")

    def has_view_permission(self, request, obj=None) -> bool:
        return self._may_manage(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request) -> bool:
        return self._may_manage(request) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return (
            self._may_manage(request)
            and super().has_change_permission(request, obj)
            and not self._beyond(request, obj)
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return (
            self._may_manage(request)
            and super().has_delete_permission(request, obj)
            and not self._beyond(request, obj)
        )

    @staticmethod
    def _beyond(request, obj) -> bool:
        """Is ``obj`` the key of someone holding more than ``request.user`` (a
        superuser, a grant on a restricted object, a permission they lack)?
        Their keys are a superuser's to revoke, as their lock-outs are to lift
        (review 6): an administrator revoked a superuser's keys (seventeenth
        review)."""
        if obj is None or request.user.is_superuser or obj.user_id == request.user.pk:
            return False
        return users_only_superusers_key(request.user).filter(pk=obj.user_id).exists()

    def delete_queryset(self, request, queryset) -> None:
        if not request.user.is_superuser:
            queryset = queryset.exclude(user__in=users_only_superusers_key(request.user))
        super().delete_queryset(request, queryset)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            obj.save(update_fields=["name"])
            return
        key, plain = api_key_create(
            user=form.cleaned_data["user"], name=form.cleaned_data["name"], created_by=request.user
        )
        # The admin's log entry and redirect use ``obj``: make it the new row.
        obj.pk, obj.prefix, obj.created_at = key.pk, key.prefix, key.created_at
        messages.warning(
            request,
            gettext("The new key for %(user)s — copy it now, it will not be shown again: %(key)s")
            % {"user": key.user.username, "key": plain},
        )

    def save_related(self, request, form, formsets, change) -> None:
        return None

    @admin.action(description=_("Revoke the selected keys"), permissions=["change"])
    def revoke(self, request, queryset) -> None:
        kept = 0
        for key in queryset.filter(revoked_at__isnull=True).select_related("user"):
            if self._beyond(request, key):
                kept += 1
                continue
            api_key_revoke(key=key)
        if kept:
            messages.warning(
                request,
                ngettext(
                    "%(n)d key belongs to someone holding more than you: only a superuser "
                    "may revoke it.",
                    "%(n)d keys belong to someone holding more than you: only a superuser "
                    "may revoke them.",
                    kept,
                )
                % {"n": kept},
            )
            return
        self.message_user(request, gettext("The selected keys are revoked."))


def _lockout_admin_base():
    from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin

    return AxesAccessAttemptAdmin


class AccessAttemptAdmin(_lockout_admin_base()):
    """Administrators lift sign-in lock-outs, but not of someone holding more
    than they do (a superuser, a restricted grant, a permission they lack):
    lifting it between guesses removed the only bound on guessing that
    person's password (review 6). Superusers lift any."""

    def has_delete_permission(self, request, obj=None) -> bool:
        if not super().has_delete_permission(request, obj):
            return False
        if obj is None or request.user.is_superuser:
            return True
        return not self._protected(request).filter(username=obj.username).exists()

    def delete_queryset(self, request, queryset) -> None:
        if not request.user.is_superuser:
            queryset = queryset.exclude(username__in=self._protected(request).values("username"))
        super().delete_queryset(request, queryset)

    @staticmethod
    def _protected(request):
        return users_only_superusers_key(request.user)


def _register_lockouts() -> None:
    from axes.models import AccessAttempt

    if admin.site.is_registered(AccessAttempt):
        admin.site.unregister(AccessAttempt)
    admin.site.register(AccessAttempt, AccessAttemptAdmin)


_register_lockouts()


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("user", "message", "created_at", "read_at")
    list_select_related = ("user",)
    search_fields = ("user__username", "message")
    readonly_fields = ("user", "message", "kind", "params", "url", "created_at", "read_at")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser


__all__ = ["GroupAdmin", "UserAdmin", "ApiKeyAdmin", "AccessAttemptAdmin", "NotificationAdmin"]
