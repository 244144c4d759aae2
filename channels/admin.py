"""Admin for channel configurations (with per-object access) and the raw event log."""

from __future__ import annotations

from django.contrib import admin
from guardian.admin import GuardedModelAdmin

from accounts.access import AccessAdminMixin
from accounts.permissions import AdminPermissionsMixin
from channels.models import ChannelConfiguration, DeliveryEvent


@admin.register(ChannelConfiguration)
class ChannelConfigurationAdmin(AdminPermissionsMixin, AccessAdminMixin, GuardedModelAdmin):
    list_display = ("name", "channel", "purpose", "provider", "status", "restricted", "updated_at")
    list_filter = ("channel", "purpose", "status", "restricted")
    search_fields = ("name", "from_address", "sender_number", "app_id")
    readonly_fields = ("created_at", "updated_at")
    permissions = {
        "view": "channel.view",
        "add": "channel.create",
        "change": "channel.edit",
        "delete": "channel.delete",
    }


@admin.register(DeliveryEvent)
class DeliveryEventAdmin(AdminPermissionsMixin, admin.ModelAdmin):
    """Written only by the product: administrators look, never change."""

    list_display = ("created_at", "kind", "channel", "address", "delivery_id")
    list_filter = ("kind", "channel")
    search_fields = ("address",)
    date_hierarchy = "created_at"
    list_select_related = False
    permissions = {"view": "suppression.manage"}
