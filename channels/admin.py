"""Admin for channel configurations (with per-object access) and the raw event log."""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.utils.translation import gettext_lazy as _
from guardian.admin import GuardedModelAdmin

from accounts.access import AccessAdminMixin
from accounts.permissions import AdminPermissionsMixin
from channels.models import ChannelConfiguration, DeliveryEvent


@admin.register(ChannelConfiguration)
class ChannelConfigurationAdmin(AdminPermissionsMixin, AccessAdminMixin, GuardedModelAdmin):
    list_display = ("name", "channel", "purpose", "provider", "status", "restricted", "updated_at")
    list_filter = ("channel", "purpose", "status", "restricted")
    search_fields = ("name", "from_address", "sender_number", "app_id")
    # Credentials are write-only (the /channels/ pages and the API set them): the
    # admin shows only which names are stored, never a value; nor does it change
    # where they are sent (provider and its URL): those pages ask for them again.
    readonly_fields = ("provider", "provider_url", "stored_credentials", "created_at", "updated_at")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    permissions = {
        "view": "channel.view",
        "add": "channel.create",
        "change": "channel.edit",
        "delete": "channel.delete",
    }

    @admin.display(description=_("stored credentials"))
    def stored_credentials(self, obj) -> str:
        return ", ".join(obj.credential_names) or "—"


@admin.register(DeliveryEvent)
class DeliveryEventAdmin(AdminPermissionsMixin, admin.ModelAdmin):
    """Written only by the product: administrators look, never change."""

    list_display = (
        "created_at",
        "kind",
        "classification",
        "rule",
        "channel",
        "address",
        "delivery_id",
    )
    list_filter = ("kind", "classification", "rule", "channel")
    search_fields = ("address",)
    date_hierarchy = "created_at"
    list_select_related = False
    permissions = {"view": "suppression.manage"}
