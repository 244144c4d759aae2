"""Admin for channel configurations (with per-object access) and the raw event log."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from guardian.admin import GuardedModelAdmin

from accounts.access import AccessAdminMixin
from accounts.permissions import AdminPermissionsMixin, can, visible
from channels.models import (
    ChannelConfiguration,
    DeliveryEvent,
    TestMessage,
    TestMessageRecipient,
)


@admin.register(ChannelConfiguration)
class ChannelConfigurationAdmin(AdminPermissionsMixin, AccessAdminMixin, GuardedModelAdmin):
    list_display = ("name", "channel", "purpose", "provider", "status", "restricted", "updated_at")
    list_filter = ("channel", "purpose", "status", "restricted")
    search_fields = ("name", "from_address", "sender_number", "app_id")
    # Credentials are write-only (the /channels/ pages and the API set them): the
    # admin shows only which names are stored, never a value; nor does it change
    # where they are sent (provider and its URL): those pages ask for them again.
    # The status changes only through the actions below (the service that
    # refuses to deactivate a configuration campaigns still send through).
    readonly_fields = (
        "status",
        "provider",
        "provider_url",
        "stored_credentials",
        "created_at",
        "updated_at",
    )
    actions = ("activate_selected", "deactivate_selected")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    permissions = {
        "view": "channel.view",
        "add": "channel.create",
        "change": "channel.edit",
        "delete": "channel.delete",
    }

    def _set_status(self, request, queryset, status: str) -> None:
        from channels.services import ConfigurationInUse, channel_configuration_set_status

        changed = 0
        for config in queryset:
            if not can(request.user, "channel.edit", config):
                self.message_user(
                    request,
                    _("You may not change “%(name)s”.") % {"name": config.name},
                    messages.ERROR,
                )
                continue
            try:
                channel_configuration_set_status(config=config, status=status, actor=request.user)
            except ConfigurationInUse as exc:
                self.message_user(request, exc.message, messages.ERROR)
                continue
            changed += 1
        if changed:
            self.message_user(
                request,
                ngettext("%(n)d configuration changed.", "%(n)d configurations changed.", changed)
                % {"n": changed},
                messages.SUCCESS,
            )

    @admin.action(description=_("Activate the selected configurations"), permissions=["change"])
    def activate_selected(self, request, queryset) -> None:
        self._set_status(request, queryset, ChannelConfiguration.Status.ACTIVE)

    @admin.action(description=_("Deactivate the selected configurations"), permissions=["change"])
    def deactivate_selected(self, request, queryset) -> None:
        self._set_status(request, queryset, ChannelConfiguration.Status.DEACTIVATED)

    @admin.display(description=_("stored credentials"))
    def stored_credentials(self, obj) -> str:
        return ", ".join(obj.credential_names) or "—"

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        def clean(this):
            # Where its messages go (the BCC copy), as on the pages and in the
            # API (channels.services.check_delivery_change, twelfth review).
            data = super(form, this).clean()
            if "bcc" in data:
                from copy import copy

                from channels.services import check_delivery_change

                candidate = copy(this.instance)
                candidate.bcc = data["bcc"] or ""
                try:
                    check_delivery_change(config=candidate, actor=request.user)
                except ValidationError as exc:
                    for field, errors in exc.message_dict.items():
                        this.add_error(field if field in this.fields else None, errors)
            return data

        form.clean = clean
        return form


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

    def get_queryset(self, request):
        """Never the events of a restricted campaign not granted, nor of a
        person known only through restricted audiences (by their delivery or,
        for an event that names no message, its address): the log is the
        administrators', and restricted means restricted from them too (review
        6, as review 4 #4 for webhooks)."""
        from audiences.selectors import without_hidden_addresses
        from channels import deliveries

        queryset = super().get_queryset(request)
        hidden = deliveries.hidden(request.user, "delivery__")
        if hidden is not None:
            queryset = queryset.exclude(hidden)
        return without_hidden_addresses(request.user, queryset)


class TestMessageRecipientInline(AdminPermissionsMixin, admin.TabularInline):
    model = TestMessageRecipient
    fields = ("address", "status", "error", "sent_at")
    readonly_fields = fields
    extra = 0
    permissions = {"view": "channel.create"}


@admin.register(TestMessage)
class TestMessageAdmin(AdminPermissionsMixin, admin.ModelAdmin):
    """What the configurations' Test pages sent, read-only: the pages and the
    API queue and retry them (the cluster sends)."""

    list_display = (
        "created_at",
        "configuration",
        "requested_by",
        "status",
        "attempts",
        "duplicates",
        "finished_at",
    )
    list_filter = ("status",)
    list_select_related = ("configuration", "requested_by")
    fields = (
        "configuration",
        "requested_by",
        "category",
        "status",
        "error",
        "attempts",
        "duplicates",
        "created_at",
        "started_at",
        "finished_at",
    )
    readonly_fields = fields
    inlines = (TestMessageRecipientInline,)
    permissions = {"view": "channel.create"}

    def get_queryset(self, request):
        # A restricted configuration's test messages are as hidden as it is.
        configurations = visible(request.user, ChannelConfiguration.objects.all())
        return super().get_queryset(request).filter(configuration__in=configurations)
