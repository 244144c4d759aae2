"""Admin for channel configurations (with per-object access) and the raw event log."""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.utils.translation import gettext_lazy as _
from guardian.admin import GuardedModelAdmin

from accounts.access import AccessAdminMixin
from accounts.permissions import can, can_see, visible
from channels.models import ChannelConfiguration, DeliveryEvent
from config.admin import ReadOnlyAdminMixin


@admin.register(ChannelConfiguration)
class ChannelConfigurationAdmin(AccessAdminMixin, GuardedModelAdmin):
    list_display = ("name", "channel", "purpose", "provider", "status", "restricted", "updated_at")
    list_filter = ("channel", "purpose", "status", "restricted")
    search_fields = ("name", "from_address", "sender_number", "app_id")
    # Credentials are write-only (the /channels/ pages and the API set them): the
    # admin shows only which names are stored, never a value.
    readonly_fields = ("stored_credentials", "created_at", "updated_at")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description=_("stored credentials"))
    def stored_credentials(self, obj) -> str:
        return ", ".join(obj.credential_names) or "—"

    # Every check goes through the one permission vocabulary (SPEC §2).
    def get_queryset(self, request):
        return visible(request.user, super().get_queryset(request))

    def has_view_permission(self, request, obj=None) -> bool:
        return can(request.user, "channel.view") if obj is None else can_see(request.user, obj)

    def has_add_permission(self, request) -> bool:
        return can(request.user, "channel.create")

    def has_change_permission(self, request, obj=None) -> bool:
        return can(request.user, "channel.edit", obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return can(request.user, "channel.delete", obj)


@admin.register(DeliveryEvent)
class DeliveryEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "kind", "channel", "address", "delivery_id")
    list_filter = ("kind", "channel")
    search_fields = ("address",)
    date_hierarchy = "created_at"
    list_select_related = False

    def has_view_permission(self, request, obj=None) -> bool:
        return can(request.user, "suppression.manage")
