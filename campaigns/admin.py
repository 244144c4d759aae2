"""Admin for campaigns (per-object access, the restricted flag), approval
policies and the audit trail. A campaign's content and status are read-only
here: authoring has its pages and the API (versions, review, an event per
edit), and the admin's bulk actions run the actions of ``campaigns.actions``
through their services, like everywhere else."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from guardian.admin import GuardedModelAdmin

from accounts.access import AccessAdminMixin
from accounts.permissions import AdminPermissionsMixin, can, visible
from accounts.services import access_set_restricted
from campaigns.actions import USER_ACTIONS, CampaignAction
from campaigns.models import (
    ApprovalPolicy,
    ApprovalRequest,
    BusinessRule,
    Campaign,
    CampaignEvent,
    CampaignVersion,
    ContentTemplate,
    Tag,
)
from campaigns.rules import RULE_FIELDS, campaign_set_exempt, check_rule_room
from campaigns.services import ActionRefused, pending_request
from campaigns.transitions import status_allows
from channels.models import Purpose


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


def _bulk_action(action: CampaignAction):
    """An admin action that runs ``action`` on each selected campaign the user may."""

    def run(modeladmin, request, queryset) -> None:
        for campaign in queryset:
            if not action.allows(request.user, campaign, pending_request(campaign)):
                modeladmin.message_user(request, f"{campaign}: {_('not allowed')}", messages.ERROR)
                continue
            try:
                action.run(campaign=campaign, actor=request.user)
            except ActionRefused as exc:
                modeladmin.message_user(request, f"{campaign}: {exc.message}", messages.ERROR)

    run.__name__ = f"{action.name}_selected"
    return admin.action(description=action.label)(run)


@admin.register(Campaign)
class CampaignAdmin(AdminPermissionsMixin, AccessAdminMixin, GuardedModelAdmin):
    list_display = ("name", "type", "category", "channel", "status", "restricted", "updated_at")
    list_filter = ("status", "type", "category", "channel", "restricted")
    search_fields = ("name",)
    fields = (
        "name",
        "description",
        "tags",
        "restricted",
        "exempt_from_rules",
        "type",
        "category",
        "channel",
        "status",
    )
    # Only "restricted" is edited here (it is access, not content): a campaign in
    # review stays as it was reviewed, and every content edit leaves an event.
    readonly_fields = ("name", "description", "tags", "type", "category", "channel", "status")
    inlines = [VersionInline, EventInline]
    actions = [_bulk_action(USER_ACTIONS[name]) for name in ("stop", "archive")]
    # No "add": campaigns are authored on /campaigns/new/ (versions, review).
    permissions = {
        "view": "campaign.view",
        "change": "campaign.manage_access",
        "delete": "campaign.delete",
    }

    def has_delete_permission(self, request, obj=None) -> bool:
        return (
            obj is not None
            and status_allows("delete", obj.status)
            and super().has_delete_permission(request, obj)
        )

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        if not can(request.user, "rule.manage"):
            fields += ("exempt_from_rules",)
        return fields

    def save_model(self, request, obj, form, change) -> None:
        # The editable fields, written as the Access page and the API write them.
        access_set_restricted(obj=obj, restricted=obj.restricted, actor=request.user)
        changed = getattr(form, "changed_data", None) or []
        if "exempt_from_rules" in changed and can(request.user, "rule.manage"):
            campaign_set_exempt(campaign=obj, exempt=obj.exempt_from_rules, actor=request.user)

    def save_related(self, request, form, formsets, change) -> None:
        # Tags are read-only; versions and events are never written here. The
        # change message still reads what each inline saved (a superuser, who
        # sees the inlines, got a 500 on every save: review 19).
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def delete_model(self, request, obj) -> None:
        USER_ACTIONS["delete"].run(campaign=obj, actor=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for campaign in queryset:
            try:
                USER_ACTIONS["delete"].run(campaign=campaign, actor=request.user)
            except ActionRefused as exc:
                self.message_user(request, f"{campaign}: {exc.message}", messages.ERROR)


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(AdminPermissionsMixin, admin.ModelAdmin):
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
    permissions = dict.fromkeys(("view", "add", "change", "delete"), "policy.manage")


class BusinessRuleForm(forms.ModelForm):
    # Checkboxes rather than raw JSON: the categories a rule holds back.
    categories = forms.MultipleChoiceField(
        label=gettext_lazy("Categories"),
        choices=Purpose.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[Purpose.MARKETING],
        help_text=gettext_lazy("Transactional messages are exempt unless chosen here."),
    )

    class Meta:
        model = BusinessRule
        fields = list(RULE_FIELDS)

    def clean(self):
        if self.instance._state.adding:
            check_rule_room()  # a ValidationError is the form's own error
        return super().clean()


@admin.register(BusinessRule)
class BusinessRuleAdmin(AdminPermissionsMixin, admin.ModelAdmin):
    form = BusinessRuleForm
    list_display = (
        "name",
        "active",
        "channel",
        "categories",
        "cap_max_messages",
        "cap_window_hours",
        "quiet_start",
        "quiet_end",
        "quiet_action",
    )
    list_filter = ("active", "channel")
    search_fields = ("name",)
    permissions = dict.fromkeys(("view", "add", "change", "delete"), "rule.manage")


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(AdminPermissionsMixin, admin.ModelAdmin):
    """Written only by the product: administrators look, never change."""

    list_display = ("campaign", "status", "requested_by", "decided_by", "created_at", "decided_at")
    list_filter = ("status",)
    readonly_fields = [f.name for f in ApprovalRequest._meta.fields]
    permissions = {"view": "campaign.view"}

    def get_queryset(self, request):
        campaigns = visible(request.user, Campaign.objects.all()).values("pk")
        return super().get_queryset(request).filter(campaign__in=campaigns)


@admin.register(Tag)
class TagAdmin(AdminPermissionsMixin, admin.ModelAdmin):
    search_fields = ("name",)
    permissions = {
        "view": "campaign.view",
        "add": "campaign.edit",
        "change": "campaign.edit",
        "delete": "policy.manage",
    }

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

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and not self._hidden_carry(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and not self._hidden_carry(request, obj)

    @staticmethod
    def _hidden_carry(request, obj) -> bool:
        """Whether a campaign ``request.user`` may not see carries ``obj``:
        renaming or deleting the tag would change that campaign (and whether a
        tag-matching approval policy applies to it; fifteenth review)."""
        if obj is None or request.user.is_superuser:
            return False
        seen = visible(request.user, Campaign.objects.all()).values("pk")
        return Campaign.objects.filter(tags=obj).exclude(pk__in=seen).exists()


@admin.register(ContentTemplate)
class ContentTemplateAdmin(AdminPermissionsMixin, AccessAdminMixin, GuardedModelAdmin):
    """Templates are authored on /templates/; here: who may access a restricted one."""

    list_display = ("name", "channel", "restricted", "updated_at")
    list_filter = ("channel", "restricted")
    search_fields = ("name",)
    fields = ("name", "channel", "restricted")
    readonly_fields = ("name", "channel")
    permissions = {
        "view": "template.view",
        "change": "template.manage_access",
        "delete": "template.delete",
    }

    def save_model(self, request, obj, form, change) -> None:
        access_set_restricted(obj=obj, restricted=obj.restricted, actor=request.user)
