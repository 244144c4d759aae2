"""Admin for campaigns (per-object access, restricted flag), approval policies
and the audit trail. The status is never edited here: lifecycle actions run
through ``campaigns.services`` like everywhere else."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from guardian.admin import GuardedModelAdmin

from accounts.access import AccessAdminMixin
from accounts.permissions import can, can_see, visible
from campaigns import services
from campaigns.models import (
    ApprovalPolicy,
    ApprovalRequest,
    Campaign,
    CampaignEvent,
    CampaignVersion,
    Tag,
)
from config.admin import ReadOnlyAdminMixin


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class VersionInline(ReadOnlyInline):
    model = CampaignVersion
    fk_name = "campaign"
    fields = ("number", "channel_configuration", "audience", "start_at", "end_at", "recurrence")
    readonly_fields = fields


class EventInline(ReadOnlyInline):
    model = CampaignEvent
    fields = ("created_at", "actor", "action", "from_status", "to_status", "comment")
    readonly_fields = fields


@admin.register(Campaign)
class CampaignAdmin(AccessAdminMixin, GuardedModelAdmin):
    list_display = ("name", "type", "category", "channel", "status", "restricted", "updated_at")
    list_filter = ("status", "type", "category", "channel", "restricted")
    search_fields = ("name",)
    fields = ("name", "description", "tags", "restricted", "type", "category", "channel", "status")
    readonly_fields = ("type", "category", "channel", "status")
    filter_horizontal = ("tags",)
    inlines = [VersionInline, EventInline]
    actions = ["archive_selected"]

    def get_queryset(self, request):
        return visible(request.user, super().get_queryset(request))

    def has_view_permission(self, request, obj=None) -> bool:
        return can(request.user, "campaign.view") if obj is None else can_see(request.user, obj)

    def has_add_permission(self, request) -> bool:
        return False  # campaigns are authored on /campaigns/new/ (versions, review)

    def has_change_permission(self, request, obj=None) -> bool:
        return can(request.user, "campaign.manage_access", obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return (
            obj is not None and obj.status == "draft" and can(request.user, "campaign.delete", obj)
        )

    def delete_model(self, request, obj) -> None:
        services.campaign_delete(campaign=obj, actor=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for campaign in queryset:
            try:
                services.campaign_delete(campaign=campaign, actor=request.user)
            except services.ActionRefused as exc:
                self.message_user(request, f"{campaign}: {exc.message}", messages.ERROR)

    @admin.action(description=_("Archive selected campaigns"))
    def archive_selected(self, request, queryset) -> None:
        for campaign in queryset:
            if not can(request.user, "campaign.archive", campaign):
                self.message_user(request, f"{campaign}: {_('not allowed')}", messages.ERROR)
                continue
            try:
                services.campaign_archive(campaign=campaign, actor=request.user)
            except services.ActionRefused as exc:
                self.message_user(request, f"{campaign}: {exc.message}", messages.ERROR)


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "active",
        "types",
        "categories",
        "channels",
        "tags",
        "block_self_approval",
    )
    list_filter = ("active",)
    filter_horizontal = ("approver_users", "approver_groups")

    def has_module_permission(self, request) -> bool:
        return can(request.user, "policy.manage")

    def has_view_permission(self, request, obj=None) -> bool:
        return can(request.user, "policy.manage")

    def has_add_permission(self, request) -> bool:
        return can(request.user, "policy.manage")

    def has_change_permission(self, request, obj=None) -> bool:
        return can(request.user, "policy.manage")

    def has_delete_permission(self, request, obj=None) -> bool:
        return can(request.user, "policy.manage")


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("campaign", "status", "requested_by", "decided_by", "created_at", "decided_at")
    list_filter = ("status",)
    readonly_fields = [f.name for f in ApprovalRequest._meta.fields]

    def get_queryset(self, request):
        campaigns = visible(request.user, Campaign.objects.all()).values("pk")
        return super().get_queryset(request).filter(campaign__in=campaigns)

    def has_view_permission(self, request, obj=None) -> bool:
        return can(request.user, "campaign.view")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ("name",)

    def get_queryset(self, request):
        """Never a tag only restricted campaigns the user may not see carry."""
        from django.db.models import Exists, OuterRef

        from accounts.permissions import visible

        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        tagged = Campaign.tags.through.objects.filter(tag=OuterRef("pk"))
        seen = tagged.filter(
            campaign__in=visible(request.user, Campaign.objects.all()).values("pk")
        )
        return qs.filter(~Exists(tagged) | Exists(seen))

    def has_view_permission(self, request, obj=None) -> bool:
        return can(request.user, "campaign.view")

    def has_add_permission(self, request) -> bool:
        return can(request.user, "campaign.edit")

    def has_change_permission(self, request, obj=None) -> bool:
        return can(request.user, "campaign.edit")

    def has_delete_permission(self, request, obj=None) -> bool:
        return can(request.user, "policy.manage")
