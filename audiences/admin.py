"""Admin pages for profiles, the suppression list, audiences and imports.

Who may do what is asked of ``accounts.permissions`` (the same vocabulary as the
views and the API), not of the admin's own model-permission checks.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import StreamingHttpResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from guardian.admin import GuardedModelAdmin

from accounts.access import AccessAdminMixin
from accounts.permissions import AdminPermissionsMixin, can, visible
from audiences import privacy
from audiences.channel_facts import CONSENT_FIELD, IDENTITY_FIELD
from audiences.models import (
    Audience,
    ConsentChange,
    PrivacyLogEntry,
    Profile,
    ProfileImport,
    Suppression,
)
from audiences.selectors import not_hidden_profiles
from audiences.services import (
    AudienceInUse,
    audience_access_narrowing,
    check_rule_change_allowed,
    normalize_identity,
)
from config.admin import ReadOnlyAdminMixin


class ConsentChangeInline(admin.TabularInline):
    model = ConsentChange
    extra = 0
    can_delete = False
    fields = ("channel", "granted", "source", "changed_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Profile)
class ProfileAdmin(AdminPermissionsMixin, admin.ModelAdmin):
    list_display = (
        "__str__",
        "email",
        "phone",
        "timezone",
        "locale",
        "consent_email",
        "consent_sms",
        "consent_push",
        "updated_at",
    )
    list_filter = ("consent_email", "consent_sms", "consent_push")
    search_fields = ("=email", "=phone", "=profile_id", "=push_token")
    readonly_fields = ("created_at", "updated_at")
    inlines = [ConsentChangeInline]
    show_full_result_count = False  # a COUNT(*) per page is slow on millions of profiles
    permissions = {
        "view": "profile.view",
        "add": "profile.edit",
        "change": "profile.edit",
        "delete": "profile.erase",  # administrators only: deleting erases
    }

    actions = ["erase_selected", "export_selected"]

    def get_queryset(self, request):
        # Never a profile known only through restricted audiences the user may
        # not see (issue 10 #3): not listed, opened, exported or erased here.
        return not_hidden_profiles(request.user, super().get_queryset(request))

    def has_erase_permission(self, request) -> bool:
        return can(request.user, "profile.erase")

    def has_export_permission(self, request) -> bool:
        return can(request.user, "profile.export")

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deleting would not anonymise; erasing does
        return actions

    # Deleting from the profile's page erases: a plain delete would leave the
    # person's address on their delivery rows.
    def delete_model(self, request, obj) -> None:
        privacy.profile_erase(
            profile=obj, namespace=_namespace_of(obj), actor=request.user, via="admin"
        )

    def delete_queryset(self, request, queryset) -> None:
        for profile in queryset:
            self.delete_model(request, profile)

    @admin.action(
        description=_("Erase the selected people (privacy request)"), permissions=["erase"]
    )
    def erase_selected(self, request, queryset) -> None:
        erased = 0
        for profile in queryset:
            erased += privacy.profile_erase(
                profile=profile, namespace=_namespace_of(profile), actor=request.user, via="admin"
            )
        self.message_user(
            request,
            ngettext(
                "%(count)d person erased; their reports keep their numbers.",
                "%(count)d people erased; their reports keep their numbers.",
                erased,
            )
            % {"count": erased},
            messages.SUCCESS,
        )

    @admin.action(
        description=_("Export everything held about the selected person"), permissions=["export"]
    )
    def export_selected(self, request, queryset):
        profiles = list(queryset[:2])
        if len(profiles) != 1:
            self.message_user(request, _("Select exactly one person to export."), messages.ERROR)
            return None
        profile = profiles[0]
        privacy.profile_export_log(
            namespace=_namespace_of(profile), actor=request.user, via="admin"
        )
        response = StreamingHttpResponse(
            privacy.profile_export(profile, reader=request.user), content_type="application/json"
        )
        response["Content-Disposition"] = f'attachment; filename="profile-{profile.pk}.json"'
        return response

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        # Consent set by hand is recorded like any other change.
        ConsentChange.objects.bulk_create(
            [
                ConsentChange(
                    profile=obj, channel=channel, granted=getattr(obj, name), source="admin"
                )
                for channel, name in CONSENT_FIELD.items()
                if name in form.changed_data
            ]
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        def clean(this):
            data = super(form, this).clean()
            for field in ("email", "phone", "push_token", "profile_id"):
                value = (data.get(field) or "").strip()
                if value:
                    try:
                        data[field] = normalize_identity(field, value)
                    except ValueError as exc:
                        this.add_error(field, str(exc))
                else:
                    data[field] = None
            return data

        form.clean = clean
        return form


def _namespace_of(profile: Profile) -> str:
    """The identity the log names for an admin request (never its value)."""
    for field in ("email", "phone", "push_token", "profile_id"):
        if getattr(profile, field):
            return field
    return "id"


@admin.register(PrivacyLogEntry)
class PrivacyLogEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "action", "namespace", "by", "via")
    list_filter = ("action", "via")
    date_hierarchy = "created_at"
    readonly_fields = ("created_at", "action", "namespace", "by", "via")
    fields = readonly_fields

    def has_view_permission(self, request, obj=None) -> bool:
        return can(request.user, "privacy.view_log")


@admin.register(Suppression)
class SuppressionAdmin(AdminPermissionsMixin, admin.ModelAdmin):
    list_display = ("address", "channel", "reason", "created_at")
    list_filter = ("channel", "reason")
    search_fields = ("address",)
    date_hierarchy = "created_at"
    readonly_fields = ("created_at",)
    permissions = dict.fromkeys(("view", "add", "change", "delete"), "suppression.manage")

    def get_queryset(self, request):
        # Not the address of a person known only through restricted audiences
        # the reader may not see (review 6).
        from audiences.selectors import without_hidden_addresses

        return without_hidden_addresses(request.user, super().get_queryset(request))

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.address is None:
            # An erased person's entry: only its keyed hash is left to match.
            return ("channel", "address", "created_at")
        return super().get_readonly_fields(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        def clean(this):
            data = super(form, this).clean()
            channel, address = data.get("channel"), (data.get("address") or "").strip()
            if channel in IDENTITY_FIELD and address:
                try:
                    data["address"] = normalize_identity(IDENTITY_FIELD[channel], address)
                except ValueError as exc:
                    this.add_error("address", str(exc))
            return data

        form.clean = clean
        return form


class ProfileImportInline(admin.TabularInline):
    model = ProfileImport
    extra = 0
    can_delete = False
    fields = ("file_name", "status", "rows_imported", "rows_rejected", "created_at", "finished_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Audience)
class AudienceAdmin(AdminPermissionsMixin, AccessAdminMixin, GuardedModelAdmin):
    """Object permissions of restricted audiences are granted here ("Object permissions")."""

    list_display = ("name", "kind", "status", "size", "restricted", "updated_at")
    list_filter = ("kind", "status", "restricted")
    search_fields = ("name",)
    readonly_fields = ("kind", "status", "size", "created_by", "created_at", "updated_at")
    inlines = [ProfileImportInline]
    # No "add": rules and uploads are built on the audience pages.
    permissions = {"view": "audience.view", "change": "audience.edit", "delete": "audience.delete"}

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        def clean(this):
            data = super(form, this).clean()
            if obj is not None and obj.kind == Audience.Kind.RULE and "rule" in data:
                from audiences.rules import engagement_errors, validate_rule

                errors = validate_rule(data["rule"])
                if data["rule"] != obj.rule:
                    errors = errors or engagement_errors(data["rule"], request.user)
                for path, messages in errors.items():
                    this.add_error("rule", f"{path}: {' '.join(messages)}")
                if not errors and data["rule"] != obj.rule:
                    # Who receives the committed campaigns using it: their
                    # activators' decision, as on the pages and in the API
                    # (review 10: the admin changed the rule of an audience a
                    # restricted live campaign sends to, unseen and unchecked).
                    try:
                        check_rule_change_allowed(audience=obj, actor=request.user)
                    except AudienceInUse as exc:
                        this.add_error("rule", str(exc))
            if obj is not None and data.get("restricted") and not obj.restricted:
                # Restricting hides an upload audience's members: the Access
                # page's and the API's guard (review 10 #7).
                try:
                    audience_access_narrowing(obj=obj, actor=request.user)
                except ValidationError as exc:
                    this.add_error("restricted" if "restricted" in this.fields else None, exc)
            if obj is not None and obj.kind == Audience.Kind.RULE and not data.get("restricted"):
                # A rule naming a restricted campaign keeps the audience
                # restricted (review 4 #10), as the Access page and the API do.
                probe = Audience(kind=obj.kind, rule=data.get("rule", obj.rule))
                if reason := probe.restriction_required():
                    this.add_error("restricted" if "restricted" in this.fields else None, reason)
            return data

        form.clean = clean
        return form


@admin.register(ProfileImport)
class ProfileImportAdmin(AdminPermissionsMixin, admin.ModelAdmin):
    """Written only by the product: administrators look, never change."""

    list_display = (
        "file_name",
        "audience",
        "status",
        "rows_imported",
        "rows_rejected",
        "created_at",
    )
    list_filter = ("status",)
    readonly_fields = [f.name for f in ProfileImport._meta.fields]
    permissions = {"view": "audience.view"}

    def get_queryset(self, request):
        audiences = visible(request.user, Audience.objects.all())
        return super().get_queryset(request).filter(audience__in=audiences)
